"""Health's read model: the four lists, counts, actions, failure reasons, search and trash."""

from __future__ import annotations

from helpers.engine import make_pair

from piesync_desktop.engine import health
from piesync_desktop.engine.connection import Direction


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
