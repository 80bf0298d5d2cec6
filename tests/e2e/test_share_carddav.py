"""Share jobs into CardDAV address books on a real Radicale server, through the CLI (issue 8).

The source is an address book whose cards carry CATEGORIES; the destinations are two other
people's books on the server: one keeps groups as CATEGORIES, the other as Apple's group cards
(X-ADDRESSBOOKSERVER-KIND:group, as iCloud does), each with contacts of its owner's. What is
checked is what the server holds, read with plain HTTP: copies with Team and gSync1 (a category,
or a member of the group cards of those names), the owner's cards untouched, a removed
destination left with its owner's cards and, in the group-card book, without the group cards
Team and gSync1; a destination whose server fails, fails alone.
"""

from __future__ import annotations

import re
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree as ET

import httpx
import pytest
from helpers.carddav_book import Book, spec_location
from helpers.cli import Cli
from helpers.dav_servers import MKCOL_BODY, XML, DavServer, fresh_name, start_radicale
from helpers.fault_proxy import FaultProxy

from piesync_desktop.engine.model import TRASH_TAG
from piesync_desktop.engine.store import Store

UNFOLD = re.compile(r"\r?\n[ \t]")


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    """One server for the module; each test makes books of its own."""
    server = start_radicale(tmp_path_factory.mktemp("radicale"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One plain-http client for everything the tests do on the servers themselves."""
    with httpx.Client(timeout=10.0, verify=False) as client:
        yield client


class SharedBook(Book):
    """A :class:`Book` made on the server with a client it shares with the other books."""

    def __init__(self, server: DavServer, http: httpx.Client) -> None:
        url = server.addressbook_url(fresh_name())
        body = MKCOL_BODY.format(displayname="Contacts")
        answer = http.request("MKCOL", url, content=body.encode(), headers=XML)
        assert answer.status_code == 201, answer.text
        self.server, self.url, self.http = server, url, http

    def close(self) -> None:
        pass  # the client is the module's


@pytest.fixture(scope="module")
def front(radicale: DavServer) -> Iterator[FaultProxy]:
    front = FaultProxy(radicale)
    yield front
    front.close()


@pytest.fixture
def proxy(front: FaultProxy) -> Iterator[FaultProxy]:
    """A fault proxy in front of the server (Bob's categories book is reached through it),
    with no fault when a test starts."""
    yield front
    front.clear()
    assert front.errors == []


@pytest.fixture
def cli(profile: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("PIESYNC_HTTP_TIMEOUT", "3")
    return Cli(profile)


def vcard(name: str, email: str = "", uid: str | None = None, extra: str = "") -> str:
    given, _, family = name.partition(" ")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid or uuid.uuid4().hex}", f"FN:{name}"]
    lines.append(f"N:{family};{given};;;")
    if email:
        lines.append(f"EMAIL;TYPE=INTERNET:{email}")
    return "\r\n".join(lines) + "\r\n" + extra + "END:VCARD\r\n"


def group_card(name: str, members: list[str], uid: str | None = None) -> str:
    """An Apple group card, as the Contacts apps write it."""
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//Apple Inc.//iOS 17.4//EN",
        f"N:{name}",
        f"FN:{name}",
        "X-ADDRESSBOOKSERVER-KIND:group",
        *[f"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:{member}" for member in members],
        f"UID:{uid or uuid.uuid4().hex}",
    ]
    return "\r\n".join(lines) + "\r\nEND:VCARD\r\n"


# -- what a book holds on the server --------------------------------------------------------


def prop(text: str, name: str) -> list[str]:
    unfolded = UNFOLD.sub("", text)
    return re.findall(rf"^{name}(?:;[^:\r\n]*)?:(.*?)\r?$", unfolded, re.M | re.I)


def is_group(text: str) -> bool:
    return bool(prop(text, "X-ADDRESSBOOKSERVER-KIND"))


QUERY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">'
    "<D:prop><D:getetag/><C:address-data/></D:prop></C:addressbook-query>"
)


def everything(book: Book) -> dict[str, str]:
    """Every card of the book on the server (file name -> text), in one REPORT."""
    answer = book.http.request(
        "REPORT",
        book.url,
        content=QUERY.encode(),
        headers={"Content-Type": "application/xml; charset=utf-8", "Depth": "1"},
    )
    assert answer.status_code == 207, answer.text
    found = {}
    for response in ET.fromstring(answer.content).iter("{DAV:}response"):
        text = response.findtext(".//{urn:ietf:params:xml:ns:carddav}address-data")
        if text is not None:
            href = response.findtext("{DAV:}href") or ""
            found[unquote(href.rstrip("/").rpartition("/")[2])] = text
    return dict(sorted(found.items()))


def contacts(book: Book) -> dict[str, str]:
    """FN -> card text, of the contact cards (not the group cards)."""
    found: dict[str, str] = {}
    for text in everything(book).values():
        if not is_group(text):
            [fn] = prop(text, "FN")
            assert fn not in found, f"two cards named {fn}"
            found[fn] = text
    return found


def groups(book: Book) -> dict[str, set[str]]:
    """Group card name -> the UIDs of its members."""
    found: dict[str, set[str]] = {}
    for text in everything(book).values():
        if is_group(text):
            [fn] = prop(text, "FN")
            members = {
                m.removeprefix("urn:uuid:") for m in prop(text, "X-ADDRESSBOOKSERVER-MEMBER")
            }
            found[fn] = members
    return found


def categories(text: str) -> set[str]:
    return {c for line in prop(text, "CATEGORIES") for c in line.split(",") if c}


def uid(text: str) -> str:
    [value] = prop(text, "UID")
    return value


def in_groups(book: Book, text: str) -> set[str]:
    """The group cards a contact is a member of."""
    return {name for name, members in groups(book).items() if uid(text) in members}


# -- the books ---------------------------------------------------------------------------------


@pytest.fixture
def books(radicale: DavServer, proxy: FaultProxy, http: httpx.Client) -> types.SimpleNamespace:
    """Ada's book (Team: Ann and Bob, Family: Cat, as CATEGORIES); Bob's book keeping groups as
    CATEGORIES (his 'Own Ann' with Ann's email, his 'Mine' in Team), reached through the fault
    proxy; Cy's book keeping them as Apple group cards ('Cy Own', with Ann's email too, in a
    group card Team of his)."""
    source, cats, apple = (SharedBook(radicale, http) for _ in range(3))
    source.put(
        "ann.vcf",
        vcard("Ann Lee", "ann@acme.com", extra="TEL:+3225550101\r\nCATEGORIES:Team,Family\r\n"),
    )
    source.put("bob.vcf", vcard("Bob Stone", extra="CATEGORIES:team\r\n"))  # no email
    source.put("cat.vcf", vcard("Cat Moss", "cat@acme.com", extra="CATEGORIES:Family\r\n"))
    cats.put("own.vcf", vcard("Own Ann", "ann@acme.com", extra="NOTE:mine\r\n"))
    cats.put("mine.vcf", vcard("Mine Self", "mine@bob.org", extra="CATEGORIES:Team\r\n"))
    cy_uid = uuid.uuid4().hex
    apple.put("cy.vcf", vcard("Cy Own", "ann@acme.com", uid=cy_uid))  # Ann's email, in Team
    apple.put("team-group.vcf", group_card("Team", [cy_uid]))
    return types.SimpleNamespace(
        source=source,
        cats=cats,
        apple=apple,
        source_spec=f"carddav:{spec_location(radicale, source.url, fragment='categories')}",
        cats_spec="carddav:"
        + spec_location(radicale, proxy.rebase(cats.url), fragment="categories"),
        apple_spec=f"carddav:{spec_location(radicale, apple.url, fragment='groups')}",
        cy_uid=cy_uid,
    )


def share(cli: Cli, source: str, *destinations: str) -> str:
    code, text = cli(
        "share",
        "Team",
        "--source",
        source,
        "--group",
        "Team",
        *[arg for spec in destinations for arg in ("--to", spec)],
    )
    assert code == 0, text
    return text


def connection_names_from(cli: Cli) -> dict[str, str]:
    """Destination spec -> the name of its connection."""
    [job] = cli.json("shares")
    return {d["to"]: d["connection"] for d in job["destinations"]}


def lines_of(text: str) -> dict[str, str]:
    return {line.split(": ", 1)[0]: line for line in text.splitlines() if ": " in line}


# -- the tests -----------------------------------------------------------------------------------


def test_copies_carry_team_and_gsync1_as_categories_or_as_group_cards(cli, books):
    before_cats, before_apple = everything(books.cats), everything(books.apple)
    text = share(cli, books.source_spec, books.cats_spec, books.apple_spec)
    assert "Share job 'Team' created" in text and text.count("2 copies made") == 2, text
    cats, apple = contacts(books.cats), contacts(books.apple)
    # the categories book: the group and the reference tag as CATEGORIES
    assert set(cats) == {"Own Ann", "Mine Self", "Ann Lee", "Bob Stone"}
    assert categories(cats["Ann Lee"]) == categories(cats["Bob Stone"]) == {"Team", "gSync1"}
    assert prop(cats["Ann Lee"], "EMAIL") == ["ann@acme.com"]
    assert prop(cats["Ann Lee"], "TEL") == ["+3225550101"]
    # the group-card book: members of the group cards Team (the owner's own) and gSync1
    assert set(apple) == {"Cy Own", "Ann Lee", "Bob Stone"}
    for name in ("Ann Lee", "Bob Stone"):
        assert in_groups(books.apple, apple[name]) == {"Team", "gSync1"}
        assert categories(apple[name]) == set()  # not as CATEGORIES there
    assert set(groups(books.apple)) == {"Team", "gSync1"}
    assert "team-group.vcf" in everything(books.apple)  # the owner's Team card is the one used
    assert groups(books.apple)["Team"] == {
        books.cy_uid,
        uid(apple["Ann Lee"]),
        uid(apple["Bob Stone"]),
    }
    # nothing else of the source, and the owners' cards as they were
    assert "Cat Moss" not in cats and "Cat Moss" not in apple
    assert all("Family" not in t for t in (*cats.values(), *apple.values()))
    now_cats = everything(books.cats)
    assert {k: now_cats[k] for k in before_cats} == before_cats
    assert everything(books.apple)["cy.vcf"] == before_apple["cy.vcf"]
    assert len(everything(books.source)) == 3  # one way


@pytest.mark.usefixtures("both_load_modes")
def test_destination_edits_are_undone_and_a_contact_leaving_team_leaves_it_there(
    cli, books, radicale
):
    share(cli, books.source_spec, books.cats_spec, books.apple_spec)
    [(name, text)] = [(n, t) for n, t in everything(books.cats).items() if "FN:Ann Lee" in t]
    books.cats.put(name, text.replace("+3225550101", "+3299999999"))  # edited by Bob
    source_bob = books.source.get("bob.vcf")
    books.source.put("bob.vcf", source_bob.replace("CATEGORIES:team", "CATEGORIES:Old"))
    code, text = cli("sync", "Team")
    assert code == 0, text
    cats, apple = contacts(books.cats), contacts(books.apple)
    assert prop(cats["Ann Lee"], "TEL") == ["+3225550101"]  # the source's value again
    assert categories(cats["Bob Stone"]) == {"gSync1", TRASH_TAG}  # out of Team, for review
    assert in_groups(books.apple, apple["Bob Stone"]) == {"gSync1", TRASH_TAG}
    assert books.cy_uid in groups(books.apple)["Team"]
    assert categories(cats["Mine Self"]) == {"Team"} and "NOTE:mine" in cats["Own Ann"]


def test_removal_deletes_the_copies_keeps_the_owners_cards_and_the_group_cards_go(
    cli, books, profile
):
    share(cli, books.source_spec, books.cats_spec, books.apple_spec)
    code, text = cli("share-remove", "Team", "--to", books.apple_spec, "--yes")
    assert code == 0, text
    assert "2 copies deleted, 1 of its own contacts left 'Team' and stayed" in text, text
    left = everything(books.apple)
    assert list(left) == ["cy.vcf"]  # the copies and the group cards Team and gSync1 are gone
    assert prop(left["cy.vcf"], "EMAIL") == ["ann@acme.com"]
    code, text = cli("share-remove", "Team", "--to", books.cats_spec, "--yes")
    assert code == 0, text
    assert "2 copies deleted, 1 of its own contacts left 'Team' and stayed" in text, text
    cats = contacts(books.cats)
    assert set(cats) == {"Own Ann", "Mine Self"}
    assert categories(cats["Mine Self"]) == set() and prop(cats["Mine Self"], "EMAIL") == [
        "mine@bob.org"
    ]
    assert "NOTE:mine" in cats["Own Ann"]
    assert cli.json("shares")[0]["destinations"] == []
    with Store(profile / "piesync.sqlite3") as store:
        events = store.share_events(store.share_job("Team").id or 0)
    removed = [e.detail for e in events if e.action == "group removed"]
    assert sorted(removed) == ["Team", "gSync1"]  # the group cards; CATEGORIES are no objects


def test_a_destination_added_later_is_synced_at_once(cli, books):
    share(cli, books.source_spec, books.cats_spec)
    assert set(contacts(books.apple)) == {"Cy Own"}
    code, text = cli("share", "Team", "--to", books.apple_spec)
    assert code == 0 and "2 copies made" in text, text
    apple = contacts(books.apple)
    assert in_groups(books.apple, apple["Ann Lee"]) == {"Team", "gSync1"}


def test_a_destination_answering_500_fails_alone(cli, books, proxy):
    share(cli, books.source_spec, books.cats_spec, books.apple_spec)
    books.source.put("ann.vcf", books.source.get("ann.vcf").replace("+3225550101", "+3225550404"))
    proxy.fail(500)
    code, text = cli("sync", "Team")
    assert code == 1, text
    names = connection_names_from(cli)
    lines = lines_of(text)
    assert "500" in lines[names[books.cats_spec]], text
    assert "1 updated" in lines[names[books.apple_spec]], text
    assert prop(contacts(books.apple)["Ann Lee"], "TEL") == ["+3225550404"]
    proxy.clear()
    code, text = cli("sync", "Team")
    assert code == 0, text
    assert prop(contacts(books.cats)["Ann Lee"], "TEL") == ["+3225550404"]


def test_a_destination_on_a_stopped_server_fails_alone(cli, books, tmp_path, http):
    other = start_radicale(tmp_path / "other")
    try:
        far = SharedBook(other, http)
        far_spec = f"carddav:{spec_location(other, far.url, fragment='categories')}"
        share(cli, books.source_spec, far_spec, books.apple_spec)
        assert set(contacts(far)) == {"Ann Lee", "Bob Stone"}
        other.stop()
        books.source.put(
            "ann.vcf", books.source.get("ann.vcf").replace("+3225550101", "+3225550505")
        )
        code, text = cli("sync", "Team")
        assert code == 1, text
        names = connection_names_from(cli)
        lines = lines_of(text)
        far_line = lines[names[far_spec]]
        assert "Server unreachable" in far_line and "127.0.0.1" in far_line, text
        assert "1 updated" in lines[names[books.apple_spec]], text
        assert prop(contacts(books.apple)["Ann Lee"], "TEL") == ["+3225550505"]
    finally:
        other.stop()


def test_a_vcard_folder_shared_into_a_group_card_book(cli, books, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "dan.vcf").write_bytes(
        vcard("Dan Roe", "dan@acme.com", extra="CATEGORIES:Team\r\n").encode()
    )
    (folder / "eve.vcf").write_bytes(vcard("Eve Poe", "eve@acme.com").encode())
    text = share(cli, f"vcard:{folder}", books.apple_spec)
    assert "1 copies made" in text, text
    apple = contacts(books.apple)
    assert set(apple) == {"Cy Own", "Dan Roe"}
    assert in_groups(books.apple, apple["Dan Roe"]) == {"Team", "gSync1"}
    code, text = cli("share-remove", "Team", "--to", books.apple_spec, "--yes")
    assert code == 0, text
    assert list(everything(books.apple)) == ["cy.vcf"]


def test_each_destination_is_named_after_its_address_book(cli, books, radicale):
    share(cli, books.source_spec, books.cats_spec, books.apple_spec)
    names = connection_names_from(cli)
    for spec, book in ((books.cats_spec, books.cats), (books.apple_spec, books.apple)):
        book_name = book.url.rstrip("/").rpartition("/")[2]
        # "Team → CardDAV 'book-…'", not the tag style of its address: "CardDAV '#groups'"
        assert book_name in names[spec] and "#" not in names[spec], names
    code, text = cli("share-remove", "Team", "--to", books.apple_spec)
    assert code == 2  # not confirmed: nothing happens, but the question names the book
    book_name = books.apple.url.rstrip("/").rpartition("/")[2]
    assert book_name in text.splitlines()[0], text


def test_a_removal_refused_half_way_is_finished_by_removing_again(
    cli, books, proxy, profile, capsys
):
    share(cli, books.source_spec, books.cats_spec)
    proxy.fail(500, method="DELETE", after=1, times=1)  # the second copy's DELETE is refused
    code, first = cli("share-remove", "Team", "--to", books.cats_spec, "--yes")
    first += capsys.readouterr().err
    assert code == 1, first
    assert "500" in first, first
    assert len(contacts(books.cats)) == 3  # one copy went, one is still there
    [job] = cli.json("shares")
    assert [d["paused"] for d in job["destinations"]] == [True]
    cli("sync")  # a paused destination is not synced: no copy comes back
    assert len(contacts(books.cats)) == 3
    code, text = cli("share-remove", "Team", "--to", books.cats_spec, "--yes")
    assert code == 0, text
    assert set(contacts(books.cats)) == {"Own Ann", "Mine Self"}
    assert categories(contacts(books.cats)["Mine Self"]) == set()
    with Store(profile / "piesync.sqlite3") as store:
        events = store.share_events(store.share_job("Team").id or 0)
    # the job's timeline tells of both copies deleted, the one of the first go included
    deleted = sorted(e.name for e in events if e.action.startswith("deleted"))
    assert deleted == ["Ann Lee", "Bob Stone"], [(e.action, e.name) for e in events]
    # and the first go said, as a refusal does, that the removal is to be run again
    assert "run share-remove again" in first, first


def test_removing_a_destination_that_cannot_be_reached_changes_nothing(cli, books, proxy, capsys):
    share(cli, books.source_spec, books.cats_spec)
    proxy.fail(500)
    code, _ = cli("share-remove", "Team", "--to", books.cats_spec, "--yes")
    assert code == 1
    assert "500" in capsys.readouterr().err
    [job] = cli.json("shares")
    assert [d["paused"] for d in job["destinations"]] == [False]  # untouched, still synced
    proxy.clear()
    assert len(contacts(books.cats)) == 4


def test_the_owner_deleting_the_group_card_team_gets_it_made_again(cli, books):
    share(cli, books.source_spec, books.apple_spec)
    books.apple.delete("team-group.vcf")  # Cy deletes his group Team (its cards stay)
    code, text = cli("sync", "Team")
    assert code == 0 and "2 updated" in text and "0 failing" in text, text
    apple = contacts(books.apple)
    for name in ("Ann Lee", "Bob Stone"):
        assert in_groups(books.apple, apple[name]) == {"Team", "gSync1"}
    assert books.cy_uid not in groups(books.apple)["Team"]  # his card is not put back in it
