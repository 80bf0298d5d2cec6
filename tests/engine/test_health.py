"""Health's read model: the four lists, counts, actions, failure reasons, search and trash."""

from __future__ import annotations

from dataclasses import replace

import pytest
from helpers.engine import make_pair

from piesync_desktop.engine import health
from piesync_desktop.engine.connection import Direction
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.store import IndexRow


def test_report_lists_states_reasons_and_actions(store, locks):
    pair = make_pair(store, locks)
    pair.cb.reject = lambda f: "LIMIT: too many contacts" if "Rejected" in str(f) else None
    pair.a.add(full_name="Synced One", emails="one@example.com")
    pair.a.add(full_name="Rejected Two", emails="two@example.com")
    pair.a.add(full_name="Rejected Three", emails="three@example.com")
    pair.a.add(full_name="No Mail")
    pair.a.add(full_name="Twin", emails="one@example.com")
    pair.sync()
    data = health.report(store, pair.settings)
    assert (data["in_sync"], data["excluded"], data["duplicates"], data["failing"]) == (2, 1, 1, 2)
    assert data["failure_reasons"] == [
        {"reason": "Memory CRM refused to create it: LIMIT: too many contacts", "count": 2}
    ]
    assert data["actions"] == {"a": {"created": 0, "updated": 0}, "b": {"created": 1, "updated": 0}}
    states = {c["name"]: c["state"] for c in data["contacts"]}
    assert states == {
        "Synced One": "in_sync",
        "Rejected Two": "failing",
        "Rejected Three": "failing",
        "No Mail": "excluded",
        "Twin": "duplicate",
    }
    failing = health.contacts(store, pair.settings.id, state="failing")
    assert [c.name for c in failing] == ["Rejected Three", "Rejected Two"]
    assert data["last_run"]["status"] == "completed"


def test_search_by_name_email_or_id(store, locks):
    pair = make_pair(store, locks)
    pair.a.add(full_name="Zoë Janssens", emails="zoe@example.com")
    bob = pair.a.add(full_name="Bob Ray", emails="bob@example.org")
    pair.sync()
    cid = pair.settings.id
    assert {c.side for c in health.contacts(store, cid, search="zoë")} == {"a", "b"}
    assert {c.name for c in health.contacts(store, cid, search="example.org")} == {"Bob Ray"}
    assert [c.id for c in health.contacts(store, cid, search=bob.id) if c.side == "a"] == [bob.id]
    assert health.contacts(store, cid, search="nobody") == []


def test_one_way_hides_contacts_only_in_the_target(store, locks):
    pair = make_pair(store, locks, direction=Direction.A_TO_B)
    pair.a.add(full_name="Source", emails="s@example.com")
    pair.b.add(full_name="Target Only", emails="t@example.com")
    pair.sync()
    names = {c.name for c in health.contacts(store, pair.settings.id)}
    assert names == {"Source"}


def test_trash_lists_where_and_when(store, locks):
    pair = make_pair(store, locks, sync_deletions=True)
    gone = pair.a.add(full_name="Gone", emails="gone@example.com")
    pair.a.add(full_name="Kept", emails="kept@example.com")
    pair.sync()
    del pair.a.records[gone.id]
    pair.sync()
    [item] = health.trash(store, pair.settings.id)
    assert (item.side, item.name, item.deleted_in, item.tagged) == ("b", "Gone", "a", True)
    assert item.deleted_at > 0


def test_contacts_of_one_failure_reason(store, locks):
    pair = make_pair(store, locks)
    pair.cb.reject = lambda f: (
        "LIMIT: too many contacts"
        if "Limit" in str(f)
        else ("Phone is invalid" if "Phone" in str(f) else None)
    )
    pair.a.add(full_name="Limit One", emails="l1@example.com")
    pair.a.add(full_name="Limit Two", emails="l2@example.com")
    pair.a.add(full_name="Phone Three", emails="p3@example.com")
    pair.a.add(full_name="Fine Four", emails="f4@example.com")
    pair.sync()
    cid = pair.settings.id
    reasons = {r["reason"]: r["count"] for r in health.failure_reasons(store, cid)}
    limit = "Memory CRM refused to create it: LIMIT: too many contacts"
    phone = "Memory CRM refused to create it: Phone is invalid"
    assert reasons == {limit: 2, phone: 1}
    limited = health.contacts(store, cid, reason=limit)
    assert [(c.name, c.state, c.reason) for c in limited] == [
        ("Limit One", "failing", limit),
        ("Limit Two", "failing", limit),
    ]
    assert [c.name for c in health.contacts(store, cid, reason=phone)] == ["Phone Three"]
    assert health.count_contacts(store, cid, reason=limit) == 2
    assert health.contacts(store, cid, reason="no such reason") == []
    assert [c.name for c in health.contacts(store, cid, reason=limit, search="two")] == [
        "Limit Two"
    ]


def test_count_contacts_matches_the_pages(store, locks):
    pair = make_pair(store, locks)
    for number in range(7):
        pair.a.add(full_name=f"Person {number}", emails=f"p{number}@example.com")
    pair.a.add(full_name="Person Without Mail")
    pair.sync()
    cid = pair.settings.id
    assert health.count_contacts(store, cid) == 15
    assert health.count_contacts(store, cid, state="in_sync") == 14
    assert health.count_contacts(store, cid, state="excluded") == 1
    assert health.count_contacts(store, cid, search="person") == 15
    assert health.count_contacts(store, cid, search="p3") == 2
    pages = [health.contacts(store, cid, limit=4, offset=start) for start in range(0, 16, 4)]
    assert [len(page) for page in pages] == [4, 4, 4, 3]
    listed = [(c.side, c.id) for page in pages for c in page]
    assert len(set(listed)) == 15
    assert listed == [(c.side, c.id) for c in health.contacts(store, cid)]


def test_action_contacts_list_who_was_created_or_updated(store, locks):
    pair = make_pair(store, locks)
    ann = pair.a.add(full_name="Ann", emails="ann@example.com")
    pair.a.add(full_name="Ben", emails="ben@example.com")
    pair.b.add(full_name="Cas", emails="cas@example.com")
    pair.sync()
    cid = pair.settings.id
    created_b = health.action_contacts(store, cid, "b", "created")
    assert {c.name for c in created_b} == {"Ann", "Ben"}
    assert all(c.side == "b" and c.state == "in_sync" for c in created_b)
    assert [c.name for c in health.action_contacts(store, cid, "a", "created")] == ["Cas"]
    assert health.count_action_contacts(store, cid, "b", "created") == 2
    assert health.action_contacts(store, cid, "b", "updated") == []

    ann_in_b = next(c.id for c in created_b if c.name == "Ann")
    for title in ("Boss", "Chief"):  # two updates of one contact: listed once
        pair.a.put(replace(pair.a.records[ann.id], fields={**ann.fields, "title": title}))
        pair.sync()
    ben = next(r for r in pair.a.records.values() if r.fields.get("full_name") == "Ben")
    pair.a.put(replace(ben, fields={**ben.fields, "title": "Baker"}))
    pair.sync()
    updated = health.action_contacts(store, cid, "b", "updated")
    assert [c.name for c in updated] == ["Ben", "Ann"]  # the latest update first
    assert updated[1].id == ann_in_b
    assert health.actions(store, cid)["b"]["updated"] == 3
    assert health.count_action_contacts(store, cid, "b", "updated") == 2
    assert [c.name for c in health.action_contacts(store, cid, "b", "updated", 1, 1)] == ["Ann"]


def test_action_contacts_refuse_an_unknown_action(store, locks):
    pair = make_pair(store, locks)
    with pytest.raises(ValueError, match="deleted"):
        health.action_contacts(store, pair.settings.id, "a", "deleted")


def test_timeline_pages_most_recent_first(store, locks):
    pair = make_pair(store, locks)
    for number in range(5):
        pair.a.add(full_name=f"Early {number}", emails=f"e{number}@example.com")
    pair.sync()
    pair.a.add(full_name="Late", emails="late@example.com")
    pair.sync()
    cid = pair.settings.id
    whole = health.timeline(store, cid)
    assert whole[0]["name"] == "Late"
    assert [row["id"] for row in health.timeline(store, cid, limit=3, offset=2)] == [
        row["id"] for row in whole[2:5]
    ]
    assert health.timeline(store, cid, limit=5, offset=len(whole)) == []


def test_one_way_hides_target_only_contacts_everywhere(store, locks):
    pair = make_pair(store, locks, direction=Direction.A_TO_B)
    pair.cb.reject = lambda f: "Refused" if "Rejected" in str(f) else None
    pair.a.add(full_name="Source", emails="s@example.com")
    pair.a.add(full_name="Rejected Source", emails="r@example.com")
    pair.a.add(full_name="Source Without Mail")
    pair.b.add(full_name="Target Only", emails="t@example.com")
    pair.b.add(full_name="Target Without Mail")
    pair.b.add(full_name="Target Twin", emails="t@example.com")
    pair.b.add(full_name="Target Source Twin", emails="s@example.com")
    pair.b.add(full_name="Target Source Twin Again", emails="s@example.com")
    pair.sync()
    pair.sync()
    cid = pair.settings.id
    target_only = {"Target Only", "Target Without Mail", "Target Twin", "Target Source Twin Again"}
    # the target's own duplicates and contacts without email are really in the index
    assert {row.name for row in store.index(cid, "b").values()} >= target_only
    assert health.counts(store, cid) == {
        "in_sync": 2,
        "excluded": 1,
        "duplicates": 0,
        "failing": 1,
    }
    listed = {(c.side, c.name) for c in health.contacts(store, cid)}
    assert listed == {
        ("a", "Source"),
        ("b", "Source"),  # the target contact paired with it took its name
        ("a", "Rejected Source"),
        ("a", "Source Without Mail"),
    }
    assert health.count_contacts(store, cid) == 4
    assert health.contacts(store, cid, search="target") == []
    assert health.count_contacts(store, cid, search="t@example.com") == 0
    assert [r["count"] for r in health.failure_reasons(store, cid)] == [1]
    timeline_names = {row["name"] for row in health.timeline(store, cid)}
    assert timeline_names and not timeline_names & target_only
    assert all(row["state"] != "pending" for row in health.timeline(store, cid))


def test_one_way_keeps_a_target_contact_once_it_is_paired(store, locks):
    pair = make_pair(store, locks, direction=Direction.A_TO_B)
    pair.b.add(full_name="Waiting In Target", emails="w@example.com")
    pair.sync()
    cid = pair.settings.id
    assert health.contacts(store, cid) == []
    pair.a.add(full_name="Waiting In Target", emails="w@example.com")
    pair.sync()
    assert {c.side for c in health.contacts(store, cid, search="waiting")} == {"a", "b"}
    assert {row["side"] for row in health.timeline(store, cid)} == {"a", "b"}


def test_paging_after_a_key_gives_the_same_list_as_offsets(store, locks):
    pair = make_pair(store, locks)
    for number in range(9):  # pairs: each name twice, once a side
        pair.a.add(full_name=f"Same {number % 3}", emails=f"s{number}@example.com")
    pair.b.add(full_name="same 1", emails="lower@example.com")  # NOCASE ties with "Same 1"
    pair.sync()
    cid = pair.settings.id
    whole = health.contacts(store, cid)
    assert len(whole) == 20
    paged, after = [], None
    while page := health.contacts(store, cid, limit=3, after=after):
        paged += page
        after = health.page_key(page[-1])
    assert paged == whole
    in_sync, after = [], None
    while page := health.contacts(store, cid, state="in_sync", limit=4, after=after):
        in_sync += page
        after = health.page_key(page[-1])
    assert in_sync == health.contacts(store, cid, state="in_sync")


def test_connection_id_by_name(store, locks):
    pair = make_pair(store, locks, name="office")
    assert health.connection_id(store, "office") == pair.settings.id
    with pytest.raises(ConfigError, match="No connection named 'elsewhere'"):
        health.connection_id(store, "elsewhere")


def indexed_contacts(store, locks, direction=Direction.TWO_WAY):
    """A connection whose index holds 60 contacts of every listed state and a few pending ones,
    with names that tie but for case, and words shared by names, emails and ids."""
    pair = make_pair(store, locks, direction=direction)
    cid = pair.settings.id
    states = ["in_sync", "in_sync", "excluded", "duplicate", "failing", "pending"]
    first = ["Anna", "anna", "Bert", "Ada", "Maria", "Zoë", "Aart", "Mark", "Ben", "Amélie"]
    rows = {"a": [], "b": []}
    for number in range(60):
        side = "ab"[number % 2]
        state = states[number % len(states)]
        rows[side].append(
            IndexRow(
                f"{side}-{number:03d}",
                state,
                f"reason {number // 6 % 3}" if state == "failing" else "",
                f"{first[number % len(first)]} {'van Dam' if number % 4 else 'Smith'}",
                f"{first[number % len(first)].lower()}{number}@{'acme' if number % 3 else 'b'}.be",
                link_id=number if number % 5 else None,
            )
        )
    for side, side_rows in rows.items():
        store.save_index(cid, side, side_rows)
    return cid


@pytest.mark.parametrize("direction", [Direction.TWO_WAY, Direction.B_TO_A])
def test_a_broad_search_lists_what_a_narrow_one_does(store, locks, monkeypatch, direction):
    # A search with many matches reads the name index in order; a narrow one sorts its matches.
    # Both must list the same contacts in the same order, page after page, with every filter.
    cid = indexed_contacts(store, locks, direction)
    filters = [{}, {"state": "in_sync"}, {"state": "failing"}, {"reason": "reason 1"}]
    searches = ["a", "A", "an", "van dam", "acme", "b-0", "zo", "mark acme", "nobody", "x"]
    no_match = ("nobody", "x")

    def listed(search, **where):
        pages, after = [], None
        while page := health.contacts(store, cid, search=search, limit=4, after=after, **where):
            pages += page
            after = health.page_key(page[-1])
        return pages

    for search in searches:
        for where in filters:
            monkeypatch.setattr(health, "MANY_MATCHES", 10**9)
            narrow = listed(search, **where)
            monkeypatch.setattr(health, "MANY_MATCHES", 1)
            assert health.matches_many(store, health.fts_query(search)) == (search not in no_match)
            broad = listed(search, **where)
            assert broad == narrow, (search, where)
            assert health.count_contacts(store, cid, search=search, **where) == len(narrow)
            assert all(c.state != "pending" for c in narrow)
    broad = listed("a")
    assert {"a-006", "b-001"} <= {c.id for c in broad}  # "Aart van Dam", "anna van Dam"
    keys = [(c.name.lower(), c.id, c.side) for c in broad]
    assert keys == sorted(keys)


def query_plan(store, read):
    """The query plan of the contact page query that ``read()`` runs."""
    statements = []
    store.db.set_trace_callback(statements.append)
    try:
        read()
    finally:
        store.db.set_trace_callback(None)
    [page] = [s for s in statements if s.startswith("SELECT r.side, r.rid, r.name")]
    return " | ".join(row[3] for row in store.db.execute(f"EXPLAIN QUERY PLAN {page}"))


def test_pages_read_the_name_index_in_order(store, locks, monkeypatch):
    cid = indexed_contacts(store, locks)
    first = health.contacts(store, cid, limit=3)
    reads = {
        "all": lambda: health.contacts(store, cid, limit=3),
        "next page": lambda: health.contacts(store, cid, limit=3, after=health.page_key(first[-1])),
        "one state": lambda: health.contacts(store, cid, state="excluded", limit=3),
        "one reason": lambda: health.contacts(store, cid, reason="reason 0", limit=3),
        "broad search": lambda: health.contacts(store, cid, search="a", limit=3),
    }
    monkeypatch.setattr(health, "MANY_MATCHES", 1)
    for what, read in reads.items():
        plan = query_plan(store, read)
        assert "records_name" in plan and "TEMP B-TREE" not in plan, (what, plan)
    assert "records_name (connection_id=? AND name>?)" in query_plan(store, reads["next page"])
    monkeypatch.setattr(health, "MANY_MATCHES", 10**9)
    plan = query_plan(store, reads["broad search"])
    assert plan.startswith("SCAN f VIRTUAL TABLE") and "TEMP B-TREE FOR ORDER BY" in plan


def test_counts_add_up_both_sides(store, locks):
    cid = indexed_contacts(store, locks)
    assert health.counts(store, cid) == {
        "in_sync": 20,
        "excluded": 10,
        "duplicates": 10,
        "failing": 10,
    }
    assert health.count_contacts(store, cid) == 50 == len(health.contacts(store, cid))
    for state, figure in (("in_sync", 20), ("failing", 10), ("pending", 0)):  # pending: unlisted
        assert health.count_contacts(store, cid, state=state) == figure
        assert len(health.contacts(store, cid, state=state)) == figure
    assert [r["count"] for r in health.failure_reasons(store, cid)] == [4, 3, 3]
    assert health.count_contacts(store, cid, reason="reason 0") == 4
