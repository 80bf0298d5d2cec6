"""Finding a person's address books from a server address, a user name and a password."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from helpers.carddav_book import Book
from helpers.dav_servers import DavServer

from piesync_desktop.engine.connectors.carddav.discovery import discover
from piesync_desktop.engine.errors import AuthExpired, ConnectorError, TransientError


def test_the_host_alone_finds_the_users_books(
    radicale_auth: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    work = make_book(radicale_auth)
    home = make_book(radicale_auth)
    books = discover(radicale_auth.base_url, "alice", "s3cret pass")
    assert {book.url for book in books} == {work.url, home.url}
    assert all(book.sync_collection for book in books)


def test_xandikos_is_found_through_its_principal(
    xandikos: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(xandikos)
    found = {b.url for b in discover(xandikos.base_url, "", None)}
    assert book.url in found


def test_the_url_of_a_book_finds_that_book(
    radicale_auth: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale_auth)
    [found] = discover(book.url, "alice", "s3cret pass")
    assert found.url == book.url


def test_a_refused_password_says_so(radicale_auth: DavServer) -> None:
    with pytest.raises(AuthExpired, match="refused the user name or password of alice"):
        discover(radicale_auth.base_url, "alice", "wrong")


def test_a_user_with_no_book_is_told_what_to_do(radicale_auth: DavServer) -> None:
    with pytest.raises(ConnectorError, match="shows no address book to alice"):
        discover(radicale_auth.base_url, "alice", "s3cret pass")


def test_an_unreachable_server_says_what_to_do_now_not_next_run() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(TransientError) as told:
        discover(f"http://127.0.0.1:{port}/", "alice", "x")
    assert "Check the address and your network." in told.value.message
    assert "next run" not in told.value.message
