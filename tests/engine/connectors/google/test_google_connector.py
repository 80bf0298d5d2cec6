"""The Google Contacts connector against the People API and OAuth emulators: listing with sync
tokens, writes with the batch methods and etags, groups as tags, custom fields, and failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.google_account import GoogleAccount

from piesync_desktop.engine.connectors.base import TagRemover
from piesync_desktop.engine.connectors.google.connector import GoogleContacts, GoogleLocation
from piesync_desktop.engine.errors import AuthExpired, ConfigError, ConnectorError, TransientError
from piesync_desktop.engine.model import Address, Item, NewRecord, ReadFailure, Record, RecordUpdate

ANN = {
    "given_name": "Ann",
    "family_name": "Lee",
    "emails": (Item("work", "ann@example.org"),),
    "phones": (Item("mobile", "+32 470 12 34 56"),),
    "company": "Acme",
    "title": "CTO",
    "birthday": "1990-04-01",
    "notes": "Met at the fair",
    "addresses": (Item("home", Address(street="Rue 1", locality="Gent", country="BE")),),
}


@pytest.fixture
def account(tmp_path: Path) -> Iterator[GoogleAccount]:
    google = GoogleAccount(tmp_path / "google")
    google.sign_in()
    yield google
    google.close()
    assert google.api.internal_errors == []


def person(given: str, family: str, email: str, **extra: object) -> dict:
    return {
        "names": [{"givenName": given, "familyName": family}],
        "emailAddresses": [{"value": email, "type": "work"}],
        **extra,
    }


def opened(account: GoogleAccount, cursor: object = None, group: str = "") -> GoogleContacts:
    connector = account.connector(group)
    connector.open(cursor)
    return connector


def test_a_location_names_its_account() -> None:
    with pytest.raises(ConfigError, match="does not say which account"):
        GoogleContacts("Friends")


def test_all_contacts_are_listed_with_their_fields_tags_and_custom_fields(
    account: GoogleAccount,
) -> None:
    friends = account.api.add_group("Friends")
    ann = account.api.add_person(
        person(
            "Ann",
            "Lee",
            "ann@example.org",
            organizations=[{"name": "Acme", "title": "CTO"}],
            userDefined=[{"key": "Shoe size", "value": "38"}],
            memberships=[{"contactGroupMembership": {"contactGroupResourceName": friends}}],
        )
    )
    account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    connector = opened(account)
    assert "custom:Shoe size" in connector.schema()
    changes = connector.changes(None)
    records = {r.id: r for r in changes.records}
    assert len(records) == 2 and changes.total == 2
    record = records[ann]
    assert record.fields["given_name"] == "Ann" and record.fields["company"] == "Acme"
    assert record.fields["custom:Shoe size"] == "38"
    assert record.tags == {"Friends"} and record.version


def test_nothing_changed_is_one_request(account: GoogleAccount) -> None:
    account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    first = opened(account)
    first.changes(None)
    cursor = first.cursor()
    account.api.clear_requests()
    again = opened(account, cursor)
    assert list(again.changes(cursor).records) == []
    assert account.api.count() == 1


def test_changes_and_deletions_come_from_the_sync_token(account: GoogleAccount) -> None:
    ann = account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    bob = account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    first = opened(account)
    first.changes(None)
    cursor = first.cursor()
    account.api.edit_person(ann, {"biographies": [{"value": "new note"}]})
    account.api.delete_person(bob)
    again = opened(account, cursor)
    changes = again.changes(cursor)
    assert [r.fields.get("notes") for r in changes.records] == ["new note"]
    assert changes.deleted == [bob]


def test_an_expired_sync_token_lists_everything_and_duplicates_nothing(
    account: GoogleAccount,
) -> None:
    ann = account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    bob = account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    first = opened(account)
    first.changes(None)
    cursor = first.cursor()
    account.api.delete_person(bob)
    account.api.edit_person(ann, {"biographies": [{"value": "changed"}]})
    account.api.expire_sync_tokens()
    again = opened(account, cursor)
    changes = again.changes(cursor)
    assert [r.id for r in changes.records] == [ann]  # unchanged ones are not handed on again
    assert changes.deleted == [bob] and changes.total == 1


def test_creates_go_in_batches_of_200_with_their_create_key(account: GoogleAccount) -> None:
    connector = opened(account)
    connector.changes(None)
    account.api.clear_requests()
    news = [
        NewRecord(f"k{n}", {**ANN, "emails": (Item("work", f"p{n}@example.org"),)})
        for n in range(450)
    ]
    results = connector.create(news)
    assert all(r.error is None and r.id for r in results)
    assert account.api.count("POST", "batchCreateContacts") == 3
    later = opened(account)
    records = list(later.changes(None).records)
    assert len(records) == 450
    assert {r.create_key for r in records} == {f"k{n}" for n in range(450)}
    sample = next(r for r in records if r.create_key == "k7")
    for key in ("given_name", "family_name", "company", "title", "birthday", "notes"):
        assert sample.fields[key] == ANN[key]
    assert sample.first("phones") == "+32 470 12 34 56"
    assert sample.fields["addresses"][0].value.locality == "Gent"  # type: ignore[index,union-attr]


def test_tags_are_contact_groups_made_when_first_needed(account: GoogleAccount) -> None:
    connector = opened(account)
    connector.changes(None)
    [created] = connector.create([NewRecord("k1", dict(ANN), frozenset({"PieSync Trash"}))])
    assert created.record is not None and created.record.tags == {"PieSync Trash"}
    [group] = [g for g in account.api.groups() if g.get("name") == "PieSync Trash"]
    assert account.api.members(group["resourceName"]) == [created.id]
    [untagged] = connector.update(
        [RecordUpdate(created.id or "", remove_tags=frozenset({"PieSync Trash"}))]
    )
    assert untagged.error is None and account.api.members(group["resourceName"]) == []


def test_an_update_changes_only_its_fields_and_keeps_what_is_not_mapped(
    account: GoogleAccount,
) -> None:
    ann = account.api.add_person(
        person(
            "Ann",
            "Lee",
            "ann@example.org",
            organizations=[
                {"name": "Acme", "title": "CTO", "jobDescription": "Keeps the lights on"}
            ],
            relations=[{"person": "Bob", "type": "spouse"}],
        )
    )
    connector = opened(account)
    [record] = connector.changes(None).records
    [result] = connector.update([RecordUpdate(ann, {"title": "CEO"}, version=record.version)])
    assert result.error is None and result.record is not None
    stored = account.api.person(ann)
    assert stored is not None
    assert stored["organizations"][0]["title"] == "CEO"
    assert stored["organizations"][0]["name"] == "Acme"
    assert stored["organizations"][0]["jobDescription"] == "Keeps the lights on"
    assert stored["relations"][0]["person"] == "Bob"


def test_custom_fields_are_written_as_user_defined(account: GoogleAccount) -> None:
    ann = account.api.add_person(
        person("Ann", "Lee", "ann@example.org", userDefined=[{"key": "Shoe size", "value": "38"}])
    )
    connector = opened(account)
    [record] = connector.changes(None).records
    [result] = connector.update(
        [RecordUpdate(ann, {"custom:Colour": "blue"}, version=record.version)]
    )
    assert result.error is None
    stored = account.api.person(ann) or {}
    assert {(e["key"], e["value"]) for e in stored["userDefined"]} == {
        ("Shoe size", "38"),
        ("Colour", "blue"),
    }


def test_a_contact_changed_meanwhile_is_a_conflict_never_overwritten(
    account: GoogleAccount,
) -> None:
    ann = account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    bob = account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    connector = opened(account)
    records = {r.id: r for r in connector.changes(None).records}
    account.api.before_write(
        lambda method, path: account.api.edit_person(ann, {"biographies": [{"value": "theirs"}]})
    )
    results = connector.update(
        [
            RecordUpdate(ann, {"title": "Ours"}, version=records[ann].version),
            RecordUpdate(bob, {"title": "Builder"}, version=records[bob].version),
        ]
    )
    by_id = {r.key: r for r in results}
    assert by_id[ann].conflict and by_id[bob].error is None
    stored = account.api.person(ann) or {}
    assert stored["biographies"][0]["value"] == "theirs"
    assert "organizations" not in stored  # ours did not land over theirs
    assert (account.api.person(bob) or {})["organizations"][0]["title"] == "Builder"


def test_a_group_connection_sees_only_its_group(account: GoogleAccount) -> None:
    team = account.api.add_group("Team")
    member = account.api.add_person(
        person(
            "Ann",
            "Lee",
            "ann@example.org",
            memberships=[{"contactGroupMembership": {"contactGroupResourceName": team}}],
        )
    )
    account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    connector = opened(account, group="Team")
    assert [r.id for r in connector.changes(None).records] == [member]
    [created] = connector.create([NewRecord("k1", dict(ANN))])
    assert created.id in account.api.members(team)
    with pytest.raises(ConnectorError, match="no contact group 'Nope'"):
        opened(account, group="Nope")


def test_quota_is_waited_out_and_a_500_tried_again(account: GoogleAccount) -> None:
    account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    connector = opened(account)
    account.api.quota(times=1, retry_after=1)
    account.api.fail(500, times=1)
    assert len(list(connector.changes(None).records)) == 1


def test_a_storm_of_500s_stops_the_side_with_a_reason(account: GoogleAccount) -> None:
    connector = opened(account)
    account.api.fail(500, times=None)
    with pytest.raises(TransientError, match="Google answered 500"):
        connector.changes(None)


def test_a_revoked_sign_in_asks_to_sign_in_again(account: GoogleAccount) -> None:
    account.oauth.revoke_all()
    with pytest.raises(AuthExpired, match=r"[Ss]ign in"):
        opened(account).changes(None)


def test_get_says_which_are_gone(account: GoogleAccount) -> None:
    ann = account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    bob = account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    connector = opened(account)
    connector.changes(None)
    account.api.delete_person(bob)
    found, gone = connector.get([ann, bob])
    assert isinstance(found, Record) and isinstance(gone, ReadFailure) and gone.gone


def test_a_contact_google_refuses_fails_alone_with_googles_words(account: GoogleAccount) -> None:
    connector = opened(account)
    connector.changes(None)
    news = [
        NewRecord("ok1", {**ANN, "emails": (Item("work", "one@example.org"),)}),
        NewRecord("bad", {**ANN, "birthday": "1990-13-05"}),  # no such month
        NewRecord("ok2", {**ANN, "emails": (Item("work", "two@example.org"),)}),
    ]
    results = {r.key: r for r in connector.create(news)}
    assert results["ok1"].id and results["ok2"].id
    assert results["bad"].id is None and results["bad"].error
    assert len(account.api.persons()) == 2


def test_a_group_name_may_hold_an_at_sign() -> None:
    where = GoogleLocation.parse("Band @ home@ada@example.com")
    assert (where.group, where.account) == ("Band @ home", "ada@example.com")
    assert GoogleLocation.parse("@Ada@Example.com") == GoogleLocation("", "ada@example.com")


def test_the_next_run_is_not_handed_back_our_own_writes(account: GoogleAccount) -> None:
    connector = opened(account)
    connector.changes(None)
    news = [
        NewRecord(f"k{n}", {**ANN, "emails": (Item("work", f"p{n}@example.org"),)})
        for n in range(1200)  # more than one page of the listing
    ]
    assert all(r.id for r in connector.create(news))
    cursor = connector.cursor()  # pages through the run's own writes, here
    account.api.clear_requests()
    again = opened(account, cursor)
    assert list(again.changes(cursor).records) == []
    assert account.api.count() == 1


def test_a_change_by_someone_else_during_the_run_still_reaches_the_next_run(
    account: GoogleAccount,
) -> None:
    bob = account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    connector = opened(account)
    connector.changes(None)
    connector.create([NewRecord("k1", dict(ANN))])
    account.api.edit_person(bob, {"biographies": [{"value": "edited meanwhile"}]})
    cursor = connector.cursor()
    again = opened(account, cursor)
    assert [r.fields.get("notes") for r in again.changes(cursor).records] == ["edited meanwhile"]


def test_quota_without_retry_after_is_backed_off_and_tried_again(account: GoogleAccount) -> None:
    account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    connector = opened(account)
    account.api.quota(times=2)  # no Retry-After, as Google often sends it
    account.api.clear_requests()
    assert len(list(connector.changes(None).records)) == 1
    assert account.api.count("GET", "connections") == 3


def test_a_full_name_comes_back_as_it_was_written(account: GoogleAccount) -> None:
    connector = opened(account)
    connector.changes(None)
    fields = {"full_name": "陈芳", "given_name": "芳", "family_name": "陈"}
    [created] = connector.create([NewRecord("k1", fields)])
    [again] = opened(account).changes(None).records
    assert again.fields["full_name"] == "陈芳"  # not Google's "given family" display name
    [renamed] = connector.update([RecordUpdate(created.id or "", {"given_name": "芬"})])
    assert renamed.error is None
    name = (account.api.person(created.id or "") or {})["names"][0]
    assert name["givenName"] == "芬" and "芳" not in name["unstructuredName"]


def test_a_label_made_by_another_app_since_the_last_run_is_a_tag(account: GoogleAccount) -> None:
    ann = account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    first = opened(account)
    first.changes(None)
    cursor = first.cursor()
    team = account.api.add_group("Team")
    account.api.edit_person(
        ann,
        {
            "memberships": [
                {
                    "contactGroupMembership": {
                        "contactGroupResourceName": "contactGroups/myContacts"
                    }
                },
                {"contactGroupMembership": {"contactGroupResourceName": team}},
            ]
        },
    )
    [record] = opened(account, cursor).changes(cursor).records
    assert record.tags == {"Team"}


def test_updates_of_different_fields_never_clear_each_others(account: GoogleAccount) -> None:
    ann = account.api.add_person(person("Ann", "Lee", "ann@example.org"))
    bob = account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    connector = opened(account)
    records = {r.id: r for r in connector.changes(None).records}
    results = connector.update(
        [
            RecordUpdate(ann, {"given_name": "Anne"}, version=records[ann].version),
            RecordUpdate(bob, {"title": "Builder"}, version=records[bob].version),
        ]
    )
    assert all(r.error is None for r in results)
    stored_ann, stored_bob = account.api.person(ann) or {}, account.api.person(bob) or {}
    assert stored_ann["names"][0]["givenName"] == "Anne"
    assert stored_ann["emailAddresses"][0]["value"] == "ann@example.org"
    assert stored_bob["names"][0]["givenName"] == "Bob"  # Google clears a masked field left out
    assert stored_bob["organizations"][0]["title"] == "Builder"


# -- removing a label (a share job's destination removed) ---------------------------------------


def in_groups(*groups: str) -> list[dict]:
    return [{"contactGroupMembership": {"contactGroupResourceName": g}} for g in groups]


def test_removing_a_tag_deletes_the_label_and_keeps_its_contacts(account: GoogleAccount) -> None:
    shared = account.api.add_group("gSync1")
    team = account.api.add_group("Team")
    ann = account.api.add_person(
        person("Ann", "Lee", "ann@example.org", memberships=in_groups(shared, team))
    )
    bob = account.api.add_person(
        person("Bob", "Stone", "bob@example.org", memberships=in_groups(shared))
    )
    connector = opened(account)
    connector.changes(None)
    assert isinstance(connector, TagRemover)
    assert connector.remove_tag("gSync1") is True
    assert [g["name"] for g in account.api.groups() if g["groupType"] == "USER_CONTACT_GROUP"] == [
        "Team"
    ]
    [query] = [
        q
        for (method, _), q in zip(account.api.requests, account.api.queries, strict=True)
        if method == "DELETE"
    ]
    assert query["deleteContacts"] == ["false"]
    assert account.api.person(ann) is not None and account.api.person(bob) is not None
    assert set(account.api.members("contactGroups/myContacts")) == {ann, bob}
    assert account.api.members(team) == [ann]
    cursor = connector.cursor()
    assert "gSync1" not in cursor["groups"].values()
    # The members lost the label without our reading them: the next run reads their tags again.
    records = {r.id: r for r in opened(account, cursor).changes(cursor).records}
    assert set(records) == {ann, bob}
    assert records[ann].tags == {"Team"} and records[bob].tags == frozenset()


def test_removing_a_tag_with_no_label_is_false_and_never_touches_system_groups(
    account: GoogleAccount,
) -> None:
    connector = opened(account)
    connector.changes(None)
    for name in ("Nope", "myContacts", "My Contacts", "starred"):
        assert connector.remove_tag(name) is False
    assert account.api.count("DELETE") == 0
    assert {g["resourceName"] for g in account.api.groups()} >= {
        "contactGroups/myContacts",
        "contactGroups/starred",
    }


def test_a_label_unknown_to_the_cursor_or_deleted_meanwhile_is_read_again(
    account: GoogleAccount,
) -> None:
    first = opened(account)
    first.changes(None)
    cursor = first.cursor()
    account.api.add_group("gSync2")  # by another app, since the cursor
    account.api.add_group("gSync3")
    late = opened(account, cursor)
    assert late.remove_tag("gSync2") is True
    knows = opened(account)  # its labels read now, gSync3 among them
    assert opened(account).remove_tag("gSync3") is True  # someone else removes it meanwhile
    assert knows.remove_tag("gSync3") is False  # Google's 404, then the labels read again
    assert account.api.count("DELETE") == 3
    assert [g["name"] for g in account.api.groups() if g["groupType"] == "USER_CONTACT_GROUP"] == []


def test_a_label_google_refuses_to_remove_is_an_error_that_says_so(account: GoogleAccount) -> None:
    account.api.add_group("gSync4")
    connector = opened(account)
    account.api.fail(403, method="DELETE", message="The caller does not have permission")
    with pytest.raises(ConnectorError, match=r"removing the label 'gSync4'.*permission"):
        connector.remove_tag("gSync4")
    assert "gSync4" in connector.cursor()["groups"].values()  # still there, still known
    assert connector.remove_tag("gSync4") is True
