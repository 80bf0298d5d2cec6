"""The share jobs as the window lists them: the jobs, one job's destinations, and its timeline.

A share job pushes one account's contact group, one way, to one or many destination accounts;
each destination is a connection of its own (see ``engine/share.py``). Everything here is read on
the tasks thread (:func:`load_jobs`, :func:`load_job_page`); the live state of the destinations'
runs comes from the :class:`SyncManager`, worded as the connections list words it, and when they
run next from the :class:`SyncScheduler`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from piesync_desktop.engine import share
from piesync_desktop.engine.connection import ShareJob
from piesync_desktop.engine.store import RecordState, ShareEvent, Store
from piesync_desktop.ui.connections_model import (
    STATE_ICONS,
    AppLabel,
    ConnectionRow,
    StateRole,
    connection_row,
    live_state,
    status_display,
    when,
)
from piesync_desktop.ui.health_models import moment
from piesync_desktop.ui.icons import app_icon, icon
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.sync_manager import RunState, SyncManager

FAILING_BRUSH = QBrush(QColor("#c5221f"))
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


# -- what is read -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DestinationRow:
    """One destination of a job: its connection's row and the copies in sync there."""

    connection: ConnectionRow
    spec: str
    copies: int = 0

    @property
    def name(self) -> str:
        """The destination's connection (what the SyncManager and Health know it by)."""
        return self.connection.name

    @property
    def label(self) -> AppLabel:
        return self.connection.b


@dataclass(frozen=True, slots=True)
class JobRow:
    """One share job with its destinations, as the store holds them."""

    job: ShareJob
    source: AppLabel
    destinations: list[DestinationRow] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def reference_tag(self) -> str:
        return self.job.role().reference_tag

    @property
    def names(self) -> list[str]:
        """The destinations' connections."""
        return [d.name for d in self.destinations]

    @property
    def shares(self) -> str:
        """What the job shares, in a few words: "'Team' of vCard folder · work"."""
        return f"'{self.job.group}' of {self.source.short()}"

    def last_run(self) -> float | None:
        """When a destination last ran (its end, or its start while it runs)."""
        times = [
            run["finished_at"] or run["started_at"]
            for d in self.destinations
            if (run := d.connection.last_run)
        ]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class JobPage:
    """What the job page shows: the job and its destinations, and its own timeline."""

    row: JobRow
    events: list[ShareEvent]


def job_row(store: Store, job: ShareJob) -> JobRow:
    destinations = [
        DestinationRow(
            connection_row(store, settings),
            settings.b_spec,
            store.index_count(settings.id or 0, "b", RecordState.IN_SYNC),
        )
        for settings in store.job_destinations(job.id or 0)
    ]
    return JobRow(job, AppLabel.of(job.source_spec), destinations)


def load_jobs(store: Store) -> list[JobRow]:
    """Every share job with its destinations (on the tasks thread)."""
    return [job_row(store, job) for job in store.share_jobs()]


def load_job_page(store: Store, name: str, events: int = 1000) -> JobPage:
    """One job with its destinations and its latest timeline rows (on the tasks thread)."""
    job = store.share_job(name)
    return JobPage(job_row(store, job), store.share_events(job.id or 0, events))


# -- how it reads -----------------------------------------------------------------------------


def when_next(timestamp: float | None, now: float) -> str:
    """When something runs next: "Now", "Today 14:05", "Tomorrow 09:00" or the date."""
    if timestamp is None:
        return "—"
    if timestamp - now < 60:
        return "Now"
    day = time.strftime("%Y-%m-%d", time.localtime(timestamp))
    if day == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("Today %H:%M", time.localtime(timestamp))
    if day == time.strftime("%Y-%m-%d", time.localtime(now + 86400)):
        return time.strftime("Tomorrow %H:%M", time.localtime(timestamp))
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def next_run_of(scheduler: SyncScheduler, names: list[str]) -> float | None:
    """The earliest time one of ``names`` is due (None: all paused, or none)."""
    due = [d for name in names if (d := scheduler.due(name)) is not None]
    return min(due) if due else None


@dataclass(frozen=True, slots=True)
class JobState:
    """A job's state over its destinations: what the Share jobs list says of it."""

    state: RunState
    text: str
    detail: str = ""  # the tooltip: which destinations, and why


def job_state(manager: SyncManager, row: JobRow) -> JobState:
    """All in sync, n failing, syncing, paused or not synced yet, over the destinations."""
    if not row.destinations:
        return JobState(RunState.IDLE, "No destinations yet")
    states = [(d, *live_state(manager, d.connection)) for d in row.destinations]
    lines = [f"{d.label.short()}: {text}" for d, _state, text in states]
    detail = "\n".join(lines)
    total = len(states)
    busy = [d for d, state, _text in states if state.busy]
    if busy:
        of = f" {len(busy)} of {total}" if total > 1 else ""
        return JobState(RunState.SYNCING, f"Syncing{of}", detail)
    broken = [d for d, state, _text in states if state.needs_attention]
    if broken:
        return JobState(RunState.FAILED, _count(len(broken), "destination") + " failing", detail)
    failing = sum(d.connection.counts.get("failing", 0) for d in row.destinations)
    if failing:
        return JobState(RunState.FAILED, _count(failing, "contact") + " failing", detail)
    if all(state is RunState.PAUSED for _d, state, _text in states):
        return JobState(RunState.PAUSED, "Paused", detail)
    never = all(d.connection.last_run is None for d in row.destinations)
    if never and not any(manager.status(d.name).last for d in row.destinations):
        return JobState(RunState.IDLE, "Not synced yet", detail)
    return JobState(RunState.IDLE, "All in sync", detail)


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}{'' if number == 1 else 's'}"


# -- the Share jobs list ----------------------------------------------------------------------


class JobColumn(enum.IntEnum):
    """The Share jobs list's columns."""

    NAME = 0
    SHARES = 1
    DESTINATIONS = 2
    LAST_RUN = 3
    NEXT_RUN = 4
    STATE = 5


JOB_HEADERS = {
    JobColumn.NAME: "Share job",
    JobColumn.SHARES: "Group and source",
    JobColumn.DESTINATIONS: "Destinations",
    JobColumn.LAST_RUN: "Last run",
    JobColumn.NEXT_RUN: "Next run",
    JobColumn.STATE: "State",
}


class _LiveModel(QAbstractTableModel):
    """A table whose rows follow the live state of the runs of the connections they name."""

    def __init__(self, manager: SyncManager, scheduler: SyncScheduler, parent: Any = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self.scheduler = scheduler
        manager.status_changed.connect(self._on_status_changed)

    def _rows_naming(self, name: str) -> list[int]:
        raise NotImplementedError

    def _on_status_changed(self, name: str) -> None:
        for row in self._rows_naming(name):
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))


class JobsModel(_LiveModel):
    """The share jobs: name, group and source, destinations, last and next run, state."""

    def __init__(self, manager: SyncManager, scheduler: SyncScheduler, parent: Any = None) -> None:
        super().__init__(manager, scheduler, parent)
        self._rows: list[JobRow] = []

    def set_rows(self, rows: list[JobRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def job(self, row: int) -> JobRow:
        return self._rows[row]

    def row_of(self, name: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if row.name == name), None)

    @property
    def names(self) -> list[str]:
        return [row.name for row in self._rows]

    def _rows_naming(self, name: str) -> list[int]:
        return [i for i, row in enumerate(self._rows) if name in row.names]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(JobColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return JOB_HEADERS[JobColumn(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = JobColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.DecorationRole:
            if column is JobColumn.NAME:
                return app_icon(row.source.key)
            if column is JobColumn.STATE:
                return icon(STATE_ICONS[job_state(self.manager, row).state])
        if role == Qt.ItemDataRole.ToolTipRole:
            if column is JobColumn.SHARES:
                return (
                    f"The contacts of {row.source} in the group '{row.job.group}', one way, "
                    f"to each destination; every copy carries the label '{row.reference_tag}'."
                )
            if column is JobColumn.DESTINATIONS:
                return "\n".join(str(d.label) for d in row.destinations) or None
            if column is JobColumn.STATE:
                return job_state(self.manager, row).detail or None
        if role == Qt.ItemDataRole.TextAlignmentRole and column is JobColumn.DESTINATIONS:
            return RIGHT
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and column is JobColumn.STATE
            and job_state(self.manager, row).state.needs_attention
        ):
            return FAILING_BRUSH
        if role == StateRole:
            return job_state(self.manager, row).state
        return None

    def _display(self, row: JobRow, column: JobColumn) -> str:
        if column is JobColumn.NAME:
            return row.name
        if column is JobColumn.SHARES:
            return row.shares
        if column is JobColumn.DESTINATIONS:
            return f"{len(row.destinations):,}"
        if column is JobColumn.LAST_RUN:
            return when(row.last_run())
        if column is JobColumn.NEXT_RUN:
            due = next_run_of(self.scheduler, row.names)
            return when_next(due, self.scheduler.clock())
        return job_state(self.manager, row).text


# -- one job's destinations -------------------------------------------------------------------


class DestinationColumn(enum.IntEnum):
    """The job page's destination columns."""

    DESTINATION = 0
    LAST_RUN = 1
    NEXT_RUN = 2
    COPIES = 3
    FAILING = 4
    STATUS = 5


DESTINATION_HEADERS = {
    DestinationColumn.DESTINATION: "Destination",
    DestinationColumn.LAST_RUN: "Last run",
    DestinationColumn.NEXT_RUN: "Next run",
    DestinationColumn.COPIES: "Copies in sync",
    DestinationColumn.FAILING: "Failing",
    DestinationColumn.STATUS: "Status",
}


class DestinationsModel(_LiveModel):
    """A job's destinations with the live status of their runs."""

    def __init__(self, manager: SyncManager, scheduler: SyncScheduler, parent: Any = None) -> None:
        super().__init__(manager, scheduler, parent)
        self._rows: list[DestinationRow] = []

    def set_rows(self, rows: list[DestinationRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def destination(self, row: int) -> DestinationRow:
        return self._rows[row]

    @property
    def rows(self) -> list[DestinationRow]:
        return list(self._rows)

    def row_of(self, name: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if row.name == name), None)

    @property
    def names(self) -> list[str]:
        return [row.name for row in self._rows]

    def state(self, row: DestinationRow) -> tuple[RunState, str]:
        return live_state(self.manager, row.connection)

    def _rows_naming(self, name: str) -> list[int]:
        row = self.row_of(name)
        return [] if row is None else [row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(DestinationColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return DESTINATION_HEADERS[DestinationColumn(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = DestinationColumn(index.column())
        state, text = self.state(row)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column, state, text)
        if role == Qt.ItemDataRole.DecorationRole:
            if column is DestinationColumn.DESTINATION:
                return app_icon(row.label.key)
            if column is DestinationColumn.STATUS:
                return icon(STATE_ICONS[state])
        if role == Qt.ItemDataRole.ToolTipRole:
            if column is DestinationColumn.DESTINATION:
                return f"{row.label}\nConnection '{row.name}'"
            if column is DestinationColumn.STATUS:
                return text
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            DestinationColumn.COPIES,
            DestinationColumn.FAILING,
        ):
            return RIGHT
        if role == Qt.ItemDataRole.ForegroundRole:
            if column is DestinationColumn.FAILING and row.connection.counts.get("failing"):
                return FAILING_BRUSH
            if column is DestinationColumn.STATUS and state.needs_attention:
                return FAILING_BRUSH
        if role == StateRole:
            return state
        return None

    def _display(
        self, row: DestinationRow, column: DestinationColumn, state: RunState, text: str
    ) -> str:
        if column is DestinationColumn.DESTINATION:
            return row.label.short()
        if column is DestinationColumn.LAST_RUN:
            run = row.connection.last_run
            return when(run["finished_at"] or run["started_at"]) if run else "Never"
        if column is DestinationColumn.NEXT_RUN:
            return when_next(self.scheduler.due(row.name), self.scheduler.clock())
        if column is DestinationColumn.COPIES:
            return f"{row.copies:,}"
        if column is DestinationColumn.FAILING:
            return f"{row.connection.counts.get('failing', 0):,}"
        return status_display(self.manager, row.name, state, text)


# -- one job's timeline -----------------------------------------------------------------------


class EventColumn(enum.IntEnum):
    """The job timeline's columns."""

    WHEN = 0
    DESTINATION = 1
    WHAT = 2
    CONTACT = 3
    DETAIL = 4


EVENT_HEADERS = {
    EventColumn.WHEN: "When",
    EventColumn.DESTINATION: "Destination",
    EventColumn.WHAT: "What happened",
    EventColumn.CONTACT: "Contact",
    EventColumn.DETAIL: "Detail",
}
EVENT_TEXT = {
    share.ADDED: "Destination added",
    share.REMOVED: "Destination removed",
    share.DELETED: "Copy deleted",
    share.LEFT_GROUP: "Left the group, kept",
    share.GROUP_REMOVED: "Group removed",
    share.INCOMPLETE: "Removal not finished",
}
EVENT_ICONS = {
    share.ADDED: "action-add",
    share.REMOVED: "action-remove",
    share.DELETED: "action-remove",
    share.LEFT_GROUP: "state-in-sync",
    share.GROUP_REMOVED: "action-remove",
    share.INCOMPLETE: "state-failing",
}


def event_text(action: str) -> str:
    return EVENT_TEXT.get(action, action[:1].upper() + action[1:])


class EventsModel(QAbstractTableModel):
    """A job's own timeline, newest first: destinations added and removed, and what a
    removal deleted or let go."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ShareEvent] = []

    def set_events(self, events: list[ShareEvent]) -> None:
        self.beginResetModel()
        self._rows = list(events)
        self.endResetModel()

    def share_event(self, row: int) -> ShareEvent:
        return self._rows[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(EventColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return EVENT_HEADERS[EventColumn(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        event = self._rows[index.row()]
        column = EventColumn(index.column())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            texts: dict[EventColumn, Callable[[], str]] = {
                EventColumn.WHEN: lambda: moment(event.at),
                EventColumn.DESTINATION: lambda: event.destination,
                EventColumn.WHAT: lambda: event_text(event.action),
                EventColumn.CONTACT: lambda: event.name or event.rid,
                EventColumn.DETAIL: lambda: event.detail,
            }
            return texts[column]()
        if role == Qt.ItemDataRole.DecorationRole and column is EventColumn.WHAT:
            return icon(EVENT_ICONS.get(event.action, "action-sync"))
        if role == Qt.ItemDataRole.ForegroundRole and event.action == share.INCOMPLETE:
            return FAILING_BRUSH
        return None
