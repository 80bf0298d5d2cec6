"""The CardDAV connector against real servers (Radicale and Xandikos on loopback): listing,
changes, writes with preconditions, properties that survive, and what it says when it cannot."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from helpers.carddav_book import FAST, Book, card, spec_location
from helpers.dav_servers import DavServer
from helpers.fault_proxy import FaultProxy

from piesync_desktop.engine.connectors.base import TagRemover
from piesync_desktop.engine.connectors.carddav import connector as connector_module
from piesync_desktop.engine.connectors.carddav.connector import CardDav
from piesync_desktop.engine.connectors.carddav.webdav import PutAnswer
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.errors import AuthExpired, ConnectorError, TransientError
from piesync_desktop.engine.model import Item, NewRecord, ReadFailure, Record, RecordUpdate

SLOW_IS_ONE_SECOND = HttpSettings(connect_timeout=1.0, read_timeout=1.0, max_wait=2.0)
ANN = {"given_name": "Ann", "family_name": "Lee", "emails": (Item("work", "ann@example.org"),)}


def opened(book: Book, cursor: object = None, **options: object) -> CardDav:
    connector = book.connector(**options)  # type: ignore[arg-type]
    connector.open(cursor)
    return connector


def records_of(connector: CardDav, cursor: object = None) -> dict[str, Record]:
    return {r.id: r for r in connector.changes(cursor).records}


# -- reading ------------------------------------------------------------------------------------


def test_a_book_is_listed_with_fields_versions_and_uids(book: Book) -> None:
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann", extra="TITLE:Boss\r\n"))
    book.put("bob.vcf", card("Bob Stone", "bob@example.org", uid="u-bob"))
    connector = opened(book)
    changes = connector.changes(None)
    records = {r.id: r for r in changes.records}
    assert set(records) == {"ann.vcf", "bob.vcf"}
    ann = records["ann.vcf"]
    assert ann.fields["given_name"] == "Ann" and ann.fields["title"] == "Boss"
    assert ann.first("emails") == "ann@example.org"
    assert ann.create_key == "u-ann" and ann.version
    assert changes.total == 2 and changes.deleted == []


def test_nothing_changed_costs_one_request_and_reads_no_card(book: Book) -> None:
    book.put("ann.vcf", card("Ann Lee", "ann@example.org"))
    first = opened(book)
    first.changes(None)
    assert first.requests == 3  # the check, the changes, the cards
    cursor = first.cursor()
    again = opened(book, cursor)
    assert list(again.changes(cursor).records) == []
    assert again.requests == 1  # the changes since the token, which also show it is a book


def test_a_book_deleted_since_the_last_run_says_so(book: Book) -> None:
    first = opened(book)
    first.changes(None)
    cursor = first.cursor()
    with book.server.client() as http:
        assert http.delete(book.url).status_code in (200, 204)
    again = opened(book, cursor)
    with pytest.raises(ConnectorError, match="There is no address book at"):
        again.changes(cursor)


def test_changes_of_another_client_are_found_and_deletions_named(book: Book) -> None:
    etag = book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann"))
    book.put("bob.vcf", card("Bob Stone", "bob@example.org"))
    first = opened(book)
    first.changes(None)
    cursor = first.cursor()
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann", extra="NOTE:new\r\n"), etag)
    book.delete("bob.vcf")
    book.put("cy.vcf", card("Cy Young", "cy@example.org"))
    again = opened(book)
    changes = again.changes(cursor)
    records = {r.id: r for r in changes.records}
    assert set(records) == {"ann.vcf", "cy.vcf"}
    assert records["ann.vcf"].fields["notes"] == "new"
    assert changes.deleted == ["bob.vcf"]
    assert changes.total == 2


def test_our_own_writes_are_not_read_back(book: Book) -> None:
    connector = opened(book)
    connector.changes(None)
    [created] = connector.create([NewRecord("k-ann", dict(ANN), frozenset({"Friends"}))])
    assert created.error is None and created.id == "k-ann.vcf"
    assert created.record is not None and created.record.tags == {"Friends"}
    again = opened(book, connector.cursor())
    assert list(again.changes(connector.cursor()).records) == []
    assert again.requests == 1


def test_an_unknown_sync_token_lists_everything_again(book: Book) -> None:
    book.put("ann.vcf", card("Ann Lee", "ann@example.org"))
    first = opened(book)
    first.changes(None)
    cursor = dict(first.cursor())
    cursor["etags"] = {**cursor["etags"], "gone.vcf": '"old"'}
    cursor["token"] = cursor["token"] + "-forgotten"
    again = opened(book)
    changes = again.changes(cursor)
    assert changes.deleted == ["gone.vcf"]
    assert changes.total == 1


def test_without_sync_collection_the_ctag_and_etags_tell(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connector_module, "offers_sync_collection", lambda response: False)
    etag = book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann"))
    book.put("bob.vcf", card("Bob Stone", "bob@example.org"))
    first = opened(book)
    assert set(records_of(first)) == {"ann.vcf", "bob.vcf"}
    cursor = first.cursor()
    assert cursor["mode"] == "ctag"
    quiet = opened(book)
    assert records_of(quiet, cursor) == {}
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann", extra="NOTE:x\r\n"), etag)
    book.delete("bob.vcf")
    again = opened(book)
    changes = again.changes(cursor)
    assert [r.id for r in changes.records] == ["ann.vcf"]
    assert changes.deleted == ["bob.vcf"]


def test_a_vcard_4_card_is_read_and_stays_4_when_updated(book: Book) -> None:
    book.put("v4.vcf", card("Ann Lee", "ann@example.org", version="4.0"))
    connector = opened(book)
    [record] = connector.changes(None).records
    assert record.first("emails") == "ann@example.org"
    [result] = connector.update([RecordUpdate("v4.vcf", {"title": "Boss"}, version=record.version)])
    assert result.error is None
    text = book.get("v4.vcf")
    assert "VERSION:4.0" in text and "TITLE:Boss" in text


def test_get_reads_again_and_says_which_are_gone(book: Book) -> None:
    book.put("ann.vcf", card("Ann Lee", "ann@example.org"))
    connector = opened(book)
    connector.changes(None)
    ann, gone = connector.get(["ann.vcf", "nobody.vcf"])
    assert isinstance(ann, Record) and ann.fields["given_name"] == "Ann"
    assert isinstance(gone, ReadFailure) and gone.gone


# -- writing ------------------------------------------------------------------------------------


def test_a_created_contact_is_on_the_server_for_everyone(book: Book) -> None:
    connector = opened(book)
    connector.changes(None)
    [result] = connector.create([NewRecord("k-ann", dict(ANN), frozenset({"Friends"}))])
    text = book.get(result.id or "")
    assert "UID:k-ann" in text and "ann@example.org" in text and "CATEGORIES:Friends" in text


def test_an_update_keeps_every_property_it_does_not_map(book: Book) -> None:
    extra = (
        "X-CUSTOM-THING:keep me\r\n"
        "item1.EMAIL;TYPE=INTERNET:second@example.org\r\n"
        "item1.X-ABLabel:_$!<Other>!$_\r\n"
        "PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=\r\n"
        "NOTE:first line\\nsecond line\r\n"
    )
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", extra=extra))
    connector = opened(book)
    [record] = connector.changes(None).records
    [result] = connector.update(
        [RecordUpdate("ann.vcf", {"title": "Boss"}, version=record.version)]
    )
    assert result.error is None and result.record is not None
    assert result.record.fields["title"] == "Boss"
    text = book.get("ann.vcf").upper()  # Radicale writes property names in upper case
    for kept in ("X-CUSTOM-THING:KEEP ME", "SECOND@EXAMPLE.ORG", "X-ABLABEL", "IVBORW0KGGO="):
        assert kept in text
    assert "TITLE:BOSS" in text


def test_an_update_of_a_card_not_read_this_run_reads_it_first(book: Book) -> None:
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", extra="X-KEEP:yes\r\n"))
    first = opened(book)
    [record] = first.changes(None).records
    later = opened(book)
    later.changes(first.cursor())  # nothing changed: the card is not read
    [result] = later.update([RecordUpdate("ann.vcf", {"title": "Boss"}, version=record.version)])
    assert result.error is None
    assert "X-KEEP:yes" in book.get("ann.vcf") and "TITLE:Boss" in book.get("ann.vcf")


def test_a_create_a_crash_left_unlinked_is_found_again_not_made_twice(book: Book) -> None:
    connector = opened(book)
    connector.changes(None)
    [first] = connector.create([NewRecord("k-ann", dict(ANN))])
    again = opened(book)  # the next run, which never saw the link saved
    [second] = again.create([NewRecord("k-ann", dict(ANN))])
    assert second.error is None and second.id == first.id
    assert book.names() == {"k-ann.vcf"}


def test_a_name_another_contact_holds_is_never_overwritten(book: Book) -> None:
    book.put("k-ann.vcf", card("Someone Else", "else@example.org", uid="not-ours"))
    connector = opened(book)
    connector.changes(None)
    [result] = connector.create([NewRecord("k-ann", dict(ANN))])
    assert result.id == "k-ann-2.vcf"
    assert "Someone Else" in book.get("k-ann.vcf")


def test_the_persons_delete_from_trash_review_removes_the_card(book: Book) -> None:
    book.put("ann.vcf", card("Ann Lee", "ann@example.org"))
    connector = opened(book)
    connector.changes(None)
    [result] = connector.delete(["ann.vcf"])
    assert result.error is None and book.names() == set()


def test_a_card_changed_between_our_read_and_our_write_is_a_conflict(
    fault_proxy: FaultProxy, radicale: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale)
    etag = book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann"))
    connector = book.connector(url=fault_proxy.rebase(book.url))
    connector.open()
    [record] = connector.changes(None).records
    cursor_before = connector.cursor()

    def other_client_edits(path: str) -> None:
        book.put(
            "ann.vcf",
            card("Ann Lee", "ann@example.org", uid="u-ann", extra="NOTE:theirs\r\n"),
            etag,
        )

    fault_proxy.before("PUT", other_client_edits)
    [result] = connector.update(
        [RecordUpdate("ann.vcf", {"title": "Ours"}, version=record.version)]
    )
    assert result.conflict and result.id == "ann.vcf"
    text = book.get("ann.vcf")
    assert "NOTE:theirs" in text and "Ours" not in text  # their edit stands, ours did not land
    later = book.connector()
    later.open()
    [seen] = later.changes(cursor_before).records
    assert seen.fields["notes"] == "theirs"


# -- tags as Apple's groups ---------------------------------------------------------------------


def test_with_groups_a_tag_is_a_group_card_apple_apps_show(book: Book) -> None:
    connector = opened(book, fragment="groups")
    connector.changes(None)
    [result] = connector.create([NewRecord("k-ann", dict(ANN), frozenset({"PieSync Trash"}))])
    assert result.record is not None and result.record.tags == {"PieSync Trash"}
    texts = [book.get(name) for name in book.names()]
    group = next(t for t in texts if "X-ADDRESSBOOKSERVER-KIND:group" in t)
    assert "FN:PieSync Trash" in group and "urn:uuid:k-ann" in group
    person = next(t for t in texts if "UID:k-ann" in t and "KIND:group" not in t)
    assert "CATEGORIES" not in person
    again = opened(book, fragment="groups")
    [record] = again.changes(None).records
    assert record.tags == {"PieSync Trash"}


def test_a_book_that_holds_group_cards_keeps_tags_as_groups(book: Book) -> None:
    group = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:g-friends\r\nFN:Friends\r\nN:Friends;;;;\r\n"
        "X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:u-ann\r\n"
        "END:VCARD\r\n"
    )
    book.put("g-friends.vcf", group)
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann"))
    book.put("bob.vcf", card("Bob Stone", "bob@example.org", uid="u-bob"))
    connector = opened(book)
    changes = connector.changes(None)
    records = {r.id: r for r in changes.records}
    assert set(records) == {"ann.vcf", "bob.vcf"}  # the group is not a contact
    assert records["ann.vcf"].tags == {"Friends"} and records["bob.vcf"].tags == frozenset()
    cursor = connector.cursor()
    [result] = connector.update(
        [
            RecordUpdate(
                "bob.vcf", add_tags=frozenset({"Friends"}), version=records["bob.vcf"].version
            )
        ]
    )
    assert result.error is None
    assert "urn:uuid:u-bob" in book.get("g-friends.vcf")
    assert "CATEGORIES" not in book.get("bob.vcf")
    # Another client takes Ann out of the group: Ann's tags changed, though her card did not.
    book.put(
        "g-friends.vcf",
        book.get("g-friends.vcf").replace("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:u-ann\r\n", ""),
    )
    later = opened(book)
    later_records = records_of(later, connector.cursor())
    assert set(later_records) == {"ann.vcf"} and later_records["ann.vcf"].tags == frozenset()
    del cursor


# -- removing a tag's group (a share job's destination removed) ---------------------------------


def group_card(uid: str, name: str, *members: str) -> str:
    """An Apple group card as the Contacts apps write it."""
    lines = [f"X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:{m}\r\n" for m in members]
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
        "X-ADDRESSBOOKSERVER-KIND:group\r\n" + "".join(lines) + "END:VCARD\r\n"
    )


def shared_book(book: Book) -> dict[str, str]:
    """Ann and Bob in the share job's group, Ann also in Friends; each card's text."""
    book.put("g-share.vcf", group_card("g-share", "gSync1", "u-ann", "u-bob"))
    book.put("g-friends.vcf", group_card("g-friends", "Friends", "u-ann"))
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", uid="u-ann"))
    book.put("bob.vcf", card("Bob Stone", "bob@example.org", uid="u-bob"))
    return {name: book.get(name) for name in book.names()}


@pytest.mark.parametrize("fragment", ["groups", ""])
def test_removing_a_tag_deletes_its_group_card_and_keeps_the_members(
    book: Book, fragment: str
) -> None:
    before = shared_book(book)
    connector = opened(book, fragment=fragment)
    assert {r.id: r.tags for r in connector.changes(None).records}["bob.vcf"] == {"gSync1"}
    assert isinstance(connector, TagRemover)
    assert connector.remove_tag("gSync1") is True
    assert book.names() == {"g-friends.vcf", "ann.vcf", "bob.vcf"}
    assert all(book.get(name) == before[name] for name in book.names())  # members untouched
    cursor = connector.cursor()
    assert [g[1] for g in cursor["groups"].values()] == ["Friends"]
    again = opened(book, cursor, fragment=fragment)
    changes = again.changes(cursor)  # our own delete: nothing to read, nobody deleted
    assert list(changes.records) == [] and changes.deleted == [] and changes.total == 2
    assert again.remove_tag("gSync1") is False and again.remove_tag("Nope") is False
    assert {r.id: r.tags for r in opened(book).changes(None).records} == {
        "ann.vcf": {"Friends"},
        "bob.vcf": frozenset(),
    }


def test_a_group_card_the_run_has_not_read_is_found_and_one_gone_meanwhile_is_false(
    book: Book,
) -> None:
    before = shared_book(book)
    unread = opened(book, fragment="groups")  # no listing yet: the group is looked for
    assert unread.remove_tag("gSync1") is True
    assert unread.cursor()["groups"] == {} and unread.cursor()["etags"] == {}  # read aside
    assert book.names() == {"g-friends.vcf", "ann.vcf", "bob.vcf"}
    assert book.get("ann.vcf") == before["ann.vcf"]
    connector = opened(book, fragment="groups")
    connector.changes(None)
    book.delete("g-friends.vcf")  # by another client, after our listing
    assert connector.remove_tag("Friends") is False
    assert connector.cursor()["groups"] == {}


def test_a_group_card_changed_before_our_delete_is_read_again_and_deleted(
    fault_proxy: FaultProxy, radicale: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale)
    shared_book(book)
    connector = book.connector(url=fault_proxy.rebase(book.url), fragment="groups")
    connector.open()
    connector.changes(None)

    def other_client_adds_a_member(path: str) -> None:
        text = group_card("g-share", "gSync1", "u-ann", "u-bob", "u-cy")
        book.put("g-share.vcf", text)

    fault_proxy.before("DELETE", other_client_adds_a_member)
    assert connector.remove_tag("gSync1") is True
    assert fault_proxy.count("DELETE") == 2 and fault_proxy.count("GET") == 1  # 412, read, again
    assert book.names() == {"g-friends.vcf", "ann.vcf", "bob.vcf"}


def test_a_group_card_the_server_will_not_delete_is_an_error_that_names_it(
    fault_proxy: FaultProxy, radicale: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale)
    shared_book(book)
    connector = book.connector(url=fault_proxy.rebase(book.url), fragment="groups")
    connector.open()
    connector.changes(None)
    fault_proxy.fail(403, method="DELETE", times=1, body="Forbidden")
    with pytest.raises(ConnectorError, match="did not remove the group 'gSync1': HTTP 403"):
        connector.remove_tag("gSync1")
    assert "g-share.vcf" in book.names()
    assert any(g[1] == "gSync1" for g in connector.cursor()["groups"].values())


@pytest.mark.parametrize("fragment", ["", "categories"])
def test_where_tags_are_categories_removing_one_is_false_and_deletes_nothing(
    book: Book, fragment: str
) -> None:
    book.put("ann.vcf", card("Ann Lee", "ann@example.org", extra="CATEGORIES:gSync1\r\n"))
    if fragment:  # told: categories, though an Apple group of that name is in the book
        book.put("g-share.vcf", group_card("g-share", "gSync1"))
    before = {name: book.get(name) for name in book.names()}
    connector = opened(book, fragment=fragment)
    assert [r.tags for r in connector.changes(None).records] == [{"gSync1"}]
    requests = connector.requests
    assert connector.remove_tag("gSync1") is False
    assert connector.requests == requests  # decided without asking the server
    assert {name: book.get(name) for name in book.names()} == before


# -- when it cannot -----------------------------------------------------------------------------


def test_a_wrong_password_is_a_sentence_about_signing_in(
    radicale_auth: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale_auth)
    connector = CardDav(spec_location(radicale_auth, book.url), password="wrong", settings=FAST)
    with pytest.raises(AuthExpired, match="refused the user name or password of alice"):
        connector.open()
    right = book.connector()
    right.open()
    assert list(right.changes(None).records) == []


def test_no_saved_password_asks_to_enter_it_again(
    radicale_auth: DavServer, make_book: Callable[[DavServer], Book], memory_keyring
) -> None:
    book = make_book(radicale_auth)
    location = spec_location(radicale_auth, book.url)
    memory_keyring.secrets.clear()
    with pytest.raises(AuthExpired, match="No password is saved for alice"):
        CardDav(location, settings=FAST).open()


def test_digest_authentication_works(
    fault_proxy: FaultProxy, radicale: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale)
    book.put("ann.vcf", card("Ann Lee", "ann@example.org"))
    fault_proxy.digest("dora", "digest pass")
    url = fault_proxy.rebase(book.url).replace("http://", "http://dora@")
    wrong = CardDav(url, password="nope", settings=FAST)
    with pytest.raises(AuthExpired):
        wrong.open()
    connector = CardDav(url, password="digest pass", settings=FAST)
    connector.open()
    assert [r.fields["given_name"] for r in connector.changes(None).records] == ["Ann"]


def test_an_address_that_is_not_an_address_book_says_so(
    radicale: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale)
    with pytest.raises(ConnectorError, match="is not an address book"):
        book.connector(url=radicale.home_url).open()
    with pytest.raises(ConnectorError, match="There is no address book at"):
        book.connector(url=radicale.home_url + "missing/").open()


def test_an_unreachable_server_is_named_and_retried_later() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nobody listens there now
    connector = CardDav(f"http://127.0.0.1:{port}/alice/book/", settings=FAST)
    with pytest.raises(TransientError, match=r"Cannot reach 127\.0\.0\.1"):
        connector.open()


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (lambda proxy: proxy.fail(500, method="REPORT"), "answered 500"),
        (lambda proxy: proxy.delay(2.0, method="REPORT", times=1), "did not answer within 1"),
        (lambda proxy: proxy.drop(method="REPORT"), "broke off"),
        (
            lambda proxy: proxy.fail(429, method="REPORT", headers={"Retry-After": "120"}),
            "asked us to slow down",
        ),
    ],
    ids=["500", "too-slow", "dropped", "throttled-long"],
)
def test_a_failing_server_stops_the_side_with_a_reason(
    fault_proxy: FaultProxy,
    radicale: DavServer,
    make_book: Callable[[DavServer], Book],
    fault: Callable[[FaultProxy], None],
    says: str,
) -> None:
    book = make_book(radicale)
    connector = book.connector(url=fault_proxy.rebase(book.url))
    connector._settings = SLOW_IS_ONE_SECOND
    connector.open()
    fault(fault_proxy)
    with pytest.raises(ConnectorError, match=says):
        connector.changes(None)


def test_a_short_throttle_is_waited_out(
    fault_proxy: FaultProxy, radicale: DavServer, make_book: Callable[[DavServer], Book]
) -> None:
    book = make_book(radicale)
    book.put("ann.vcf", card("Ann Lee", "ann@example.org"))
    connector = book.connector(url=fault_proxy.rebase(book.url))
    connector.open()
    fault_proxy.fail(429, method="REPORT", times=1, headers={"Retry-After": "1"})
    assert len(list(connector.changes(None).records)) == 1
    assert fault_proxy.count("REPORT", received=True) == 3  # throttled, then changes, multiget


def test_the_client_never_waits_forever_on_a_silent_server() -> None:
    """A server that accepts the connection and never answers is given up on in time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        port = listener.getsockname()[1]
        connector = CardDav(f"http://127.0.0.1:{port}/alice/book/", settings=SLOW_IS_ONE_SECOND)
        with pytest.raises(TransientError, match="did not answer within 1 second"):
            connector.open()
    finally:
        listener.close()


def test_a_certificate_nobody_vouches_for_is_refused_until_its_authority_is_trusted(
    radicale_tls: DavServer, make_book: Callable[[DavServer], Book], monkeypatch: pytest.MonkeyPatch
) -> None:
    book = make_book(radicale_tls)
    book.put("ann.vcf", card("Ann Lee", "ann@example.org"))
    monkeypatch.delenv("PIESYNC_CA_BUNDLE", raising=False)
    untrusting = CardDav(book.url)
    with pytest.raises(
        ConnectorError, match=r"certificate of 127\.0\.0\.1 cannot be trusted"
    ) as told:
        untrusting.open()
    assert "PIESYNC_CA_BUNDLE" in told.value.message
    assert not isinstance(told.value, TransientError)  # waiting will not fix it
    monkeypatch.setenv("PIESYNC_CA_BUNDLE", str(radicale_tls.ca_file))
    trusting = CardDav(book.url)
    trusting.open()
    assert [r.fields["given_name"] for r in trusting.changes(None).records] == ["Ann"]


def test_a_write_whose_version_the_server_did_not_say_is_read_before_the_next_write(
    book: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = opened(book)
    connector.changes(None)
    client = connector._connect()
    real_put = client.put
    sent: list[str | None] = []

    def put_without_etag(url: str, text: str, *, etag: str | None = None, create: bool = False):
        sent.append(etag)
        answer = real_put(url, text, etag=etag, create=create)
        return PutAnswer(answer.status, "", answer.message)  # as servers that rewrite cards do

    monkeypatch.setattr(client, "put", put_without_etag)
    [created] = connector.create([NewRecord("k-ann", dict(ANN))])
    [updated] = connector.update([RecordUpdate(created.id or "", {"title": "Boss"})])
    assert updated.error is None
    assert sent[0] is None and sent[1]  # the update was conditional on the version read back
    assert "TITLE:Boss" in book.get(created.id or "")


def test_https_to_a_plain_http_server_says_to_write_http(radicale: DavServer) -> None:
    plain = radicale.base_url.replace("http://", "https://") + "alice/book/"
    with pytest.raises(ConnectorError, match="write http:// before its address"):
        CardDav(plain, settings=FAST).open()
