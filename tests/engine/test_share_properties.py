"""Share jobs driven at random: one source, two destinations, checked after every run (issue 8).

A job pushes the source's contacts in the group one way to each destination. Random sequences of
the source adding, editing, grouping, ungrouping and deleting contacts, and of the destinations'
owners editing and deleting the copies and keeping contacts of their own (some in the group, some
with a shared contact's email), with runs of one destination or of all. After each run of a
destination:

1. no loss: its own contacts are exactly as its owner last wrote them (as is the source, which a
   job never writes), and no contact anywhere disappeared that the person did not delete;
2. no duplicate: each source contact in the group whose copy the destination did not delete has
   exactly one copy there, every copy is the job's (linked), and none is made again once deleted;
3. convergence: a copy holds its source's mapped fields and the group and the reference tag;
   a copy whose source left the group (or was deleted) is out of the group, in 'PieSync Trash';
4. idempotence: a second run right after writes nothing.

And removing a destination after a random history leaves there only its owner's contacts, out of
the group and otherwise unchanged, and the other destination and the source untouched.

PIESYNC_SHARE_EXAMPLES sets the number of examples (default 25), PIESYNC_SHARE_SHRINK_SECONDS
how long a failure is shrunk (default 30).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from unittest import mock

import pytest
from helpers.engine import LeanLoad
from helpers.memory_connector import CRM_SCHEMA, MemoryApp, MemoryConnector
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import engine as hypothesis_engine
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from piesync_desktop.engine import share
from piesync_desktop.engine.connection import ConnectionSettings
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import Projector
from piesync_desktop.engine.model import TRASH_TAG, Record
from piesync_desktop.engine.rules import managed_tags
from piesync_desktop.engine.store import Link, RunSummary, Store
from piesync_desktop.engine.sync import RunOptions

EXAMPLES = int(os.environ.get("PIESYNC_SHARE_EXAMPLES", "25"))
# Shrinking a failing history replays it thousands of times (each replay a dozen runs): left to
# Hypothesis' own five minutes it outlasts pytest-timeout. Past this, the example found so far is
# reported (and kept in .hypothesis/, so the next run goes on shrinking it).
SHRINK_SECONDS = int(os.environ.get("PIESYNC_SHARE_SHRINK_SECONDS", "30"))
# Thousands of runs, each taking account locks and committing the store: in memory if we can.
FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None

GROUP = "Team"
SOURCE = "memory:source"
DESTINATIONS = ("memory:one", "memory:two")
MAPPED = ("full_name", "emails", "phones", "company", "title")

# The emails are shared by the source and the destinations' own contacts, so an own contact
# often has a shared contact's email (in other letters too).
EMAILS = st.sampled_from(["", "ann@x.org", "ANN@x.org", "bob@x.org", "own@y.org"])
NAMES = st.sampled_from(["", "Ann", "Bob", "Ünïcode Ltd", "  padded  "])
TEXTS = st.sampled_from(["", "Acme", "Ünïcode Ltd", "CTO", "  padded  "])
PHONES = st.sampled_from(["", "+3225550101", "+32 2 555 01 02"])
VALUES = {"full_name": NAMES, "emails": EMAILS, "phones": PHONES, "company": TEXTS, "title": TEXTS}
EDITS = st.dictionaries(st.sampled_from(MAPPED), st.none(), min_size=1, max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({key: VALUES[key] for key in keys})
)
GROUP_SPELLINGS = st.sampled_from([GROUP, GROUP.lower()])  # the group in other letters counts
SOURCE_TAGS = st.frozensets(st.sampled_from(["Family", "vip"]), max_size=2)
OWN_TAGS = st.frozensets(st.sampled_from([GROUP, GROUP.lower(), "Private"]), max_size=2)
WHICH = st.sampled_from(DESTINATIONS)
REFERENCE = "<the job's gSync tag>"
DROPPED = st.frozensets(st.sampled_from([GROUP, REFERENCE]))  # tags an owner takes off a copy
# A new contact: its name, fields and tags (in the source: in the group or not, and how spelt).
NEW_FIELDS = st.tuples(EMAILS, EDITS).map(lambda pair: {"emails": pair[0], **pair[1]})
NEW_SOURCE = st.tuples(NAMES, NEW_FIELDS, st.booleans(), GROUP_SPELLINGS, SOURCE_TAGS)
NEW_OWN = st.tuples(NAMES, NEW_FIELDS, OWN_TAGS)


@pytest.fixture(autouse=True)
def bounded_shrinking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hypothesis_engine, "MAX_SHRINKING_SECONDS", SHRINK_SECONDS)


def in_group(record: Record) -> bool:
    return any(tag.casefold() == GROUP.casefold() for tag in record.tags)


def contact(name: str, fields: dict[str, str]) -> dict[str, str]:
    return {"full_name": name or "Someone", **{k: v for k, v in fields.items() if v}}


class ShareOps(RuleBasedStateMachine):
    """A job of one source and two in-memory destinations; what people do, and runs.

    The model kept here is what the people wrote: the source and the destinations' own contacts
    as last written, and per destination the source contacts whose copy its owner deleted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(dir=FAST_TMP))
        self.store = Store(self.dir / "store.sqlite3")
        self.locks = AccountLocks(self.dir / "locks")
        self.apps = {spec: MemoryApp() for spec in (SOURCE, *DESTINATIONS)}
        self.opened: list[MemoryConnector] = []
        # The job and its destinations are made by share.py itself, on memory connectors.
        with (
            mock.patch.object(share, "open_side", self.connector),
            mock.patch.object(share, "open_connector", self.connector),
        ):
            self.job = share.create_job(self.store, "Team", SOURCE, GROUP)
            for spec in DESTINATIONS:
                share.add_destination(self.store, self.job, spec)
        self.tag = self.job.role().reference_tag
        self.ids = {spec: self.destination(spec).id or 0 for spec in DESTINATIONS}
        self.live = list(DESTINATIONS)  # destinations still in the job
        self.source_written: dict[str, Record] = {}
        self.own: dict[str, dict[str, Record]] = {spec: {} for spec in DESTINATIONS}
        self.copy_deleted: dict[str, set[str]] = {spec: set() for spec in DESTINATIONS}

    def connector(self, spec: str) -> MemoryConnector:
        opened = MemoryConnector(self.apps[spec], key=spec.partition(":")[2])
        self.opened.append(opened)
        return opened

    @property
    def source(self) -> MemoryApp:
        return self.apps[SOURCE]

    def destination(self, spec: str) -> ConnectionSettings:
        [settings] = [s for s in self.store.job_destinations(self.job.id or 0) if s.b_spec == spec]
        return settings

    def links(self, spec: str) -> list[Link]:
        return list(self.store.links(self.ids[spec]).values())

    def copies(self, spec: str) -> dict[str, Record]:
        """What the job made in a destination: everything there but its owner's own."""
        records = self.apps[spec].records
        return {rid: r for rid, r in records.items() if rid not in self.own[spec]}

    # -- the source ---------------------------------------------------------------------------

    @initialize(people=st.lists(NEW_SOURCE, min_size=1, max_size=6))
    def source_starts_with(self, people) -> None:
        self.source_adds(people)

    @initialize(data=st.data())
    def owners_start_with(self, data) -> None:
        for spec in DESTINATIONS:
            for name, fields, tags in data.draw(st.lists(NEW_OWN, max_size=3)):
                self.owner_adds_to(spec, name, fields, tags)

    @rule(people=st.lists(NEW_SOURCE, min_size=1, max_size=3))
    def source_adds(self, people) -> None:
        for name, fields, grouped, spelling, tags in people:
            tags = tags | {spelling} if grouped else tags
            record = self.source.add(**contact(name, fields), tags=tags)
            self.source_written[record.id] = record

    @precondition(lambda self: self.source.records)
    @rule(data=st.data(), fields=EDITS)
    def source_edits(self, data, fields) -> None:
        rid = data.draw(st.sampled_from(sorted(self.source.records)))
        record = self.source.records[rid]
        self.source_written[rid] = self.source.put(
            replace(record, fields={**record.fields, **fields})
        )

    @precondition(lambda self: self.source.records)
    @rule(data=st.data(), spelling=GROUP_SPELLINGS)
    def source_regroups(self, data, spelling: str) -> None:
        """A contact into the group (spelt one way or another), or out of it."""
        rid = data.draw(st.sampled_from(sorted(self.source.records)))
        record = self.source.records[rid]
        kept = frozenset(t for t in record.tags if t.casefold() != GROUP.casefold())
        tags = kept if in_group(record) else kept | {spelling}
        self.source_written[rid] = self.source.put(replace(record, tags=tags))

    @precondition(lambda self: self.source.records)
    @rule(data=st.data())
    def source_deletes(self, data) -> None:
        rid = data.draw(st.sampled_from(sorted(self.source.records)))
        del self.source.records[rid]
        del self.source_written[rid]

    # -- the destinations' owners -------------------------------------------------------------

    @rule(data=st.data(), new=NEW_OWN)
    def owner_adds(self, data, new) -> None:
        self.owner_adds_to(data.draw(st.sampled_from(self.live)), *new)

    def owner_adds_to(self, spec: str, name: str, fields: dict[str, str], tags) -> None:
        record = self.apps[spec].add(**contact(name, fields), tags=tags)
        self.own[spec][record.id] = record

    def owned(self) -> list[tuple[str, str]]:
        return [(spec, rid) for spec in self.live for rid in sorted(self.own[spec])]

    def made(self) -> list[tuple[str, str]]:
        return [(spec, rid) for spec in self.live for rid in sorted(self.copies(spec))]

    @precondition(lambda self: self.owned())
    @rule(data=st.data(), fields=EDITS, tags=OWN_TAGS)
    def owner_edits_own(self, data, fields, tags) -> None:
        spec, rid = data.draw(st.sampled_from(self.owned()))
        record = self.own[spec][rid]
        self.own[spec][rid] = self.apps[spec].put(
            replace(record, fields={**record.fields, **fields}, tags=tags)
        )

    @precondition(lambda self: self.made())
    @rule(data=st.data(), fields=EDITS, private=st.booleans(), dropped=DROPPED)
    def owner_edits_copy(self, data, fields, private: bool, dropped) -> None:
        """Edits to a copy, which the source's values overwrite: fields, maybe a tag of the
        owner's own, maybe the copy taken out of the group or rid of the job's mark."""
        spec, rid = data.draw(st.sampled_from(self.made()))
        record = self.apps[spec].records[rid]
        tags = record.tags | {"Private"} if private else record.tags
        tags -= {self.tag if t == REFERENCE else t for t in dropped}
        self.apps[spec].put(replace(record, fields={**record.fields, **fields}, tags=tags))

    @precondition(lambda self: self.made())
    @rule(data=st.data())
    def owner_deletes_copy(self, data) -> None:
        spec, rid = data.draw(st.sampled_from(self.made()))
        del self.apps[spec].records[rid]
        self.copy_deleted[spec] |= {
            link.a_id for link in self.links(spec) if link.b_id == rid and link.a_id
        }

    @precondition(lambda self: self.owned())
    @rule(data=st.data())
    def owner_deletes_own(self, data) -> None:
        spec, rid = data.draw(st.sampled_from(self.owned()))
        del self.apps[spec].records[rid]
        del self.own[spec][rid]

    # -- runs ---------------------------------------------------------------------------------

    def run(self, specs: list[str]) -> dict[str, RunSummary]:
        """Run destinations as the CLI does (settings read from the store); none may fail."""
        chosen = [self.destination(spec) for spec in specs]
        outcomes = share.run_destinations(
            self.store, chosen, self.locks, RunOptions(confirm=True), factory=self.connector
        )
        summaries = {}
        for outcome in outcomes:
            assert outcome.error is None, outcome.error
            assert outcome.summary is not None and outcome.summary.failed == 0, outcome.summary
            summaries[outcome.destination.b_spec] = outcome.summary
        return summaries

    @rule(data=st.data())
    def run_one(self, data) -> None:
        self.after_runs([data.draw(st.sampled_from(self.live))])

    @rule()
    def run_all(self) -> None:
        self.after_runs(list(self.live))

    def after_runs(self, specs: list[str]) -> None:
        self.run(specs)

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class ShareMachine(ShareOps):
    """The four properties, after every run of a destination."""

    def after_runs(self, specs: list[str]) -> None:
        before = {spec: set(app.records) for spec, app in self.apps.items()}
        self.run(specs)
        for spec, app in self.apps.items():
            lost = before[spec] - set(app.records)
            assert not lost, f"{sorted(lost)} disappeared from {spec}"
        for spec in specs:
            self.assert_no_duplicate(spec)
            self.assert_converged(spec)
        self.assert_idempotent(specs)

    def assert_no_duplicate(self, spec: str) -> None:
        copies = self.copies(spec)
        owners: dict[str, list[str]] = {}
        for link in self.links(spec):
            assert link.b_id not in self.own[spec], f"own contact {link.b_id} paired in {spec}"
            if link.b_id in copies:
                owners.setdefault(link.b_id, []).append(link.a_id or "")
        unknown = sorted(set(copies) - set(owners))
        assert not unknown, f"copies {unknown} in {spec} that the job does not know"
        assert all(len(v) == 1 for v in owners.values()), owners
        made = Counter(a_ids[0] for a_ids in owners.values())
        for rid, record in self.source.records.items():
            if rid in self.copy_deleted[spec]:
                assert not made[rid], f"{rid}'s copy was deleted in {spec} and made again"
            elif in_group(record):
                assert made[rid] == 1, f"{rid} ({record}) has {made[rid]} copies in {spec}"
            else:
                assert made[rid] <= 1, f"{rid} has {made[rid]} copies in {spec}"

    def assert_converged(self, spec: str) -> None:
        settings = self.destination(spec)
        assert settings.share is not None
        rules = settings.share.rules()
        projector = Projector(
            settings.mappings, {"a": CRM_SCHEMA, "b": CRM_SCHEMA}, managed_tags(rules)
        )
        copies = self.copies(spec)
        for link in self.links(spec):
            copy = copies.get(link.b_id or "")
            if copy is None:
                continue
            source = self.source.records.get(link.a_id or "")
            if source is not None and in_group(source):
                assert projector.project("a", source) == projector.project("b", copy), (
                    source,
                    copy,
                )
                for key in MAPPED:
                    there = str(copy.fields.get(key, "")).strip()
                    assert str(source.fields.get(key, "")).strip() == there, (source, copy)
                assert {GROUP, self.tag} <= copy.tags and TRASH_TAG not in copy.tags, copy
            else:  # left the group, or deleted there: out of the group, up for review
                assert TRASH_TAG in copy.tags and not in_group(copy), (source, copy)

    def assert_idempotent(self, specs: list[str]) -> None:
        snapshot = {spec: dict(app.records) for spec, app in self.apps.items()}
        self.opened = []
        summaries = self.run(specs)
        for spec, summary in summaries.items():
            assert summary.created == {"a": 0, "b": 0}, (spec, summary)
            assert summary.updated == {"a": 0, "b": 0}, (spec, summary)
        assert sum(c.writes for c in self.opened) == 0
        for spec, app in self.apps.items():
            assert app.records == snapshot[spec], f"a second run changed {spec}"

    @invariant()
    def what_people_wrote_is_kept(self) -> None:
        assert self.source.records == self.source_written, "the source was written"
        for spec in DESTINATIONS:
            records = self.apps[spec].records
            for rid, record in self.own[spec].items():
                assert records.get(rid) == record, f"own contact {rid} of {spec} changed"


ShareMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # One bug shrunk per test: shrinking every distinct failure of a run costs minutes.
    report_multiple_bugs=False,
)
TestShareProperties = ShareMachine.TestCase


class RemovalMachine(ShareOps):
    """A random history, then one destination removed (share-remove): only its owner's
    contacts stay there, out of the group and otherwise as they were; nothing else changes."""

    @precondition(lambda self: len(self.live) == len(DESTINATIONS))
    @rule(data=st.data())
    def remove_destination(self, data) -> None:
        spec = data.draw(WHICH)
        [other] = [s for s in DESTINATIONS if s != spec]
        untouched = {s: dict(self.apps[s].records) for s in (SOURCE, other)}
        settings = self.destination(spec)
        connector = self.connector(spec)
        plan = share.plan_removal(self.store, self.job, settings, connector)
        result = share.carry_out_removal(self.store, plan, connector, self.locks)
        assert result.complete, result.problems
        records = self.apps[spec].records
        assert set(records) == set(self.own[spec]), "more than the owner's contacts are left"
        for rid, record in records.items():
            written = self.own[spec][rid]
            if not in_group(written):
                assert record == written, f"{rid} was not in the group and changed"
            assert record.fields == written.fields, record
            assert record.tags == {t for t in written.tags if t.casefold() != GROUP.casefold()}, (
                written,
                record,
            )
            self.own[spec][rid] = record
        for s, before in untouched.items():
            assert self.apps[s].records == before, f"{s} changed when {spec} was removed"
        assert spec not in {d.b_spec for d in self.store.job_destinations(self.job.id or 0)}
        self.live.remove(spec)
        left = dict(records)
        self.run(self.live)  # the job goes on without it, and nothing of the job's comes back
        assert self.apps[spec].records == left


RemovalMachine.TestCase.settings = ShareMachine.TestCase.settings
TestShareRemoval = RemovalMachine.TestCase


class LeanShareMachine(LeanLoad, ShareMachine):
    """The same in the lean way of big address books."""


LeanShareMachine.TestCase.settings = ShareMachine.TestCase.settings
TestSharePropertiesLeanLoad = LeanShareMachine.TestCase
