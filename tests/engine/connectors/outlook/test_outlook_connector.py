"""The Outlook connector against the Graph and identity emulators: folders, the delta query and
its removals, batched writes with their create keys, etags, categories, what Outlook cannot hold,
throttling, 500s and an expired delta token."""

from __future__ import annotations

import pytest
from helpers.outlook_account import OutlookAccount

from piesync_desktop.engine.connectors.outlook.connector import OutlookContacts, OutlookLocation
from piesync_desktop.engine.errors import (
    AuthExpired,
    ConfigError,
    ConnectorError,
    Throttled,
    TransientError,
)
from piesync_desktop.engine.model import Item, NewRecord, ReadFailure, RecordUpdate


def contact(given: str, family: str, email: str, **extra: object) -> dict:
    return {
        "givenName": given,
        "surname": family,
        "displayName": f"{given} {family}",
        "emailAddresses": [{"name": email, "address": email}],
        **extra,
    }


def opened(mailbox: OutlookAccount, folder: str = "") -> OutlookContacts:
    connector = mailbox.connector(folder)
    connector.open()
    return connector


def test_a_location_names_its_folder_and_account() -> None:
    assert OutlookLocation.parse("Family@ada@contoso.com") == OutlookLocation(
        "Family", "ada@contoso.com"
    )
    assert OutlookLocation.parse("@Ada@Contoso.com").folder == ""
    with pytest.raises(ConfigError, match="which account"):
        OutlookLocation.parse("Family")


def test_folders_are_the_default_one_first_then_children_by_path(mailbox: OutlookAccount) -> None:
    family = mailbox.graph.add_folder("Family")
    mailbox.graph.add_folder("Cousins", parent_id=family)
    mailbox.graph.add_folder("Club")
    connector = mailbox.connector()
    assert connector.folder_names() == ["", "Club", "Family", "Family/Cousins"]
    assert connector.folders()[0].default


def test_an_unknown_folder_names_those_there_are(mailbox: OutlookAccount) -> None:
    mailbox.graph.add_folder("Family")
    with pytest.raises(ConnectorError, match=r"no contact folder 'Work'.*Family"):
        opened(mailbox, "Work")


def test_a_folders_contacts_are_listed_with_fields_and_categories(mailbox: OutlookAccount) -> None:
    family = mailbox.graph.add_folder("Family")
    mailbox.graph.add_contact(
        family,
        contact(
            "Ann",
            "Lee",
            "ann@example.org",
            categories=["Friends"],
            mobilePhone="+32 470 12 34 56",
            jobTitle="CTO",
        ),
    )
    mailbox.graph.add_contact(mailbox.graph.default_folder_id, contact("Bob", "Stone", "b@x.org"))
    connector = opened(mailbox, "Family")
    changes = connector.changes(None)
    [ann] = list(changes.records)
    assert ann.fields["given_name"] == "Ann"
    assert ann.fields["emails"] == (Item("other", "ann@example.org"),)
    assert ann.fields["phones"] == (Item("mobile", "+32 470 12 34 56"),)
    assert ann.fields["title"] == "CTO"
    assert ann.tags == frozenset({"Friends"})
    assert changes.total == 1


def test_nothing_changed_is_one_delta_request(mailbox: OutlookAccount) -> None:
    for n in range(5):
        mailbox.graph.add_contact(
            mailbox.graph.default_folder_id, contact("P", str(n), f"p{n}@x.org")
        )
    first = opened(mailbox)
    assert len(list(first.changes(None).records)) == 5
    cursor = first.cursor()
    again = mailbox.connector()
    again.open(cursor)
    mailbox.graph.clear_requests()
    changes = again.changes(cursor)
    assert list(changes.records) == [] and changes.deleted == []
    assert mailbox.graph.count() == 1
    assert mailbox.graph.count(path_contains="/delta") == 1


def test_changes_and_removals_come_from_the_delta(mailbox: OutlookAccount) -> None:
    graph = mailbox.graph
    other = graph.add_folder("Other")
    ann = graph.add_contact(graph.default_folder_id, contact("Ann", "Lee", "ann@x.org"))
    bob = graph.add_contact(graph.default_folder_id, contact("Bob", "Stone", "bob@x.org"))
    cid = graph.add_contact(graph.default_folder_id, contact("Cid", "Moss", "cid@x.org"))
    connector = opened(mailbox)
    connector.changes(None)
    cursor = connector.cursor()
    graph.edit_contact(ann, {"jobTitle": "CEO"})
    graph.delete_contact(bob)
    graph.move_contact(cid, other)
    graph.add_contact(graph.default_folder_id, contact("Dee", "Park", "dee@x.org"))
    later = mailbox.connector()
    later.open(cursor)
    changes = later.changes(cursor)
    assert sorted(r.fields["given_name"] for r in changes.records) == ["Ann", "Dee"]
    assert sorted(changes.deleted) == sorted([bob, cid])


def test_an_expired_delta_token_lists_again_and_finds_deletions(mailbox: OutlookAccount) -> None:
    graph = mailbox.graph
    ann = graph.add_contact(graph.default_folder_id, contact("Ann", "Lee", "ann@x.org"))
    bob = graph.add_contact(graph.default_folder_id, contact("Bob", "Stone", "bob@x.org"))
    connector = opened(mailbox)
    connector.changes(None)
    cursor = connector.cursor()
    graph.delete_contact(bob)
    graph.expire_delta_tokens()
    later = mailbox.connector()
    later.open(cursor)
    changes = later.changes(cursor)
    assert changes.deleted == [bob]
    assert [r.id for r in changes.records] == []  # Ann unchanged: not handed back again
    assert later.cursor()["delta"] != cursor["delta"]
    assert ann in later.cursor()["keys"]


def test_creates_go_in_batches_of_20_with_their_create_key(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    new = [
        NewRecord(
            f"key{n}",
            {"given_name": f"P{n}", "emails": (Item("work", f"p{n}@x.org"),)},
            frozenset({"Team"}),
        )
        for n in range(45)
    ]
    mailbox.graph.clear_requests()
    results = connector.create(new)
    assert all(r.error is None and r.id for r in results)
    assert mailbox.graph.count(path_contains="$batch") == 3
    stored = mailbox.graph.contacts(mailbox.graph.default_folder_id)
    assert len(stored) == 45
    assert all(c["categories"] == ["Team"] for c in stored)
    # A crash before the links were saved: the next run's listing carries the create keys.
    later = mailbox.connector()
    later.open()
    keys = {r.create_key for r in later.changes(None).records}
    assert keys == {f"key{n}" for n in range(45)}


def test_the_next_run_is_not_handed_back_our_own_writes(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    connector.create([NewRecord("k", {"given_name": "Ann", "emails": (Item("o", "a@x.org"),)})])
    cursor = connector.cursor()
    later = mailbox.connector()
    later.open(cursor)
    mailbox.graph.clear_requests()
    changes = later.changes(cursor)
    assert list(changes.records) == []
    assert mailbox.graph.count() == 1


def test_an_update_writes_its_fields_and_categories_only(mailbox: OutlookAccount) -> None:
    graph = mailbox.graph
    ann = graph.add_contact(
        graph.default_folder_id,
        contact("Ann", "Lee", "ann@x.org", spouseName="Sam", categories=["A"]),
    )
    connector = opened(mailbox)
    [record] = list(connector.changes(None).records)
    [result] = connector.update(
        [
            RecordUpdate(
                ann,
                {"title": "CEO"},
                add_tags=frozenset({"PieSync Trash"}),
                remove_tags=frozenset({"A"}),
                version=record.version,
            )
        ]
    )
    assert result.error is None
    stored = graph.contact(ann) or {}
    assert stored["jobTitle"] == "CEO"
    assert stored["spouseName"] == "Sam"  # not mapped: never touched
    assert stored["categories"] == ["PieSync Trash"]
    assert result.record is not None and result.record.fields["title"] == "CEO"


def test_a_contact_changed_meanwhile_is_a_conflict_never_overwritten(
    mailbox: OutlookAccount,
) -> None:
    graph = mailbox.graph
    ann = graph.add_contact(graph.default_folder_id, contact("Ann", "Lee", "ann@x.org"))
    connector = opened(mailbox)
    [record] = list(connector.changes(None).records)
    graph.before_write(lambda method, path: graph.edit_contact(ann, {"jobTitle": "Theirs"}))
    [result] = connector.update([RecordUpdate(ann, {"title": "Ours"}, version=record.version)])
    assert result.conflict
    assert (graph.contact(ann) or {})["jobTitle"] == "Theirs"


def test_a_fourth_email_is_kept_beside_the_contact_and_read_back(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    emails = tuple(Item("other", f"e{n}@x.org") for n in range(4))
    [created] = connector.create([NewRecord("k", {"given_name": "Ann", "emails": emails})])
    assert created.error is None and created.id
    stored = mailbox.graph.contact(created.id) or {}
    assert len(stored["emailAddresses"]) == 3  # what Outlook holds
    cursor = connector.cursor()
    # Someone edits another field in Outlook: the 4th email must not be taken as removed.
    mailbox.graph.edit_contact(created.id, {"jobTitle": "CEO"})
    later = mailbox.connector()
    later.open(cursor)
    mailbox.graph.clear_requests()
    changes = later.changes(cursor)
    [record] = list(changes.records)
    assert record.fields["emails"] == emails
    # The delta, then one batch reading what is kept beside the changed contact now.
    assert mailbox.graph.count() == 2
    assert record.fields["title"] == "CEO"
    assert "4th" in changes.notes[0].note
    # Someone replaces the three emails Outlook shows: their edit wins; the 4th, which Outlook
    # never showed them, stays.
    cursor = later.cursor()
    mailbox.graph.edit_contact(created.id, {"emailAddresses": [{"address": "only@x.org"}]})
    last = mailbox.connector()
    last.open(cursor)
    [record] = list(last.changes(cursor).records)
    assert record.fields["emails"] == (Item("other", "e3@x.org"), Item("other", "only@x.org"))


def test_a_contact_outlook_refuses_fails_alone_with_its_words(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    mailbox.graph.fail(400, inside_batch=True, message="Bad phone", after=1)
    results = connector.create([NewRecord(f"k{n}", {"given_name": f"P{n}"}) for n in range(3)])
    assert [r.error is None for r in results].count(False) == 1
    assert "Bad phone" in next(r.error for r in results if r.error)
    assert len(mailbox.graph.contacts(mailbox.graph.default_folder_id)) == 2


def test_throttling_inside_a_batch_is_waited_out(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    mailbox.graph.throttle(times=3, retry_after=0, inside_batch=True)
    results = connector.create([NewRecord(f"k{n}", {"given_name": f"P{n}"}) for n in range(5)])
    assert all(r.error is None for r in results)
    assert len(mailbox.graph.contacts(mailbox.graph.default_folder_id)) == 5


def test_a_throttling_storm_stops_the_side_with_a_reason(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    mailbox.graph.throttle(times=None, retry_after=0, inside_batch=True)
    with pytest.raises(Throttled, match="slow down"):
        connector.create([NewRecord("k", {"given_name": "Ann"})])


def test_500s_are_tried_again_then_reported(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    mailbox.graph.fail(500, times=2, path_contains="/delta")
    assert list(connector.changes(None).records) == []
    mailbox.graph.fail(500, times=None, path_contains="$batch")
    with pytest.raises(TransientError, match="Outlook answered 500"):
        connector.create([NewRecord("k", {"given_name": "Ann"})])


def test_the_mailbox_stays_within_four_requests_in_flight(mailbox: OutlookAccount) -> None:
    mailbox.graph.limit_concurrency(4)
    connector = opened(mailbox)
    connector.changes(None)
    results = connector.create([NewRecord(f"k{n}", {"given_name": f"P{n}"}) for n in range(40)])
    assert all(r.error is None for r in results)
    assert mailbox.graph.max_in_flight <= 4


def test_a_revoked_sign_in_asks_to_sign_in_again(mailbox: OutlookAccount) -> None:
    mailbox.identity.revoke_refresh_tokens()
    mailbox.identity.expire_access_tokens()
    with pytest.raises(AuthExpired, match="Sign in again"):
        opened(mailbox)


def test_get_says_which_are_gone(mailbox: OutlookAccount) -> None:
    graph = mailbox.graph
    ann = graph.add_contact(graph.default_folder_id, contact("Ann", "Lee", "ann@x.org"))
    bob = graph.add_contact(graph.default_folder_id, contact("Bob", "Stone", "bob@x.org"))
    connector = opened(mailbox)
    graph.delete_contact(bob)
    found = connector.get([ann, bob])
    assert found[0].fields["given_name"] == "Ann"  # type: ignore[union-attr]
    assert isinstance(found[1], ReadFailure) and found[1].gone


def test_many_new_contacts_have_their_create_keys_read_from_one_listing(
    mailbox: OutlookAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piesync_desktop.engine.connectors.outlook import connector as outlook

    monkeypatch.setattr(outlook, "FEW", 5)
    connector = opened(mailbox)
    connector.changes(None)
    connector.create([NewRecord(f"key{n}", {"given_name": f"P{n}"}) for n in range(12)])
    later = mailbox.connector()
    later.open()
    mailbox.graph.clear_requests()
    keys = {r.create_key for r in later.changes(None).records}
    assert keys == {f"key{n}" for n in range(12)}
    assert mailbox.graph.count(path_contains="$batch") == 0  # no GET a contact
    assert mailbox.graph.count(path_contains="/contacts") == 2  # the delta, then the listing


@pytest.mark.parametrize(
    "fault",
    [
        lambda g: g.fail(500, inside_batch=True, method="POST", when="after", after=1),
        lambda g: g.fail(504, path_contains="$batch", when="after"),
        lambda g: g.drop(path_contains="$batch", when="after"),
    ],
    ids=["inner-500-after-saving", "gateway-504-after-saving", "dropped-after-saving"],
)
def test_a_create_outlook_made_but_did_not_confirm_is_never_sent_again(
    mailbox: OutlookAccount, fault
) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    fault(mailbox.graph)
    with pytest.raises(TransientError, match="next run"):
        connector.create([NewRecord(f"key{n}", {"given_name": f"P{n}"}) for n in range(3)])
    stored = mailbox.graph.contacts(mailbox.graph.default_folder_id)
    assert sorted(c["givenName"] for c in stored) == ["P0", "P1", "P2"]  # each once
    # The next run reads them with their create keys, so the engine links them.
    later = mailbox.connector()
    later.open()
    assert {r.create_key for r in later.changes(None).records} == {"key0", "key1", "key2"}


def test_refusals_in_a_batch_fail_alone_and_the_rest_are_written(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    mailbox.graph.fail(400, times=4, inside_batch=True, after=2, message="Mailbox full")
    results = connector.create([NewRecord(f"k{n}", {"given_name": f"P{n}"}) for n in range(20)])
    refused = [r for r in results if r.error]
    assert len(refused) == 4
    assert all("Mailbox full" in (r.error or "") for r in refused)
    assert len(mailbox.graph.contacts(mailbox.graph.default_folder_id)) == 16


def test_a_folder_deleted_and_made_again_is_synced_under_its_new_identity(
    mailbox: OutlookAccount,
) -> None:
    graph = mailbox.graph
    old = graph.add_folder("Family")
    ann = graph.add_contact(old, contact("Ann", "Lee", "ann@x.org"))
    connector = opened(mailbox, "Family")
    connector.changes(None)
    cursor = connector.cursor()
    graph.delete_folder(old)
    new = graph.add_folder("Family")
    graph.add_contact(new, contact("Bob", "Stone", "bob@x.org"))
    later = mailbox.connector("Family")
    later.open(cursor)
    changes = later.changes(cursor)
    assert [r.fields["given_name"] for r in changes.records] == ["Bob"]
    assert changes.deleted == [ann]
    assert later.cursor()["folder"] == new


def test_a_folder_gone_for_good_says_what_to_do(mailbox: OutlookAccount) -> None:
    family = mailbox.graph.add_folder("Family")
    connector = opened(mailbox, "Family")
    connector.changes(None)
    cursor = connector.cursor()
    mailbox.graph.delete_folder(family)
    later = mailbox.connector("Family")
    later.open(cursor)
    with pytest.raises(ConnectorError, match="no contact folder 'Family'"):
        later.changes(cursor)


def test_a_contact_moved_away_and_back_keeps_its_id(mailbox: OutlookAccount) -> None:
    graph = mailbox.graph
    other = graph.add_folder("Other")
    ann = graph.add_contact(graph.default_folder_id, contact("Ann", "Lee", "ann@x.org"))
    connector = opened(mailbox)
    connector.changes(None)
    cursor = connector.cursor()
    moved = graph.move_contact(ann, other)
    assert moved != ann  # Outlook's own id changes...
    away = mailbox.connector()
    away.open(cursor)
    assert away.changes(cursor).deleted == [ann]  # ...the immutable one does not
    cursor = away.cursor()
    graph.move_contact(moved, graph.default_folder_id)
    back = mailbox.connector()
    back.open(cursor)
    [record] = list(back.changes(cursor).records)
    assert record.id == ann
    [result] = back.update([RecordUpdate(ann, {"title": "CEO"}, version=record.version)])
    assert result.error is None


def test_a_write_of_one_field_keeps_what_is_kept_of_the_others(mailbox: OutlookAccount) -> None:
    connector = opened(mailbox)
    connector.changes(None)
    emails = tuple(Item("other", f"{n}@x.org") for n in "abcd")
    [created] = connector.create([NewRecord("k", {"given_name": "Ann", "emails": emails})])
    assert created.id
    cursor = connector.cursor()
    # In Outlook: the emails become c and x; d, never shown there, stays kept.
    mailbox.graph.edit_contact(
        created.id, {"emailAddresses": [{"address": "c@x.org"}, {"address": "x@x.org"}]}
    )
    later = mailbox.connector()
    later.open(cursor)
    [record] = list(later.changes(cursor).records)
    assert [i.value for i in record.fields["emails"]] == ["c@x.org", "d@x.org", "x@x.org"]
    # A write of the title only must not forget d.
    [result] = later.update([RecordUpdate(created.id, {"title": "CTO"}, version=record.version)])
    assert result.error is None
    cursor = later.cursor()
    mailbox.graph.edit_contact(created.id, {"personalNotes": "later"})
    last = mailbox.connector()
    last.open(cursor)
    [record] = list(last.changes(cursor).records)
    assert [i.value for i in record.fields["emails"]] == ["c@x.org", "d@x.org", "x@x.org"]
