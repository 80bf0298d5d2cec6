"""The HubSpot connector against the HubSpot emulator: the schema, the first listing, deltas from
search (paging, ties, the 10,000 cap, lag), archived contacts, create keys and 409s after a lost
answer, refusals that fail alone, lists as tags, a list location, what HubSpot cannot hold, the
rate limits kept before HubSpot says 429, 429 storms, 500s and refused tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from emulators import hubspot as emulator
from emulators.hubspot import CONTACT_READ, CONTACT_WRITE, SCHEMA_READ
from helpers.hubspot_account import HubSpotAccount

from piesync_desktop.engine.connectors.hubspot import connector as hubspot
from piesync_desktop.engine.connectors.hubspot.connector import HubSpotContacts, portal_of
from piesync_desktop.engine.connectors.hubspot.settings import HubSpotLocation
from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA
from piesync_desktop.engine.errors import (
    AuthExpired,
    ConfigError,
    ConnectorError,
    Throttled,
    TransientError,
)
from piesync_desktop.engine.mapping import default_mappings
from piesync_desktop.engine.model import (
    TRASH_TAG,
    UNSUBSCRIBES_TAG,
    Address,
    Changes,
    FieldType,
    Item,
    NewRecord,
    ReadFailure,
    Record,
    RecordUpdate,
)

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
SEARCH = "/crm/v3/objects/contacts/search"


def contact(first: str, last: str, email: str, **extra: str) -> dict[str, str]:
    return {"firstname": first, "lastname": last, "email": email, **extra}


def opened(portal: HubSpotAccount, list_name: str = "") -> HubSpotContacts:
    connector = portal.connector(list_name)
    connector.open()
    return connector


def first_run(portal: HubSpotAccount, list_name: str = "") -> tuple[HubSpotContacts, Changes]:
    connector = opened(portal, list_name)
    return connector, connector.changes(None)


def next_run(
    portal: HubSpotAccount, cursor: Any, list_name: str = ""
) -> tuple[HubSpotContacts, Changes]:
    connector = portal.connector(list_name)
    connector.open(cursor)
    return connector, connector.changes(cursor)


def hubspot_emails(portal: HubSpotAccount) -> list[str]:
    return sorted(c["properties"]["email"] for c in portal.api.contacts())


def by_id(changes: Changes) -> dict[str, Record]:
    return {record.id: record for record in changes.records}


def new(key: str, email: str, **fields: Any) -> NewRecord:
    tags = frozenset(fields.pop("tags", ()))
    return NewRecord(key, {"emails": email, **fields}, tags)


def test_a_location_names_its_list_and_portal() -> None:
    assert HubSpotLocation.parse("Customers@123") == HubSpotLocation("Customers", 123)
    assert HubSpotLocation.parse("a@b list@42") == HubSpotLocation("a@b list", 42)
    assert HubSpotLocation.parse("@42").list_name == ""
    with pytest.raises(ConfigError, match="which HubSpot portal"):
        HubSpotLocation.parse("Customers")
    assert HubSpotContacts("@42").account_key == "hubspot:42"


def test_the_portal_is_learnt_from_the_token(portal: HubSpotAccount) -> None:
    assert portal_of(portal.token, portal.settings, portal.http) == portal.portal
    with pytest.raises(AuthExpired, match="refused the access token"):
        portal_of("pat-na1-wrong", portal.settings, portal.http)


def test_the_schema_maps_standard_properties_and_offers_every_other(
    portal: HubSpotAccount,
) -> None:
    api = portal.api
    api.add_property("role", "Role", "string", "text")
    api.add_property(
        "source", "Lead source", "enumeration", "select", [("web", "Web"), ("ad", "Ad")]
    )
    api.add_property(
        "tastes", "Tastes", "enumeration", "checkbox", [("tea", "Tea"), ("jam", "Jam")]
    )
    api.add_property("vip", "VIP", "bool", "booleancheckbox")
    api.add_property("score", "Score", "number", "number")
    api.add_property("renewal", "Renewal", "date", "date")
    schema = opened(portal).schema()
    emails = schema["emails"]
    assert (emails.type, emails.multi, emails.required, emails.label) == (
        FieldType.EMAIL,
        False,
        True,
        "Email",
    )
    assert schema["phones"].multi and schema["phones"].type is FieldType.PHONE
    assert schema["addresses"].multi and schema["addresses"].type is FieldType.ADDRESS
    assert schema["given_name"].label == "First Name" and schema["title"].label == "Job Title"
    assert schema["urls"].type is FieldType.URL and not schema["urls"].multi
    role = schema["hubspot:role"]
    assert (role.label, role.type, role.custom, role.read_only) == (
        "Role",
        FieldType.TEXT,
        True,
        False,
    )
    assert schema["hubspot:source"].type is FieldType.DROPDOWN
    assert schema["hubspot:source"].options == ("web", "ad")
    assert schema["hubspot:lifecyclestage"].type is FieldType.RADIO
    assert "customer" in schema["hubspot:lifecyclestage"].options
    assert schema["hubspot:tastes"].type is FieldType.CHECKBOX
    assert schema["hubspot:tastes"].options == ("tea", "jam")
    assert schema["hubspot:vip"].options == ("true", "false")
    assert schema["hubspot:score"].type is FieldType.NUMBER
    assert schema["hubspot:renewal"].type is FieldType.DATE
    assert (
        schema["hubspot:createdate"].read_only
        and schema["hubspot:createdate"].type is FieldType.DATE
    )
    assert schema["hubspot:hs_object_id"].read_only
    for absent in ("hubspot:email", "hubspot:firstname", "hubspot:phone", "hubspot:city"):
        assert absent not in schema  # they are the standard fields
    default = {m.a_field for m in default_mappings(VCARD_SCHEMA, schema, True, True)}
    assert {"given_name", "family_name", "emails", "phones", "addresses", "company"} <= default
    assert {"title", "urls", "tags"} <= default


def test_the_first_listing_reads_fields_lists_and_opt_outs(portal: HubSpotAccount) -> None:
    portal.api.add_property("role", "Role", "string", "text")
    ann = portal.api.add_contact(
        contact(
            "Ann",
            "Lee",
            "ann@example.org",
            phone="+32 9 123 45 67",
            mobilephone="+32 470 12 34 56",
            company="Acme",
            jobtitle="CTO",
            website="https://acme.test",
            address="Main Street 1",
            city="Ghent",
            zip="9000",
            country="Belgium",
            role="Drummer",
        )
    )
    bob = portal.api.add_contact(contact("Bob", "Stone", "bob@example.org"))
    friends = portal.api.add_list("Friends")
    portal.api.add_members(friends, [ann])
    portal.api.opt_out(bob)
    _, changes = first_run(portal)
    records = by_id(changes)
    assert changes.total == 2 and changes.deleted == []
    fields = records[ann].fields
    expected = {
        "given_name": "Ann",
        "family_name": "Lee",
        "emails": "ann@example.org",
        "phones": (Item("work", "+32 9 123 45 67"), Item("mobile", "+32 470 12 34 56")),
        "company": "Acme",
        "title": "CTO",
        "urls": "https://acme.test",
        "addresses": (
            Item(
                "work",
                Address(
                    street="Main Street 1", locality="Ghent", postcode="9000", country="Belgium"
                ),
            ),
        ),
        "hubspot:role": "Drummer",
    }
    assert {key: fields[key] for key in expected} == expected
    read_only = {"hubspot:createdate", "hubspot:lastmodifieddate", "hubspot:hs_object_id"}
    assert set(fields) - set(expected) == read_only
    assert fields["hubspot:createdate"] == fields["hubspot:lastmodifieddate"][:10]
    assert records[ann].tags == {"Friends"} and not records[ann].unsubscribed
    assert records[bob].unsubscribed and records[bob].tags == frozenset()
    assert records[bob].version and records[bob].version.isdigit()


def test_a_run_in_which_nothing_changed_costs_four_requests(portal: HubSpotAccount) -> None:
    ids = [portal.api.add_contact(contact(f"P{n}", "X", f"p{n}@example.org")) for n in range(3)]
    friends = portal.api.add_list("Friends")
    portal.api.add_members(friends, ids[:2])
    connector, _ = first_run(portal)
    portal.api.clear_requests()
    again, changes = next_run(portal, connector.cursor())
    assert list(changes.records) == [] and changes.deleted == [] and changes.total == 3
    assert again.requests == 4
    assert sorted(portal.api.requests) == [
        ("GET", "/crm/v3/properties/contacts"),
        ("POST", "/crm/v3/lists/search"),
        ("POST", SEARCH),  # what changed
        ("POST", SEARCH),  # how many there are: as many as the cursor knows, so none archived
    ]


def test_a_quiet_run_costs_four_requests_however_many_contacts_were_archived(
    portal: HubSpotAccount,
) -> None:
    ids = [portal.api.add_contact({"email": f"p{n}@example.org"}) for n in range(1003)]
    connector, _ = first_run(portal)
    for cid in ids[:1000]:
        portal.api.archive_contact(cid)  # a clean-up someone did in HubSpot
    again, changes = next_run(portal, connector.cursor())
    assert len(changes.deleted) == 1000 and changes.total == 3
    portal.api.clear_requests()
    quiet, changes = next_run(portal, again.cursor())
    assert list(changes.records) == [] and changes.deleted == []
    assert quiet.requests == 4 and portal.api.count("GET", "/crm/v3/objects/contacts") == 0


def test_after_a_big_write_quiet_runs_page_through_it_only_while_it_is_recent(
    portal: HubSpotAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hubspot, "SEARCH_PAGE", 50)
    connector, _ = first_run(portal)
    made = connector.create(
        [NewRecord(f"k{n}", {"emails": (Item("work", f"p{n}@example.org"),)}) for n in range(300)]
    )
    assert all(r.id for r in made)
    portal.api.advance(5 * 60)  # the next run, five minutes on: our writes are still recent
    recent, changes = next_run(portal, connector.cursor())
    assert list(changes.records) == []  # our own: skipped, though paged through
    assert portal.api.count("POST", "/search") >= 6
    portal.api.advance(20 * 60)
    portal.api.clear_requests()
    later, changes = next_run(portal, recent.cursor())
    portal.api.advance(5 * 60)
    portal.api.clear_requests()
    quiet, changes = next_run(portal, later.cursor())
    assert list(changes.records) == [] and changes.deleted == []
    assert quiet.requests == 4  # schema, one search (empty), lists, the count


def test_changes_come_from_search_page_by_page(
    portal: HubSpotAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hubspot, "SEARCH_PAGE", 2)
    ids = [portal.api.add_contact(contact(f"P{n}", "X", f"p{n}@example.org")) for n in range(7)]
    connector, _ = first_run(portal)
    portal.api.advance(120)
    for number, cid in enumerate(ids[2:]):
        portal.api.edit_contact(cid, {"jobtitle": f"Title {number}"})
        portal.api.advance(0.01)
    portal.api.clear_requests()
    again, changes = next_run(portal, connector.cursor())
    records = by_id(changes)
    assert sorted(records) == sorted(ids[2:])
    assert records[ids[6]].fields["title"] == "Title 4"
    assert portal.api.count("POST", SEARCH) >= 3  # five changed contacts, two a page
    again.update([RecordUpdate(ids[0], {"title": "Ours"})])
    _, changes = next_run(portal, again.cursor())
    assert list(changes.records) == []  # our own write is no change


def test_contacts_of_one_timestamp_are_paged_by_record_id_never_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = HubSpotAccount(tmp_path / "frozen", clock=lambda: T0)  # time moves by advance only
    try:
        monkeypatch.setattr(hubspot, "SEARCH_PAGE", 2)
        ids = [
            account.api.add_contact(contact(f"P{n}", "X", f"p{n}@example.org")) for n in range(6)
        ]
        connector, _ = first_run(account)
        account.api.advance(300)
        for cid in ids:
            account.api.edit_contact(cid, {"jobtitle": "Same moment"})  # an import: one timestamp
        searches: list[dict[str, Any]] = []

        def workflow(method: str, path: str) -> None:  # edits a contact while we page
            account.api.advance(120)
            account.api.edit_contact(ids[0], {"lifecyclestage": "lead"})

        again = account.connector()
        again.open(connector.cursor())
        real = again.api.call

        def call(method: str, path: str, **kw: Any) -> dict[str, Any]:
            if path == SEARCH:
                searches.append(kw["body"])
                if len(searches) == 3:
                    workflow(method, path)
            return real(method, path, **kw)

        again.api.call = call  # type: ignore[method-assign]
        changes = again.changes(connector.cursor())
        assert sorted(by_id(changes)) == sorted(ids)  # none skipped
        assert all("after" not in body for body in searches)  # no offsets: ids, then timestamps
        sorts = [sort for body in searches for sort in body.get("sorts", ())]
        assert {"propertyName": "hs_object_id", "direction": "ASCENDING"} in sorts
        # More contacts of one timestamp than search shows of one query: still searched.
        monkeypatch.setattr(emulator, "SEARCH_CAP", 4)
        account.api.advance(300)
        for cid in ids[1:]:
            account.api.edit_contact(cid, {"jobtitle": "Again"})
        account.api.archive_contact(ids[0])
        account.api.clear_requests()
        third, changes = next_run(account, again.cursor())
        assert sorted(by_id(changes)) == sorted(ids[1:])
        assert changes.deleted == [ids[0]]  # from the archived listing
        assert all(r.fields["title"] == "Again" for r in changes.records)
        _, changes = next_run(account, third.cursor())
        assert list(changes.records) == [] and changes.deleted == []
    finally:
        account.close()
    assert account.api.internal_errors == []


def test_a_change_the_search_has_not_caught_up_with_comes_next_run(
    portal: HubSpotAccount,
) -> None:
    portal.api.search_lag(5)
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    portal.api.advance(10)
    connector, _ = first_run(portal)
    portal.api.advance(100)
    portal.api.edit_contact(ann, {"jobtitle": "CEO"})
    again, changes = next_run(portal, connector.cursor())
    assert list(changes.records) == []  # written a moment ago: not in the search yet
    portal.api.advance(10)
    _, changes = next_run(portal, again.cursor())
    assert [r.fields["title"] for r in changes.records] == ["CEO"]


def test_a_change_indexed_late_behind_a_newer_one_is_still_synced(tmp_path: Path) -> None:
    account = HubSpotAccount(tmp_path / "frozen", clock=lambda: T0)
    try:
        ann = account.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
        bob = account.api.add_contact(contact("Bob", "Stone", "bob@example.org"))
        connector, _ = first_run(account)
        account.api.advance(600)
        account.api.search_lag(90, contact_id=ann)  # a busy shard: Ann's change shows 90 s late
        account.api.edit_contact(ann, {"jobtitle": "CEO"})
        account.api.advance(70)
        account.api.edit_contact(bob, {"jobtitle": "CTO"})  # indexed at once
        account.api.advance(5)
        again, changes = next_run(account, connector.cursor())
        assert [r.id for r in changes.records] == [bob]  # 75 s on, Ann's is not in search yet
        account.api.advance(300)
        _, changes = next_run(account, again.cursor())
        assert [(r.id, r.fields["title"]) for r in changes.records] == [(ann, "CEO")]
    finally:
        account.close()


def test_archived_contacts_are_deletions(portal: HubSpotAccount) -> None:
    ids = [portal.api.add_contact(contact(f"P{n}", "X", f"p{n}@example.org")) for n in range(3)]
    connector, _ = first_run(portal)
    portal.api.archive_contact(ids[1])
    again, changes = next_run(portal, connector.cursor())
    assert changes.deleted == [ids[1]] and changes.total == 2
    _, changes = next_run(portal, again.cursor())
    assert changes.deleted == []  # said once


def test_creates_carry_their_create_key_in_a_hidden_property(portal: HubSpotAccount) -> None:
    connector, _ = first_run(portal)
    results = connector.create(
        [new(f"key{n}", f"p{n}@example.org", given_name=f"P{n}") for n in range(3)]
    )
    assert all(r.id and not r.error for r in results)
    assert [r.record.create_key for r in results if r.record] == ["key0", "key1", "key2"]
    [definition] = [p for p in portal.api.properties() if p["name"] == "piesync_create_key"]
    assert definition["hidden"] and not definition["formField"]
    held = portal.api.contact(results[0].id or "") or {}
    assert held["properties"]["piesync_create_key"] == "key0"
    _, changes = next_run(portal, connector.cursor())
    assert list(changes.records) == []  # our own writes are no change


def test_a_create_whose_answer_was_lost_is_never_made_twice(portal: HubSpotAccount) -> None:
    connector, _ = first_run(portal)
    cursor = connector.cursor()
    creates = [new(f"key{n}", f"p{n}@example.org", given_name=f"P{n}") for n in range(3)]
    portal.api.drop(path_contains="/batch/create", when="after")
    with pytest.raises(TransientError, match="broke off"):
        connector.create(creates)
    made = sorted(c["id"] for c in portal.api.contacts())
    assert len(made) == 3  # HubSpot carried it out; the answer was lost
    # The next run finds them with their create keys: the engine links them.
    again, changes = next_run(portal, cursor)
    assert {r.create_key for r in changes.records} == {"key0", "key1", "key2"}
    # Sent again all the same, each 409 names a contact carrying the same key: adopted.
    results = again.create(creates)
    assert sorted(r.id or "" for r in results) == made and not any(r.error for r in results)
    assert len(portal.api.contacts()) == 3


def test_a_create_whose_5xx_came_after_the_write_is_never_sent_again(
    portal: HubSpotAccount,
) -> None:
    connector, _ = first_run(portal)
    cursor = connector.cursor()
    creates = [new(f"key{n}", f"p{n}@example.org", given_name=f"P{n}") for n in range(3)]
    portal.api.fail(500, path_contains="/batch/create", when="after")
    with pytest.raises(TransientError, match="HubSpot answered 500 to saving new contacts"):
        connector.create(creates)
    assert portal.api.count("POST", "/batch/create") == 1  # never sent again
    assert len(portal.api.contacts()) == 3  # HubSpot carried it out all the same
    _, changes = next_run(portal, cursor)
    assert {r.create_key for r in changes.records} == {"key0", "key1", "key2"}  # linked by key


def test_a_create_meeting_a_contact_outside_the_list_never_writes_over_it(
    portal: HubSpotAccount,
) -> None:
    customers = portal.api.add_list("Customers")
    outside = portal.api.add_contact(
        contact("Ann", "Lee", "ann@example.org", jobtitle="VP Sales", company="Acme")
    )
    connector, changes = first_run(portal, "Customers")
    assert list(changes.records) == []
    before = (portal.api.contact(outside) or {})["properties"]
    [result] = connector.create([new("k", "ANN@example.org", given_name="Ann", title="Intern")])
    assert result.id is None
    assert result.error == (
        f"HubSpot already has ann@example.org (record {outside}), outside the list 'Customers': "
        "it was added to the list, and the next sync pairs the two"
    )
    assert portal.api.members(customers) == [outside]
    assert (portal.api.contact(outside) or {})["properties"] == before  # not a value written
    assert len(portal.api.contacts()) == 1
    _, changes = next_run(portal, connector.cursor(), "Customers")
    [record] = changes.records  # the next run shows it, for the engine to pair
    assert record.id == outside and record.fields["title"] == "VP Sales"


def test_a_create_meeting_a_contact_made_since_the_sync_began_never_writes_over_it(
    portal: HubSpotAccount,
) -> None:
    connector, _ = first_run(portal)
    portal.api.advance(60)
    portal.api.search_lag(30)  # made by someone a moment ago: not in the search yet
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org", jobtitle="VP Sales"))
    [result] = connector.create([new("k", "ann@example.org", given_name="Ann", title="Intern")])
    assert result.error == (
        f"HubSpot already has ann@example.org (record {ann}), made since this sync began; the "
        "next sync pairs the two"
    )
    assert (portal.api.contact(ann) or {})["properties"]["jobtitle"] == "VP Sales"
    assert "piesync_create_key" not in (portal.api.contact(ann) or {})["properties"]
    _, changes = next_run(portal, connector.cursor())  # read whether the search shows it or not
    assert [r.id for r in changes.records] == [ann]


def test_two_creates_of_one_email_address_never_share_a_contact(portal: HubSpotAccount) -> None:
    connector, _ = first_run(portal)
    [first] = connector.create([new("k1", "ann@example.org", given_name="Ann", title="CTO")])
    [second] = connector.create([new("k2", "ann@example.org", given_name="Annie")])
    assert first.id and first.error is None and second.id is None
    assert second.error == (
        f"HubSpot already has ann@example.org (record {first.id}), made by this sync for another "
        "contact with the same email address; HubSpot keeps one contact per email address"
    )
    held = (portal.api.contact(first.id) or {})["properties"]
    assert (held["firstname"], held["piesync_create_key"]) == ("Ann", "k1")


def test_a_create_meeting_a_contact_the_connection_knows_fails_with_the_reason(
    portal: HubSpotAccount,
) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    connector, _ = first_run(portal)
    [result] = connector.create([new("k", "ann@example.org", given_name="Other")])
    assert result.id is None and result.error
    assert f"record {ann}" in result.error and "one contact per email address" in result.error
    assert (portal.api.contact(ann) or {})["properties"]["firstname"] == "Ann"


def test_an_invalid_dropdown_value_fails_that_contact_alone_with_hubspots_words(
    portal: HubSpotAccount,
) -> None:
    portal.api.add_property(
        "source", "Lead source", "enumeration", "select", [("web", "Web"), ("event", "Event")]
    )
    connector, _ = first_run(portal)
    results = connector.create(
        [
            new(f"k{n}", f"p{n}@example.org", **{"hubspot:source": "web" if n != 2 else "ad"})
            for n in range(5)
        ]
    )
    assert [bool(r.error) for r in results] == [False, False, True, False, False]
    assert results[2].error == "Lead source: ad was not one of the allowed options: [web, event]"
    assert len(portal.api.contacts()) == 4
    # Updates are all or nothing in HubSpot: the batch is halved until only that one fails.
    ids = [r.id or "" for r in results if r.id]
    portal.api.clear_requests()
    results = connector.update(
        [
            RecordUpdate(cid, {"hubspot:source": "event" if n != 1 else "radio"})
            for n, cid in enumerate(ids)
        ]
    )
    assert [bool(r.error) for r in results] == [False, True, False, False]
    assert results[1].error == "Lead source: radio was not one of the allowed options: [web, event]"
    sources = [(portal.api.contact(cid) or {})["properties"]["source"] for cid in ids]
    assert sources == ["event", "web", "event", "event"]
    assert portal.api.count("POST", "/batch/update") == 5  # 4, then 2 + 2, then 1 + 1


def test_a_create_without_an_email_is_refused_without_sending_it(portal: HubSpotAccount) -> None:
    connector, _ = first_run(portal)
    portal.api.clear_requests()
    [result] = connector.create([NewRecord("k", {"given_name": "Nomail"})])
    assert result.error == "HubSpot needs an email address to create a contact"
    assert portal.api.requests == []


def test_tags_are_static_lists_made_when_first_needed(portal: HubSpotAccount) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    connector, _ = first_run(portal)
    assert portal.api.lists() == []
    [created] = connector.create([new("k", "bob@example.org", tags={UNSUBSCRIBES_TAG, "Friends"})])
    [updated] = connector.update([RecordUpdate(ann, add_tags=frozenset({TRASH_TAG}))])
    lists = {lst["name"]: lst for lst in portal.api.lists()}
    assert set(lists) == {TRASH_TAG, UNSUBSCRIBES_TAG, "Friends"}
    assert {lst["processingType"] for lst in lists.values()} == {"MANUAL"}
    assert portal.api.members(lists[TRASH_TAG]["listId"]) == [ann]
    assert portal.api.members(lists["Friends"]["listId"]) == [created.id]
    assert updated.record is not None and updated.record.tags == {TRASH_TAG}
    connector.update([RecordUpdate(ann, remove_tags=frozenset({TRASH_TAG}))])
    assert portal.api.members(lists[TRASH_TAG]["listId"]) == []
    _, changes = next_run(portal, connector.cursor())
    assert list(changes.records) == []  # our own membership changes are no change
    other, _ = first_run(portal)
    other.create([new("k2", "cy@example.org", tags={"friends"})])
    assert len(portal.api.lists()) == 3  # found by name, not made again


def test_a_list_hubspot_refuses_to_make_fails_only_the_contacts_that_need_it(
    portal: HubSpotAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = emulator.HubSpotEmulator._new_list

    def new_list(self: Any, name: Any, processing_type: Any) -> Any:
        if name == "Weird":  # the portal's static-list limit, say
            raise emulator.HubSpotError(
                400, "You have reached the limit of static lists.", "VALIDATION_ERROR"
            )
        return real(self, name, processing_type)

    monkeypatch.setattr(emulator.HubSpotEmulator, "_new_list", new_list)
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    connector, _ = first_run(portal)
    refused = (
        "HubSpot refused to make the list 'Weird': You have reached the limit of static lists."
    )
    results = connector.create(
        [new("k0", "p0@example.org"), new("k1", "p1@example.org", tags={"Weird"}),
         new("k2", "p2@example.org", tags={"weird", "Fine"})]
    )  # fmt: skip
    assert [r.error for r in results] == [None, refused, refused]
    [updated, other] = connector.update(
        [RecordUpdate(ann, {"title": "CEO"}, add_tags=frozenset({"Weird"})),
         RecordUpdate(results[0].id or "", add_tags=frozenset({"Fine"}))]
    )  # fmt: skip
    assert updated.error == refused and other.error is None
    assert portal.api.requests.count(("POST", "/crm/v3/lists")) == 2  # Weird once, and Fine
    assert hubspot_emails(portal) == ["ann@example.org", "p0@example.org"]


def test_a_membership_refused_after_a_create_keeps_the_contact_and_is_asked_for_again(
    portal: HubSpotAccount,
) -> None:
    customers = portal.api.add_list("Customers")
    friends = portal.api.add_list("Friends")
    connector, _ = first_run(portal, "Customers")
    portal.api.fail(400, path_contains=f"/lists/{friends}/memberships/add")
    portal.api.fail(503, times=None, path_contains=f"/lists/{customers}/memberships/add")
    [created] = connector.create([new("k", "ann@example.org", tags={"Friends"})])
    assert created.id and created.error is None  # linked, so never made again
    assert created.record is not None and created.record.tags == {"Customers", "Friends"}
    assert portal.api.members(customers) == portal.api.members(friends) == []
    portal.api.clear_faults()
    portal.api.fail(400, path_contains=f"/lists/{friends}/memberships/add")
    again, changes = next_run(portal, connector.cursor(), "Customers")
    assert changes.deleted == [] and list(changes.records) == []  # still ours, still in scope
    assert portal.api.members(customers) == [created.id]  # asked for again
    [note] = changes.notes
    assert note.id == created.id
    assert note.note == (
        "HubSpot refused adding it to the list 'Friends': Bad request.; the next sync asks again."
    )
    _, changes = next_run(portal, again.cursor(), "Customers")
    assert changes.notes == [] and portal.api.members(friends) == [created.id]


def test_a_contact_hubspot_says_is_missing_from_a_membership_change_fails_alone(
    portal: HubSpotAccount,
) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    bob = portal.api.add_contact(contact("Bob", "Stone", "bob@example.org"))
    friends = portal.api.add_list("Friends")
    connector, _ = first_run(portal)
    portal.api.before_write(lambda method, path: portal.api.archive_contact(bob))
    tag = frozenset({"Friends"})
    results = connector.update([RecordUpdate(ann, add_tags=tag), RecordUpdate(bob, add_tags=tag)])
    assert [r.error for r in results] == [None, "deleted in HubSpot meanwhile"]
    assert portal.api.members(friends) == [ann]


def test_a_list_the_lists_search_leaves_out_is_asked_for_before_it_counts_as_gone(
    portal: HubSpotAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    friends = portal.api.add_list("Friends")
    old = portal.api.add_list("Old")
    portal.api.add_members(friends, [ann])
    portal.api.add_members(old, [ann])
    connector, _ = first_run(portal)
    real = emulator.HubSpotEmulator._search_lists

    def lagging(self: Any, call: Any) -> Any:  # the lists' index has not caught up with Friends
        reply = real(self, call)
        reply.body["lists"] = [x for x in reply.body["lists"] if x["listId"] != friends]
        return reply

    monkeypatch.setattr(emulator.HubSpotEmulator, "_search_lists", lagging)
    portal.api._lists.pop(int(old))  # deleted in HubSpot
    portal.api.clear_requests()
    _, changes = next_run(portal, connector.cursor())
    assert [(r.id, r.tags) for r in changes.records] == [(ann, {"Friends"})]  # left Old only
    assert portal.api.count("GET", "/crm/v3/lists/") == 2  # Friends and Old, asked for by id


def test_joining_or_leaving_a_list_is_a_change(portal: HubSpotAccount) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    bob = portal.api.add_contact(contact("Bob", "Stone", "bob@example.org"))
    friends = portal.api.add_list("Friends")
    portal.api.add_members(friends, [ann])
    connector, _ = first_run(portal)
    portal.api.add_members(friends, [bob])  # neither contact is edited
    portal.api.remove_members(friends, [ann])
    again, changes = next_run(portal, connector.cursor())
    records = by_id(changes)
    assert records[bob].tags == {"Friends"} and records[ann].tags == frozenset()
    _, changes = next_run(portal, again.cursor())
    assert list(changes.records) == []


def test_every_lists_members_are_read_again_once_a_day(portal: HubSpotAccount) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    bob = portal.api.add_contact(contact("Bob", "Stone", "bob@example.org"))
    friends = portal.api.add_list("Friends")
    portal.api.add_members(friends, [ann])
    connector, _ = first_run(portal)
    # Members swapped behind HubSpot's back: neither the list's size nor its updatedAt moves.
    portal.api._lists[int(friends)].members = {int(bob): (0, 0)}
    again, changes = next_run(portal, connector.cursor())
    assert list(changes.records) == [] and again.requests == 4
    cursor = again.cursor()
    cursor["refreshed"] = 0.0  # a day later
    _, changes = next_run(portal, cursor)
    records = by_id(changes)
    assert records[bob].tags == {"Friends"} and records[ann].tags == frozenset()


def test_a_list_someone_made_meanwhile_is_used_not_made_again(portal: HubSpotAccount) -> None:
    connector, _ = first_run(portal)
    friends = portal.api.add_list("Friends")  # after our run read the lists
    [created] = connector.create([new("k", "ann@example.org", tags={"Friends"})])
    assert created.error is None and portal.api.members(friends) == [created.id]
    assert [lst["name"] for lst in portal.api.lists()] == ["Friends"]


def test_a_list_location_syncs_its_members_and_new_contacts_join_it(
    portal: HubSpotAccount,
) -> None:
    customers = portal.api.add_list("Customers")
    friends = portal.api.add_list("Friends")
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    bob = portal.api.add_contact(contact("Bob", "Stone", "bob@example.org"))
    portal.api.add_contact(contact("Cy", "Out", "cy@example.org"))
    portal.api.add_members(customers, [ann, bob])
    portal.api.add_members(friends, [ann])
    connector, changes = first_run(portal, "Customers")
    records = by_id(changes)
    assert sorted(records) == sorted([ann, bob])
    # The location's own list is a tag too, so a category of that name stays in the other app.
    assert records[ann].tags == {"Customers", "Friends"}
    [created] = connector.create([new("k", "dee@example.org")])
    assert created.id in portal.api.members(customers)
    portal.api.remove_members(customers, [bob])
    portal.api.edit_contact(ann, {"jobtitle": "CEO"})
    _, changes = next_run(portal, connector.cursor(), "Customers")
    assert changes.deleted == [bob]
    assert [r.id for r in changes.records] == [ann]


def test_an_unknown_list_names_those_there_are(portal: HubSpotAccount) -> None:
    portal.api.add_list("Friends")
    portal.api.add_list("club", "SNAPSHOT")
    assert portal.connector().list_names() == ["club", "Friends"]
    with pytest.raises(ConnectorError, match=r"no static list 'Work'.*Pick one of: club, Friends"):
        opened(portal, "Work")


def test_a_contact_changed_meanwhile_is_a_conflict_never_overwritten(
    portal: HubSpotAccount,
) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    connector, changes = first_run(portal)
    [record] = changes.records
    portal.api.advance(1)
    portal.api.edit_contact(ann, {"jobtitle": "Theirs"})
    [result] = connector.update([RecordUpdate(ann, {"title": "Ours"}, version=record.version)])
    assert result.conflict
    assert (portal.api.contact(ann) or {})["properties"]["jobtitle"] == "Theirs"
    _, changes = next_run(portal, connector.cursor())
    assert [r.fields["title"] for r in changes.records] == ["Theirs"]  # read again, merged


def test_what_hubspot_cannot_hold_is_kept_and_read_back(portal: HubSpotAccount) -> None:
    connector, _ = first_run(portal)
    phones = (Item("home", "+32 9 111"), Item("work", "+32 9 222"), Item("mobile", "+32 470"))
    addresses = (
        Item("home", Address(street="Home Street 1", locality="Ghent")),
        Item("work", Address(street="Work Avenue 2", locality="Brussels")),
    )
    [created] = connector.create([new("k", "ann@example.org", phones=phones, addresses=addresses)])
    held = (portal.api.contact(created.id or "") or {})["properties"]
    assert (held["phone"], held["mobilephone"]) == ("+32 9 222", "+32 470")
    assert (held["address"], held["city"]) == ("Work Avenue 2", "Brussels")
    [again] = first_run(portal)[1].records
    assert again.fields["phones"] == phones and again.fields["addresses"] == addresses
    portal.api.edit_contact(created.id or "", {"mobilephone": "+32 471"})  # HubSpot's last word
    [edited] = connector.get([created.id or ""])
    assert isinstance(edited, Record)  # for the mobile; the home phone HubSpot never showed stays
    assert edited.fields["phones"] == (*phones[:2], Item("mobile", "+32 471"))
    assert edited.fields["addresses"] == addresses
    # The next write of the contact keeps what was merged, so an undo cannot bring back +32 470.
    connector.update([RecordUpdate(created.id or "", {"title": "CTO"}, version=edited.version)])
    kept = (portal.api.contact(created.id or "") or {})["properties"]["piesync_overflow"]
    assert "+32 471" in kept and '+32 470"' not in kept
    connector.update([RecordUpdate(created.id or "", {"phones": (Item("work", "+32 9 3"),)})])
    held = (portal.api.contact(created.id or "") or {})["properties"]
    assert "mobilephone" not in held and "phones" not in held["piesync_overflow"]


def test_get_says_which_are_gone(portal: HubSpotAccount) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    connector, _ = first_run(portal)
    found = connector.get([ann, "999"])
    assert isinstance(found[0], Record) and found[0].fields["given_name"] == "Ann"
    assert found[1] == ReadFailure("999", "no longer in HubSpot", gone=True)


def test_a_delete_archives_the_contact(portal: HubSpotAccount) -> None:
    ann = portal.api.add_contact(contact("Ann", "Lee", "ann@example.org"))
    connector, _ = first_run(portal)
    [result] = connector.delete([ann])
    assert result.error is None
    assert [c["id"] for c in portal.api.contacts(archived=True)] == [ann]
    _, changes = next_run(portal, connector.cursor())
    assert changes.deleted == []  # ours, and already forgotten


def test_a_listing_with_more_properties_than_a_url_holds_reads_in_batches(
    portal: HubSpotAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hubspot, "URL_BUDGET", 10)
    portal.api.add_contact(contact("Ann", "Lee", "ann@example.org", jobtitle="CTO"))
    _, changes = first_run(portal)
    assert [r.fields["title"] for r in changes.records] == ["CTO"]
    assert portal.api.count("POST", "/batch/read") == 1


def test_the_limiter_keeps_within_the_burst_and_search_limits(
    portal: HubSpotAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal.api.rate_limits(enabled=True)
    monkeypatch.setattr(hubspot, "BATCH", 1)  # a listing page per contact: 150 requests
    ids = [
        portal.api.add_contact(contact(f"P{n}", "X", f"p{n:03}@example.org")) for n in range(150)
    ]
    connector, changes = first_run(portal)
    assert len(list(changes.records)) == 150
    assert connector.api.throttled == 0 and portal.api.max_per_10s <= 100
    assert portal.limiter.waited > 0  # it waited for the window rather than be told to
    monkeypatch.setattr(hubspot, "SEARCH_PAGE", 1)
    portal.api.advance(120)
    for cid in ids[:12]:
        portal.api.edit_contact(cid, {"jobtitle": "New"})
        portal.api.advance(0.01)
    again, changes = next_run(portal, connector.cursor())
    assert len(list(changes.records)) == 12
    assert again.api.throttled == 0 and portal.api.max_search_per_second <= 5


def test_the_limiter_learns_a_higher_tier_from_the_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = HubSpotAccount(tmp_path / "pro", tier="professional")
    try:
        account.api.rate_limits(enabled=True)
        monkeypatch.setattr(hubspot, "BATCH", 1)
        for n in range(150):
            account.api.add_contact(contact(f"P{n}", "X", f"p{n:03}@example.org"))
        connector, changes = first_run(account)
        assert len(list(changes.records)) == 150
        assert account.limiter.limit == 190 and account.limiter.waited == 0
        assert connector.api.throttled == 0
    finally:
        account.close()


def test_the_limiter_waits_only_for_what_other_clients_spent_of_the_window(
    tmp_path: Path,
) -> None:
    account = HubSpotAccount(tmp_path / "frozen", clock=lambda: T0)
    try:
        account.api.rate_limits(enabled=True)
        account.api.latency(0.05)  # each request takes 50 ms (of the emulator's clock)
        connector = opened(account)
        start = account.api.now_ms()
        for _ in range(900):
            connector.api.call("GET", "/account-info/v3/details", what="reading the account")
        elapsed = (account.api.now_ms() - start) / 1000
        assert connector.api.throttled == 0 and account.api.max_per_10s <= 100
        # 90 a window: the 900th goes in the eleventh window, 100 s on (waiting a whole window
        # out whenever our own requests had filled one, as if others had, took 145 s).
        assert elapsed <= 101, elapsed
        # Another program with the same app spends most of a window: we keep out of its way.
        account.api.advance(10)
        account.api.other_client(60)
        for _ in range(100):
            connector.api.call("GET", "/account-info/v3/details", what="reading the account")
        assert connector.api.throttled == 0 and account.api.max_per_10s <= 100
    finally:
        account.close()


def test_a_429_waits_for_the_window_and_a_storm_stops_the_side(portal: HubSpotAccount) -> None:
    portal.api.throttle(times=2)
    connector = opened(portal)
    assert connector.api.throttled == 2 and portal.limiter.waited >= 19.9  # no Retry-After: 10 s
    waited = portal.limiter.waited
    portal.api.throttle(times=1, path_contains="/search")  # the burst limit, met by a search
    connector.changes(None)
    assert portal.limiter.waited - waited >= 9.9  # the 10 second window, not search's second
    portal.api.throttle(times=None, path_contains="/search", policy="SECONDLY")
    with pytest.raises(Throttled, match=r"slow down \(HTTP 429: You have reached your secondly"):
        connector.changes(None)
    portal.api.clear_faults()
    portal.api.throttle(times=1, policy="DAILY")
    with pytest.raises(Throttled, match="daily limit") as caught:
        connector.changes(None)
    assert caught.value.retry_after and caught.value.retry_after <= 24 * 3600


def test_500s_are_tried_again_then_reported(portal: HubSpotAccount) -> None:
    portal.api.fail(500, times=2)
    connector = opened(portal)
    assert connector.requests == 4  # two 500s, the schema, the account
    portal.api.fail(503, times=None, path_contains="/search")
    with pytest.raises(TransientError, match="HubSpot answered 503 to searching contacts"):
        connector.changes(None)


def test_a_refused_token_asks_for_a_new_one(portal: HubSpotAccount) -> None:
    connector = opened(portal)
    portal.api.revoke_token()
    with pytest.raises(AuthExpired) as caught:
        connector.changes(None)
    assert str(caught.value) == (
        f"HubSpot refused the access token of portal {portal.portal} (Authentication "
        "credentials not found). Make a new private-app token in HubSpot (Settings > "
        "Integrations > Private apps, scopes crm.objects.contacts.read/write, "
        "crm.lists.read/write, crm.schemas.contacts.read/write) and give it again."
    )
    with pytest.raises(AuthExpired, match="No access token is kept for HubSpot portal"):
        HubSpotContacts(f"@{portal.portal}", settings=portal.settings, http=portal.http).open()


def test_missing_scopes_are_named(portal: HubSpotAccount) -> None:
    portal.api.scopes(CONTACT_READ, CONTACT_WRITE, SCHEMA_READ)
    connector = opened(portal)
    with pytest.raises(ConnectorError, match=r"it needs the scope crm\.lists\.read") as caught:
        connector.changes(None)
    assert not isinstance(caught.value, AuthExpired)


def test_a_token_of_another_portal_is_refused(portal: HubSpotAccount) -> None:
    other = HubSpotContacts("@999", settings=portal.settings, http=portal.http, token=portal.token)
    with pytest.raises(ConnectorError, match="belongs to portal 123456"):
        other.open()
