"""Applies a run's plans through the connectors, in batches, and records what happened.

Every write is checked against the target's schema first, so what an app would refuse becomes a
failure with a reason a person understands. Creates are journalled before they are sent. After
each batch the links, the record index, the activity and the failures are committed together.
A rejected record fails alone; the run goes on. The person's Trash review choices are carried out
last: Keep as an update that removes 'PieSync Trash', Delete as the only delete the engine makes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from piesync_desktop.engine.connectors.base import batched
from piesync_desktop.engine.model import (
    ENUMERATED_TYPES,
    TRASH_TAG,
    AppSchema,
    FieldSpec,
    FieldType,
    NewRecord,
    Record,
    RecordUpdate,
    Value,
    WriteResult,
    is_empty,
)
from piesync_desktop.engine.store import (
    TAGGED_TRASH,
    UPDATED,
    Activity,
    Link,
    RecordState,
    TrashDecision,
)

if TYPE_CHECKING:
    from piesync_desktop.engine.rules import Rule
    from piesync_desktop.engine.sync import SyncRun

Update = tuple[dict[str, Value], frozenset[str], frozenset[str]]
UPDATE_ROWS_PER_COMMIT = 10_000


@dataclass(slots=True)
class PairPlan:
    """What one pair (or one new contact, or one deletion) needs written."""

    link: Link | None
    new_base: dict[str, Any] | None = None  # slot values after the writes; None keeps the base
    rule_keys: list[str] = field(default_factory=list)
    records: dict[str, Record] = field(default_factory=dict)
    updates: dict[str, Update] = field(default_factory=dict)  # per target side
    source_side: str | None = None  # a create: the side the contact comes from
    source: Record | None = None
    create_key: str = ""
    rules: list[Rule] = field(default_factory=list)  # a create: the rules its source matched
    reread: bool = False  # a create whose source is a stub, read again when it is sent
    create_fields: dict[str, Value] = field(default_factory=dict)
    create_tags: frozenset[str] = frozenset()
    trash_for: str | None = None  # a deletion: the side whose counterpart gets 'PieSync Trash'
    trash_untag: frozenset[str] = frozenset()  # tags it loses then (a share job's group)
    decision: TrashDecision | None = None  # Trash review: ``records`` holds the one contact
    failed: bool = False


def schema_problem(
    checked: Sequence[FieldSpec],
    app: str,
    fields: dict[str, Value],
    changing: Collection[str] | None = None,
) -> str | None:
    """Why ``fields`` (the record as it would be after the write) cannot be written, if so.

    ``checked`` are the target's fields a write can break (see :func:`checked_fields`);
    ``changing`` are the keys an update writes (None: a create, which writes them all). An update
    is only refused for what it changes: a contact the app already holds without a required
    field, or with an option it no longer offers, can still take other changes.
    """
    for spec in checked:
        if changing is not None and spec.key not in changing:
            continue
        value = fields.get(spec.key, spec.empty())
        if spec.required and is_empty(value):
            return f"Missing required field {spec.label} in {app}."
        enumerated = spec.type in ENUMERATED_TYPES and spec.options
        if not (enumerated and isinstance(value, str) and value):
            continue
        # A checkbox field holds several options, separated by semicolons (HubSpot's way).
        chosen = value.split(";") if spec.type is FieldType.CHECKBOX else [value]
        wrong = [part for part in chosen if part not in spec.options]
        if wrong:
            options = ", ".join(spec.options)
            return (
                f"'{wrong[0]}' is not an option of field {spec.label} in {app} "
                f"(options: {options})."
            )
    return None


def checked_fields(schema: AppSchema) -> tuple[FieldSpec, ...]:
    """The fields a write can break: required ones and those with fixed options."""
    return tuple(
        spec
        for spec in schema.fields.values()
        if spec.required or (spec.type in ENUMERATED_TYPES and spec.options)
    )


class Executor:
    """Carries out the plans of one run."""

    def __init__(self, run: SyncRun, plans: list[PairPlan]) -> None:
        self.run = run
        self.plans = plans
        self.checked = {side: checked_fields(view.schema) for side, view in run.views.items()}

    def apply(self) -> None:
        """Carry out the plans; the list is consumed, so what is done can be forgotten."""
        creates: dict[str, deque[PairPlan]] = {"a": deque(), "b": deque()}
        updates: dict[str, list[tuple[PairPlan, RecordUpdate]]] = {"a": [], "b": []}
        deletes: dict[str, list[PairPlan]] = {"a": [], "b": []}
        pairs: list[PairPlan] = []
        for plan in self.plans:
            if plan.source is not None and plan.source_side is not None:
                creates["b" if plan.source_side == "a" else "a"].append(plan)
            elif plan.trash_for is not None:
                assert plan.link is not None
                rid = plan.link.id_on(plan.trash_for)
                if rid:
                    update = RecordUpdate(
                        rid, add_tags=frozenset({TRASH_TAG}), remove_tags=plan.trash_untag
                    )
                    updates[plan.trash_for].append((plan, update))
            elif plan.decision is not None:
                self._queue_decision(plan, updates, deletes)
            else:
                self._queue_updates(plan, updates)
                pairs.append(plan)
        self.plans.clear()
        for side in ("a", "b"):
            self._create(side, creates[side])
        for side in ("a", "b"):
            self._update(side, updates[side])
        for side in ("a", "b"):
            self._delete(side, deletes[side])
        for plan in pairs:
            if plan.link is not None:
                self._settle(plan)
        self.run.flush()

    # -- checks -----------------------------------------------------------------------------

    def _reread_sources(self, batch: Sequence[PairPlan]) -> None:
        """Read the whole records of sources held as stubs (see ``SideView.stub``).

        One that is gone or unreadable now is left for the next run, which sees why.
        """
        stubs = [plan for plan in batch if plan.reread and plan.source is not None]
        if not stubs:
            return
        side = stubs[0].source_side or "a"
        ids = [plan.source.id for plan in stubs if plan.source is not None]
        fresh = {r.id: r for r in self.run.views[side].connector.get(ids) if isinstance(r, Record)}
        for plan in stubs:
            plan.source = fresh.get(plan.source.id if plan.source else "")
            plan.reread = False

    def _ready_to_create(self, plan: PairPlan, target: str) -> bool:
        """Work out what to write for a planned create, and check the target accepts it."""
        self.run.fill_create(plan)
        view = self.run.views[target]
        problem = schema_problem(self.checked[target], view.connector.app.name, plan.create_fields)
        if problem:
            self._fail(plan.source_side or "a", plan.source, problem, plan.link)
            return False
        return True

    def _queue_updates(
        self, plan: PairPlan, queue: dict[str, list[tuple[PairPlan, RecordUpdate]]]
    ) -> None:
        for target, (fields, add, remove) in plan.updates.items():
            record = plan.records[target]
            view = self.run.views[target]
            after = {**record.fields, **fields}
            problem = schema_problem(
                self.checked[target], view.connector.app.name, after, changing=fields.keys()
            )
            if problem:
                source = "b" if target == "a" else "a"
                self._fail(source, plan.records[source], problem, plan.link)
                plan.failed = True
                continue
            queue[target].append(
                (plan, RecordUpdate(record.id, fields, add, remove, record.version))
            )

    def _queue_decision(
        self,
        plan: PairPlan,
        updates: dict[str, list[tuple[PairPlan, RecordUpdate]]],
        deletes: dict[str, list[PairPlan]],
    ) -> None:
        [(side, record)] = plan.records.items()
        if plan.decision is TrashDecision.DELETE:
            deletes[side].append(plan)
        elif TRASH_TAG in record.tags:
            untag = frozenset({TRASH_TAG})
            updates[side].append(
                (plan, RecordUpdate(record.id, remove_tags=untag, version=record.version))
            )
        else:  # never tagged (Sync Deletions off, or the tag could not be set): nothing to write
            self.run.trash_kept(plan, side, record, wrote=False)

    # -- writes -------------------------------------------------------------------------------

    def _create(self, target: str, plans: deque[PairPlan]) -> None:
        """Send the creates batch by batch, letting go of each batch once it is recorded."""
        view = self.run.views[target]
        size = view.connector.app.capabilities.batch_size
        total = len(plans)
        while plans:
            batch = [plans.popleft() for _ in range(min(size, len(plans)))]
            self.run.progress(f"Creating contacts in {view.app_name}", total - len(plans), total)
            self._reread_sources(batch)
            chunk = [p for p in batch if p.source is not None and self._ready_to_create(p, target)]
            self.run.store.add_journal(
                self.run.cid, target, [(p.create_key, p.source.id) for p in chunk if p.source]
            )
            results = view.connector.create(
                [NewRecord(p.create_key, p.create_fields, p.create_tags) for p in chunk]
            )
            by_key = {result.key: result for result in results}
            for plan in chunk:
                self._created(plan, target, by_key.get(plan.create_key))
                self.run.release(plan)
            self.run.clear_journal(target, [p.create_key for p in chunk])
            self.run.flush()

    def _created(self, plan: PairPlan, target: str, result: WriteResult | None) -> None:
        source_side = plan.source_side or "a"
        assert plan.source is not None
        view = self.run.views[target]
        if result is None or result.error or result.id is None:
            reason = result.error if result and result.error else "no answer for this contact"
            self._fail(
                source_side,
                plan.source,
                f"{view.connector.app.name} refused to create it: {reason}",
            )
            return
        ids = {source_side: plan.source.id, target: result.id}
        link = self.run.new_link(ids.get("a"), ids.get("b"))
        link.base = self.run.projector.encode(plan.new_base or {})
        link.rule_keys = plan.rule_keys
        self.run.summary.created[target] += 1
        self.run.set_state(
            source_side,
            plan.source,
            RecordState.IN_SYNC,
            "",
            link,
            action=f"created in {target.upper()}",
        )
        created = result.record or Record(result.id, dict(plan.create_fields), plan.create_tags)
        self.run.set_state(target, created, RecordState.IN_SYNC, "", link, action="created")
        self.run.clear_failure(source_side, plan.source.id)

    def _update(self, target: str, queue: list[tuple[PairPlan, RecordUpdate]]) -> None:
        view = self.run.views[target]
        size = view.connector.app.capabilities.batch_size
        for done, chunk in enumerate(batched(queue, size)):
            self.run.progress(f"Updating contacts in {view.app_name}", done * size, len(queue))
            results = {r.key: r for r in view.connector.update([u for _, u in chunk])}
            for plan, update in chunk:
                result = results.get(update.id)
                if plan.trash_for is not None:
                    self._trashed(plan, target, result)
                elif plan.decision is not None:
                    self._kept(plan, target, result)
                elif result is None or result.error or result.conflict:
                    self._update_failed(plan, target, result)
                else:
                    self.run.summary.updated[target] += 1
                    record = plan.records[target]
                    self.run.set_state(
                        target,
                        result.record or record,
                        RecordState.IN_SYNC,
                        "",
                        plan.link,
                        action=UPDATED,
                    )
            # An update is safe to redo, so its bookkeeping need not be committed batch by batch.
            self.run.flush(at_least=UPDATE_ROWS_PER_COMMIT)

    def _update_failed(self, plan: PairPlan, target: str, result: WriteResult | None) -> None:
        plan.failed = True
        view = self.run.views[target]
        source = "b" if target == "a" else "a"
        if result is not None and result.conflict:
            reason = (
                f"Changed in {view.app_name} while syncing; it is synced again on the next run."
            )
        else:
            error = result.error if result and result.error else "no answer for this contact"
            reason = f"{view.connector.app.name} refused the update: {error}"
        self._fail(source, plan.records[source], reason, plan.link)

    def _trashed(self, plan: PairPlan, target: str, result: WriteResult | None) -> None:
        link = plan.link
        assert link is not None
        tagged = result is not None and not result.error and not result.conflict
        if tagged:
            link.trash_tagged = True
            self.run.summary.updated[target] += 1
        self.run.touch(link)
        self.run.mark_deleted_counterpart(link)
        if tagged:  # counted as an update, so the timeline shows it (Health lists it there)
            self._timeline_tagged(target, link)

    def _timeline_tagged(self, target: str, link: Link) -> None:
        """The timeline row of a contact just tagged 'PieSync Trash', with the state and reason
        the run gave it (a survivor the index does not hold yet has its name only)."""
        rid = link.id_on(target)
        if rid is None:
            return
        row = self.run.index_updates[target].get(rid)
        if row is None:
            name = self.run.views[target].name_of(rid)
            entry = Activity(target, rid, name, "", RecordState.EXCLUDED, TAGGED_TRASH)
        else:
            entry = Activity(target, rid, row.name, row.email, row.state, TAGGED_TRASH, row.reason)
        self.run.activity.append(entry)

    def _kept(self, plan: PairPlan, target: str, result: WriteResult | None) -> None:
        record = plan.records[target]
        if result is not None and not result.error and not result.conflict:
            self.run.trash_kept(plan, target, result.record or record, wrote=True)
            return
        view = self.run.views[target]
        if result is not None and result.conflict:
            reason = (
                f"Changed in {view.app_name} while syncing; Keep (Trash review) is carried out "
                "on the next run."
            )
        else:
            error = result.error if result and result.error else "no answer for this contact"
            reason = f"{view.connector.app.name} refused to remove '{TRASH_TAG}': {error}"
        self._fail(target, record, reason, plan.link)

    def _delete(self, side: str, plans: list[PairPlan]) -> None:
        """Delete, as the person chose in Trash review; what the app refuses stays chosen."""
        view = self.run.views[side]
        size = view.connector.app.capabilities.batch_size
        for done, chunk in enumerate(batched(plans, size)):
            self.run.progress(f"Deleting contacts in {view.app_name}", done * size, len(plans))
            results = {r.key: r for r in view.connector.delete([p.records[side].id for p in chunk])}
            for plan in chunk:
                record = plan.records[side]
                result = results.get(record.id)
                if result is not None and not result.error:
                    self.run.trash_deleted(plan, side)
                    continue
                error = result.error if result and result.error else "no answer for this contact"
                self._fail(
                    side,
                    record,
                    f"{view.connector.app.name} refused to delete it: {error}",
                    plan.link,
                )
            self.run.flush()  # a delete cannot be undone: record it at once

    def _settle(self, plan: PairPlan) -> None:
        """After a pair's writes: new base if all succeeded, states, failures cleared."""
        link = plan.link
        assert link is not None
        if plan.failed:
            return
        if plan.new_base is not None:
            link.base = self.run.projector.encode(plan.new_base)
        link.rule_keys = plan.rule_keys
        self.run.touch(link)
        for side, record in plan.records.items():
            if record.id not in self.run.handled[side]:
                self.run.set_state(side, record, RecordState.IN_SYNC, "", link)
            self.run.clear_failure(side, record.id)

    def _fail(
        self, side: str, record: Record | None, reason: str, link: Link | None = None
    ) -> None:
        if record is None:
            return
        self.run.summary.failed += 1
        self.run.set_state(side, record, RecordState.FAILING, reason, link, action="failed")
        self.run.add_failure(side, record.id, reason)
