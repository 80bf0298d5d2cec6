"""Address books on the real servers of ``tests/engine/connectors/conftest.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from helpers.carddav_book import Book
from helpers.dav_servers import DavServer, fresh_name


@pytest.fixture
def make_book() -> Iterator[Callable[[DavServer], Book]]:
    books: list[Book] = []

    def make(server: DavServer) -> Book:
        book = Book(server, server.make_addressbook(fresh_name()))
        books.append(book)
        return book

    yield make
    for book in books:
        book.close()


@pytest.fixture
def book(dav_server: DavServer, make_book: Callable[[DavServer], Book]) -> Book:
    """A fresh address book on each real server in turn."""
    return make_book(dav_server)
