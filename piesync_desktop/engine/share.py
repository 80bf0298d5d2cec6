"""Share jobs: one account's contact group pushed, one way, to one or many other accounts.

PieSync's "contact sync" kept a team's or a family's list in everyone's address book. Here a
job is a source (an app location and one of its groups) and destinations; each destination is a
connection of its own (marked with its :class:`~piesync_desktop.engine.connection.ShareRole`), so
runs, Health, the timeline, the scheduler and the tray treat it like any connection, and one
destination that fails never stops another. The run (``engine/sync.py``) knows the role: it
syncs only the group, overwrites edits made to the copies, tags every copy it makes with the
group and the job's reference tag ``gSync<id>``, never touches a destination's own contacts, and
tags 'PieSync Trash' a copy whose contact left the group.

Removing a destination is the one deletion made without a Trash review, because the person asked
for exactly that after seeing the list: the job's copies are deleted, the destination's own
contacts in the group leave it (and stay in the account), the group objects go, and the job's own
timeline (:class:`~piesync_desktop.engine.store.ShareEvent`) records all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from piesync_desktop.engine.connection import (
    SHARE_INTERVAL_MINUTES,
    ConnectionSettings,
    Direction,
    ShareJob,
    Side,
)
from piesync_desktop.engine.connection_setup import (
    SideChoice,
    check_distinct,
    name_problem,
    open_side,
    same_address_book,
    save_new_connection,
)
from piesync_desktop.engine.connectors.base import (
    Connector,
    ConnectorFactory,
    TagRemover,
    batched,
    open_connector,
)
from piesync_desktop.engine.errors import ConfigError, ConnectorError, SyncError
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import default_mappings
from piesync_desktop.engine.model import ReadFailure, Record, RecordUpdate, WriteResult
from piesync_desktop.engine.store import RunSummary, ShareEvent, Store
from piesync_desktop.engine.sync import RunOptions, run_sync

ADDED = "destination added"
REMOVED = "destination removed"
DELETED = "deleted (destination removed)"
LEFT_GROUP = "left the group (destination removed)"
GROUP_REMOVED = "group removed"
INCOMPLETE = "removal not finished"


def create_job(
    store: Store,
    name: str,
    source_spec: str,
    group: str,
    interval_minutes: int = SHARE_INTERVAL_MINUTES,
) -> ShareJob:
    """Check and save a new job (no destination yet): the source must open and have groups."""
    taken = store.connection_names() + [job.name for job in store.share_jobs()]
    problem = name_problem(name, taken)
    if problem:
        raise ConfigError(problem.replace("connection", "share job"))
    if not group.strip():
        raise ConfigError("Name the group to share (--group): a label, category or group.")
    if interval_minutes < 1:
        raise ConfigError("A share job runs at most once a minute.")
    source = open_side(source_spec)
    if not source.app.capabilities.tags:
        raise ConfigError(f"{source.app.name} has no groups, so it cannot be a share source.")
    choice = SideChoice.of(source_spec, source)
    account = store.ensure_account(
        choice.app.key, choice.account_key, choice.account_label or choice.location
    )
    job = ShareJob(name.strip(), source_spec, group.strip(), interval_minutes)
    store.add_share_job(job, account)
    return job


def add_destination(store: Store, job: ShareJob, spec: str) -> ConnectionSettings:
    """Add a destination account to ``job``: a one-way connection from the source to it."""
    source = open_side(job.source_spec)
    destination = open_side(spec)
    source_choice = SideChoice.of(job.source_spec, source)
    choice = SideChoice.of(spec, destination)
    label = _label(choice)
    try:
        check_distinct(source_choice, choice)
    except ConfigError:
        raise ConfigError(f"{label} is the job's source; a destination is another one.") from None
    if _overlap(source_choice, choice):  # the copies would be in the group there: shared again
        raise ConfigError(
            f"{label} is in the account of the job's source; a destination is another account."
        )
    if not destination.app.capabilities.tags:
        raise ConfigError(
            f"{destination.app.name} has no groups, so the shared group cannot be made there."
        )
    for existing in store.job_destinations(job.id or 0):
        there = SideChoice.of(existing.b_spec, open_connector(existing.b_spec))
        if same_address_book(there, choice):
            raise ConfigError(f"{label} is already a destination of '{job.name}'.")
        if _overlap(there, choice):
            # Two sets of copies in one account would each take the other's for its own.
            raise ConfigError(
                f"{_label(there)} is already a destination of '{job.name}' in that account."
            )
    role = job.role()
    settings = ConnectionSettings(
        name=_free_name(f"{job.name} → {label}", store.connection_names()),
        a_spec=job.source_spec,
        b_spec=spec,
        direction=Direction.A_TO_B,
        winner=Side.A,
        avoid_duplicates=False,  # contacts without an email are shared too
        sync_deletions=True,
        interval_minutes=job.interval_minutes,
        mappings=default_mappings(source.schema(), destination.schema(), False, False),
        rules=role.rules(),
        share=role,
    )
    save_new_connection(store, settings, source_choice, choice)
    store.add_share_events(
        job.id or 0,
        [ShareEvent(label, ADDED, f"Copies of '{job.group}' are made there.")],
    )
    return settings


def find_destination(store: Store, job: ShareJob, spec: str) -> ConnectionSettings:
    """The destination of ``job`` that ``spec`` names (as written, or the same address book)."""
    destinations = store.job_destinations(job.id or 0)
    for settings in destinations:
        if settings.b_spec == spec:
            return settings
    wanted = SideChoice.of(spec, open_connector(spec))
    for settings in destinations:
        there = SideChoice.of(settings.b_spec, open_connector(settings.b_spec))
        if same_address_book(there, wanted):
            return settings
    listed = ", ".join(s.b_spec for s in destinations) or "none"
    raise ConfigError(f"{spec} is not a destination of '{job.name}' (destinations: {listed}).")


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """One destination's run: its summary, or the error that stopped it."""

    destination: ConnectionSettings
    summary: RunSummary | None = None
    error: SyncError | None = None


def run_destinations(
    store: Store,
    destinations: Iterable[ConnectionSettings],
    locks: AccountLocks,
    options: RunOptions | None = None,
    factory: ConnectorFactory = open_connector,
) -> list[RunOutcome]:
    """Run each destination once; one that fails is reported and the others go on."""
    outcomes = []
    for settings in destinations:
        connectors = {"a": factory(settings.a_spec), "b": factory(settings.b_spec)}
        try:
            summary = run_sync(store, settings, connectors, locks, options)
        except SyncError as exc:
            outcomes.append(RunOutcome(settings, error=exc))
            continue
        outcomes.append(RunOutcome(settings, summary=summary))
    return outcomes


# -- removing a destination -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    """A contact named in a removal's confirmation."""

    rid: str
    name: str
    tags: frozenset[str] = frozenset()  # the group as this contact has it, in its own letters


@dataclass(slots=True)
class RemovalPlan:
    """What removing one destination does there, for the person to confirm first."""

    job: ShareJob
    destination: ConnectionSettings
    label: str  # how the destination is named (app and account)
    copies: list[Listed] = field(default_factory=list)  # deleted
    kept: list[Listed] = field(default_factory=list)  # the destination's own: leave the group
    groups: tuple[str, ...] = ()  # the group and the reference tag, removed where they are objects
    group_objects: bool = False  # the app keeps groups as objects of their own (TagRemover)

    def groups_sentence(self) -> str:
        """What becomes of the group and the reference tag there."""
        group, tag = self.groups
        if self.group_objects:
            return f"The group '{group}' and the tag '{tag}' are removed there."
        return f"No contact there keeps the group '{group}' or the tag '{tag}'."

    def describe(self) -> list[str]:
        """The confirmation, line by line."""
        group = self.job.group
        lines = [f"Remove {self.label} from share job '{self.job.name}'?"]
        if self.copies:
            lines.append(f"These {len(self.copies)} contacts the job made there are deleted:")
            lines += [f"  - {item.name or item.rid}" for item in self.copies]
        else:
            lines.append("The job made no contacts there that are still there.")
        if self.kept:
            lines.append(
                f"These {len(self.kept)} contacts were put in '{group}' there by its owner: "
                "they leave the group and stay in the account:"
            )
            lines += [f"  - {item.name or item.rid}" for item in self.kept]
        lines.append(self.groups_sentence())
        return lines


@dataclass(slots=True)
class RemovalResult:
    """What a removal did; ``problems`` left the destination in the job (paused) to retry."""

    deleted: list[Listed] = field(default_factory=list)
    kept: list[Listed] = field(default_factory=list)
    groups_removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def plan_removal(
    store: Store, job: ShareJob, destination: ConnectionSettings, connector: Connector
) -> RemovalPlan:
    """Read the destination as it is now and list what a removal would do there."""
    assert destination.share is not None and destination.id is not None
    connector.open()
    records = _listing(connector)
    linked = {link.b_id for link in store.links(destination.id).values() if link.b_id}
    role = destination.share
    plan = RemovalPlan(
        job,
        destination,
        _label(SideChoice.of(destination.b_spec, connector)),
        groups=(role.group, role.reference_tag),
        group_objects=isinstance(connector, TagRemover),
    )
    for record in sorted(records, key=lambda r: (r.display_name().casefold(), r.id)):
        listed = Listed(record.id, record.display_name())
        if record.id in linked or _has(record, role.reference_tag):
            plan.copies.append(listed)
        elif _has(record, role.group):
            spellings = frozenset(t for t in record.tags if t.casefold() == role.group.casefold())
            plan.kept.append(Listed(record.id, record.display_name(), spellings))
    return plan


def carry_out_removal(
    store: Store,
    plan: RemovalPlan,
    connector: Connector,
    locks: AccountLocks,
    on_wait: Callable[[str], None] | None = None,
) -> RemovalResult:
    """Remove a confirmed destination: delete the job's copies, take the destination's own
    contacts out of the group, remove the group objects, then forget the connection.

    The connection is paused first, so no run makes copies while they go. Whatever the app
    refuses is reported; the destination then stays in the job, paused, and removing it again
    finishes the work (nothing done is undone).
    """
    settings = plan.destination
    assert settings.id is not None and settings.share is not None
    store.set_paused(settings.name, True)
    result = RemovalResult()
    job_id = plan.job.id or 0

    def record(action: str, detail: str, items: Sequence[Listed]) -> None:
        # Written batch by batch: what was deleted stays recorded if the program stops.
        events = [ShareEvent(plan.label, action, detail, i.rid, i.name) for i in items]
        store.add_share_events(job_id, events)

    with locks.hold([connector.account_key], settings.name, on_wait):
        try:
            fresh = plan_removal(store, plan.job, settings, connector)
        except SyncError:
            store.set_paused(settings.name, settings.paused)  # nothing was done
            raise
        group = settings.share.group
        # What is there now: copies made since the confirmation are the job's all the same.
        result.problems += _in_batches(
            connector,
            fresh.copies,
            lambda chunk: connector.delete([item.rid for item in chunk]),
            "could not be deleted",
            "Stopped deleting",
            result.deleted,
            partial(record, DELETED, "Deleted with the destination, as confirmed."),
            salvage=lambda chunk: _gone(connector, chunk),
        )
        result.problems += _in_batches(
            connector,
            fresh.kept,
            lambda chunk: connector.update(
                [RecordUpdate(i.rid, remove_tags=i.tags or frozenset({group})) for i in chunk]
            ),
            f"could not leave '{group}'",
            f"Stopped taking contacts out of '{group}'",
            result.kept,
            partial(record, LEFT_GROUP, "Kept in the account."),
        )
        if isinstance(connector, TagRemover):
            for tag in fresh.groups:
                try:
                    if connector.remove_tag(tag):
                        result.groups_removed.append(tag)
                        store.add_share_events(job_id, [ShareEvent(plan.label, GROUP_REMOVED, tag)])
                except ConnectorError as exc:
                    result.problems.append(f"The group '{tag}' could not be removed: {exc.message}")
        # Still under the lock: a run waiting for it finds the destination gone (or paused).
        if result.complete:
            done = ShareEvent(plan.label, REMOVED, _removed_detail(result))
            store.add_share_events(job_id, [done])
            store.remove_connection(settings.name)
        else:
            problems = " ".join(result.problems)
            store.add_share_events(job_id, [ShareEvent(plan.label, INCOMPLETE, problems)])
    return result


def _removed_detail(result: RemovalResult) -> str:
    return (
        f"{len(result.deleted)} copies deleted; {len(result.kept)} of the account's own "
        "contacts left the group and stayed."
    )


def _listing(connector: Connector) -> list[Record]:
    """Every contact of the location now (a full listing; unreadable ones cannot be judged)."""
    changes = connector.changes(None)
    if changes.failures:
        names = ", ".join(f.name or f.id for f in changes.failures[:5])
        raise ConfigError(
            f"{len(changes.failures)} contacts of {connector.app.name} cannot be read now "
            f"({names}), so what the job made there cannot be told apart; try again later."
        )
    return list(changes.records)


def _in_batches(
    connector: Connector,
    items: Sequence[Listed],
    send: Callable[[Sequence[Listed]], list[WriteResult]],
    refused: str,
    stopped: str,
    done: list[Listed],
    record: Callable[[Sequence[Listed]], None],
    salvage: Callable[[Sequence[Listed]], list[Listed]] | None = None,
) -> list[str]:
    """Send ``items`` in the app's batches, recording each batch's successes as it goes; the
    problems, in words. An app that stops answering stops it (``salvage`` then says which of
    that batch went all the same)."""
    problems = []
    for chunk in batched(list(items), connector.app.capabilities.batch_size):
        try:
            results = {r.key: r for r in send(chunk)}
        except SyncError as exc:
            problems.append(f"{stopped}: {exc.message}")
            went = salvage(chunk) if salvage else []
            record(went)
            done += went
            break
        succeeded = []
        for item in chunk:
            answer = results.get(item.rid)
            if answer is not None and not answer.error and not answer.conflict:
                succeeded.append(item)
                continue
            # No error but not done: a conflict (the contact changed meanwhile).
            error = "no answer" if answer is None else answer.error or "changed meanwhile"
            problems.append(f"'{item.name or item.rid}' {refused}: {error}.")
        record(succeeded)
        done += succeeded
    return problems


def _gone(connector: Connector, items: Sequence[Listed]) -> list[Listed]:
    """Those of ``items`` the app no longer has (none known while it cannot be asked)."""
    try:
        answers = connector.get([item.rid for item in items])
    except SyncError:
        return []
    gone = {a.id for a in answers if isinstance(a, ReadFailure) and a.gone}
    return [item for item in items if item.rid in gone]


def _overlap(a: SideChoice, b: SideChoice) -> bool:
    """Whether two places of one account hold the same contacts (two Google labels)."""
    return a.account_key == b.account_key and a.app.capabilities.shared_locations


def _label(choice: SideChoice) -> str:
    """How a destination is named: its app and account (or its folder or address book)."""
    if choice.account_label and choice.account_label != choice.location:
        return f"{choice.app.name} '{choice.account_label}'"
    return choice.label


def _has(record: Record, tag: str) -> bool:
    wanted = tag.casefold()
    return any(t.casefold() == wanted for t in record.tags)


def _free_name(base: str, taken: Iterable[str]) -> str:
    used = set(taken)
    name, number = base, 2
    while name in used:
        name, number = f"{base} ({number})", number + 1
    return name
