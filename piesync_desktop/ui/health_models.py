"""What the Health view shows, read a page at a time: its overview and its lazy table models.

Every read is a function of the store handed to :class:`StoreTasks` (it runs on the tasks thread);
the models only keep what came back. A contact list holds 100,000s of rows in the store, so a
model asks for one page, then the next as the view scrolls to the end, and drops any answer to a
query it no longer shows (the search changed meanwhile).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon

from piesync_desktop.engine import health
from piesync_desktop.engine.connection import Direction, ShareRole
from piesync_desktop.engine.health import ContactStatus
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.connections_model import AppLabel
from piesync_desktop.ui.icons import app_icon, icon, state_icon
from piesync_desktop.ui.paged_model import PagedTableModel, Reader
from piesync_desktop.ui.tasks import StoreTasks

PAGE = 200  # contacts or timeline rows read at a time
RELOAD_MAX = 1000  # a refresh reads again at most this many of the rows already shown
FAILING_COLOUR = QColor("#c5221f")
FAILING_BRUSH = QBrush(FAILING_COLOUR)

# The roles the lists answer, as ints: a table asks for a dozen roles of every visible cell at each
# paint, so the others are turned away before any other work.
DISPLAY = int(Qt.ItemDataRole.DisplayRole)
DECORATION = int(Qt.ItemDataRole.DecorationRole)
TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
LIST_ROLES = frozenset({DISPLAY, DECORATION, TOOLTIP, FOREGROUND})

STATE_TEXT = {
    "in_sync": "In sync",
    "excluded": "Excluded",
    "duplicate": "Duplicate",
    "failing": "Failing",
    "deleted": "Deleted",
}
ACTION_TEXT = {"created": "Created", "updated": "Updated"}


@dataclass(frozen=True, slots=True)
class HealthOverview:
    """The figures of one connection: header, counters, actions and failure reasons."""

    name: str
    connection_id: int
    apps: dict[str, AppLabel]
    direction: Direction
    hidden_side: str | None
    counts: dict[str, int]
    actions: dict[str, dict[str, int]]
    failure_reasons: list[tuple[str, int]]
    last_run: dict[str, Any] | None
    share: ShareRole | None = None  # the connection is a destination of this share job


def load_overview(store: Store, name: str) -> HealthOverview:
    """Read the overview of connection ``name`` (on the tasks thread)."""
    settings = store.connection(name)
    cid = settings.id or 0
    return HealthOverview(
        name=name,
        connection_id=cid,
        apps={"a": AppLabel.of(settings.a_spec), "b": AppLabel.of(settings.b_spec)},
        direction=settings.direction,
        hidden_side=health.hidden_side(store, cid),
        counts=health.counts(store, cid),
        actions=health.actions(store, cid),
        failure_reasons=[(r["reason"], r["count"]) for r in health.failure_reasons(store, cid)],
        last_run=health.last_run(store, cid),
        share=settings.share,
    )


def side_names(apps: dict[str, AppLabel]) -> dict[str, str]:
    """Short names telling the two sides apart: the apps' names, or where they are when both
    sides are the same app (two vCard folders: the folders' names)."""
    if len(apps) < 2:
        return {side: side.upper() for side in ("a", "b")}
    if apps["a"].name != apps["b"].name:
        return {side: app.name for side, app in apps.items()}
    places = {side: PurePath(app.location).name or app.location for side, app in apps.items()}
    if places["a"] == places["b"] or not all(places.values()):
        return {side: f"{app.name} ({side.upper()})" for side, app in apps.items()}
    return places


@dataclass(frozen=True, slots=True)
class ContactQuery:
    """Which contacts the list shows: all, one state, one failure reason or the contacts behind
    one action figure, narrowed by a search on name, email or contact id."""

    state: str | None = None
    reason: str | None = None
    action: tuple[str, str] | None = None  # (side, "created" | "updated")
    search: str = ""

    def page(
        self, store: Store, cid: int, limit: int, after: ContactStatus | None, offset: int
    ) -> list[ContactStatus]:
        """The next ``limit`` contacts after ``after`` (``offset`` rows are loaded already)."""
        if self.action is not None:
            side, action = self.action
            return health.action_contacts(store, cid, side, action, limit, offset)
        return health.contacts(
            store,
            cid,
            self.state,
            self.search,
            limit,
            reason=self.reason,
            after=health.page_key(after) if after is not None else None,
        )

    def count(self, store: Store, cid: int) -> int:
        if self.action is not None:
            return health.count_action_contacts(store, cid, *self.action)
        return health.count_contacts(store, cid, self.state, self.search, self.reason)


class _PagedModel(PagedTableModel):
    """A Health list: rows of one connection, each naming the side it comes from."""

    def __init__(self, tasks: StoreTasks, connection: str, parent: Any = None) -> None:
        super().__init__(tasks, PAGE, RELOAD_MAX, parent)
        self.connection = connection
        self.apps: dict[str, AppLabel] = {}
        self.names = side_names({})

    def set_apps(self, apps: dict[str, AppLabel]) -> None:
        """The two apps of the connection, to name and show each row's side."""
        self.apps, self.names = apps, side_names(apps)
        if self._rows:
            self.dataChanged.emit(
                self.index(0, 0),
                self.index(len(self._rows) - 1, self.columnCount() - 1),
            )

    def app_text(self, side: str, role: int = DISPLAY) -> str:
        label = self.apps.get(side)
        if role == TOOLTIP and label is not None:
            return str(label)
        return self.names.get(side, side.upper())

    def app_decoration(self, side: str) -> QIcon:
        label = self.apps.get(side)
        return app_icon(label.key) if label else QIcon()


class ContactColumn(enum.IntEnum):
    """The columns of Health's contact list."""

    STATE = 0
    NAME = 1
    EMAIL = 2
    APP = 3
    ID = 4
    REASON = 5


CONTACT_HEADERS = {
    ContactColumn.STATE: "State",
    ContactColumn.NAME: "Name",
    ContactColumn.EMAIL: "Email",
    ContactColumn.APP: "App",
    ContactColumn.ID: "Contact ID",
    ContactColumn.REASON: "Reason",
}


class ContactsModel(_PagedModel):
    """One contact list of Health (a state, a failure reason, an action figure, a search)."""

    total_changed = Signal(int)  # how many contacts the whole query lists (after its first page)

    def __init__(self, tasks: StoreTasks, connection: str, parent: Any = None) -> None:
        super().__init__(tasks, connection, parent)
        self._query = ContactQuery()
        self.total: int | None = None

    @property
    def query(self) -> ContactQuery:
        return self._query

    def set_query(self, query: ContactQuery) -> None:
        """Show another list; the rows shown stay until its first page is there."""
        self._query = query
        self.total = None
        self._load()

    def reload(self) -> None:
        """Read the same list again (after a sync), as far as it was scrolled (within reason)."""
        self.total = None
        self._load(keep=len(self._rows))

    def contact(self, row: int) -> ContactStatus:
        return self._rows[row]

    def _reader(self) -> Reader:
        query, name = self._query, self.connection

        def read(store: Store, limit: int, offset: int, last: Any) -> list[Any]:
            return query.page(store, health.connection_id(store, name), limit, last, offset)

        return read

    def _loaded(self, generation: int, rows: list[Any], count: int) -> None:
        super()._loaded(generation, rows, count)
        if generation != self._generation:
            return
        if not self._more:
            self._set_total(generation, len(self._rows))
            return
        query, name = self._query, self.connection
        self._submit(
            self._unless_stale(
                generation, lambda store: query.count(store, health.connection_id(store, name))
            ),
            lambda total: self._set_total(generation, total),
        )

    def _set_total(self, generation: int, total: int) -> None:
        if generation == self._generation:
            self.total = total
            self.total_changed.emit(total)

    # -- Qt ------------------------------------------------------------------------------

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ContactColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return CONTACT_HEADERS[ContactColumn(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role not in LIST_ROLES or not index.isValid():
            return None
        item: ContactStatus = self._rows[index.row()]
        column = index.column()
        if role in (DISPLAY, TOOLTIP):
            if column == ContactColumn.STATE:
                return STATE_TEXT.get(item.state, item.state)
            if column == ContactColumn.NAME:
                return item.name or item.id
            if column == ContactColumn.EMAIL:
                return item.email
            if column == ContactColumn.APP:
                return self.app_text(item.side, role)
            if column == ContactColumn.ID:
                return item.id
            return item.reason
        if role == DECORATION:
            if column == ContactColumn.STATE:
                return state_icon(item.state)
            if column == ContactColumn.APP:
                return self.app_decoration(item.side)
            return None
        failing_text = column == ContactColumn.STATE or column == ContactColumn.REASON
        return FAILING_BRUSH if item.state == "failing" and failing_text else None


class TimelineColumn(enum.IntEnum):
    """The columns of Health's timeline."""

    WHEN = 0
    CONTACT = 1
    APP = 2
    WHAT = 3


TIMELINE_HEADERS = {
    TimelineColumn.WHEN: "When",
    TimelineColumn.CONTACT: "Contact",
    TimelineColumn.APP: "App",
    TimelineColumn.WHAT: "What happened",
}


def moment(timestamp: float) -> str:
    """A timeline time: the clock today, the date otherwise."""
    local = time.localtime(timestamp)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d"):
        return time.strftime("Today %H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def what_happened(row: dict[str, Any], names: dict[str, str]) -> str:
    """A timeline row as a sentence: what the run did with the contact, and why (``names``:
    the sides' short names, see :func:`side_names`)."""
    action, detail, side = row["action"], row["detail"], row["side"]
    other = "b" if side == "a" else "a"
    if action.startswith("created in "):
        return f"Copied to {names[other]}"
    if action == "created":
        return f"Created (copied from {names[other]})"
    if action == "updated":
        return f"Updated from {names[other]}"
    if action == "failed":
        return f"Failed: {detail}"
    if action == "deleted":
        return detail or f"Deleted in {names[side]}"
    words = action.replace("_", " ")
    text = STATE_TEXT.get(action, words[:1].upper() + words[1:])  # keeps 'PieSync Trash' as is
    return f"{text}: {detail}" if detail else text


class TimelineModel(_PagedModel):
    """The activity timeline, most recent first, read a page at a time."""

    def reload(self) -> None:
        self._load(keep=len(self._rows))

    def entry(self, row: int) -> dict[str, Any]:
        return self._rows[row]

    def _reader(self) -> Reader:
        name = self.connection

        def read(store: Store, limit: int, offset: int, last: Any) -> list[Any]:
            return health.timeline(store, health.connection_id(store, name), limit, offset)

        return read

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(TimelineColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return TIMELINE_HEADERS[TimelineColumn(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if role not in LIST_ROLES or not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role in (DISPLAY, TOOLTIP):
            if column == TimelineColumn.WHEN:
                return moment(row["at"])
            if column == TimelineColumn.CONTACT:
                name = row["name"] or row["id"]
                if role == TOOLTIP:
                    return "\n".join(p for p in (name, row["email"], f"ID {row['id']}") if p)
                return name
            if column == TimelineColumn.APP:
                return self.app_text(row["side"], role)
            return what_happened(row, self.names)
        if role == DECORATION:
            if column == TimelineColumn.CONTACT:
                deleted = row["state"] == "deleted"
                return icon("action-remove") if deleted else state_icon(row["state"])
            if column == TimelineColumn.APP:
                return self.app_decoration(row["side"])
            return None
        failed = column == TimelineColumn.WHAT and row["state"] == "failing"
        return FAILING_BRUSH if failed else None


class ReasonColumn(enum.IntEnum):
    """The columns of Health's failure reasons."""

    REASON = 0
    CONTACTS = 1


class FailureReasonsModel(QAbstractTableModel):
    """The summary of failure reasons: each reason and how many contacts it affects."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[str, int]] = []

    def set_reasons(self, reasons: list[tuple[str, int]]) -> None:
        self.beginResetModel()
        self._rows = list(reasons)
        self.endResetModel()

    def reason(self, row: int) -> str:
        return self._rows[row][0]

    def row_of(self, reason: str) -> int | None:
        return next((i for i, (text, _) in enumerate(self._rows) if text == reason), None)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ReasonColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return "Reason" if section == ReasonColumn.REASON else "Contacts"
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        reason, count = self._rows[index.row()]
        column = ReasonColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return reason if column is ReasonColumn.REASON else f"{count:,}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{reason}\n\nClick to list the {count:,} contact(s) failing for this reason."
        if role == Qt.ItemDataRole.DecorationRole and column is ReasonColumn.REASON:
            return state_icon("failing")
        if role == Qt.ItemDataRole.TextAlignmentRole and column is ReasonColumn.CONTACTS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
