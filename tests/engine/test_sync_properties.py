"""Random sequences of creates, edits and deletes on both sides, checked after every sync.

After each sync: paired contacts agree on every mapped field, nothing was deleted, no email
appears twice in a side because of us, and a second sync with no edits writes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

from helpers.engine import LeanLoad, make_pair
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from piesync_desktop.engine.connection import Side
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.matching import normalise_email
from piesync_desktop.engine.model import TRASH_TAG
from piesync_desktop.engine.store import Store

SIDES = st.sampled_from(["a", "b"])
EMAILS = st.sampled_from(["", "ann@x.org", "ANN@x.org", "bob@x.org", "cy@x.org", "dee@x.org"])
TEXTS = st.sampled_from(["", "Acme", "Ünïcode Ltd", "Dev", "CTO", "  padded  "])
TAGS = st.frozensets(st.sampled_from(["vip", "customers", "Friends"]), max_size=2)
FIELDS = st.sampled_from(["full_name", "company", "title", "emails"])


class SyncMachine(RuleBasedStateMachine):
    """Two in-memory apps in a two-way connection, driven at random."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.store = Store(self.dir / "store.sqlite3")
        self.pair = make_pair(
            self.store, AccountLocks(self.dir / "locks"), winner=Side.A, sync_deletions=True
        )
        self.synced_once = False
        self.deleted_by_person: dict[str, set[str]] = {"a": set(), "b": set()}

    def app(self, side: str):
        return self.pair.a if side == "a" else self.pair.b

    @rule(side=SIDES, name=TEXTS, email=EMAILS, tags=TAGS)
    def create(self, side: str, name: str, email: str, tags: frozenset[str]) -> None:
        fields = {"full_name": name or "Someone"}
        if email:
            fields["emails"] = email
        self.app(side).add(**fields, tags=tags)

    @precondition(lambda self: self.pair.a.records or self.pair.b.records)
    @rule(data=st.data(), side=SIDES, field=FIELDS, text=TEXTS, email=EMAILS, tags=TAGS)
    def edit(self, data, side: str, field: str, text: str, email: str, tags) -> None:
        app = self.app(side)
        if not app.records:
            return
        rid = data.draw(st.sampled_from(sorted(app.records)))
        record = app.records[rid]
        value = email if field == "emails" else text
        app.put(replace(record, fields={**record.fields, field: value}, tags=tags))

    @precondition(lambda self: self.pair.a.records or self.pair.b.records)
    @rule(data=st.data(), side=SIDES)
    def delete(self, data, side: str) -> None:
        app = self.app(side)
        if not app.records:
            return
        rid = data.draw(st.sampled_from(sorted(app.records)))
        del app.records[rid]
        self.deleted_by_person[side].add(rid)

    @rule()
    def sync(self) -> None:
        before = {side: set(self.app(side).records) for side in "ab"}
        self.pair.sync(confirm=True)
        for side in "ab":
            records = self.app(side).records
            assert before[side] <= set(records), "a contact was deleted"
            # No contact the run created duplicates an email the side already held.
            kept = Counter(self._email(records[rid]) for rid in before[side])
            created = Counter(self._email(records[rid]) for rid in set(records) - before[side])
            for email, count in created.items():
                assert not email or (count == 1 and not kept[email]), f"{email} duplicated"
        self._assert_pairs_agree()
        writes = self.pair.ca.writes + self.pair.cb.writes
        summary = self.pair.sync(confirm=True)
        assert self.pair.ca.writes + self.pair.cb.writes == writes, summary
        self.synced_once = True

    @staticmethod
    def _email(record) -> str:
        """The match key of a contact the person keeps ('' for those in 'PieSync Trash')."""
        if TRASH_TAG in record.tags:
            return ""
        return normalise_email(str(record.fields.get("emails", "")))

    def _assert_pairs_agree(self) -> None:
        projector_fields = ("full_name", "company", "title", "emails")
        for link in self.store.links(self.pair.settings.id or 0).values():
            if link.deleted_side:
                continue
            ra = self.pair.a.records.get(link.a_id or "")
            rb = self.pair.b.records.get(link.b_id or "")
            assert ra is not None and rb is not None
            for key in projector_fields:
                assert str(ra.fields.get(key, "")).strip() == str(rb.fields.get(key, "")).strip()
            assert ra.tags == rb.tags or {"PieSync Trash"} & (ra.tags ^ rb.tags)

    @invariant()
    def never_recreated_where_deleted(self) -> None:
        for side in "ab":
            assert not (self.deleted_by_person[side] & set(self.app(side).records))

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


SyncMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSyncProperties = SyncMachine.TestCase


class PartialLoadMachine(LeanLoad, SyncMachine):
    """The same in the lean way of big address books."""


PartialLoadMachine.TestCase.settings = SyncMachine.TestCase.settings
TestSyncPropertiesPartialLoad = PartialLoadMachine.TestCase
