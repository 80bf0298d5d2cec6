"""Whole syncs between a vCard folder and a CardDAV address book on a real server, through the
CLI as a person scripts it: first sync, edits each way, conflicts, deletions, properties that
survive, and a server that fails in the middle of a run (nothing lost, no duplicate after)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.carddav_book import Book, card
from helpers.cli import Cli
from helpers.dav_servers import DavServer
from helpers.fault_proxy import FaultProxy

from piesync_desktop.engine.connectors.vcard_codec import parse_card


@pytest.fixture
def cli(profile: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("PIESYNC_HTTP_TIMEOUT", "3")
    return Cli(profile)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "folder"
    path.mkdir()
    return path


def write(folder: Path, name: str, email: str, extra: str = "") -> Path:
    path = folder / f"{uuid.uuid4().hex}.vcf"
    path.write_text(card(name, email, extra=extra), encoding="utf-8", newline="")
    return path


def folder_cards(folder: Path) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.vcf"))]


def book_cards(book: Book) -> dict[str, str]:
    return {name: book.get(name) for name in book.names()}


def emails(texts: list[str]) -> list[str]:
    found = []
    for text in texts:
        parsed = parse_card(text)
        found += [item.value for item in parsed.fields.get("emails", ())]  # type: ignore[union-attr]
    return sorted(found)


def connect(cli: Cli, folder: Path, location: str, monkeypatch, *options: str) -> None:
    password = "s3cret pass"
    monkeypatch.setenv("PIESYNC_CARDDAV_PASSWORD", password)
    code, text = cli(
        "connect", "c", "--a", f"vcard:{folder}", "--b", f"carddav:{location}", *options
    )
    assert code == 0, text


def url_with_user(server: DavServer, url: str) -> str:
    return url.replace("http://", f"http://{server.username}@") if server.username else url


def sync(cli: Cli) -> tuple[int, str]:
    return cli("sync", "c")


def health(cli: Cli) -> dict:
    code, text = cli("health", "c", "--json")
    assert code == 0, text
    return json.loads(text)


# -- the person's everyday syncs ----------------------------------------------------------------


def test_first_sync_both_ways_pairs_on_email_and_fills_blanks(
    cli: Cli, folder: Path, book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(folder, "Ann Lee", "ann@example.org")
    write(folder, "Bob Stone", "bob@example.org", extra="TITLE:Builder\r\n")
    book.put("bob.vcf", card("Bob Stone", "BOB@example.org", extra="NOTE:from the server\r\n"))
    book.put("cy.vcf", card("Cy Young", "cy@example.org"))
    connect(cli, folder, url_with_user(book.server, book.url), monkeypatch)
    code, text = sync(cli)
    assert code == 0, text
    assert emails(folder_cards(folder)) == ["ann@example.org", "bob@example.org", "cy@example.org"]
    server = book_cards(book)
    assert len(server) == 3
    bob = next(t for t in server.values() if "Bob" in t)
    assert "Builder" in bob and "from the server" in bob
    assert health(cli)["in_sync"] == 6
    code, text = sync(cli)  # and a second run has nothing to do
    assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text


def test_edits_cross_each_way_and_the_winner_decides_a_conflict(
    cli: Cli, folder: Path, book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = write(folder, "Ann Lee", "ann@example.org", extra="TITLE:Old\r\nNOTE:old\r\n")
    connect(cli, folder, url_with_user(book.server, book.url), monkeypatch, "--winner", "a")
    assert sync(cli)[0] == 0
    [(name, text)] = book_cards(book).items()
    # The folder changes the title; the server changes the note; both change the organisation.
    ann.write_text(
        ann.read_text()
        .replace("TITLE:Old", "TITLE:Folder title")
        .replace("END:VCARD", "ORG:Folder Org\r\nEND:VCARD"),
        newline="",
    )
    server_text = text.replace("NOTE:old", "NOTE:server note")
    server_text = server_text.replace("END:VCARD", "ORG:Server Org\r\nEND:VCARD")
    book.put(name, server_text)
    code, out = sync(cli)
    assert code == 0, out
    mine, theirs = parse_card(ann.read_text()), parse_card(book.get(name))
    for side in (mine, theirs):
        assert side.fields["title"] == "Folder title"
        assert side.fields["notes"] == "server note"
        assert side.fields["company"] == "Folder Org"  # changed on both: the winner's


@pytest.mark.parametrize("fragment", ["", "groups"])
def test_a_deletion_tags_the_other_side_for_review_never_deletes(
    cli: Cli,
    folder: Path,
    radicale: DavServer,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
    fragment: str,
) -> None:
    book = make_book(radicale)
    gone_here = write(folder, "Ann Lee", "ann@example.org")
    write(folder, "Bob Stone", "bob@example.org")
    location = url_with_user(radicale, book.url) + (f"#{fragment}" if fragment else "")
    connect(cli, folder, location, monkeypatch, "--sync-deletions")
    assert sync(cli)[0] == 0
    bob_on_server = next(n for n, t in book_cards(book).items() if "Bob" in t)
    gone_here.unlink()
    book.delete(bob_on_server)
    code, text = sync(cli)
    assert code == 0, text
    server = book_cards(book)
    ann = next(t for t in server.values() if "Ann" in t and "KIND:group" not in t)
    if fragment == "groups":
        group = next(t for t in server.values() if "KIND:group" in t)
        assert "FN:PieSync Trash" in group and parse_card(ann).uid in group
    else:
        assert "PieSync Trash" in ann
    [bob_here] = [t for t in folder_cards(folder) if "Bob" in t]
    assert "CATEGORIES:PieSync Trash" in bob_here
    code, text = cli("trash", "c", "--json")
    assert code == 0 and len(json.loads(text)) == 2


def test_properties_the_folder_does_not_know_survive_on_the_server(
    cli: Cli, folder: Path, book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = "X-SOCIALPROFILE;TYPE=twitter:x.com/ann\r\nitem2.URL:https://ann.example\r\nitem2.X-ABLabel:blog\r\n"
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", extra=extra))
    connect(cli, folder, url_with_user(book.server, book.url), monkeypatch)
    assert sync(cli)[0] == 0
    [path] = folder.glob("*.vcf")
    path.write_text(
        path.read_text().replace("END:VCARD", "TITLE:Edited here\r\nEND:VCARD"), newline=""
    )
    code, text = sync(cli)
    assert code == 0, text
    server = book.get("ann.vcf").upper()
    assert "TITLE:EDITED HERE" in server
    assert "X-SOCIALPROFILE" in server and "X-ABLABEL:BLOG" in server


# -- a server that fails in the middle of a run -------------------------------------------------


def _twenty(folder: Path) -> None:
    for number in range(20):
        write(folder, f"Person {number:02}", f"p{number:02}@example.org")


def _no_duplicates_and_nothing_lost(folder: Path, book: Book) -> None:
    server = book_cards(book)
    uids = [parse_card(text).uid for text in server.values()]
    assert len(uids) == len(set(uids)) == 20
    assert emails(list(server.values())) == [f"p{n:02}@example.org" for n in range(20)]
    assert len(folder_cards(folder)) == 20


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (lambda proxy, server: proxy.fail(500, method="PUT", after=7), "answered 500"),
        (lambda proxy, server: proxy.drop(method="PUT", after=7), "broke off"),
        # The slow answer still lands on the server after we gave up: the next run must find
        # that contact, not make it again.
        (lambda proxy, server: proxy.delay(4.0, method="PUT", after=7, times=1), "did not answer"),
        (
            lambda proxy, server: proxy.before("PUT", lambda path: server.stop(), after=7),
            "answered 502",
        ),
    ],
    ids=["500", "dropped", "too-slow", "server-stopped"],
)
def test_a_run_broken_off_by_the_server_leaves_nothing_lost_and_no_duplicate(
    cli: Cli,
    folder: Path,
    radicale: DavServer,
    fault_proxy: FaultProxy,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[FaultProxy, DavServer], None],
    says: str,
) -> None:
    book = make_book(radicale)
    _twenty(folder)
    connect(cli, folder, fault_proxy.rebase(book.url), monkeypatch)
    fault(fault_proxy, radicale)
    code, text = sync(cli)
    assert code == 1 and says in text, text
    assert "Traceback" not in text
    fault_proxy.clear()
    if radicale.process.poll() is not None:
        radicale.restart()
    if says == "did not answer":
        time.sleep(4.5)  # the slow PUT lands on the server now, after the run gave up on it
        assert len(book.names()) == 8
    code, text = sync(cli)
    assert code == 0, text
    _no_duplicates_and_nothing_lost(folder, book)
    assert health(cli)["failing"] == 0


def test_a_card_edited_by_someone_else_during_the_run_is_merged_next_run(
    cli: Cli,
    folder: Path,
    radicale: DavServer,
    fault_proxy: FaultProxy,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book = make_book(radicale)
    ann = write(folder, "Ann Lee", "ann@example.org")
    connect(cli, folder, fault_proxy.rebase(book.url), monkeypatch)
    assert sync(cli)[0] == 0
    [name] = book.names()
    ann.write_text(ann.read_text().replace("END:VCARD", "TITLE:Ours\r\nEND:VCARD"), newline="")

    def someone_else_edits(path: str) -> None:
        text = book.get(name)
        book.put(name, text.replace("END:VCARD", "NOTE:theirs\r\nEND:VCARD"))

    fault_proxy.before("PUT", someone_else_edits)
    code, text = sync(cli)
    assert code == 0, text
    report = health(cli)
    assert report["failing"] == 1
    assert "while syncing" in report["failure_reasons"][0]["reason"]
    assert "NOTE:theirs" in book.get(name) and "Ours" not in book.get(name)
    code, text = sync(cli)
    assert code == 0, text
    merged = parse_card(book.get(name))
    assert merged.fields["title"] == "Ours" and merged.fields["notes"] == "theirs"
    assert parse_card(ann.read_text()).fields["notes"] == "theirs"
    assert health(cli)["failing"] == 0


def test_the_server_refusing_the_password_fails_the_run_with_what_to_do(
    cli: Cli,
    folder: Path,
    radicale_auth: DavServer,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring,
) -> None:
    book = make_book(radicale_auth)
    write(folder, "Ann Lee", "ann@example.org")
    connect(cli, folder, url_with_user(radicale_auth, book.url), monkeypatch)
    key = next(k for k in memory_keyring.secrets if "carddav:alice@" in k[0])
    memory_keyring.secrets[key] = "changed since"
    code, text = sync(cli)
    assert code == 1
    assert "Sign in again" in text and "refused the user name or password of alice" in text
    assert book.names() == set()


# -- connect: the password ----------------------------------------------------------------------


def _saved_passwords(memory_keyring) -> dict[tuple[str, str], str]:
    return {k: v for k, v in memory_keyring.secrets.items() if "carddav:" in k[0]}


def test_connect_asks_for_the_password_in_a_terminal_and_keeps_it_in_the_keyring(
    cli: Cli,
    folder: Path,
    radicale_auth: DavServer,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring,
) -> None:
    book = make_book(radicale_auth)
    monkeypatch.delenv("PIESYNC_CARDDAV_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "s3cret pass")
    location = url_with_user(radicale_auth, book.url)
    code, text = cli("connect", "c", "--a", f"vcard:{folder}", "--b", f"carddav:{location}")
    assert code == 0, text
    assert asked == ["Password for alice on 127.0.0.1: "]
    assert list(_saved_passwords(memory_keyring).values()) == ["s3cret pass"]
    assert "s3cret" not in (cli.profile / "piesync.sqlite3").read_bytes().decode("latin-1")
    # A second connection on the same account is not asked again.
    other = make_book(radicale_auth)
    second = folder.parent / "second"
    second.mkdir()
    code, text = cli(
        "connect",
        "d",
        "--a",
        f"vcard:{second}",
        "--b",
        f"carddav:{url_with_user(radicale_auth, other.url)}",
    )
    assert code == 0, text
    assert len(asked) == 1


def test_connect_with_a_wrong_password_keeps_nothing(
    cli: Cli,
    folder: Path,
    radicale_auth: DavServer,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring,
) -> None:
    book = make_book(radicale_auth)
    monkeypatch.setenv("PIESYNC_CARDDAV_PASSWORD", "wrong")
    location = url_with_user(radicale_auth, book.url)
    code, _ = cli("connect", "c", "--a", f"vcard:{folder}", "--b", f"carddav:{location}")
    assert code == 2
    assert _saved_passwords(memory_keyring) == {}
    assert cli("connections", "--json")[1].strip() == "[]"


def test_connect_without_a_terminal_or_the_variable_says_how(
    cli: Cli,
    folder: Path,
    radicale_auth: DavServer,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = make_book(radicale_auth)
    monkeypatch.delenv("PIESYNC_CARDDAV_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    location = url_with_user(radicale_auth, book.url)
    code, _ = cli("connect", "c", "--a", f"vcard:{folder}", "--b", f"carddav:{location}")
    assert code == 2
    assert "set PIESYNC_CARDDAV_PASSWORD" in capsys.readouterr().err


def test_an_address_that_is_not_a_book_lists_the_books_found_there(
    cli: Cli,
    folder: Path,
    radicale_auth: DavServer,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = make_book(radicale_auth)
    monkeypatch.setenv("PIESYNC_CARDDAV_PASSWORD", "s3cret pass")
    server = url_with_user(radicale_auth, radicale_auth.base_url)
    code, _ = cli("connect", "c", "--a", f"vcard:{folder}", "--b", f"carddav:{server}")
    assert code == 2
    err = capsys.readouterr().err
    assert "is not an address book" in err and book.url.replace("http://", "") in err


def test_a_group_the_server_refuses_stops_the_run_and_the_next_one_finishes_it(
    cli: Cli,
    folder: Path,
    radicale: DavServer,
    fault_proxy: FaultProxy,
    make_book: Callable[[DavServer], Book],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book = make_book(radicale)
    write(folder, "Ann Lee", "ann@example.org", extra="CATEGORIES:vip\r\n")
    connect(cli, folder, fault_proxy.rebase(book.url) + "#groups", monkeypatch)
    fault_proxy.fail(403, method="PUT", after=1, times=1)  # the contact goes in, its group not
    code, text = sync(cli)
    assert code == 1 and "Group not saved" in text, text
    assert len(book.names()) == 1
    code, text = sync(cli)
    assert code == 0, text
    server = book_cards(book)
    [person] = [t for t in server.values() if "KIND:group" not in t]
    [group] = [t for t in server.values() if "KIND:group" in t]
    assert "FN:vip" in group and parse_card(person).uid in group
    assert len(folder_cards(folder)) == 1
    assert health(cli)["failing"] == 0
