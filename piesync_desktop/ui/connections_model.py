"""The main window's list: one row per connection with its apps, direction, counts and state.

Rows are read from the store on the tasks thread (:func:`load_rows`); the live state of a running
sync comes from the :class:`SyncManager` and is merged in as it changes (:func:`live_state`, which
the share jobs' lists use too). The list holds the person's own connections; the destinations of
share jobs are connections as well, shown on their job's page instead.
"""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from piesync_desktop.engine import health
from piesync_desktop.engine.connection import ConnectionSettings, Direction, ShareRole
from piesync_desktop.engine.connectors.base import catalogue, parse_spec
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.icons import app_icon, icon
from piesync_desktop.ui.sync_manager import IDLE_TEXT, RunState, SyncManager

ARROWS = {Direction.TWO_WAY: "⇄", Direction.A_TO_B: "→", Direction.B_TO_A: "←"}
DIRECTION_TEXT = {
    Direction.TWO_WAY: "Two-way",
    Direction.A_TO_B: "One-way, A to B",
    Direction.B_TO_A: "One-way, B to A",
}


# Apps whose location is WHERE@ACCOUNT, and what an empty WHERE means.
SIGNED_IN_APPS = {"google": "All contacts", "outlook": "Contacts"}


@dataclass(frozen=True, slots=True)
class AppLabel:
    """One side of a connection as a person reads it."""

    key: str
    name: str
    location: str

    @classmethod
    def of(cls, spec: str) -> AppLabel:
        try:
            key, location = parse_spec(spec)
        except ConfigError:
            return cls("", spec, "")
        names = {info.key: info.name for info in catalogue()}
        home = str(Path.home())
        if location.startswith(home + os.sep):
            location = "~" + location[len(home) :]
        return cls(key, names.get(key, key), location)

    @property
    def short_location(self) -> str:
        """A folder's own name rather than its whole path, an address book's name and host
        rather than its URL (the tooltip has the whole)."""
        if self.key in SIGNED_IN_APPS:
            head, _, domain = self.location.rpartition("@")
            where, _, user = head.rpartition("@")
            if user and domain:
                return f"{where or SIGNED_IN_APPS[self.key]} ({user}@{domain})"
        if self.location.startswith(("http:", "https:")):
            parts = urlsplit(self.location)
            name = unquote(parts.path.rstrip("/").rpartition("/")[2])
            return f"{name} on {parts.hostname}" if name else (parts.hostname or self.location)
        if "/" in self.location:
            return Path(self.location).name or self.location
        return self.location

    def short(self) -> str:
        return f"{self.name} · {self.short_location}" if self.location else self.name

    def __str__(self) -> str:
        return f"{self.name} ({self.location})" if self.location else self.name


@dataclass(frozen=True, slots=True)
class ConnectionRow:
    """What the list shows of one connection, as the store holds it."""

    name: str
    a: AppLabel
    b: AppLabel
    direction: Direction
    paused: bool
    interval_minutes: int
    counts: dict[str, int] = field(default_factory=dict)
    last_run: dict[str, Any] | None = None
    share: ShareRole | None = None  # set for the destinations of a share job


def connection_row(store: Store, settings: ConnectionSettings) -> ConnectionRow:
    """One connection with its counts and last run (on the tasks thread)."""
    cid = settings.id or 0
    return ConnectionRow(
        settings.name,
        AppLabel.of(settings.a_spec),
        AppLabel.of(settings.b_spec),
        settings.direction,
        settings.paused,
        settings.interval_minutes,
        health.counts(store, cid),
        health.last_run(store, cid),
        settings.share,
    )


def load_rows(store: Store) -> list[ConnectionRow]:
    """The person's own connections (not the share destinations), on the tasks thread."""
    return [connection_row(store, settings) for settings in store.own_connections()]


def tag_noun(app_key: str) -> str:
    """What an app calls a tag (category, label, list...), for the sentences that name one."""
    nouns = {info.key: info.capabilities.tag_noun for info in catalogue()}
    return nouns.get(app_key, "tag")


def live_state(manager: SyncManager, row: ConnectionRow) -> tuple[RunState, str]:
    """The state to show of a connection: a live run's, else the last run's, else paused or
    idle (the connections list and the share jobs' lists say it alike)."""
    live = manager.status(row.name)
    if manager.is_running(row.name) or live.state.needs_attention:
        return live.state, live.text
    if row.paused:
        return RunState.PAUSED, "Paused"
    if live.last is not None or live.state is not RunState.IDLE:
        return live.state, live.text
    run = row.last_run
    if run and run["status"] in ("failed", "braked"):
        state = RunState.BRAKED if run["status"] == "braked" else RunState.FAILED
        return state, run["message"] or "The last sync did not complete."
    if run is None:
        return RunState.IDLE, "Not synced yet"
    return RunState.IDLE, IDLE_TEXT


def status_display(manager: SyncManager, name: str, state: RunState, text: str) -> str:
    """A status with the run's percentage while it is busy."""
    percent = manager.status(name).percent if state.busy else None
    return f"{text} ({percent}%)" if percent is not None else text


class Column(enum.IntEnum):
    """The main window's columns."""

    NAME = 0
    APPS = 1
    LAST_SYNC = 2
    IN_SYNC = 3
    EXCLUDED = 4
    DUPLICATES = 5
    FAILING = 6
    STATUS = 7


HEADERS = {
    Column.NAME: "Connection",
    Column.APPS: "Apps",
    Column.LAST_SYNC: "Last sync",
    Column.IN_SYNC: "In sync",
    Column.EXCLUDED: "Excluded",
    Column.DUPLICATES: "Duplicates",
    Column.FAILING: "Failing",
    Column.STATUS: "Status",
}
COUNT_KEYS = {
    Column.IN_SYNC: "in_sync",
    Column.EXCLUDED: "excluded",
    Column.DUPLICATES: "duplicates",
    Column.FAILING: "failing",
}
STATE_ICONS = {
    RunState.SCANNING: "action-sync",
    RunState.SYNCING: "action-sync",
    RunState.WAITING: "action-pause",
    RunState.FAILED: "state-failing",
    RunState.SIGN_IN: "state-failing",
    RunState.BRAKED: "state-failing",
    RunState.PAUSED: "action-pause",
    RunState.IDLE: "state-in-sync",
}
ProgressRole = Qt.ItemDataRole.UserRole + 1  # percent (int) while syncing, else None
StateRole = Qt.ItemDataRole.UserRole + 2


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "Never"
    local = time.localtime(timestamp)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d"):
        return time.strftime("Today %H:%M", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


class ConnectionsModel(QAbstractTableModel):
    """The connections, merged with the live state of their syncs."""

    def __init__(self, manager: SyncManager, parent: Any = None) -> None:
        super().__init__(parent)
        self.manager = manager
        self._rows: list[ConnectionRow] = []
        manager.status_changed.connect(self._on_status_changed)

    # -- data in ---------------------------------------------------------------------------

    def set_rows(self, rows: list[ConnectionRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_of(self, name: str) -> int | None:
        return next((i for i, row in enumerate(self._rows) if row.name == name), None)

    def connection(self, row: int) -> ConnectionRow:
        return self._rows[row]

    @property
    def names(self) -> list[str]:
        return [row.name for row in self._rows]

    def state(self, row: ConnectionRow) -> tuple[RunState, str]:
        """The state to show: a live run's, else the last run's, else paused or idle."""
        return live_state(self.manager, row)

    def _on_status_changed(self, name: str) -> None:
        row = self.row_of(name)
        if row is not None:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    # -- Qt --------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = Column(index.column())
        state, text = self.state(row)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column, state, text)
        if role == Qt.ItemDataRole.DecorationRole:
            if column is Column.NAME:
                return app_icon(row.a.key)
            if column is Column.STATUS:
                return icon(STATE_ICONS[state])
        if role == Qt.ItemDataRole.ToolTipRole:
            if column is Column.APPS:
                return f"A: {row.a}\nB: {row.b}\n{DIRECTION_TEXT[row.direction]}"
            if column is Column.STATUS:
                return text
        if role == Qt.ItemDataRole.TextAlignmentRole and column in COUNT_KEYS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column is Column.FAILING and row.counts.get("failing"):
                return QBrush(QColor("#c5221f"))
            if column is Column.STATUS and state.needs_attention:
                return QBrush(QColor("#c5221f"))
        if role == ProgressRole and column is Column.STATUS and state.busy:
            return self.manager.status(row.name).percent
        if role == StateRole:
            return state
        return None

    def _display(self, row: ConnectionRow, column: Column, state: RunState, text: str) -> str:
        if column is Column.NAME:
            return row.name
        if column is Column.APPS:
            return f"{row.a.short()}  {ARROWS[row.direction]}  {row.b.short()}"
        if column is Column.LAST_SYNC:
            run = row.last_run
            return when(run["finished_at"] or run["started_at"]) if run else "Never"
        if column in COUNT_KEYS:
            return f"{row.counts.get(COUNT_KEYS[column], 0):,}"
        return status_display(self.manager, row.name, state, text)
