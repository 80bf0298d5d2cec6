"""One sync run of one connection: pull, classify, pair, plan, apply, record.

The run never deletes a contact on its own: the one delete it makes is the person's explicit
choice in Trash review (see :meth:`SyncRun._plan_decisions`). It writes through the connectors in
batches, journals every create before sending it (so a crash between "created there" and "link
saved" never makes a duplicate), commits the store after each batch, and saves the connectors'
cursors only when the whole run completed, so an interrupted run is simply done again.
"""

from __future__ import annotations

import gc
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from piesync_desktop.engine.connection import ConnectionSettings, Side
from piesync_desktop.engine.connectors.base import Connector, batched
from piesync_desktop.engine.errors import Cancelled, SafetyBrake, SyncError
from piesync_desktop.engine.executor import Executor, PairPlan
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import Projector, default_mappings
from piesync_desktop.engine.matching import match_key
from piesync_desktop.engine.model import (
    TRASH_TAG,
    UNSUBSCRIBES_TAG,
    AppSchema,
    Changes,
    ReadFailure,
    Record,
    is_empty,
)
from piesync_desktop.engine.planner import merge
from piesync_desktop.engine.rules import ActionOp, Rule, default_rules, managed_tags
from piesync_desktop.engine.store import (
    PENDING_DECISIONS,
    TRASH_KEPT,
    Activity,
    IndexRow,
    Link,
    RecordState,
    RunSummary,
    Store,
    TrashDecision,
)

SIDES = ("a", "b")
BRAKE_MIN_KNOWN = 10  # below this many contacts, losing most of them is not called suspicious
BRAKE_SHARE = 0.5
FULL_LOAD_SHARE = 0.2  # load the whole index when more than this share of it is involved
FULL_RECORDS_KEPT = 5_000  # per side; past this, changed records are held as stubs (see stub)

STUB_FIELDS = frozenset({"full_name", "given_name", "middle_name", "family_name", "company"})

Progress = Callable[[str, int, int], None]
Answer = TypeVar("Answer")


@dataclass(slots=True)
class RunOptions:
    """How a run may behave beyond the connection's settings."""

    confirm: bool = False  # go on past the safety brake
    progress: Progress | None = None
    on_wait: Callable[[str], None] | None = None
    cancelled: Callable[[], bool] | None = None


@dataclass(slots=True)
class SideView:
    """Everything the run knows of one side."""

    side: str
    connector: Connector
    schema: AppSchema
    app_name: str
    index: dict[str, IndexRow] = field(default_factory=dict)
    fetched: dict[str, Record] = field(default_factory=dict)
    unreadable: dict[str, ReadFailure] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)
    total: int = 0
    email_field: str | None = None
    links_by_rid: dict[str, Link] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # match key -> record that holds it
    known: int = 0  # records the store knew of on this side before the run
    keys: dict[str, str] = field(default_factory=dict)  # match keys of fetched records
    stubs: set[str] = field(default_factory=set)  # fetched records held as stubs

    def stub(self, record: Record, rule_fields: set[str]) -> Record:
        """What pairing needs of a record (names, email, tags, the fields rules look at).

        A big first sync holds stubs instead of whole contacts so its memory stays flat; the
        whole record is read again when it is needed (to create or compare it).
        """
        keep = STUB_FIELDS | rule_fields | {self.email_field or ""}
        fields = {key: value for key, value in record.fields.items() if key in keep}
        self.stubs.add(record.id)
        return Record(
            record.id, fields, record.tags, record.version, record.unsubscribed, record.create_key
        )

    def match_key(self, record: Record) -> str:
        return match_key(record, self.email_field)

    def name_of(self, rid: str) -> str:
        record = self.fetched.get(rid)
        if record is not None:
            return record.display_name()
        row = self.index.get(rid)
        return row.name if row else rid


def config_hash(settings: ConnectionSettings, schemas: dict[str, AppSchema]) -> str:
    """Changes to anything that decides what a record maps to force a full re-read."""
    blob = json.dumps(
        {
            "mappings": [m.key + str(m.enabled) for m in settings.mappings],
            "rules": [r.key for r in settings.rules],
            "avoid": settings.avoid_duplicates,
            "direction": settings.direction.value,
            "schemas": {s: sorted(schemas[s].fields) for s in SIDES},
        },
        sort_keys=True,
    )
    return hashlib.sha1(blob.encode()).hexdigest()


def _at_once(
    calls: dict[str, Callable[[], Answer]], meanwhile: Callable[[], None]
) -> dict[str, Answer]:
    """The answers of ``calls``, made at once on threads of their own while this thread does
    ``meanwhile``. The first error, if any, is raised once all have returned."""
    answers: dict[str, Answer] = {}
    errors: dict[str, BaseException] = {}

    def ask(key: str) -> None:
        try:
            answers[key] = calls[key]()
        except BaseException as exc:  # handed to the caller below
            errors[key] = exc

    threads = [threading.Thread(target=ask, args=(key,), name=f"pull-{key}") for key in calls]
    for thread in threads:
        thread.start()
    try:
        meanwhile()
    finally:
        for thread in threads:
            thread.join()
    for key in calls:
        if key in errors:
            raise errors[key]
    return answers


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold Python's cycle collector off for a run (as the window does around its runs).

    A run makes many objects and keeps few: the collector's passes over them cost a 1% edits
    run of 100,000 contacts a side about 0.2 s, while reference counting frees them anyway (a
    run makes no reference cycles worth collecting before it ends).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_sync(
    store: Store,
    settings: ConnectionSettings,
    connectors: dict[str, Connector],
    locks: AccountLocks,
    options: RunOptions | None = None,
) -> RunSummary:
    """Run one connection once; raises SyncError (recorded as the run's outcome) if it cannot."""
    options = options or RunOptions()
    accounts = [connectors[s].account_key for s in SIDES]
    with locks.hold(accounts, settings.name, options.on_wait, options.cancelled):
        assert settings.id is not None
        if settings.share is not None and store.paused(settings.id) is not False:
            # A share destination is paused only while it is removed (or left half removed).
            raise SyncError(
                f"'{settings.name}' is being removed from share job "
                f"'{settings.share.job_name}'; nothing was written. To finish, remove it again.",
                title="Destination removed",
            )
        summary = RunSummary(run_id=store.start_run(settings.id))
        try:
            with _collector_paused():
                SyncRun(store, settings, connectors, options, summary).execute()
        except SyncError as exc:
            summary.status = "braked" if isinstance(exc, SafetyBrake) else "failed"
            summary.message = exc.message
            store.finish_run(settings.id, summary)
            raise
        except BaseException:
            summary.status = "failed"
            summary.message = "Interrupted by an unexpected error."
            store.finish_run(settings.id, summary)
            raise
        summary.status = "completed"
        store.finish_run(settings.id, summary)
        return summary


class SyncRun:
    """The state of one run; ``execute`` walks the phases in order."""

    def __init__(
        self,
        store: Store,
        settings: ConnectionSettings,
        connectors: dict[str, Connector],
        options: RunOptions,
        summary: RunSummary,
    ) -> None:
        self.store = store
        self.settings = settings
        self.cid: int = settings.id or 0
        self.options = options
        self.summary = summary
        self.direction = settings.direction
        # A share job's destination: one way, only the source's group, copies marked (share.py).
        self.share = settings.share
        self.rules: list[Rule] = (
            self.share.rules() if self.share else (settings.rules or default_rules())
        )
        self.rule_key = {rule: f"{rule.side}:{rule.key}" for rule in self.rules}
        self.rule_fields = {c.field for rule in self.rules for c in rule.conditions if c.field}
        self.views: dict[str, SideView] = {}
        # What each side's connector returned last time, with the settings it was made under.
        self.saved_state = {side: store.side_state(self.cid, side) for side in SIDES}
        for side in SIDES:
            connector = connectors[side]
            connector.open(self.saved_state[side][0])
            schema = connector.schema()
            view = SideView(side, connector, schema, f"{connector.app.name} ({connector.location})")
            view.email_field = (
                "emails"
                if "emails" in schema
                else (next((k for k, f in schema.fields.items() if f.type == "email"), None))
            )
            self.views[side] = view
        schemas = {s: self.views[s].schema for s in SIDES}
        if not settings.mappings:
            # A share job never copies the source's other tags: its own are set by its rule.
            settings.mappings = default_mappings(
                schemas["a"],
                schemas["b"],
                connectors["a"].app.capabilities.tags and self.share is None,
                connectors["b"].app.capabilities.tags and self.share is None,
            )
        self.projector = Projector(settings.mappings, schemas, managed_tags(self.rules))
        self.hash = config_hash(settings, schemas)
        self.links: dict[int, Link] = {}
        self.cursors: dict[str, Any] = {}
        self.next_link_id = 1
        self.journal: dict[tuple[str, str], str] = {}
        self.activity: list[Activity] = []
        self.index_updates: dict[str, dict[str, IndexRow]] = {"a": {}, "b": {}}
        self.index_drops: dict[str, set[str]] = {"a": set(), "b": set()}
        # Index rows of the run's start that a flush has since changed or dropped.
        self.rewritten: dict[str, set[str]] = {"a": set(), "b": set()}
        self.dirty_links: dict[int, Link] = {}
        self.handled: dict[str, set[str]] = {"a": set(), "b": set()}  # states set this run
        self.failures: list[tuple[str, str, str]] = []
        self.cleared_failures: list[tuple[str, str]] = []
        self.journal_done: dict[str, list[str]] = {"a": [], "b": []}
        self.decisions: list[tuple[str, str]] = []  # (deleted side, survivor) chosen in review
        self.untagged: list[tuple[str, str]] = []  # (deleted side, survivor) not tagged yet
        self.failing: dict[str, set[str]] = {"a": set(), "b": set()}  # failing at the start
        self.settled_decisions: list[tuple[int, str, str | None]] = []
        self.forgotten_links: set[int] = set()

    # -- phases ----------------------------------------------------------------------------

    def execute(self) -> None:
        self.cursors = self._pull()
        self._load_state()
        self._find_deletions()
        self._brake()
        self._fetch_counterparts()
        self._recover_journal()
        self._assign_owners()
        plans = self._pair_and_plan()
        self._handle_deletions(plans)
        self._plan_decisions(plans)
        Executor(self, plans).apply()
        self._index_the_rest()
        # A connector may ask its app for the cursor (a catch-up past our own writes): done
        # before the transaction, so no network wait holds the store's write lock.
        cursors = {side: self.views[side].connector.cursor() for side in SIDES}
        with self.store.transaction():
            self.flush()
            for side in SIDES:
                stale = [key for (target, key) in self.journal if target == side]
                self.store.clear_journal(self.cid, side, stale)
                cursor = cursors[side]
                if cursor != self.cursors[side]:  # an unchanged side costs no write
                    self.store.save_side_state(self.cid, side, cursor, self.hash)
        self.summary.counts = self.counts()

    def progress(self, phase: str, done: int = 0, total: int = 0) -> None:
        if self.options.cancelled and self.options.cancelled():
            raise Cancelled("The sync was cancelled; nothing is lost, the next run goes on.")
        if self.options.progress:
            self.options.progress(phase, done, total)

    def _pull(self) -> dict[str, Any]:
        """Ask both sides for their changes and read them at once (each waits on its disk or its
        server, and one side's reading overlaps the other's listing)."""
        cursors: dict[str, Any] = {}
        for side in SIDES:
            cursor, old_hash = self.saved_state[side]
            cursors[side] = None if old_hash != self.hash else cursor
        self.progress("Reading " + " and ".join(self.views[s].app_name for s in SIDES))
        answers = _at_once(
            {side: partial(self._read_side, side, cursors[side]) for side in SIDES},
            meanwhile=self._read_store,
        )
        for side in SIDES:
            view = self.views[side]
            changes = answers[side]
            view.unreadable = {f.id: f for f in changes.failures}
            view.deleted = set(changes.deleted)
            view.notes = {n.id: n.note for n in changes.notes}
            view.total = changes.total
        return cursors

    def _read_side(self, side: str, cursor: Any) -> Changes:
        """The changes of one side, with its changed records read (into ``fetched``)."""
        view = self.views[side]
        changes = view.connector.changes(cursor)
        view.fetched = {}
        for record in changes.records:
            if len(view.fetched) >= FULL_RECORDS_KEPT:
                record = view.stub(record, self.rule_fields)
            view.fetched[record.id] = record
        return changes

    def _read_store(self) -> None:
        """What the run needs of the store whatever changed (read while the sides are read)."""
        self.journal = self.store.journal(self.cid)
        self.next_link_id = self.store.max_link_id(self.cid) + 1
        if self.settings.sync_deletions:
            self.untagged = self.store.untagged_trash_links(self.cid)
        self.decisions = self.store.pending_trash_decisions(self.cid)
        for side in SIDES:
            self.views[side].known = self.store.index_count(self.cid, side)
            self.failing[side] = set(self.store.rids_in_state(self.cid, side, RecordState.FAILING))

    def _load_state(self) -> None:
        """Load what this run needs of the store: all of it only when much has changed.

        A run with few changes reads the index rows and links of the changed records, of their
        counterparts and of the records sharing their emails, so an unchanged address book of
        100,000 contacts costs neither the time nor the memory of loading it whole.
        """
        interest: dict[str, set[str]] = {}
        for side in SIDES:
            view = self.views[side]
            interest[side] = (
                view.fetched.keys() | view.deleted | view.unreadable.keys() | self.failing[side]
            )
        for (target, _key), source in self.journal.items():
            interest[Side(target).other.value].add(source)
        for deleted_side, survivor in self.untagged + self.decisions:
            interest[Side(deleted_side).other.value].add(survivor)
        wanted = sum(len(rids) for rids in interest.values())
        known = sum(view.known for view in self.views.values())
        if None in self.cursors.values() or wanted > FULL_LOAD_SHARE * known:
            self.links = self.store.links(self.cid)
            for side in SIDES:
                self.views[side].index = self.store.index(self.cid, side)
        else:
            self.links = self.store.links(self.cid, interest["a"], interest["b"])
            for link in self.links.values():
                for side in SIDES:
                    rid = link.id_on(side)
                    if rid is not None:
                        interest[side].add(rid)
            keys: set[str] = set()
            for side in SIDES:
                view = self.views[side]
                view.index = self.store.index(self.cid, side, interest[side])
                keys.update(row.match_key for row in view.index.values())
                keys.update(self.key_of(view, record) for record in view.fetched.values())
            keys.discard("")
            same_email = {side: self.store.index_by_keys(self.cid, side, keys) for side in SIDES}
            self.links.update(
                self.store.links(
                    self.cid,
                    same_email["a"].keys() - interest["a"],
                    same_email["b"].keys() - interest["b"],
                )
            )
            for side in SIDES:
                for rid, row in same_email[side].items():
                    self.views[side].index.setdefault(rid, row)
        for link in self.links.values():
            for side in SIDES:
                rid = link.id_on(side)
                if rid is not None:
                    self.views[side].links_by_rid[rid] = link

    def _find_deletions(self) -> None:
        for side in SIDES:
            view = self.views[side]
            if self.cursors[side] is None:  # a full listing: what is not listed is gone
                listed = view.fetched.keys() | view.unreadable.keys()
                view.deleted |= view.index.keys() - listed
            view.deleted &= view.index.keys() | view.links_by_rid.keys()
            view.deleted -= view.fetched.keys()

    def _brake(self) -> None:
        if self.options.confirm:
            return
        for side in SIDES:
            view = self.views[side]
            known, lost = view.known, len(view.deleted)
            if known and view.total == 0:
                raise SafetyBrake(
                    f"{view.app_name} listed no contacts, where it had {known}. Nothing was "
                    "written. If the folder or account is right and really empty now, confirm "
                    "to sync anyway (sync --confirm, or Confirm in the window)."
                )
            if known >= BRAKE_MIN_KNOWN and lost > known * BRAKE_SHARE:
                raise SafetyBrake(
                    f"{view.app_name} lost {lost} of its {known} contacts since the last sync. "
                    "Nothing was written. If these deletions are intended, confirm to sync "
                    "anyway (sync --confirm, or Confirm in the window)."
                )

    def _fetch_counterparts(self) -> None:
        """Read again what the plan needs beyond the changes: counterparts and retries."""
        wanted: dict[str, set[str]] = {"a": set(), "b": set()}
        failing = {
            (side, rid)
            for side in SIDES
            for rid, row in self.views[side].index.items()
            if row.state == RecordState.FAILING and rid not in self.views[side].unreadable
        }
        for side, rid in failing:
            wanted[side].add(rid)
        for side in SIDES:  # linked stubs: their whole records are compared below
            view = self.views[side]
            wanted[side] |= {rid for rid in view.stubs if rid in view.links_by_rid}
        for deleted_side, survivor in self.decisions:  # is it still there, as it is now
            wanted[Side(deleted_side).other.value].add(survivor)
        for side in SIDES:
            other = self.views[Side(side).other.value]
            for rid in list(self.views[side].fetched) + list(wanted[side]):
                link = self.views[side].links_by_rid.get(rid)
                # A survivor of a deletion has nothing to pair with; a contact back where it
                # was deleted (restored, or back in a share job's group) pairs again.
                if link is None or link.deleted_side not in (None, side):
                    continue
                counterpart = link.id_on(other.side)
                if counterpart and counterpart not in other.fetched:
                    wanted[other.side].add(counterpart)
        self._get(wanted)
        # Duplicates get another chance whenever a contact with their email changed, appeared
        # or went away on either side: the contact that held the email may be gone.
        touched: set[str] = set()
        for view in self.views.values():
            for rid in view.deleted | view.fetched.keys():
                if rid in view.index:
                    touched.add(view.index[rid].match_key)
            touched.update(self.key_of(view, record) for record in view.fetched.values())
        touched.discard("")
        retry = {
            side: {
                rid
                for rid, row in self.views[side].index.items()
                if row.state == RecordState.DUPLICATE and row.match_key in touched
            }
            for side in SIDES
        }
        self._get(retry)

    def _get(self, wanted: dict[str, set[str]]) -> None:
        for side in SIDES:
            view = self.views[side]
            ids = sorted(wanted[side] - (view.fetched.keys() - view.stubs) - view.deleted)
            for chunk in batched(ids, 500):
                for item in view.connector.get(chunk):
                    if isinstance(item, Record):
                        view.fetched[item.id] = item
                        view.stubs.discard(item.id)
                    elif item.id in view.index or item.id in view.links_by_rid:
                        if item.gone:
                            view.deleted.add(item.id)
                        else:
                            view.unreadable[item.id] = item

    # -- classification -----------------------------------------------------------------------

    def key_of(self, view: SideView, record: Record) -> str:
        """The match key of a record (normalised primary email), worked out once per run."""
        if view.fetched.get(record.id) is not record:
            return view.match_key(record)
        key = view.keys.get(record.id)
        if key is None:
            key = view.keys[record.id] = view.match_key(record)
        return key

    def _assign_owners(self) -> None:
        """Which record of a side holds each email (Avoid Duplicates); later ones are duplicates.

        Records that kept their state hold their key first, then linked records, then the rest
        in id order, so the contact already in sync never turns into the duplicate.
        """
        for side in SIDES:
            view = self.views[side]
            view.owners = {}
            if self.share and side == "b":
                # A share job's copies pair by link; by email only a copy it lost track of
                # (its link gone with a store made again) finds its contact again.
                for rid in sorted(view.fetched):
                    record = view.fetched[rid]
                    key = self.key_of(view, record)
                    if key and rid not in view.links_by_rid and self._is_copy(record):
                        view.owners.setdefault(key, rid)
                continue
            for rid, row in view.index.items():
                if (
                    row.match_key
                    and rid not in view.fetched
                    and rid not in view.deleted
                    and row.state in (RecordState.IN_SYNC, RecordState.PENDING, RecordState.FAILING)
                ):
                    view.owners.setdefault(row.match_key, rid)
            for rid, row in view.index.items():  # survivors of a deletion on the other side
                link = self.links.get(row.link_id) if row.link_id is not None else None
                if (
                    row.match_key
                    and link is not None
                    and link.deleted_side
                    and rid not in (view.fetched.keys() | view.deleted)
                ):
                    view.owners.setdefault(row.match_key, rid)
            linked = sorted(rid for rid in view.fetched if rid in view.links_by_rid)
            others = sorted(rid for rid in view.fetched if rid not in view.links_by_rid)
            for rid in linked + others:
                record = view.fetched[rid]
                key = self.key_of(view, record)
                if key and self._active_rules(side, record) is not None:
                    view.owners.setdefault(key, record.id)

    def _active_rules(self, side: str, record: Record) -> list[Rule] | None:
        """The rules of ``side`` the record matches; None when it matches none."""
        if not self.direction.reads_from(Side(side)):
            return []  # a pure target side: its rules do not apply
        matched = [rule for rule in self.rules if rule.side == side and rule.matches(record)]
        return matched or None

    def _is_copy(self, record: Record) -> bool:
        """Whether a destination contact carries the share job's reference tag."""
        assert self.share is not None
        wanted = self.share.reference_tag.casefold()
        return any(tag.casefold() == wanted for tag in record.tags)

    # -- pairing and planning -------------------------------------------------------------------

    def _pair_and_plan(self) -> list[PairPlan]:
        plans: list[PairPlan] = []
        seen_links: set[int] = set()
        claimed: dict[str, set[str]] = {"a": set(), "b": set()}
        total = sum(len(v.fetched) for v in self.views.values())
        done = 0
        for side in SIDES:
            view = self.views[side]
            other = self.views[Side(side).other.value]
            for record in sorted(view.fetched.values(), key=lambda r: r.id):
                done += 1
                if done % 5000 == 0:
                    self.progress("Comparing contacts", done, total)
                if record.id in claimed[side]:
                    continue
                link = view.links_by_rid.get(record.id)
                if link is not None:
                    if link.id in seen_links:
                        continue
                    seen_links.add(link.id)
                    plan = self._plan_linked(link)
                    if plan:
                        plans.append(plan)
                    continue
                plan = self._plan_unlinked(view, other, record, claimed)
                if plan:
                    plans.append(plan)
        return plans

    def _recover_journal(self) -> None:
        """Pair the records we created in a run that crashed before their links were saved."""
        for side in SIDES:
            view = self.views[side]
            other = self.views[Side(side).other.value]
            for record in view.fetched.values():
                source = self.journal.pop((side, record.create_key or ""), None)
                if source is None or record.id in view.links_by_rid:
                    continue
                if source in other.links_by_rid:
                    continue
                self.new_link(**{f"{side}_id": record.id, f"{other.side}_id": source})
                self.journal_done[side].append(record.create_key or "")
                if source not in other.fetched:
                    self._get({side: set(), other.side: {source}})

    def new_link(self, a_id: str | None, b_id: str | None) -> Link:
        link = Link(self.next_link_id, a_id, b_id)
        self.next_link_id += 1
        self.links[link.id] = link
        self.touch(link)
        for side, rid in (("a", a_id), ("b", b_id)):
            if rid is not None:
                self.views[side].links_by_rid[rid] = link
        return link

    def _plan_unlinked(
        self, view: SideView, other: SideView, record: Record, claimed: dict[str, set[str]]
    ) -> PairPlan | None:
        side = view.side
        if self.share:
            if side == "b":
                self._leave_destination_contact(record)
                return None
            if self._active_rules(side, record) is None:
                self.set_state(side, record, RecordState.EXCLUDED, self._not_shared_reason())
                return None
        rules = self._active_rules(side, record)
        key = self.key_of(view, record)
        if rules is None:
            self.set_state(
                side, record, RecordState.EXCLUDED, "Does not match any rule of this connection."
            )
            return None
        if self.settings.avoid_duplicates and not key:
            self.set_state(
                side,
                record,
                RecordState.EXCLUDED,
                "No email address (Avoid Duplicates is on: contacts are matched on "
                "email). Add an email, or turn Avoid Duplicates off.",
            )
            return None
        owner = view.owners.get(key) if key else None
        if owner is not None and owner != record.id and self.settings.avoid_duplicates:
            self.set_state(
                side,
                record,
                RecordState.DUPLICATE,
                f"Same email as '{view.name_of(owner)}' ({owner}) in "
                f"{view.app_name}; only that one is synced.",
            )
            return None
        if key:
            match = other.owners.get(key)
            if match is not None and match not in claimed[other.side]:
                match_link = other.links_by_rid.get(match)
                if match not in other.fetched:
                    self._get({side: set(), other.side: {match}})
                if match in other.fetched and (
                    match_link is None or match_link.deleted_side == side
                ):
                    claimed[other.side].add(match)
                    if match_link is None:
                        link = self.new_link(**{f"{side}_id": record.id, f"{other.side}_id": match})
                        return self._plan_linked(link)
                    return self._relink(match_link, side, record)
                self.set_state(
                    side,
                    record,
                    RecordState.DUPLICATE,
                    f"'{other.name_of(match)}' in {other.app_name} has the same "
                    "email and is already paired with another contact.",
                )
                return None
        if not self.direction.writes(Side(other.side)):
            self.set_state(
                side, record, RecordState.PENDING, "Only in the target of a one-way connection."
            )
            return None
        return self._plan_create(view, other, record, rules)

    def _not_shared_reason(self) -> str:
        assert self.share is not None
        return (
            f"Not in '{self.share.group}' in {self.views['a'].app_name}: share job "
            f"'{self.share.job_name}' shares only that group."
        )

    def _leave_destination_contact(self, record: Record) -> None:
        """A destination contact the share job did not put there (or no longer knows): it is
        never changed, and Health says why."""
        assert self.share is not None
        share, view = self.share, self.views["b"]
        if self._is_copy(record):
            reason = (
                f"Carries '{share.reference_tag}', the mark of share job '{share.job_name}', "
                f"but no contact in '{share.group}' in {self.views['a'].app_name} matches it; "
                "it is left as it is."
            )
        elif any(tag.casefold() == share.group.casefold() for tag in record.tags):
            reason = (
                f"Put in '{share.group}' in {view.app_name}, not by share job "
                f"'{share.job_name}': the job never changes it, and it stays if this "
                "destination is removed from the job."
            )
        else:
            reason = f"Not from share job '{share.job_name}': the job never changes it."
        self.set_state("b", record, RecordState.EXCLUDED, reason)

    def _left_group(self, link: Link, ra: Record, rb: Record) -> PairPlan:
        """A shared contact taken out of the group in the source: like a deletion there, its
        copy leaves the group and is tagged 'PieSync Trash' for the destination to review."""
        assert self.share is not None
        link.deleted_side, link.deleted_at = "a", time.time()
        self.touch(link)
        self.set_state(
            "a",
            ra,
            RecordState.EXCLUDED,
            self._not_shared_reason(),
            link,
            action=f"taken out of '{self.share.group}'",
        )
        self.handled["b"].add(rb.id)  # its row is the one the tagging sets
        plan = self._trash_plan(link, "b")
        group = self.share.group.casefold()
        plan.trash_untag = frozenset(tag for tag in rb.tags if tag.casefold() == group)
        return plan

    def _trash_plan(self, link: Link, target: str) -> PairPlan:
        """Tag ``target``'s contact 'PieSync Trash' (a share job's copy also leaves the group)."""
        untag = frozenset({self.share.group}) if self.share else frozenset()
        return PairPlan(
            link=link, trash_for=target, trash_untag=untag, rule_keys=link.decoded_rule_keys()
        )

    def _relink(self, link: Link, side: str, record: Record) -> PairPlan | None:
        """A new contact meets, by email, the survivor of a contact deleted on its side.

        The person deleted it here and now added it again: the two pair up once more (as a
        first meeting), and the survivor leaves 'PieSync Trash' if we had put it there.
        """
        view = self.views[side]
        survivor_side = Side(side).other.value
        survivor = link.id_on(survivor_side) or ""
        old = link.id_on(side)
        if old is not None:
            view.links_by_rid.pop(old, None)
        link.set_id(side, record.id)
        view.links_by_rid[record.id] = link
        untrash = link.trash_tagged
        link.deleted_side = link.deleted_at = None
        link.trash_tagged = False
        link.base = {}
        self.touch(link)
        self.handled[survivor_side].discard(survivor)
        plan = self._plan_linked(link)
        record_there = self.views[survivor_side].fetched[survivor]
        if untrash and TRASH_TAG in record_there.tags:
            plan = plan or PairPlan(
                link=link, new_base=None, records={side: record, survivor_side: record_there}
            )
            fields, add, remove = plan.updates.get(survivor_side, ({}, frozenset(), frozenset()))
            plan.updates[survivor_side] = (fields, add, remove | {TRASH_TAG})
        return plan

    def _plan_create(
        self, view: SideView, other: SideView, record: Record, rules: list[Rule]
    ) -> PairPlan | None:
        """A contact to create on the other side; what to write is worked out when it is sent
        (:meth:`fill_create`), so a first sync of many contacts never holds all of it at once."""
        return PairPlan(
            link=None,
            source_side=view.side,
            source=record,
            reread=record.id in view.stubs,
            create_key=uuid.uuid4().hex,
            rules=rules,
            rule_keys=[self.rule_key[r] for r in rules],
        )

    def fill_create(self, plan: PairPlan) -> None:
        """The fields, tags and base of a planned create."""
        record, view = plan.source, self.views[plan.source_side or "a"]
        assert record is not None
        other = self.views[Side(view.side).other.value]
        values = self.projector.project(view.side, record)
        fields, add, _ = self.projector.writes(other.side, values, {}, None)
        fields = {key: value for key, value in fields.items() if not is_empty(value)}
        tags = set(add)
        rule_fields, rule_add, rule_remove = self._rule_actions(plan.rules)
        fields.update(rule_fields)
        tags = (tags | rule_add) - rule_remove
        if (
            self.settings.sync_unsubscribes
            and record.unsubscribed
            and other.connector.app.capabilities.tags
        ):
            tags.add(UNSUBSCRIBES_TAG)
        plan.create_fields, plan.create_tags, plan.new_base = fields, frozenset(tags), values

    def _rule_actions(
        self, rules: Iterable[Rule], undo: bool = False
    ) -> tuple[dict[str, Any], set[str], set[str]]:
        fields: dict[str, Any] = {}
        add: set[str] = set()
        remove: set[str] = set()
        for rule in rules:
            for action in rule.actions:
                if action.op is ActionOp.ADD_TAG:
                    (remove if undo else add).add(action.value)
                elif action.op is ActionOp.REMOVE_TAG:
                    (add if undo else remove).add(action.value)
                elif action.op is ActionOp.SET_FIELD:
                    fields[action.field] = "" if undo else action.value
        return fields, add, remove

    def _plan_linked(self, link: Link) -> PairPlan | None:
        stubs = {
            side: link.id_on(side) for side in SIDES if link.id_on(side) in self.views[side].stubs
        }
        if stubs:  # two contacts meeting for the first time: read their whole records
            self._get({side: ({stubs[side]} if side in stubs else set()) for side in SIDES})
        ra = self.views["a"].fetched.get(link.a_id or "")
        rb = self.views["b"].fetched.get(link.b_id or "")
        if link.deleted_side:
            return self._plan_after_deletion(link, ra, rb)
        if ra is None or rb is None:
            missing = "a" if ra is None else "b"
            view = self.views[missing]
            rid = link.id_on(missing) or ""
            if rid in view.unreadable:
                present = rb if ra is None else ra
                assert present is not None
                self.set_state(
                    Side(missing).other.value,
                    present,
                    RecordState.FAILING,
                    f"Its counterpart in {view.app_name} cannot be read: "
                    f"{view.unreadable[rid].reason}",
                )
            return None
        rules_a = self._active_rules("a", ra)
        rules_b = self._active_rules("b", rb)
        if self.share and rules_a is None:
            return self._left_group(link, ra, rb)
        flows = {
            target
            for source, target, rules in (("a", "b", rules_a), ("b", "a", rules_b))
            if self.direction.writes(Side(target)) and rules is not None
        }
        matched = [self.rule_key[r] for r in (rules_a or []) + (rules_b or [])]
        undo_rules = [
            r
            for r in self.rules
            if self.rule_key[r] in link.decoded_rule_keys()
            and self.rule_key[r] not in matched
            and r.undo
        ]
        if not flows:
            for side, record in (("a", ra), ("b", rb)):
                self.set_state(
                    side,
                    record,
                    RecordState.EXCLUDED,
                    "No longer matches the rules of this connection; it is not updated any more.",
                    link,
                )
            if not undo_rules:
                return None
        values = {"a": self.projector.project("a", ra), "b": self.projector.project("b", rb)}
        base = self.projector.decode(link.decoded_base()) if link.decoded_base() else None
        if len(flows) == 2:
            winner = self.settings.effective_winner().value
            merged = merge(base, values["a"], values["b"], winner, self.projector.set_slots)
            new_base = merged
        elif flows:
            target = next(iter(flows))
            source = Side(target).other.value
            if self.share:  # a share job's copies are the source's: edits there are undone
                merged = values[source]
            else:
                merged = merge(base, values["a"], values["b"], source, self.projector.set_slots)
            new_base = values[source]
        else:
            merged, new_base = {}, None
        plan = PairPlan(link=link, new_base=new_base, rule_keys=matched, records={"a": ra, "b": rb})
        records = plan.records
        for target in SIDES:
            source = Side(target).other.value
            fields: dict[str, Any] = {}
            add: set[str] = set()
            remove: set[str] = set()
            if target in flows:
                fields, add, remove = self.projector.writes(
                    target, merged, values[target], records[target]
                )
                source_rules = rules_a if source == "a" else rules_b
                r_fields, r_add, r_remove = self._rule_actions(source_rules or [])
                fields.update(r_fields)
                add |= r_add
                remove |= r_remove
                if (
                    self.settings.sync_unsubscribes
                    and records[source].unsubscribed
                    and self.views[target].connector.app.capabilities.tags
                ):
                    add.add(UNSUBSCRIBES_TAG)
            undo_here = [r for r in undo_rules if r.side == source]
            if undo_here and self.direction.writes(Side(target)):
                u_fields, u_add, u_remove = self._rule_actions(undo_here, undo=True)
                fields.update(u_fields)
                add |= u_add
                remove |= u_remove
            current_tags = records[target].tags
            if self.share:  # its group and tag, in whatever letters the copy has them
                held = {tag.casefold() for tag in current_tags}
                add = {tag for tag in add if tag.casefold() not in held}
            add -= current_tags
            remove &= current_tags
            fields = {k: v for k, v in fields.items() if records[target].get(k) != v}
            if fields or add or remove:
                plan.updates[target] = (fields, frozenset(add), frozenset(remove))
        return plan

    def _plan_after_deletion(
        self, link: Link, ra: Record | None, rb: Record | None
    ) -> PairPlan | None:
        deleted = link.deleted_side or ""
        survivor_side = Side(deleted).other.value
        survivor = ra if survivor_side == "a" else rb
        back = ra if deleted == "a" else rb
        if self.share and back is not None and self._active_rules(deleted, back) is None:
            back = None  # still out of the shared group: not back
        if back is not None:
            # The contact is back where it was deleted (restored): pair again.
            link.deleted_side = None
            link.deleted_at = None
            self.touch(link)
            if survivor is None:
                return None
            plan = self._plan_linked(link)
            if plan is not None and link.trash_tagged:
                fields, add, remove = plan.updates.get(
                    survivor_side, ({}, frozenset(), frozenset())
                )
                if TRASH_TAG in survivor.tags:
                    plan.updates[survivor_side] = (fields, add, remove | {TRASH_TAG})
            link.trash_tagged = False
            return plan
        if survivor is not None:
            row = self.views[survivor_side].index.get(survivor.id)
            if (
                row is not None
                and row.state == RecordState.FAILING
                and link.trash_decision not in PENDING_DECISIONS
            ):
                self.clear_failure(survivor_side, survivor.id)  # a withdrawn, refused choice
            self.set_state(
                survivor_side, survivor, RecordState.EXCLUDED, self._deleted_reason(link), link
            )
        return None

    def _deleted_reason(self, link: Link) -> str:
        view = self.views[link.deleted_side or "a"]
        when = time.strftime("%Y-%m-%d", time.localtime(link.deleted_at or time.time()))
        if self.share and link.deleted_side == "a":
            group = self.share.group
            reason = f"No longer in '{group}' in {view.app_name} (deleted or taken out) on {when}."
            if link.trash_decision == TRASH_KEPT:
                return reason + " Kept here in Trash review."
            if link.trash_tagged:
                reason += (
                    f" Taken out of '{group}' here and tagged '{TRASH_TAG}': review it and "
                    "delete it if you agree."
                )
            return reason
        if link.trash_decision == TRASH_KEPT:
            return (
                f"Deleted in {view.app_name} on {when}; kept here in Trash review, so it is "
                "not created there again."
            )
        reason = f"Deleted in {view.app_name} on {when}; it is not created there again."
        if link.trash_tagged:
            reason += f" Tagged '{TRASH_TAG}' here: review it and delete it if you agree."
        return reason

    def _handle_deletions(self, plans: list[PairPlan]) -> None:
        for side in SIDES:
            view = self.views[side]
            other = self.views[Side(side).other.value]
            for rid in sorted(view.deleted):
                self.index_drops[side].add(rid)
                link = view.links_by_rid.get(rid)
                if link is None or link.deleted_side:
                    continue
                link.deleted_side = side
                link.deleted_at = time.time()
                self.touch(link)
                counterpart = link.id_on(other.side)
                name = view.index[rid].name if rid in view.index else rid
                self.activity.append(
                    Activity(
                        side,
                        rid,
                        name,
                        view.index[rid].email if rid in view.index else "",
                        "deleted",
                        "deleted",
                        f"Deleted in {view.app_name}.",
                    )
                )
                tag = (
                    self.settings.sync_deletions
                    and counterpart is not None
                    and counterpart not in other.deleted
                    and other.connector.app.capabilities.tags
                    and self.direction.writes(Side(other.side))
                    and self.direction.reads_from(Side(side))
                )
                if tag:
                    plans.append(self._trash_plan(link, other.side))
                else:
                    self.mark_deleted_counterpart(link)
        if self.settings.sync_deletions:  # tags that could not be set before, or newly wanted
            queued = {plan.link.id for plan in plans if plan.trash_for and plan.link}
            for link in self.links.values():
                if (
                    link.deleted_side
                    and not link.trash_tagged
                    and link.id not in queued
                    and link.trash_decision is None  # a decided (or kept) one is never tagged
                ):
                    other = Side(link.deleted_side).other
                    if (
                        self.direction.writes(other)
                        and link.id_on(other.value)
                        and self.views[other.value].connector.app.capabilities.tags
                        # Known to the index, or back this run (gone from both sides at once,
                        # then restored where it survives: it is not in the index yet).
                        and (
                            link.id_on(other.value) in self.views[other.value].index
                            or link.id_on(other.value) in self.views[other.value].fetched
                        )
                        and link.id_on(other.value) not in self.views[other.value].deleted
                    ):
                        plans.append(self._trash_plan(link, other.value))

    def _plan_decisions(self, plans: list[PairPlan]) -> None:
        """The person's Trash review choices, for the contacts still there.

        Keep removes 'PieSync Trash' and Delete deletes the contact where it remains (the only
        delete a run ever makes), whatever the direction: the person chose it. A choice whose
        contact is gone, or whose counterpart came back (paired again), is dropped.
        """
        for deleted_side, survivor in self.decisions:
            side = Side(deleted_side).other.value
            view = self.views[side]
            link = view.links_by_rid.get(survivor)
            if link is None or link.trash_decision not in PENDING_DECISIONS:
                continue
            decision = TrashDecision(link.trash_decision)
            if not link.deleted_side:  # restored meanwhile: saving the pair drops the choice
                link.trash_decision = None
                self.touch(link)
                continue
            if survivor in view.deleted:
                self._decision_on_gone(link, side, survivor, decision)
                continue
            record = view.fetched.get(survivor)
            if record is None:
                continue  # cannot be read now (Health says why): the choice waits
            plans.append(PairPlan(link=link, decision=decision, records={side: record}))

    def _decision_on_gone(self, link: Link, side: str, rid: str, decision: TrashDecision) -> None:
        """The contact left before the choice was carried out (deleted meanwhile, or by us in
        a run that stopped before it recorded it): nothing is left to keep or delete."""
        self.settled_decisions.append((link.id, decision.value, None))
        link.trash_decision = None
        if decision is TrashDecision.DELETE:
            view = self.views[side]
            row = view.index.get(rid)
            self.activity.append(
                Activity(
                    side,
                    rid,
                    row.name if row else rid,
                    row.email if row else "",
                    "deleted",
                    "already gone (Trash review)",
                    f"Already gone from {view.app_name}; nothing was left to delete.",
                )
            )
            self.forget_link(link)

    def trash_kept(self, plan: PairPlan, side: str, record: Record, wrote: bool) -> None:
        """A Keep carried out: the contact left 'PieSync Trash' and stays out of it."""
        link = plan.link
        assert link is not None
        self.settled_decisions.append((link.id, TrashDecision.KEEP.value, TRASH_KEPT))
        link.trash_decision = TRASH_KEPT
        link.trash_tagged = False
        self.touch(link)
        if wrote:
            self.summary.updated[side] += 1
        self.set_state(
            side,
            record,
            RecordState.EXCLUDED,
            self._deleted_reason(link),
            link,
            action="kept (Trash review)",
        )
        self.clear_failure(side, record.id)

    def trash_deleted(self, plan: PairPlan, side: str) -> None:
        """A Delete carried out: both contacts are gone, so the pair is forgotten."""
        assert plan.link is not None
        record = plan.records[side]
        view = self.views[side]
        self.activity.append(
            Activity(
                side,
                record.id,
                record.display_name() or view.name_of(record.id),
                record.first(view.email_field) if view.email_field else "",
                "deleted",
                f"deleted in {view.connector.app.name} (Trash review)",
                f"Deleted in {view.app_name}, as chosen in Trash review.",
            )
        )
        self.index_updates[side].pop(record.id, None)
        self.index_drops[side].add(record.id)
        for held in (view.index, view.fetched, view.notes):
            held.pop(record.id, None)
        self.handled[side].add(record.id)
        self.clear_failure(side, record.id)
        self.forget_link(plan.link)

    def forget_link(self, link: Link) -> None:
        self.forgotten_links.add(link.id)
        self.dirty_links.pop(link.id, None)
        self.links.pop(link.id, None)
        for side in SIDES:
            rid = link.id_on(side)
            if rid is not None and self.views[side].links_by_rid.get(rid) is link:
                del self.views[side].links_by_rid[rid]

    def mark_deleted_counterpart(self, link: Link) -> None:
        survivor_side = Side(link.deleted_side or "a").other.value
        rid = link.id_on(survivor_side)
        view = self.views[survivor_side]
        if rid is None or rid not in view.index or rid in view.deleted:
            return
        row = view.index[rid]
        self.index_updates[survivor_side][rid] = IndexRow(
            rid,
            RecordState.EXCLUDED,
            self._deleted_reason(link),
            row.name,
            row.email,
            row.match_key,
            link.id,
            row.note,
        )

    # -- index and activity ---------------------------------------------------------------------

    def set_state(
        self,
        side: str,
        record: Record,
        state: str,
        reason: str = "",
        link: Link | None = None,
        action: str = "",
    ) -> None:
        view = self.views[side]
        email = record.first(view.email_field) if view.email_field else ""
        previous = view.index.get(record.id)
        link_id = (
            link.id
            if link
            else (view.links_by_rid[record.id].id if record.id in view.links_by_rid else None)
        )
        row = IndexRow(
            record.id,
            state,
            reason,
            record.display_name(),
            email,
            self.key_of(view, record),
            link_id,
            view.notes.get(record.id, ""),
        )
        self.index_updates[side][record.id] = row
        self.handled[side].add(record.id)
        changed = previous is None or (previous.state, previous.reason) != (state, reason)
        if action or changed:
            self.activity.append(
                Activity(side, record.id, row.name, email, state, action or state, reason)
            )

    def _index_the_rest(self) -> None:
        """Index rows for what the plans did not touch: unreadable and unchanged-state records."""
        for side in SIDES:
            view = self.views[side]
            for rid, failure in view.unreadable.items():
                self.index_updates[side][rid] = IndexRow(
                    rid, RecordState.FAILING, failure.reason, failure.name or rid
                )
                self.failures.append((side, rid, failure.reason))
            for rid, record in view.fetched.items():
                if rid in self.handled[side]:
                    continue
                link = view.links_by_rid.get(rid)
                row = view.index.get(rid)
                if link and not link.deleted_side:
                    self.set_state(side, record, RecordState.IN_SYNC, "", link)
                elif row is not None:
                    self.set_state(side, record, row.state, row.reason, link)
            for rid, note in view.notes.items():
                row = self.index_updates[side].get(rid) or view.index.get(rid)
                if row is not None and row.note != note:
                    self.index_updates[side][rid] = replace(row, note=note)

    def release(self, plan: PairPlan) -> None:
        """Forget a carried-out create: its source's state is set, nothing reads it again."""
        if plan.source is not None and plan.source_side is not None:
            self.views[plan.source_side].fetched.pop(plan.source.id, None)
        plan.create_fields, plan.new_base, plan.source = {}, None, None

    def touch(self, link: Link) -> None:
        self.dirty_links[link.id] = link

    def add_failure(self, side: str, rid: str, reason: str) -> None:
        self.failures.append((side, rid, reason))

    def clear_failure(self, side: str, rid: str) -> None:
        self.cleared_failures.append((side, rid))

    def clear_journal(self, side: str, keys: list[str]) -> None:
        self.journal_done[side].extend(keys)

    def flush(self, at_least: int = 0) -> None:
        """Commit what the run has decided so far, in one transaction.

        With ``at_least``, only once that many index and activity rows are waiting.
        """
        if at_least and sum(map(len, self.index_updates.values())) + len(self.activity) < at_least:
            return
        with self.store.transaction():
            for side in SIDES:
                self.store.drop_index(self.cid, side, self.index_drops[side])
                self.store.save_index(self.cid, side, self._changed_rows(side))
                self.store.clear_journal(self.cid, side, self.journal_done[side])
                self.index_drops[side] = set()
                self.index_updates[side] = {}
                self.journal_done[side] = []
            self.store.clear_failures(self.cid, self.cleared_failures)
            self.store.record_failures(self.cid, self.failures)
            self.store.save_links(self.cid, self.dirty_links.values())
            self.store.settle_trash_decisions(self.cid, self.settled_decisions)
            self.store.forget_links(self.cid, self.forgotten_links)
            self.store.add_activity(self.cid, self.summary.run_id, self.activity)
        for link in self.dirty_links.values():
            link.unload()  # a run plans each link once: what is saved is not needed again
        self.activity, self.failures, self.cleared_failures = [], [], []
        self.dirty_links = {}
        self.settled_decisions, self.forgotten_links = [], set()

    def _changed_rows(self, side: str) -> list[IndexRow]:
        """The index rows to save: all but those the store holds as they are.

        Most rows a run with few changes sets are rows it read, unchanged (a contact still in
        sync): writing them again would only move ``updated_at`` and rewrite their pages.
        """
        index, rewritten = self.views[side].index, self.rewritten[side]
        rewritten.update(rid for rid in self.index_drops[side] if rid in index)
        rows = []
        for rid, row in self.index_updates[side].items():
            before = index.get(rid)
            if before is None:
                rows.append(row)
            elif rid in rewritten or row != before:
                rows.append(row)
                rewritten.add(rid)
        return rows

    def counts(self) -> dict[str, int]:
        # Grouped in the order of the (connection_id, side, state) index, SQLite counts as it
        # reads it; grouped by state alone, it sorted 200,000 entries first (twice as slow).
        rows = self.store.db.execute(
            "SELECT state, COUNT(*) FROM records WHERE connection_id = ? GROUP BY side, state",
            (self.cid,),
        )
        counts: dict[str, int] = {}
        for state, count in rows:
            counts[state] = counts.get(state, 0) + count
        return counts
