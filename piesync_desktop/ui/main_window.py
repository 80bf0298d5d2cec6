"""The main window: the connections, their state, and the actions a person takes on them.

It decides nothing about contacts: it reads the store through :class:`StoreTasks`, starts syncs
through the :class:`SyncScheduler`, and opens the wizard, Health, the Trash review and Settings.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine.store import Store
from piesync_desktop.ui.connections_model import (
    Column,
    ConnectionRow,
    ConnectionsModel,
    load_rows,
)
from piesync_desktop.ui.health import HealthView
from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.scheduler import Scheduled, SyncScheduler
from piesync_desktop.ui.settings_dialog import SettingsDialog
from piesync_desktop.ui.sync_manager import RunState, SyncManager
from piesync_desktop.ui.tasks import StoreTasks, TaskError
from piesync_desktop.ui.trash import TrashReview
from piesync_desktop.ui.wizard import ConnectionWizard
from piesync_desktop.ui.workers import RunResult

WINDOW_TITLE = "PieSync Desktop"


class ElideRightDelegate(QStyledItemDelegate):
    """Shows a cell's text cut at its end, whatever the table's elide mode."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class MainWindow(QMainWindow):
    """The connections list with Sync now, Pause/Resume, Edit, Health and Remove."""

    close_requested = Signal()  # the window was closed; the application decides what follows

    def __init__(
        self,
        tasks: StoreTasks,
        manager: SyncManager,
        scheduler: SyncScheduler,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.manager = manager
        self.scheduler = scheduler
        self.keep_running_in_tray = False  # set by the application when a tray icon is shown
        self.health_views: dict[str, HealthView] = {}
        self.trash_review: TrashReview | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.setWindowTitle(WINDOW_TITLE)
        self.setWindowIcon(icon("piesync-desktop"))
        self.resize(1200, 640)

        self.model = ConnectionsModel(manager, self)
        self.table = self._make_table()
        self.stack = QStackedWidget()
        self.stack.addWidget(self._make_empty_state())
        self.stack.addWidget(self.table)
        self.setCentralWidget(self.stack)
        self._make_actions()
        self.statusBar().showMessage("Loading connections…")

        manager.status_changed.connect(self._on_status_changed)
        manager.run_finished.connect(self._on_run_finished)
        tasks.error.connect(self._show_task_error)
        self.refresh()

    # -- building --------------------------------------------------------------------------

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # paths keep both ends
        # A status starts with what to do ("Sign in again: ..."): keep its start.
        table.setItemDelegateForColumn(Column.STATUS, ElideRightDelegate(table))
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(34)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in (
            (Column.NAME, 160),
            (Column.APPS, 440),
            (Column.LAST_SYNC, 110),
            (Column.IN_SYNC, 70),
            (Column.EXCLUDED, 72),
            (Column.DUPLICATES, 82),
            (Column.FAILING, 62),
        ):
            table.setColumnWidth(column, width)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        table.doubleClicked.connect(lambda _index: self.open_health())
        table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        return table

    def _make_empty_state(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addStretch(2)
        picture = QLabel()
        picture.setPixmap(icon("piesync-desktop").pixmap(96, 96))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("<h2>No connections yet</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "Connect two of your address books and PieSync Desktop keeps their contacts in "
            "sync,<br>in the background, on this computer. Nothing is ever deleted for you."
        )
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        button = QPushButton(icon("action-add"), "New connection…")
        button.clicked.connect(self.new_connection)
        layout.addWidget(picture)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addSpacing(12)
        layout.addWidget(button, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(3)
        return page

    def _action(self, text: str, icon_name: str, slot, shortcut: str = "") -> QAction:
        action = QAction(icon(icon_name), text, self)
        action.triggered.connect(slot)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        return action

    def _make_actions(self) -> None:
        self.new_action = self._action(
            "New connection…", "action-add", self.new_connection, "Ctrl+N"
        )
        self.sync_action = self._action("Sync now", "action-sync", self.sync_selected, "F5")
        self.pause_action = self._action("Pause", "action-pause", self.toggle_pause)
        self.edit_action = self._action("Edit…", "action-edit", self.edit_selected)
        self.health_action = self._action("Health", "action-health", self.open_health, "Ctrl+H")
        self.remove_action = self._action("Remove…", "action-remove", self.remove_selected)
        self.confirm_action = self._action(
            "Confirm and sync…", "state-failing", self.confirm_selected
        )
        self.sync_all_action = self._action(
            "Sync all", "action-sync", self.scheduler.run_all_now, "Ctrl+Shift+S"
        )
        self.trash_action = self._action("Trash review", "action-trash", self.open_trash)
        self.remove_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.quit_action = self._action("Quit", "", self.quit_requested, "Ctrl+Q")
        self.settings_action = self._action("Settings…", "", self.open_settings)
        self.settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)

        toolbar = QToolBar("Connections")
        toolbar.setObjectName("connections-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (
            self.new_action,
            None,
            self.sync_action,
            self.pause_action,
            self.edit_action,
            self.health_action,
            self.remove_action,
            self.confirm_action,
            None,
            self.sync_all_action,
            self.trash_action,
        ):
            if action is None:
                toolbar.addSeparator()
            else:
                toolbar.addAction(action)
        self.addToolBar(toolbar)

        menu = self.menuBar().addMenu("&Connections")
        for action in (self.new_action, self.sync_all_action, self.trash_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.settings_action)
        menu.addAction(self.quit_action)
        self._update_actions()

    # -- state -----------------------------------------------------------------------------

    def selected(self) -> ConnectionRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.connection(rows[0].row()) if rows else None

    def select(self, name: str) -> None:
        row = self.model.row_of(name)
        if row is not None:
            self.table.selectRow(row)

    def _update_actions(self) -> None:
        row = self.selected()
        for action in (
            self.sync_action,
            self.pause_action,
            self.edit_action,
            self.health_action,
            self.remove_action,
        ):
            action.setEnabled(row is not None)
        running = row is not None and self.manager.is_running(row.name)
        self.sync_action.setText("Cancel sync" if running else "Sync now")
        paused = row is not None and row.paused
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_action.setIcon(icon("action-resume" if paused else "action-pause"))
        braked = row is not None and self.model.state(row)[0] is RunState.BRAKED
        self.confirm_action.setVisible(braked)
        self.sync_all_action.setEnabled(bool(self.model.names))

    @Slot()
    def refresh(self) -> None:
        """Read the connections again (after a sync, an edit, a removal)."""
        self.tasks.submit(load_rows, self._show_rows)

    def _show_rows(self, rows: list[ConnectionRow]) -> None:
        chosen = self.selected()
        self.model.set_rows(rows)
        self.stack.setCurrentIndex(1 if rows else 0)
        self.scheduler.set_connections(
            Scheduled(row.name, row.interval_minutes, row.paused) for row in rows
        )
        if chosen is not None:
            self.select(chosen.name)
        elif rows:
            self.table.selectRow(0)
        self._update_actions()
        self._show_summary()

    def _show_summary(self) -> None:
        names = self.model.names
        if not names:
            self.statusBar().showMessage("No connections yet.")
            return
        running = len(self.manager.running)
        if running:
            self.statusBar().showMessage(f"Syncing {running} of {len(names)} connections…")
        elif self.scheduler.paused:
            self.statusBar().showMessage("Syncing is paused.")
        else:
            count = f"{len(names)} connection{'s' if len(names) > 1 else ''}"
            self.statusBar().showMessage(f"{count}. {self._next_sync_text()}")

    def _next_sync_text(self) -> str:
        due = [d for name in self.model.names if (d := self.scheduler.due(name)) is not None]
        if not due:
            return ""
        minutes = max(0, round((min(due) - self.scheduler.clock()) / 60))
        return "Next sync in less than a minute." if minutes < 1 else f"Next sync in {minutes} min."

    @Slot(str)
    def _on_status_changed(self, name: str) -> None:
        row = self.selected()
        if row is not None and row.name == name:
            self._update_actions()
        view = self.health_views.get(name)
        if view is not None:
            status = self.manager.status(name)
            waiting = status.text.removeprefix("Waiting for ")
            view.set_waiting(waiting if status.state is RunState.WAITING else None)
        self._show_summary()

    @Slot(object)
    def _on_run_finished(self, result: RunResult) -> None:
        self.refresh()
        view = self.health_views.get(result.connection)
        if view is not None:
            view.set_waiting(None)
            view.refresh()
        if self.trash_review is not None:
            self.trash_review.refresh()

    @Slot(object)
    def _show_task_error(self, problem: TaskError) -> None:
        QMessageBox.warning(self, problem.title, problem.message)

    # -- actions ---------------------------------------------------------------------------

    @Slot()
    def new_connection(self) -> None:
        self._open_wizard(None)

    @Slot()
    def edit_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        self._open_wizard(row.name)

    def _open_wizard(self, existing: str | None) -> None:
        wizard = ConnectionWizard(self.tasks, existing=existing, parent=self)
        wizard.saved.connect(self._connection_saved)
        wizard.finished.connect(wizard.deleteLater)
        wizard.open()

    @Slot(str)
    def _connection_saved(self, name: str) -> None:
        self.refresh()
        self.scheduler.run_now(name)
        self.statusBar().showMessage(f"'{name}' saved; its first sync has started.", 5000)

    @Slot()
    def sync_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        if self.manager.is_running(row.name):
            self.manager.cancel(row.name)
        else:
            self.scheduler.run_now(row.name)
        self._update_actions()

    @Slot()
    def confirm_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        answer = QMessageBox.question(
            self,
            "Sync after the safety brake?",
            f"{self.manager.status(row.name).text}\n\nIf this is what you meant (you emptied "
            f"the address book or moved its contacts on purpose), sync '{row.name}' anyway. "
            "No contact is deleted either way.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.scheduler.run_now(row.name, confirm=True)

    @Slot()
    def toggle_pause(self) -> None:
        row = self.selected()
        if row is None:
            return
        paused = not row.paused

        def save(store: Store) -> None:
            store.set_paused(row.name, paused)

        def saved(_result: object) -> None:
            self.manager.mark_paused(row.name, paused)
            self.refresh()

        self.tasks.submit(save, saved)

    @Slot()
    def remove_selected(self) -> None:
        row = self.selected()
        if row is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove connection",
            f"Remove the connection '{row.name}'?\n\nThis forgets its settings and sync state "
            f"on this computer. No contact is deleted, neither in {row.a} nor in {row.b}.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.manager.forget(row.name)
        view = self.health_views.pop(row.name, None)
        if view is not None:
            view.close()

        def removed(_result: object) -> None:
            self.statusBar().showMessage(
                f"Connection '{row.name}' removed. No contact was deleted.", 8000
            )
            self.refresh()

        self.tasks.submit(lambda store: store.remove_connection(row.name), removed)

    @Slot()
    def open_health(self) -> None:
        row = self.selected()
        if row is None:
            return
        view = self.health_views.get(row.name)
        if view is None:
            view = HealthView(self.tasks, row.name)
            view.setWindowIcon(icon("action-health"))
            self.health_views[row.name] = view
            view.destroyed.connect(lambda *_a, name=row.name: self.health_views.pop(name, None))
            view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        status = self.manager.status(row.name)
        if status.state is RunState.WAITING:
            view.set_waiting(status.text.removeprefix("Waiting for "))
        view.show()
        view.raise_()
        view.activateWindow()

    @Slot()
    def open_trash(self) -> None:
        if self.trash_review is None:
            self.trash_review = TrashReview(self.tasks)
            self.trash_review.setWindowIcon(icon("action-trash"))
            self.trash_review.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.trash_review.destroyed.connect(self._trash_closed)
            self.trash_review.decided.connect(self.scheduler.run_now)
        self.trash_review.show()
        self.trash_review.raise_()
        self.trash_review.activateWindow()

    @Slot()
    def _trash_closed(self) -> None:
        self.trash_review = None

    @Slot()
    def open_settings(self) -> None:
        """The Settings dialog (one at a time); saving applies it to the next syncs."""
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            self.settings_dialog.activateWindow()
            return
        dialog = SettingsDialog(self.tasks, parent=self)
        self.settings_dialog = dialog
        dialog.saved.connect(self._settings_saved)
        dialog.finished.connect(self._settings_closed)
        dialog.open()

    @Slot(list)
    def _settings_saved(self, _applied: list[str]) -> None:
        self.statusBar().showMessage("Settings saved; the next syncs and sign-ins use them.", 8000)

    @Slot(int)
    def _settings_closed(self, _result: int) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
            self.settings_dialog = None

    @Slot(QPoint)
    def _context_menu(self, position: QPoint) -> None:
        index: QModelIndex = self.table.indexAt(position)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        for action in (
            self.sync_action,
            self.pause_action,
            self.edit_action,
            self.health_action,
            self.confirm_action,
        ):
            if action.isVisible():
                menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.remove_action)
        menu.popup(self.table.viewport().mapToGlobal(position))

    def show_and_raise(self) -> None:
        """Bring the window to the front (the tray's Open, a second start of the program)."""
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # -- closing ---------------------------------------------------------------------------

    @Slot()
    def quit_requested(self) -> None:
        self.keep_running_in_tray = False
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.keep_running_in_tray:
            event.ignore()
            self.hide()
            self.close_requested.emit()
            return
        if self.model.names and not self._confirm_quit():
            event.ignore()
            return
        for view in list(self.health_views.values()):
            view.close()
        if self.trash_review is not None:
            self.trash_review.close()
        event.accept()
        self.close_requested.emit()

    def _confirm_quit(self) -> bool:
        running = len(self.manager.running)
        busy = f" {running} sync(s) under way stop safely and go on next time." if running else ""
        answer = QMessageBox.question(
            self,
            "Quit PieSync Desktop?",
            "Your contacts stop syncing until you start PieSync Desktop again." + busy,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes
