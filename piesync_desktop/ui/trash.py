"""Trash review: the contacts tagged 'PieSync Trash' across connections, reviewed offline.

PieSync never deletes on the person's behalf. When a contact is deleted in one app, its counterpart
in the other app waits here (read from the local store, no network needed) until the person keeps
it (the tag is removed) or deletes it too. A choice is only recorded here; the next sync of its
connection carries it out, and until then it can be undone.
"""

from __future__ import annotations

import enum
import html
import os
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine import health
from piesync_desktop.engine.connectors.base import catalogue
from piesync_desktop.engine.health import TrashCandidate
from piesync_desktop.engine.store import Store, TrashDecision
from piesync_desktop.ui.icons import app_icon, icon
from piesync_desktop.ui.paged_model import PagedTableModel, Reader
from piesync_desktop.ui.tasks import StoreTasks, TaskError, TaskGroup

PAGE = 500  # candidates read at a time; more are read as the list is scrolled
LISTED_IN_CONFIRMATION = 12  # a longer list goes to the dialog's details

DECISION_TEXT = {
    TrashDecision.KEEP: "Keep at next sync",
    TrashDecision.DELETE: "Delete at next sync",
}
DECISION_ICONS = {TrashDecision.KEEP: "state-in-sync", TrashDecision.DELETE: "action-remove"}

Key = tuple[str, str, str]  # (connection, side, id): one candidate


class Column(enum.IntEnum):
    """The Trash review's columns."""

    CONTACT = 0
    EMAIL = 1
    KEPT_IN = 2
    DELETED_IN = 3
    DELETED_ON = 4
    CONNECTION = 5
    DECISION = 6


HEADERS = {
    Column.CONTACT: "Contact",
    Column.EMAIL: "Email",
    Column.KEPT_IN: "Kept in",
    Column.DELETED_IN: "Deleted in",
    Column.DELETED_ON: "Deleted on",
    Column.CONNECTION: "Connection",
    Column.DECISION: "Decision",
}

EMPTY_TEXT = (
    "<h3>Nothing to review</h3>"
    "<p>PieSync never deletes a contact for you. When you delete a contact in one app of a "
    "connection with Sync Deletions on, its counterpart in the other app is tagged "
    "<b>PieSync Trash</b> and appears here.</p>"
    "<p>You can then keep it, or delete it in its app too.</p>"
)
INTRO_TEXT = (
    "These contacts were deleted in one app; their counterpart in the other app is still there. "
    "<b>Keep</b> takes a contact out of 'PieSync Trash'; <b>Delete</b> deletes it in its app too. "
    "Each choice is carried out at the next sync of its connection, and can be undone until then."
)


def key_of(item: TrashCandidate) -> Key:
    return (item.connection, item.side, item.id)


def deleted_on(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp)) if timestamp else ""


def short_app(label: str) -> str:
    """An app label as the list shows it: the home folder written ``~``."""
    home = str(Path.home())
    return label.replace(f"({home}{os.sep}", f"(~{os.sep}", 1)


def app_key(label: str) -> str:
    """The catalogue key of an app named in a label such as "vCard folder (/home/me/work)"."""
    name = label.split(" (", 1)[0]
    return next((info.key for info in catalogue() if info.name == name), "")


def record_decisions(
    store: Store, keys: Iterable[Key], decision: TrashDecision | None
) -> list[str]:
    """Save one decision for several candidates, all or none; the connections they belong to."""
    ids: dict[str, int] = {}
    with store.transaction():
        for connection, side, rid in keys:
            if connection not in ids:
                ids[connection] = store.connection(connection).id or 0
            store.decide_trash(ids[connection], side, rid, decision)
    return list(ids)


class TrashModel(PagedTableModel):
    """Trash candidates of every connection, most recent deletion first, read a page at a time."""

    def __init__(self, tasks: StoreTasks, parent: Any = None) -> None:
        super().__init__(tasks, PAGE, parent=parent)

    def _reader(self) -> Reader:
        return lambda store, limit, offset, _last: health.all_trash(
            store, limit=limit, offset=offset
        )

    def reload(self) -> None:
        """Read the candidates again (as many as are shown now, at least one page)."""
        self._load(keep=len(self._rows))

    def set_decision(self, keys: Iterable[Key], decision: TrashDecision | None) -> None:
        """Show a saved decision at once, without reading the list again."""
        wanted = set(keys)
        for row, item in enumerate(self._rows):
            if key_of(item) in wanted:
                self._rows[row] = replace(item, decision=decision.value if decision else None)
                index = self.index(row, Column.DECISION)
                self.dataChanged.emit(index, index)

    def candidate(self, row: int) -> TrashCandidate:
        return self._rows[row]

    # -- Qt --------------------------------------------------------------------------------

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = 0) -> Any:
        if not index.isValid():
            return None
        item = self._rows[index.row()]
        column = Column(index.column())
        decision = TrashDecision(item.decision) if item.decision else None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column, decision)
        if role == Qt.ItemDataRole.DecorationRole:
            if column is Column.KEPT_IN:
                return app_icon(app_key(item.app))
            if column is Column.DELETED_IN:
                return app_icon(app_key(item.deleted_app))
            if column is Column.DECISION and decision is not None:
                return icon(DECISION_ICONS[decision])
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, column, decision)
        deleting = column is Column.DECISION and decision is TrashDecision.DELETE
        if role == Qt.ItemDataRole.ForegroundRole and deleting:
            return QBrush(QColor("#c5221f"))
        return None

    @staticmethod
    def _display(item: TrashCandidate, column: Column, decision: TrashDecision | None) -> str:
        if column is Column.CONTACT:
            return item.name
        if column is Column.EMAIL:
            return item.email
        if column is Column.KEPT_IN:
            return short_app(item.app)
        if column is Column.DELETED_IN:
            return short_app(item.deleted_app)
        if column is Column.DELETED_ON:
            return deleted_on(item.deleted_at)
        if column is Column.CONNECTION:
            return item.connection
        return DECISION_TEXT[decision] if decision else ""

    @staticmethod
    def _tooltip(item: TrashCandidate, column: Column, decision: TrashDecision | None) -> str:
        if column is Column.DECISION:
            if decision is TrashDecision.KEEP:
                return "At the next sync, 'PieSync Trash' is removed; it is not created again."
            if decision is TrashDecision.DELETE:
                return f"At the next sync, it is deleted in {item.app}."
            return "Not decided yet."
        if column is Column.CONTACT:
            tag = "Tagged 'PieSync Trash'" if item.tagged else "Not tagged 'PieSync Trash'"
            return f"{item.name} ({item.id}) in {item.app}\n{tag}"
        if column in (Column.KEPT_IN, Column.DELETED_IN):
            return item.app if column is Column.KEPT_IN else item.deleted_app
        return ""


class TrashReview(QWidget):
    """The Trash review window: the candidates, and Keep / Delete / Undo on the selected ones."""

    decided = Signal(str)  # a connection whose decisions were saved (its next sync acts on them)

    def __init__(self, tasks: StoreTasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)  # a window of its own, even with a parent
        self.setWindowTitle("Trash review")
        self.setWindowIcon(icon("action-trash"))
        self.resize(1180, 620)
        self.tasks = tasks
        self._group = TaskGroup(tasks)
        self._reselect: set[Key] = set()

        self.model = TrashModel(tasks, self)
        self.table = self._make_table()
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setMaximumWidth(560)
        empty_page = QWidget()
        empty_layout = QHBoxLayout(empty_page)
        empty_layout.addWidget(self.empty)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(empty_page)

        self.intro = QLabel(INTRO_TEXT)
        self.intro.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        self.keep_button = QPushButton(icon("state-in-sync"), "Keep")
        self.keep_button.setToolTip("Take the selected contacts out of 'PieSync Trash'")
        self.delete_button = QPushButton(icon("action-remove"), "Delete…")
        self.undo_button = QPushButton("Undo decision")
        self.undo_button.setToolTip("Withdraw the decision before the next sync carries it out")
        self.keep_button.clicked.connect(self.keep_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_button.clicked.connect(self.undo_selected)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table, self.delete_selected)

        self.buttons = QWidget()
        buttons = QHBoxLayout(self.buttons)
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.delete_button)
        buttons.addWidget(self.undo_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)

        self.model.loaded.connect(self._on_loaded)
        self.model.failed.connect(self._show_error)
        self.model.rowsInserted.connect(self._update_state)
        self.model.dataChanged.connect(self._update_state)
        self.table.selectionModel().selectionChanged.connect(self._update_state)
        self._update_state()
        self.refresh()

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in (
            (Column.CONTACT, 160),
            (Column.EMAIL, 200),
            (Column.DELETED_ON, 125),
            (Column.CONNECTION, 170),
            (Column.DECISION, 150),
        ):
            header.resizeSection(column, width)
        for column in (Column.KEPT_IN, Column.DELETED_IN):  # long locations share what is left
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        return table

    # -- reading ---------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Read the candidates again (after a sync, or when asked), keeping the selection."""
        self._reselect = {key_of(item) for item in self.selected()}
        self.model.reload()

    @Slot()
    def _on_loaded(self) -> None:
        empty = self.model.rowCount() == 0
        self.stack.setCurrentIndex(1 if empty else 0)
        self.intro.setHidden(empty)
        self.buttons.setHidden(empty)
        if self._reselect:
            selection = QItemSelection()
            for row in range(self.model.rowCount()):
                if key_of(self.model.candidate(row)) in self._reselect:
                    selection.select(
                        self.model.index(row, 0), self.model.index(row, len(Column) - 1)
                    )
            self.table.selectionModel().select(
                selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
            self._reselect = set()
        self._update_state()

    def selected(self) -> list[TrashCandidate]:
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.model.candidate(row) for row in rows]

    @Slot()
    def _update_state(self, *_args: object) -> None:
        items = self.selected()
        self.keep_button.setEnabled(bool(items))
        self.delete_button.setEnabled(bool(items))
        self.undo_button.setEnabled(any(item.decision for item in items))
        apps = {item.app for item in items}
        if len(apps) == 1:
            [app] = apps
            metrics = self.delete_button.fontMetrics()
            shown = metrics.elidedText(short_app(app), Qt.TextElideMode.ElideMiddle, 320)
            self.delete_button.setText(f"Delete in {shown}…")
            self.delete_button.setToolTip(f"Delete the selected contacts in {app}")
        else:
            self.delete_button.setText("Delete in their apps…" if apps else "Delete…")
            self.delete_button.setToolTip("Delete the selected contacts where they remain")

    # -- deciding --------------------------------------------------------------------------

    @Slot()
    def keep_selected(self) -> None:
        self._decide(self.selected(), TrashDecision.KEEP)

    @Slot()
    def delete_selected(self) -> None:
        items = self.selected()
        if items and self.confirm_delete(items):
            self._decide(items, TrashDecision.DELETE)

    @Slot()
    def undo_selected(self) -> None:
        self._decide([item for item in self.selected() if item.decision], None)

    def confirm_delete(self, items: list[TrashCandidate]) -> bool:
        """Ask before deleting, naming each contact and the app it is deleted in."""
        lines = [f"{item.name} in {item.app}" for item in items]
        if len(items) == 1:
            title, text = "Delete contact?", f"Delete {lines[0]}?"
        else:
            shown = lines[:LISTED_IN_CONFIRMATION]
            more = len(lines) - len(shown)
            title = "Delete contacts?"
            text = f"Delete these {len(items)} contacts?\n\n" + "\n".join(f"• {s}" for s in shown)
            if more:
                text += f"\n… and {more} more (see Show Details)."
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(
            "They are deleted at the next sync of their connection; until then you can undo "
            "the decision here."
        )
        if len(lines) > LISTED_IN_CONFIRMATION:
            box.setDetailedText("\n".join(lines))
        box.button(QMessageBox.StandardButton.Yes).setText("Delete")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Yes

    def _decide(self, items: list[TrashCandidate], decision: TrashDecision | None) -> None:
        if not items:
            return
        keys = [key_of(item) for item in items]
        self.message.hide()

        def done(connections: list[str]) -> None:
            self.model.set_decision(keys, decision)
            self._show_done(len(keys), decision)
            for connection in connections:
                self.decided.emit(connection)

        def failed(problem: TaskError) -> None:
            self._show_error(problem)
            self.refresh()  # what the store holds now

        self._group.submit(lambda store: record_decisions(store, keys, decision), done, failed)

    def _show_done(self, count: int, decision: TrashDecision | None) -> None:
        contacts = "1 contact" if count == 1 else f"{count} contacts"
        if decision is None:
            text = f"Decision withdrawn for {contacts}."
        else:
            verb = "Keep" if decision is TrashDecision.KEEP else "Delete"
            text = f"{verb} {contacts}: carried out at the next sync."
        self.message.setStyleSheet("")
        self.message.setText(text)
        self.message.show()

    @Slot(object)
    def _show_error(self, problem: TaskError) -> None:
        self.message.setStyleSheet("color: #c5221f;")
        self.message.setText(f"<b>{html.escape(problem.title)}</b>: {html.escape(problem.message)}")
        self.message.show()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._group.forget_all()
        self.model.forget_pending()
        super().closeEvent(event)
