"""The sync run, bullet by bullet of the articles, on two in-memory apps with different schemas."""

from __future__ import annotations

import pytest
from helpers.engine import make_pair
from helpers.memory_connector import CRM_SCHEMA, CrashAfter

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.errors import SafetyBrake
from piesync_desktop.engine.mapping import check_custom, default_mappings
from piesync_desktop.engine.model import (
    TRASH_TAG,
    UNSUBSCRIBES_TAG,
    AppSchema,
    FieldSpec,
    FieldType,
    Item,
)
from piesync_desktop.engine.rules import Action, ActionOp, Condition, ConditionOp, Rule

BOOK_SCHEMA = AppSchema.of(
    FieldSpec("given_name", "First name"),
    FieldSpec("family_name", "Last name"),
    FieldSpec("emails", "Email", FieldType.EMAIL, multi=True),
    FieldSpec("phones", "Phone", FieldType.PHONE, multi=True),
    FieldSpec("company", "Company"),
    FieldSpec("title", "Job title"),
)

pytestmark = pytest.mark.usefixtures("both_load_modes")


def by_email(app, email):
    found = [
        r for r in app.records.values() if email.lower() in str(r.fields.get("emails")).lower()
    ]
    assert len(found) == 1, found
    return found[0]


def test_first_sync_creates_both_ways_and_matches_on_email(store, locks):
    pair = make_pair(store, locks)
    pair.a.add(full_name="Ann Lee", emails="ann@example.com", company="Acme")
    pair.b.add(full_name="Ann Lee", emails="ANN@Example.com ", title="CEO")
    pair.b.add(full_name="Bob Ray", emails="bob@example.com")
    summary = pair.sync()
    assert summary.created == {"a": 1, "b": 0}
    assert len(pair.a.records) == 2 and len(pair.b.records) == 1 + 1
    ann_a = by_email(pair.a, "ann@")
    assert ann_a.fields["title"] == "CEO"
    assert by_email(pair.b, "ANN@").fields["company"] == "Acme"
    assert summary.counts["in_sync"] == 4


def test_second_run_without_edits_writes_nothing(store, locks):
    pair = make_pair(store, locks)
    pair.a.add(full_name="Ann", emails="ann@example.com")
    pair.sync()
    writes = pair.ca.writes + pair.cb.writes
    summary = pair.sync()
    assert summary.created == {"a": 0, "b": 0} and summary.updated == {"a": 0, "b": 0}
    assert pair.ca.writes + pair.cb.writes == writes


def test_edits_cross_field_by_field_and_winner_decides_conflicts(store, locks):
    pair = make_pair(store, locks, winner=Side.B)
    a = pair.a.add(full_name="Ann", emails="ann@example.com", company="Acme", title="Dev")
    pair.sync()
    b = by_email(pair.b, "ann@")
    pair.a.put(a.__class__(a.id, {**a.fields, "company": "Acme Inc", "title": "Lead"}))
    pair.b.put(b.__class__(b.id, {**b.fields, "title": "CTO", "phones": "+32 9 123"}))
    pair.sync()
    for app in (pair.a, pair.b):
        rec = by_email(app, "ann@")
        assert rec.fields["company"] == "Acme Inc"  # changed in A only
        assert rec.fields["phones"] == "+32 9 123"  # changed in B only
        assert rec.fields["title"] == "CTO"  # changed on both: B wins


def test_empty_value_of_winner_never_clears_the_other_side(store, locks):
    pair = make_pair(store, locks, winner=Side.A)
    a = pair.a.add(full_name="Ann", emails="ann@example.com", title="Dev")
    pair.sync()
    b = by_email(pair.b, "ann@")
    pair.a.put(a.__class__(a.id, {**a.fields, "title": ""}))
    pair.b.put(b.__class__(b.id, {**b.fields, "title": "CTO"}))
    pair.sync()
    assert by_email(pair.a, "ann@").fields["title"] == "CTO"
    assert by_email(pair.b, "ann@").fields["title"] == "CTO"


def test_first_meeting_fills_blanks_and_winner_decides(store, locks):
    pair = make_pair(store, locks, winner=Side.A)
    pair.a.add(full_name="Ann A", emails="ann@example.com", company="From A")
    pair.b.add(full_name="Ann B", emails="ann@example.com", title="From B", company="Other")
    pair.sync()
    for app in (pair.a, pair.b):
        rec = by_email(app, "ann@")
        assert rec.fields["full_name"] == "Ann A"
        assert rec.fields["company"] == "From A"
        assert rec.fields["title"] == "From B"


def test_without_email_excluded_and_duplicates_not_synced(store, locks):
    pair = make_pair(store, locks)
    no_mail = pair.a.add(full_name="No Mail")
    first = pair.a.add(full_name="First", emails="same@example.com")
    second = pair.a.add(full_name="Second", emails="Same@Example.com")
    summary = pair.sync()
    assert len(pair.b.records) == 1
    assert by_email(pair.b, "same@").fields["full_name"] == "First"
    state, reason = pair.state("a", no_mail.id)
    assert state == "excluded" and "No email" in reason
    assert pair.state("a", second.id)[0] == "duplicate"
    assert "First" in pair.state("a", second.id)[1]
    assert pair.state("a", first.id)[0] == "in_sync"
    assert summary.counts["duplicate"] == 1


def test_avoid_duplicates_off_syncs_contacts_without_email_by_link(store, locks):
    pair = make_pair(store, locks, avoid_duplicates=False)
    rec = pair.a.add(full_name="No Mail", company="Acme")
    pair.sync()
    assert [r.fields["full_name"] for r in pair.b.records.values()] == ["No Mail"]
    pair.a.put(rec.__class__(rec.id, {**rec.fields, "company": "Acme 2"}))
    pair.sync()
    assert len(pair.b.records) == 1
    assert next(iter(pair.b.records.values())).fields["company"] == "Acme 2"


def test_link_outlives_an_email_change(store, locks):
    pair = make_pair(store, locks)
    a = pair.a.add(full_name="Ann", emails="ann@example.com")
    pair.sync()
    pair.a.put(a.__class__(a.id, {**a.fields, "emails": "ann@new.example"}))
    pair.sync()
    assert len(pair.b.records) == 1
    assert next(iter(pair.b.records.values())).fields["emails"] == "ann@new.example"


@pytest.mark.parametrize("direction", [Direction.A_TO_B, Direction.B_TO_A])
def test_one_way_never_writes_the_source(store, locks, direction):
    pair = make_pair(store, locks, direction=direction)
    source, target = (pair.a, pair.b) if direction is Direction.A_TO_B else (pair.b, pair.a)
    s = source.add(full_name="Src", emails="src@example.com", title="Dev")
    target.add(full_name="Only target", emails="t@example.com")
    pair.sync()
    assert len(source.records) == 1
    assert by_email(target, "src@").fields["title"] == "Dev"
    t = by_email(target, "src@")
    target.put(t.__class__(t.id, {**t.fields, "title": "Edited in target"}))
    pair.sync()
    assert source.records[s.id].fields["title"] == "Dev"
    assert by_email(target, "src@").fields["title"] == "Edited in target"
    source.put(s.__class__(s.id, {**s.fields, "title": "Lead"}))
    pair.sync()
    assert by_email(target, "src@").fields["title"] == "Lead"


def test_name_split_updates_only_the_last_name(store, locks):
    pair = make_pair(store, locks, schema_a=BOOK_SCHEMA, schema_b=CRM_SCHEMA)
    pair.a.add(given_name="Jan", family_name="Peeters", emails=(Item("work", "jan@example.com"),))
    pair.sync()
    b = by_email(pair.b, "jan@")
    assert b.fields["full_name"] == "Jan Peeters"
    pair.b.put(b.__class__(b.id, {**b.fields, "full_name": "Jan Janssens"}))
    before = pair.ca.writes
    pair.sync()
    a = by_email(pair.a, "jan@")
    assert (a.fields["given_name"], a.fields["family_name"]) == ("Jan", "Janssens")
    assert pair.ca.writes == before + 1


def test_multi_to_single_carries_first_value_and_keeps_the_rest(store, locks):
    pair = make_pair(store, locks, schema_a=BOOK_SCHEMA, schema_b=CRM_SCHEMA)
    a = pair.a.add(
        given_name="Jan",
        family_name="P",
        emails=(Item("work", "jan@example.com"), Item("home", "jan@home.example")),
        phones=(Item("mobile", "+32 470"), Item("work", "+32 9")),
    )
    pair.sync()
    b = by_email(pair.b, "jan@")
    assert b.fields["phones"] == "+32 470"
    pair.b.put(b.__class__(b.id, {**b.fields, "phones": "+32 471"}))
    pair.sync()
    phones = pair.a.records[a.id].fields["phones"]
    assert phones == (Item("mobile", "+32 471"), Item("work", "+32 9"))


def test_rules_exclude_and_act_and_undo(store, locks):
    rule = Rule(
        side="a",
        conditions=(Condition(ConditionOp.IN_TAG, "customers"),),
        actions=(Action(ActionOp.ADD_TAG, "from-crm"),),
        undo=True,
    )
    pair = make_pair(store, locks, rules=[rule, Rule(side="b")])
    cust = pair.a.add(full_name="Cust", emails="c@example.com", tags={"Customers"})
    other = pair.a.add(full_name="Other", emails="o@example.com")
    pair.sync()
    assert len(pair.b.records) == 1
    assert "from-crm" in by_email(pair.b, "c@").tags
    state, reason = pair.state("a", other.id)
    assert state == "excluded" and "rule" in reason
    # The contact stops matching: excluded, and the rule's tag is taken back (undo).
    pair.a.put(cust.__class__(cust.id, {**cust.fields, "title": "x"}, frozenset()))
    pair.sync()
    assert "from-crm" not in by_email(pair.b, "c@").tags


def test_stops_matching_then_no_longer_updated(store, locks):
    rule_a = Rule(side="a", conditions=(Condition(ConditionOp.EQUALS, "yes", "title"),))
    rule_b = Rule(side="b", conditions=(Condition(ConditionOp.EQUALS, "never", "company"),))
    pair = make_pair(store, locks, rules=[rule_a, rule_b])
    a = pair.a.add(full_name="Ann", emails="a@example.com", title="yes")
    pair.sync()
    pair.a.put(a.__class__(a.id, {**a.fields, "title": "no", "company": "New"}))
    pair.sync()
    b = by_email(pair.b, "a@")
    assert b.fields.get("company", "") == ""
    assert pair.state("a", a.id)[0] == "excluded"


def test_deletion_tags_trash_and_is_never_recreated(store, locks):
    pair = make_pair(store, locks, sync_deletions=True)
    a = pair.a.add(full_name="Ann", emails="ann@example.com")
    pair.a.add(full_name="Keep", emails="keep@example.com")
    pair.sync()
    del pair.a.records[a.id]
    pair.sync()
    ann_b = by_email(pair.b, "ann@")
    assert TRASH_TAG in ann_b.tags
    assert len(pair.a.records) == 1
    pair.b.put(ann_b.__class__(ann_b.id, {**ann_b.fields, "title": "still here"}, ann_b.tags))
    pair.sync()
    assert len(pair.a.records) == 1  # not created again where the person deleted it
    assert len(pair.b.records) == 2  # and never deleted on the other side


def test_deletion_without_sync_deletions_changes_nothing_there(store, locks):
    pair = make_pair(store, locks)
    a = pair.a.add(full_name="Ann", emails="ann@example.com")
    pair.a.add(full_name="Keep", emails="keep@example.com")
    pair.sync()
    del pair.a.records[a.id]
    pair.sync()
    assert TRASH_TAG not in by_email(pair.b, "ann@").tags
    assert len(pair.a.records) == 1


def test_a_contact_deleted_on_both_sides_then_restored_on_one_is_tagged_in_that_run(store, locks):
    pair = make_pair(store, locks, sync_deletions=True)
    ann = pair.a.add(full_name="Ann", emails="ann@example.com")
    for n in range(3):  # others stay, so the safety brake has no reason to stop the run
        pair.a.add(full_name=f"Other {n}", emails=f"o{n}@example.com")
    pair.sync()
    copy = by_email(pair.b, "ann@")
    del pair.a.records[ann.id]
    del pair.b.records[copy.id]  # both gone in one round (moved away, in Outlook)
    pair.sync()
    pair.b.put(copy)  # and back where it survives
    pair.sync()
    assert TRASH_TAG in pair.b.records[copy.id].tags  # in this run, not the next
    assert pair.sync().updated == {"a": 0, "b": 0}
    assert len(pair.a.records) == 3  # never made again where it was deleted


def test_unsubscribes_tag_the_other_side(store, locks):
    pair = make_pair(store, locks, sync_unsubscribes=True)
    pair.a.add(full_name="Opted out", emails="out@example.com", unsubscribed=True)
    pair.a.add(full_name="In", emails="in@example.com")
    pair.sync()
    assert UNSUBSCRIBES_TAG in by_email(pair.b, "out@").tags
    assert UNSUBSCRIBES_TAG not in by_email(pair.b, "in@").tags


def test_required_field_fails_with_reason_and_the_rest_goes_on(store, locks):
    strict = AppSchema.of(
        *CRM_SCHEMA.fields.values(), FieldSpec("company", "Company name", required=True)
    )
    pair = make_pair(store, locks, schema_b=strict)
    bad = pair.a.add(full_name="No company", emails="n@example.com")
    pair.a.add(full_name="Ok", emails="ok@example.com", company="Acme")
    summary = pair.sync()
    assert summary.created["b"] == 1 and summary.failed == 1
    state, reason = pair.state("a", bad.id)
    assert state == "failing" and reason == "Missing required field Company name in Memory CRM."
    pair.a.put(bad.__class__(bad.id, {**bad.fields, "company": "Fixed"}))
    pair.sync()
    assert pair.state("a", bad.id)[0] == "in_sync"


def test_a_contact_the_app_holds_without_a_required_field_still_takes_other_changes(store, locks):
    strict = AppSchema.of(
        *CRM_SCHEMA.fields.values(), FieldSpec("company", "Company name", required=True)
    )
    pair = make_pair(store, locks, schema_b=strict)
    held = pair.b.add(full_name="Held", emails="held@example.com")  # B holds it without one
    pair.sync()
    pair.a.put(
        by_email(pair.a, "held@").__class__(
            by_email(pair.a, "held@").id,
            {**by_email(pair.a, "held@").fields, "title": "CEO"},
        )
    )
    summary = pair.sync()
    assert summary.failed == 0
    assert pair.b.records[held.id].fields["title"] == "CEO"
    # Emptying a required field is still refused.
    pair.b.put(held.__class__(held.id, {**pair.b.records[held.id].fields, "company": "Acme"}))
    pair.sync()
    a_held = by_email(pair.a, "held@")
    pair.a.put(a_held.__class__(a_held.id, {**a_held.fields, "company": ""}))
    pair.sync()
    assert pair.state("a", a_held.id) == (
        "failing",
        "Missing required field Company name in Memory CRM.",
    )
    assert pair.b.records[held.id].fields["company"] == "Acme"


def test_a_field_of_several_values_emptied_on_one_side_is_emptied_on_the_other(store, locks):
    pair = make_pair(store, locks, schema_a=BOOK_SCHEMA, schema_b=BOOK_SCHEMA)
    phones = (Item("work", "+1 555 0101"), Item("work", "+1 555 0102"))
    ann = pair.a.add(given_name="Ann", emails=(Item("work", "ann@x.org"),), phones=phones)
    pair.sync()
    assert by_email(pair.b, "ann@").fields["phones"] == phones
    pair.a.put(ann.__class__(ann.id, {k: v for k, v in ann.fields.items() if k != "phones"}))
    pair.sync()
    assert not by_email(pair.b, "ann@").fields.get("phones")  # both gone, not just the first
    assert pair.sync().updated == {"a": 0, "b": 0}


def test_app_rejection_becomes_failure_and_is_retried(store, locks):
    pair = make_pair(store, locks)
    pair.cb.reject = lambda f: "INVALID_EMAIL: bad address" if "bad" in str(f) else None
    bad = pair.a.add(full_name="Bad", emails="bad@example.com")
    pair.a.add(full_name="Good", emails="good@example.com")
    pair.sync()
    state, reason = pair.state("a", bad.id)
    assert state == "failing" and "INVALID_EMAIL: bad address" in reason
    pair.cb.reject = lambda f: None
    pair.sync()  # nothing changed in A, but the failure is retried
    assert pair.state("a", bad.id)[0] == "in_sync"
    assert len(pair.b.records) == 2


def test_a_checkbox_field_takes_several_of_its_options(store, locks):
    from piesync_desktop.engine.executor import schema_problem

    boxes = FieldSpec("boxes", "Interests", FieldType.CHECKBOX, options=("tea", "jam"))
    assert schema_problem([boxes], "CRM", {"boxes": "tea;jam"}) is None
    assert schema_problem([boxes], "CRM", {"boxes": "tea;cake"}) == (
        "'cake' is not an option of field Interests in CRM (options: tea, jam)."
    )
    dropdown = FieldSpec("stage", "Stage", FieldType.DROPDOWN, options=("a;b", "c"))
    assert schema_problem([dropdown], "CRM", {"stage": "a;b"}) is None  # one option, as it is


def test_dropdown_value_outside_options_fails(store, locks):
    custom = check_custom(CRM_SCHEMA, CRM_SCHEMA, "nickname_note", "lifecycle")
    mappings = [*default_mappings(CRM_SCHEMA, CRM_SCHEMA, True, True), custom]
    pair = make_pair(store, locks, mappings=mappings)
    bad = pair.a.add(full_name="X", emails="x@example.com", nickname_note="prospect")
    good = pair.a.add(full_name="Y", emails="y@example.com", nickname_note="customer")
    pair.sync()
    assert by_email(pair.b, "y@").fields["lifecycle"] == "customer"
    assert pair.state("a", good.id)[0] == "in_sync"
    state, reason = pair.state("a", bad.id)
    assert state == "failing" and "not an option of field Lifecycle stage" in reason


def test_safety_brake_stops_before_writing_and_confirm_goes_on(store, locks):
    pair = make_pair(store, locks, sync_deletions=True)
    for i in range(12):
        pair.a.add(full_name=f"P{i}", emails=f"p{i}@example.com")
    pair.sync()
    pair.ca.empty_listing = True
    writes = pair.cb.writes
    with pytest.raises(SafetyBrake, match="listed no contacts"):
        pair.sync()
    assert pair.cb.writes == writes
    pair.ca.empty_listing = False
    for rid in list(pair.a.records)[:8]:
        del pair.a.records[rid]
    with pytest.raises(SafetyBrake, match="lost 8 of its 12"):
        pair.sync()
    pair.sync(confirm=True)
    assert sum(TRASH_TAG in r.tags for r in pair.b.records.values()) == 8


@pytest.mark.parametrize(("side", "crash_at"), [("b", n) for n in range(4)] + [("a", 0)])
def test_crash_after_any_write_leaves_no_duplicate(store, locks, side, crash_at):
    pair = make_pair(store, locks, avoid_duplicates=False)
    for i in range(4):
        pair.a.add(full_name=f"P{i}")  # no email: only the journal prevents duplicates
    pair.b.add(full_name="From B")
    (pair.ca if side == "a" else pair.cb).crash_after_writes = crash_at
    with pytest.raises(CrashAfter):
        pair.sync()
    pair.ca.crash_after_writes = pair.cb.crash_after_writes = None
    pair.sync()
    pair.sync()
    names_a = sorted(r.fields["full_name"] for r in pair.a.records.values())
    names_b = sorted(r.fields["full_name"] for r in pair.b.records.values())
    assert names_a == names_b == ["From B", "P0", "P1", "P2", "P3"]


def test_conflicting_write_is_retried_not_overwritten(store, locks):
    pair = make_pair(store, locks)
    a = pair.a.add(full_name="Ann", emails="ann@example.com", title="Dev")
    pair.sync()
    b = by_email(pair.b, "ann@")
    pair.a.put(a.__class__(a.id, {**a.fields, "title": "Lead"}))
    original_update = pair.cb.update

    def racing_update(updates):
        current = pair.b.records[b.id]  # someone edits B between our read and our write
        pair.b.put(current.__class__(current.id, {**current.fields, "company": "Raced"}))
        pair.cb.update = original_update
        return original_update(updates)

    pair.cb.update = racing_update
    pair.sync()
    assert pair.b.records[b.id].fields["company"] == "Raced"
    pair.sync()
    final_b = pair.b.records[b.id].fields
    assert final_b["company"] == "Raced" and final_b["title"] == "Lead"
    assert pair.a.records[a.id].fields["company"] == "Raced"


def test_waiting_for_a_connection_sharing_an_account(store, locks):
    pair = make_pair(store, locks)
    pair.a.add(full_name="Ann", emails="ann@example.com")
    waits = []
    with locks.hold([pair.ca.account_key], "other connection"):
        import threading

        done = threading.Event()

        def run():
            pair2_store = store.__class__(store.path)
            from piesync_desktop.engine.sync import RunOptions, run_sync

            settings = pair2_store.connection("test")
            run_sync(
                pair2_store,
                settings,
                {"a": pair.ca, "b": pair.cb},
                locks,
                RunOptions(on_wait=waits.append),
            )
            pair2_store.close()
            done.set()

        thread = threading.Thread(target=run)
        thread.start()
        assert not done.wait(0.6)
    thread.join(5)
    assert done.is_set()
    assert waits == ["other connection"]
    assert len(pair.b.records) == 1


def test_contact_added_again_where_it_was_deleted_pairs_with_the_survivor(store, locks):
    pair = make_pair(store, locks, sync_deletions=True)
    pair.a.add(full_name="Bob", emails="bob@example.com", title="Dev")
    pair.a.add(full_name="Keep", emails="keep@example.com")
    pair.sync()
    old_b = by_email(pair.b, "bob@")
    del pair.b.records[old_b.id]
    pair.sync()
    assert TRASH_TAG in by_email(pair.a, "bob@").tags
    pair.b.add(full_name="Bob", emails="bob@example.com", company="New Co")
    pair.sync()
    bob_a = by_email(pair.a, "bob@")  # still one Bob in A, paired again and out of the trash
    assert TRASH_TAG not in bob_a.tags
    assert bob_a.fields["company"] == "New Co"
    assert by_email(pair.b, "bob@").fields["title"] == "Dev"


def test_one_way_target_contact_pairs_when_the_source_gains_its_email(store, locks):
    pair = make_pair(store, locks, direction=Direction.A_TO_B)
    pair.b.add(full_name="Target", emails="t@example.com", title="In B")
    pair.a.add(full_name="Other", emails="o@example.com")
    pair.sync()
    pair.sync()
    pair.a.add(full_name="Target", emails="t@example.com", company="From A")
    pair.sync()
    target = by_email(pair.b, "t@")
    assert target.fields["company"] == "From A" and target.fields["title"] == "In B"
    assert len(pair.b.records) == 2


def test_a_trash_tag_is_an_update_the_timeline_shows(store, locks):
    from piesync_desktop.engine import health

    pair = make_pair(store, locks, sync_deletions=True)
    ann = pair.a.add(full_name="Ann", emails="ann@example.com")
    pair.a.add(full_name="Keep", emails="keep@example.com")
    pair.sync()
    cid = pair.settings.id
    before = len(health.timeline(store, cid))
    del pair.a.records[ann.id]
    summary = pair.sync()
    ann_b = by_email(pair.b, "ann@")
    assert TRASH_TAG in ann_b.tags and summary.updated == {"a": 0, "b": 1}
    new_rows = health.timeline(store, cid)[: len(health.timeline(store, cid)) - before]
    assert sorted(row["action"] for row in new_rows) == ["deleted", f"tagged '{TRASH_TAG}'"]
    tagged = [row for row in new_rows if row["action"] != "deleted"]
    state, reason = pair.state("b", ann_b.id)
    assert [(r["side"], r["id"], r["name"], r["email"]) for r in tagged] == [
        ("b", ann_b.id, "Ann", "ann@example.com")
    ]
    assert (tagged[0]["action"], tagged[0]["state"], tagged[0]["detail"]) == (
        f"tagged '{TRASH_TAG}'",
        state,
        reason,
    )
    assert state == "excluded" and f"Tagged '{TRASH_TAG}' here" in reason
    # Health's "updated" figure and the contacts listed behind it agree
    assert health.actions(store, cid)["b"]["updated"] == 1
    assert [c.id for c in health.action_contacts(store, cid, "b", "updated")] == [ann_b.id]
    assert health.count_action_contacts(store, cid, "b", "updated") == 1
    pair.sync()  # the tag is set once: no second update, no second row
    assert health.actions(store, cid)["b"]["updated"] == 1
    rows = [row for row in health.timeline(store, cid) if row["action"] == tagged[0]["action"]]
    assert len(rows) == 1


def test_a_refused_trash_tag_is_no_update_and_no_timeline_row(store, locks):
    from piesync_desktop.engine import health

    pair = make_pair(store, locks, sync_deletions=True)
    ann = pair.a.add(full_name="Ann", emails="ann@example.com")
    pair.a.add(full_name="Keep", emails="keep@example.com")
    pair.sync()
    del pair.a.records[ann.id]
    pair.cb.reject = lambda fields: "read-only contact"
    summary = pair.sync()
    assert TRASH_TAG not in by_email(pair.b, "ann@").tags and summary.updated["b"] == 0
    actions = [row["action"] for row in health.timeline(store, pair.settings.id)]
    assert f"tagged '{TRASH_TAG}'" not in actions
    pair.cb.reject = lambda fields: None
    assert pair.sync().updated["b"] == 1  # tagged on the next run, and shown then
    actions = [row["action"] for row in health.timeline(store, pair.settings.id)]
    assert actions.count(f"tagged '{TRASH_TAG}'") == 1
