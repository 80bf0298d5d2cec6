"""Reading the two chosen address books for the wizard: their fields, then their contacts.

The mapping page needs each side's schema, the rules page the contacts (to count how many each
rule matches). Both come from the connector on the side's own worker thread: the schema first,
the contacts as they are read, so a folder of 100,000 files never freezes the wizard. The
contacts are kept slim (fields and tags) and only ever looked at on that thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from piesync_desktop.engine.connection import Side
from piesync_desktop.engine.connection_setup import open_side
from piesync_desktop.engine.model import AppSchema, Record
from piesync_desktop.engine.rules import Rule
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.background import Background, JobContext

PROGRESS_EVERY = 500


@dataclass(frozen=True, slots=True)
class SchemaRead:
    """The first answer of a side read: the fields the app offers."""

    schema: AppSchema


@dataclass(frozen=True, slots=True)
class ReadProgress:
    """How many contacts of a side have been read so far."""

    done: int
    total: int


@dataclass(frozen=True, slots=True)
class SideSnapshot:
    """What the wizard knows of one side once it is read."""

    spec: str
    schema: AppSchema
    records: tuple[Record, ...]
    tags: tuple[str, ...]  # every tag a contact carries, for the rule editor's suggestions
    unreadable: int = 0


@dataclass(frozen=True, slots=True)
class RuleCounts:
    """How many contacts of a side each rule matches, of how many."""

    matches: tuple[int, ...]
    total: int


def read_side(spec: str, ctx: JobContext) -> SideSnapshot:
    """Open the side, report its schema, then read every contact (slim)."""
    connector = open_side(spec)
    schema = connector.schema()
    ctx.report(SchemaRead(schema))
    changes = connector.changes(None)
    records: list[Record] = []
    tags: set[str] = set()
    for number, record in enumerate(changes.records, 1):
        records.append(Record(record.id, record.fields, record.tags))
        tags |= record.tags
        if number % PROGRESS_EVERY == 0:
            ctx.check()
            ctx.report(ReadProgress(number, changes.total))
    return SideSnapshot(
        spec, schema, tuple(records), tuple(sorted(tags, key=str.casefold)), len(changes.failures)
    )


def count_rule_matches(
    records: Sequence[Record], rules: Sequence[Rule], ctx: JobContext
) -> RuleCounts:
    """How many of ``records`` each of ``rules`` matches."""
    matches = [0] * len(rules)
    for number, record in enumerate(records, 1):
        for index, rule in enumerate(rules):
            if rule.matches(record):
                matches[index] += 1
        if number % 2000 == 0:
            ctx.check()
    return RuleCounts(tuple(matches), len(records))


class SideReads(QObject):
    """The reads of both sides, each on its own worker thread, and what they found."""

    schema_ready = Signal(object)  # Side
    snapshot_ready = Signal(object)  # Side
    progressed = Signal(object, object)  # Side, ReadProgress
    failed = Signal(object, object)  # Side, TaskError

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runners = {side: Background(f"wizard-side-{side.value}", self) for side in Side}
        self._specs: dict[Side, str] = {}
        self._schemas: dict[Side, AppSchema] = {}
        self._snapshots: dict[Side, SideSnapshot] = {}
        self._errors: dict[Side, TaskError] = {}

    def read(self, side: Side, spec: str) -> None:
        """Read ``spec`` for ``side`` unless it is the side already read (or being read)."""
        if self._specs.get(side) == spec and side not in self._errors:
            return
        self._specs[side] = spec
        self._schemas.pop(side, None)
        self._snapshots.pop(side, None)
        self._errors.pop(side, None)
        self.runners[side].submit(
            "read",
            lambda ctx: read_side(spec, ctx),
            lambda snapshot: self._on_snapshot(side, snapshot),
            lambda problem: self._on_failed(side, problem),
            lambda value: self._on_progress(side, value),
        )

    def spec(self, side: Side) -> str | None:
        return self._specs.get(side)

    def schema(self, side: Side) -> AppSchema | None:
        return self._schemas.get(side)

    def snapshot(self, side: Side) -> SideSnapshot | None:
        return self._snapshots.get(side)

    def error(self, side: Side) -> TaskError | None:
        return self._errors.get(side)

    def count(
        self,
        side: Side,
        rules: Sequence[Rule],
        on_done: Callable[[RuleCounts], None],
    ) -> bool:
        """Count the rules' matches on the side's contacts; False while they are not read yet."""
        snapshot = self._snapshots.get(side)
        if snapshot is None:
            return False
        records, chosen = snapshot.records, tuple(rules)
        self.runners[side].submit(
            "count",
            lambda ctx: count_rule_matches(records, chosen, ctx),
            on_done,
        )
        return True

    def _on_progress(self, side: Side, value: object) -> None:
        if isinstance(value, SchemaRead):
            self._schemas[side] = value.schema
            self.schema_ready.emit(side)
        elif isinstance(value, ReadProgress):
            self.progressed.emit(side, value)

    def _on_snapshot(self, side: Side, snapshot: SideSnapshot) -> None:
        self._schemas[side] = snapshot.schema
        self._snapshots[side] = snapshot
        self.schema_ready.emit(side)
        self.snapshot_ready.emit(side)

    def _on_failed(self, side: Side, problem: TaskError) -> None:
        self._errors[side] = problem
        self.failed.emit(side, problem)

    def shutdown(self) -> None:
        for runner in self.runners.values():
            runner.shutdown()
