"""Trash review decisions, carried out by the next sync: on two in-memory apps, and on real folders
of .vcf files. Keep takes a contact out of 'PieSync Trash' for good; Delete is the one delete the
engine makes; neither ever brings back what the person deleted, and a crash loses nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.engine import Pair, make_pair
from helpers.memory_connector import CrashAfter

from piesync_desktop.engine import health
from piesync_desktop.engine.connection import ConnectionSettings, Direction
from piesync_desktop.engine.connectors.vcard_codec import new_card
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import default_mappings
from piesync_desktop.engine.model import TRASH_TAG, Item, Record, WriteResult
from piesync_desktop.engine.rules import default_rules
from piesync_desktop.engine.store import Link, RunSummary, Store, TrashDecision
from piesync_desktop.engine.sync import run_sync

pytestmark = pytest.mark.usefixtures("both_load_modes")

KEEP, DELETE = TrashDecision.KEEP, TrashDecision.DELETE


def by_email(records: dict[str, Record], email: str) -> Record:
    found = [r for r in records.values() if email in str(r.fields.get("emails"))]
    assert len(found) == 1, found
    return found[0]


def timeline_actions(store: Store, cid: int) -> list[str]:
    return [row["action"] for row in health.timeline(store, cid)]


# -- two in-memory apps ---------------------------------------------------------------------


def trashed_pair(store: Store, locks: AccountLocks, **settings: object) -> tuple[Pair, Record]:
    """Ann deleted in A after a first sync, so her copy in B is in 'PieSync Trash'; Bob syncs."""
    pair = make_pair(store, locks, sync_deletions=True, **settings)
    ann = pair.a.add(full_name="Ann Gone", emails="ann@example.com")
    pair.a.add(full_name="Bob Stays", emails="bob@example.com")
    pair.sync()
    del pair.a.records[ann.id]
    pair.sync()
    ann_b = by_email(pair.b.records, "ann@")
    assert TRASH_TAG in ann_b.tags
    return pair, ann_b


def writes(pair: Pair) -> int:
    assert pair.ca is not None and pair.cb is not None
    return pair.ca.writes + pair.cb.writes


def test_keep_removes_the_tag_and_nothing_is_created_again(store, locks):
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    store.decide_trash(cid, "b", ann_b.id, KEEP)
    [item] = health.trash(store, cid)
    assert (item.id, item.decision) == (ann_b.id, "keep")
    assert TRASH_TAG in pair.b.records[ann_b.id].tags  # nothing happens before the sync

    summary = pair.sync()

    kept = pair.b.records[ann_b.id]
    assert TRASH_TAG not in kept.tags
    assert kept.fields["full_name"] == "Ann Gone"
    assert summary.updated == {"a": 0, "b": 1}
    assert [r.fields["full_name"] for r in pair.a.records.values()] == ["Bob Stays"]
    assert "kept (Trash review)" in timeline_actions(store, cid)
    state, reason = pair.state("b", ann_b.id)
    assert state == "excluded"
    assert "kept here in Trash review" in reason and "not created there again" in reason
    assert health.trash(store, cid) == []  # it left the review
    # Never tagged again, never created again, and nothing left to write.
    before = writes(pair)
    pair.sync()
    pair.sync()
    assert writes(pair) == before
    assert TRASH_TAG not in pair.b.records[ann_b.id].tags
    assert len(pair.a.records) == 1
    # An edit of the kept contact stays in B (A does not have her) and keeps her reason.
    pair.b.put(Record(ann_b.id, {**kept.fields, "title": "Still here"}, kept.tags))
    pair.sync()
    assert len(pair.a.records) == 1
    assert TRASH_TAG not in pair.b.records[ann_b.id].tags
    assert pair.state("b", ann_b.id) == (state, reason)


def test_delete_removes_the_contact_and_the_pair_is_forgotten(store, locks):
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    store.decide_trash(cid, "b", ann_b.id, DELETE)
    assert ann_b.id in pair.b.records

    pair.sync()

    assert ann_b.id not in pair.b.records
    assert [r.fields["full_name"] for r in pair.b.records.values()] == ["Bob Stays"]
    assert [r.fields["full_name"] for r in pair.a.records.values()] == ["Bob Stays"]
    rows = [r for r in health.timeline(store, cid) if r["action"].endswith("(Trash review)")]
    assert [(r["side"], r["id"], r["name"], r["action"]) for r in rows] == [
        ("b", ann_b.id, "Ann Gone", "deleted in Memory CRM (Trash review)")
    ]
    assert ann_b.id not in store.index(cid, "b")
    assert all(ann_b.id != link.b_id for link in store.links(cid).values())
    assert health.trash(store, cid) == []
    before = writes(pair)
    pair.sync()
    pair.sync()
    assert writes(pair) == before
    assert len(pair.a.records) == 1 and len(pair.b.records) == 1
    # Bob still syncs both ways.
    bob_a = by_email(pair.a.records, "bob@")
    pair.a.put(Record(bob_a.id, {**bob_a.fields, "title": "CTO"}, bob_a.tags))
    pair.sync()
    assert by_email(pair.b.records, "bob@").fields["title"] == "CTO"


def test_a_refused_delete_is_a_failure_with_the_reason_and_is_retried(store, locks):
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    store.decide_trash(cid, "b", ann_b.id, DELETE)
    assert pair.cb is not None
    real_delete = pair.cb.delete
    pair.cb.delete = lambda ids: [
        WriteResult(rid, rid, error="LOCKED: owned by Sales") for rid in ids
    ]

    first = pair.sync()
    second = pair.sync()

    assert ann_b.id in pair.b.records
    assert (first.failed, second.failed) == (1, 1)
    state, reason = pair.state("b", ann_b.id)
    assert state == "failing"
    assert reason == "Memory CRM refused to delete it: LOCKED: owned by Sales"
    assert store.db.execute(
        "SELECT attempts FROM failures WHERE connection_id = ? AND side = 'b' AND rid = ?",
        (cid, ann_b.id),
    ).fetchone() == (2,)
    assert [i.decision for i in health.trash(store, cid)] == ["delete"]  # still chosen

    pair.cb.delete = real_delete
    pair.sync()
    assert ann_b.id not in pair.b.records
    assert store.db.execute("SELECT COUNT(*) FROM failures").fetchone() == (0,)
    assert health.counts(store, cid)["failing"] == 0


def test_a_withdrawn_refused_delete_leaves_failing(store, locks):
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    store.decide_trash(cid, "b", ann_b.id, DELETE)
    assert pair.cb is not None
    pair.cb.delete = lambda ids: [WriteResult(rid, rid, error="LOCKED") for rid in ids]
    pair.sync()
    store.decide_trash(cid, "b", ann_b.id, None)
    pair.sync()
    assert ann_b.id in pair.b.records
    state, reason = pair.state("b", ann_b.id)
    assert state == "excluded" and reason.startswith("Deleted in Memory CRM (a)")
    assert store.db.execute("SELECT COUNT(*) FROM failures").fetchone() == (0,)
    [item] = health.trash(store, cid)
    assert item.decision is None and item.tagged


def test_a_decision_on_a_contact_restored_meanwhile_is_dropped(store, locks):
    pair = make_pair(store, locks, sync_deletions=True)
    ann = pair.a.add(full_name="Ann Back", emails="ann@example.com")
    pair.a.add(full_name="Bob Stays", emails="bob@example.com")
    pair.sync()
    del pair.a.records[ann.id]
    pair.sync()
    ann_b = by_email(pair.b.records, "ann@")
    cid = pair.settings.id or 0
    store.decide_trash(cid, "b", ann_b.id, DELETE)
    pair.a.put(ann)  # the person restores her in A (an undo of the delete)

    pair.sync()

    assert ann_b.id in pair.b.records
    assert TRASH_TAG not in pair.b.records[ann_b.id].tags
    assert health.trash(store, cid) == []
    [link] = [ln for ln in store.links(cid).values() if ln.b_id == ann_b.id]
    assert (link.deleted_side, link.trash_decision) == (None, None)
    # Paired again: an edit crosses, and a later deletion is a new review with no old choice.
    pair.a.put(Record(ann.id, {**ann.fields, "title": "Back"}, ann.tags))
    pair.sync()
    assert pair.b.records[ann_b.id].fields["title"] == "Back"
    del pair.a.records[ann.id]
    pair.sync()
    [item] = health.trash(store, cid)
    assert (item.id, item.decision) == (ann_b.id, None)
    assert ann_b.id in pair.b.records


def test_a_decision_on_a_contact_gone_meanwhile_is_dropped(store, locks):
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    store.decide_trash(cid, "b", ann_b.id, KEEP)
    del pair.b.records[ann_b.id]  # the person deleted it there too, before the sync

    summary = pair.sync()

    assert summary.status == "completed" and summary.failed == 0
    assert [r.fields["full_name"] for r in pair.a.records.values()] == ["Bob Stays"]
    assert [r.fields["full_name"] for r in pair.b.records.values()] == ["Bob Stays"]
    assert health.trash(store, cid) == []
    assert "kept (Trash review)" not in timeline_actions(store, cid)
    before = writes(pair)
    pair.sync()
    assert writes(pair) == before


def test_a_crash_right_after_the_delete_loses_nothing_and_creates_nothing(store, locks):
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    store.decide_trash(cid, "b", ann_b.id, DELETE)
    assert pair.cb is not None
    real_delete = pair.cb.delete

    def delete_then_crash(ids):
        real_delete(ids)
        raise CrashAfter("the process died after the delete, before recording it")

    pair.cb.delete = delete_then_crash
    with pytest.raises(CrashAfter):
        pair.sync()
    assert ann_b.id not in pair.b.records
    pair.cb.delete = real_delete

    summary = pair.sync()

    assert summary.created == {"a": 0, "b": 0}
    assert [r.fields["full_name"] for r in pair.a.records.values()] == ["Bob Stays"]
    assert [r.fields["full_name"] for r in pair.b.records.values()] == ["Bob Stays"]
    assert "already gone (Trash review)" in timeline_actions(store, cid)
    assert health.trash(store, cid) == []
    assert all(ann_b.id != link.b_id for link in store.links(cid).values())
    before = writes(pair)
    pair.sync()
    assert writes(pair) == before


def test_a_direction_that_does_not_write_there_still_honours_the_choice(store, locks):
    """A one-way A -> B connection never writes A; the person may still delete in A."""
    pair = make_pair(store, locks, sync_deletions=True, direction=Direction.A_TO_B)
    pair.a.add(full_name="Ann Source", emails="ann@example.com")
    pair.a.add(full_name="Cy Source", emails="cy@example.com")
    pair.a.add(full_name="Bob Source", emails="bob@example.com")
    pair.sync()
    ann_b = by_email(pair.b.records, "ann@")
    cy_b = by_email(pair.b.records, "cy@")
    del pair.b.records[ann_b.id]
    del pair.b.records[cy_b.id]
    pair.sync()
    cid = pair.settings.id or 0
    items = {item.name: item for item in health.trash(store, cid)}
    assert {(i.side, i.tagged) for i in items.values()} == {("a", False)}  # A is never written
    store.decide_trash(cid, "a", items["Ann Source"].id, DELETE)
    store.decide_trash(cid, "a", items["Cy Source"].id, KEEP)

    summary = pair.sync()

    names = sorted(r.fields["full_name"] for r in pair.a.records.values())
    assert names == ["Bob Source", "Cy Source"]
    assert summary.updated == {"a": 0, "b": 0}  # Cy had no tag: keeping her writes nothing
    assert TRASH_TAG not in by_email(pair.a.records, "cy@").tags
    assert "kept (Trash review)" in timeline_actions(store, cid)
    assert health.trash(store, cid) == []
    pair.sync()
    assert len(pair.b.records) == 1  # Cy is not created again in B, where she was deleted


def test_deciding_on_what_is_not_in_the_review_is_refused(store, locks):
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    bob_b = by_email(pair.b.records, "bob@")
    with pytest.raises(ConfigError, match="not waiting in the Trash review of connection 'test'"):
        store.decide_trash(cid, "b", bob_b.id, DELETE)  # in sync, nothing was deleted
    with pytest.raises(ConfigError, match="not waiting"):
        store.decide_trash(cid, "a", ann_b.id, DELETE)  # the wrong side
    with pytest.raises(ConfigError, match="a or b"):
        store.decide_trash(cid, "c", ann_b.id, KEEP)
    store.decide_trash(cid, "b", ann_b.id, KEEP)
    store.decide_trash(cid, "b", ann_b.id, None)  # withdrawn before the sync
    assert [i.decision for i in health.trash(store, cid)] == [None]
    pair.sync()
    assert TRASH_TAG in pair.b.records[ann_b.id].tags  # nothing was carried out
    store.decide_trash(cid, "b", ann_b.id, KEEP)
    pair.sync()
    with pytest.raises(ConfigError, match="not waiting"):
        store.decide_trash(cid, "b", ann_b.id, DELETE)  # kept: it left the review


def test_saving_a_link_never_overwrites_the_persons_choice(store, locks):
    """The window may decide while a run holds the link: the run's save keeps the choice, and
    only a link paired again (no deleted side) drops it."""
    pair, ann_b = trashed_pair(store, locks)
    cid = pair.settings.id or 0
    [link] = [ln for ln in store.links(cid).values() if ln.b_id == ann_b.id]
    assert link.trash_decision is None  # what a run loaded before the person decided
    store.decide_trash(cid, "b", ann_b.id, DELETE)
    store.save_links(cid, [link])
    link.unload()
    store.save_links(cid, [link])
    assert store.links(cid)[link.id].trash_decision == "delete"
    restored = Link(link.id, link.a_id, link.b_id, {}, None, None, False, [])
    store.save_links(cid, [restored])
    assert store.links(cid)[link.id].trash_decision is None


def test_all_trash_spans_connections_most_recent_first(store, locks):
    first, ann_b = trashed_pair(store, locks, name="first")
    trashed_pair(store, locks, name="second")
    store.decide_trash(first.settings.id or 0, "b", ann_b.id, KEEP)
    items = health.all_trash(store)
    assert [(i.connection, i.name, i.side, i.deleted_in) for i in items] == [
        ("second", "Ann Gone", "b", "a"),
        ("first", "Ann Gone", "b", "a"),
    ]
    assert [i.decision for i in items] == [None, "keep"]
    # An app this build does not know (the test harness) is named by its key.
    assert (items[1].app, items[1].deleted_app) == ("memory (b)", "memory (a)")
    assert items[0].deleted_at >= items[1].deleted_at
    assert health.all_trash(store, limit=1, offset=1) == items[1:]


# -- real folders of .vcf files ---------------------------------------------------------------


@dataclass
class Folders:
    """Two vCard folders and a two-way connection with Sync Deletions between them."""

    store: Store
    locks: AccountLocks
    settings: ConnectionSettings
    a: Path
    b: Path

    def sync(self) -> RunSummary:
        connectors = {"a": VCardDir(str(self.a)), "b": VCardDir(str(self.b))}
        return run_sync(self.store, self.settings, connectors, self.locks)

    def card(self, folder: Path, needle: str) -> Path:
        found = [p for p in folder.glob("*.vcf") if needle in p.read_text(encoding="utf-8")]
        assert len(found) == 1, found
        return found[0]

    def names(self, folder: Path) -> list[str]:
        return sorted(
            line[3:]
            for path in folder.glob("*.vcf")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("FN:")
        )


def write_card(folder: Path, uid: str, given: str, family: str, email: str) -> Path:
    path = folder / f"{uid}.vcf"
    fields = {"given_name": given, "family_name": family, "emails": (Item("work", email),)}
    path.write_text(new_card(uid, fields, frozenset()), encoding="utf-8", newline="")
    return path


@pytest.fixture
def folders(store: Store, locks: AccountLocks, tmp_path: Path) -> Folders:
    a, b = tmp_path / "work", tmp_path / "phone"
    a.mkdir()
    b.mkdir()
    write_card(a, "ann", "Ann", "Gone", "ann@example.com")
    write_card(a, "bob", "Bob", "Stays", "bob@example.com")
    settings = ConnectionSettings(
        name="book", a_spec=f"vcard:{a}", b_spec=f"vcard:{b}", sync_deletions=True
    )
    schema = VCardDir(str(a)).schema()
    settings.mappings = default_mappings(schema, schema, True, True)
    settings.rules = default_rules()
    store.add_connection(
        settings,
        store.ensure_account("vcard", f"vcard:{a}", str(a)),
        store.ensure_account("vcard", f"vcard:{b}", str(b)),
    )
    book = Folders(store, locks, settings, a, b)
    book.sync()
    (a / "ann.vcf").unlink()
    book.sync()
    assert TRASH_TAG in book.card(b, "ann@").read_text(encoding="utf-8")
    return book


def test_folders_keep_untags_the_file_and_never_recreates_it(folders):
    cid = folders.settings.id or 0
    ann_b = folders.card(folders.b, "ann@")
    [item] = health.trash(folders.store, cid)
    assert (item.id, item.app, item.deleted_app) == (
        ann_b.name,
        f"vCard folder ({folders.b})",
        f"vCard folder ({folders.a})",
    )
    folders.store.decide_trash(cid, "b", ann_b.name, KEEP)
    folders.sync()
    text = ann_b.read_text(encoding="utf-8")
    assert TRASH_TAG not in text and "ann@example.com" in text
    assert "kept (Trash review)" in timeline_actions(folders.store, cid)
    before = ann_b.stat().st_mtime_ns
    folders.sync()
    folders.sync()
    assert ann_b.stat().st_mtime_ns == before  # never tagged again
    assert folders.names(folders.a) == ["Bob Stays"]
    assert folders.names(folders.b) == ["Ann Gone", "Bob Stays"]


def test_folders_delete_removes_the_file_at_the_next_sync_only(folders):
    cid = folders.settings.id or 0
    ann_b = folders.card(folders.b, "ann@")
    folders.store.decide_trash(cid, "b", ann_b.name, DELETE)
    assert ann_b.exists()  # deciding writes nothing
    folders.sync()
    assert not ann_b.exists()
    assert "deleted in vCard folder (Trash review)" in timeline_actions(folders.store, cid)
    for _ in range(2):
        summary = folders.sync()
        assert summary.created == {"a": 0, "b": 0} and summary.updated == {"a": 0, "b": 0}
    assert folders.names(folders.a) == ["Bob Stays"]
    assert folders.names(folders.b) == ["Bob Stays"]
    assert health.trash(folders.store, cid) == []


def test_folders_refused_delete_fails_with_the_reason_then_succeeds(folders, monkeypatch):
    cid = folders.settings.id or 0
    ann_b = folders.card(folders.b, "ann@")
    folders.store.decide_trash(cid, "b", ann_b.name, DELETE)
    real_delete = VCardDir.delete

    def refuse(self, ids):
        return [WriteResult(name, name, error="Cannot delete: file is locked") for name in ids]

    monkeypatch.setattr(VCardDir, "delete", refuse)
    summary = folders.sync()
    assert summary.failed == 1 and ann_b.exists()
    data = health.report(folders.store, folders.settings)
    assert data["failure_reasons"] == [
        {"reason": "vCard folder refused to delete it: Cannot delete: file is locked", "count": 1}
    ]
    monkeypatch.setattr(VCardDir, "delete", real_delete)
    folders.sync()
    assert not ann_b.exists()
    assert folders.names(folders.a) == ["Bob Stays"]


def test_folders_decision_on_a_restored_contact_is_dropped(folders):
    cid = folders.settings.id or 0
    ann_b = folders.card(folders.b, "ann@")
    folders.store.decide_trash(cid, "b", ann_b.name, DELETE)
    write_card(folders.a, "ann", "Ann", "Gone", "ann@example.com")  # restored from a backup
    folders.sync()
    assert ann_b.exists() and TRASH_TAG not in ann_b.read_text(encoding="utf-8")
    assert health.trash(folders.store, cid) == []
    assert folders.names(folders.a) == folders.names(folders.b) == ["Ann Gone", "Bob Stays"]


def test_folders_crash_after_the_delete_then_a_normal_run(folders, monkeypatch):
    cid = folders.settings.id or 0
    ann_b = folders.card(folders.b, "ann@")
    folders.store.decide_trash(cid, "b", ann_b.name, DELETE)
    real_delete = VCardDir.delete

    def delete_then_crash(self, ids):
        real_delete(self, ids)
        raise CrashAfter("died before recording the delete")

    monkeypatch.setattr(VCardDir, "delete", delete_then_crash)
    with pytest.raises(CrashAfter):
        folders.sync()
    assert not ann_b.exists()
    monkeypatch.setattr(VCardDir, "delete", real_delete)
    summary = folders.sync()
    assert summary.created == {"a": 0, "b": 0}
    assert folders.names(folders.a) == ["Bob Stays"]
    assert folders.names(folders.b) == ["Bob Stays"]
    assert health.trash(folders.store, cid) == []
    summary = folders.sync()
    assert summary.created == {"a": 0, "b": 0} and summary.updated == {"a": 0, "b": 0}
