"""The main window: the connections and the share jobs, their state, and the actions a person
takes on them.

Two sections: Connections (the person's own, two apps kept in sync) and Share jobs (one account's
contact group pushed one way to other accounts; each destination is a hidden connection, listed on
its job's page). It decides nothing about contacts: it reads the store through :class:`StoreTasks`,
feeds every connection, share destinations included, to the :class:`SyncScheduler`, starts syncs
through it, and opens the wizards, Health, a job's page, the Trash review and Settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPoint, Qt, Signal, Slot
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
    QTabWidget,
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
from piesync_desktop.ui.scheduler import Scheduled, SyncScheduler, scheduled_connections
from piesync_desktop.ui.settings_dialog import SettingsDialog
from piesync_desktop.ui.share.job_view import JobView
from piesync_desktop.ui.share.jobs_model import (
    JobColumn,
    JobRow,
    JobsModel,
    load_jobs,
    when_next,
)
from piesync_desktop.ui.sync_manager import RunState, SyncManager
from piesync_desktop.ui.tasks import StoreTasks, TaskError
from piesync_desktop.ui.trash import TrashReview
from piesync_desktop.ui.wizard import ConnectionWizard
from piesync_desktop.ui.workers import RunResult

WINDOW_TITLE = "PieSync Desktop"
CONNECTIONS_TAB, JOBS_TAB = 0, 1


@dataclass(frozen=True, slots=True)
class WindowData:
    """What the window reads at each refresh: its two lists and every connection to schedule."""

    connections: list[ConnectionRow]
    jobs: list[JobRow]
    scheduled: list[Scheduled]


def load_window(store: Store) -> WindowData:
    """The connections, the share jobs and the schedule (on the tasks thread)."""
    return WindowData(load_rows(store), load_jobs(store), scheduled_connections(store))


class ElideRightDelegate(QStyledItemDelegate):
    """Shows a cell's text cut at its end, whatever the table's elide mode."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class MainWindow(QMainWindow):
    """The connections list with Sync now, Pause/Resume, Edit, Health and Remove; the share jobs
    list with New share job, Open and Run now."""

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
        self.job_views: dict[str, JobView] = {}
        self._select_job: str | None = None  # a job to select once the list shows it
        self._loaded = False
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
        self.jobs_model = JobsModel(manager, scheduler, self)
        self.jobs_table = self._make_jobs_table()
        self.jobs_stack = QStackedWidget()
        self.jobs_stack.addWidget(self._make_jobs_empty_state())
        self.jobs_stack.addWidget(self.jobs_table)
        self.sections = QTabWidget()
        self.sections.setDocumentMode(True)
        self.sections.addTab(self.stack, "Connections")
        self.sections.addTab(self.jobs_stack, "Share jobs")
        self.sections.currentChanged.connect(lambda _index: self._update_actions())
        self.setCentralWidget(self.sections)
        self._make_actions()
        self.statusBar().showMessage("Loading connections…")

        manager.status_changed.connect(self._on_status_changed)
        manager.run_finished.connect(self._on_run_finished)
        tasks.error.connect(self._show_task_error)
        self.refresh()

    # -- building --------------------------------------------------------------------------

    def _make_table(self) -> QTableView:
        return self._list_table(
            self.model,
            Column.STATUS,
            (
                (Column.NAME, 160),
                (Column.APPS, 440),
                (Column.LAST_SYNC, 110),
                (Column.IN_SYNC, 70),
                (Column.EXCLUDED, 72),
                (Column.DUPLICATES, 82),
                (Column.FAILING, 62),
            ),
            self._context_menu,
            self.open_health,
        )

    def _list_table(
        self,
        model: QAbstractItemModel,
        status_column: int,
        widths: Iterable[tuple[int, int]],
        context_menu: Callable[[QPoint], None],
        on_open: Callable[[], None],
    ) -> QTableView:
        """A list of the window (connections, share jobs): one row selected at a time."""
        table = QTableView()
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # paths keep both ends
        # A status starts with what to do ("Sign in again: ..."): keep its start.
        table.setItemDelegateForColumn(status_column, ElideRightDelegate(table))
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(34)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in widths:
            table.setColumnWidth(column, width)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(context_menu)
        table.doubleClicked.connect(lambda _index: on_open())
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
        share = QLabel(
            "Or keep one group of contacts (a team, a family) in other people's address books: "
            '<a href="share">New share job…</a>'
        )
        share.setAlignment(Qt.AlignmentFlag.AlignCenter)
        share.linkActivated.connect(lambda _link: self.new_share_job())
        layout.addWidget(picture)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addSpacing(12)
        layout.addWidget(button, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addSpacing(18)
        layout.addWidget(share)
        layout.addStretch(3)
        return page

    def _make_jobs_table(self) -> QTableView:
        return self._list_table(
            self.jobs_model,
            JobColumn.STATE,
            (
                (JobColumn.NAME, 180),
                (JobColumn.SHARES, 380),
                (JobColumn.DESTINATIONS, 96),
                (JobColumn.LAST_RUN, 110),
                (JobColumn.NEXT_RUN, 120),
            ),
            self._jobs_context_menu,
            self.open_job,
        )

    def _make_jobs_empty_state(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addStretch(2)
        title = QLabel("<h2>No share jobs yet</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text = QLabel(
            "A share job copies one group of an account's contacts (a team, a family) into<br>"
            "other accounts' address books, one way, and keeps the copies up to date. It runs "
            "when<br>you create it, then daily, and whenever you say Run now."
        )
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        button = QPushButton(icon("action-add"), "New share job…")
        button.clicked.connect(self.new_share_job)
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
        self.new_share_action = self._action(
            "New share job…", "action-add", self.new_share_job, "Ctrl+Shift+N"
        )
        self.open_job_action = self._action("Open", "action-edit", self.open_job)
        self.run_job_action = self._action("Run now", "action-sync", self.run_selected_job)
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
            self.new_share_action,
            None,
            self.sync_action,
            self.pause_action,
            self.edit_action,
            self.health_action,
            self.remove_action,
            self.confirm_action,
            self.open_job_action,
            self.run_job_action,
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
        for action in (
            self.new_action,
            self.new_share_action,
            self.sync_all_action,
            self.trash_action,
        ):
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

    def selected_job(self) -> JobRow | None:
        rows = self.jobs_table.selectionModel().selectedRows()
        return self.jobs_model.job(rows[0].row()) if rows else None

    def select_job(self, name: str) -> None:
        row = self.jobs_model.row_of(name)
        if row is not None:
            self.jobs_table.selectRow(row)

    @property
    def showing_jobs(self) -> bool:
        return self.sections.currentIndex() == JOBS_TAB

    def _update_actions(self) -> None:
        row = self.selected()
        connection_actions = (
            self.sync_action,
            self.pause_action,
            self.edit_action,
            self.health_action,
            self.remove_action,
        )
        for action in connection_actions:
            action.setEnabled(row is not None)
            action.setVisible(not self.showing_jobs)
        running = row is not None and self.manager.is_running(row.name)
        self.sync_action.setText("Cancel sync" if running else "Sync now")
        paused = row is not None and row.paused
        self.pause_action.setText("Resume" if paused else "Pause")
        self.pause_action.setIcon(icon("action-resume" if paused else "action-pause"))
        braked = row is not None and self.model.state(row)[0] is RunState.BRAKED
        self.confirm_action.setVisible(braked and not self.showing_jobs)
        job = self.selected_job()
        self.open_job_action.setVisible(self.showing_jobs)
        self.run_job_action.setVisible(self.showing_jobs)
        self.open_job_action.setEnabled(job is not None)
        idle = job is not None and any(not self.manager.is_running(n) for n in job.names)
        self.run_job_action.setEnabled(idle)
        self.sync_all_action.setEnabled(bool(self.scheduler.names))

    @Slot()
    def refresh(self) -> None:
        """Read the connections and the share jobs again (after a sync, an edit, a removal)."""
        self.tasks.submit(load_window, self._show_data)

    def _show_data(self, data: WindowData) -> None:
        self._show_rows(data.connections)
        self._show_jobs(data.jobs)
        # Every connection, the share destinations included, runs on its schedule.
        self.scheduler.set_connections(data.scheduled)
        if not self._loaded:
            self._loaded = True
            if data.jobs and not data.connections:
                self.sections.setCurrentIndex(JOBS_TAB)
        self._update_actions()
        self._show_summary()

    def _show_rows(self, rows: list[ConnectionRow]) -> None:
        chosen = self.selected()
        self.model.set_rows(rows)
        self.stack.setCurrentIndex(1 if rows else 0)
        self.sections.setTabText(CONNECTIONS_TAB, _titled("Connections", len(rows)))
        if chosen is not None:
            self.select(chosen.name)
        elif rows:
            self.table.selectRow(0)

    def _show_jobs(self, jobs: list[JobRow]) -> None:
        chosen = self.selected_job()
        self.jobs_model.set_rows(jobs)
        self.jobs_stack.setCurrentIndex(1 if jobs else 0)
        self.sections.setTabText(JOBS_TAB, _titled("Share jobs", len(jobs)))
        wanted = self._select_job or (chosen.name if chosen is not None else None)
        if wanted is not None and self.jobs_model.row_of(wanted) is not None:
            self.select_job(wanted)
            self._select_job = None
        elif jobs:
            self.jobs_table.selectRow(0)

    def _show_summary(self) -> None:
        names = self.model.names
        jobs = self.jobs_model.names
        if not names and not jobs:
            self.statusBar().showMessage("No connections yet.")
            return
        running = len(self.manager.running)
        total = len(self.scheduler.names)
        if running:
            what = "connections and share destinations" if jobs else "connections"
            self.statusBar().showMessage(f"Syncing {running} of {total} {what}…")
        elif self.scheduler.paused:
            self.statusBar().showMessage("Syncing is paused.")
        else:
            counts = [_count(len(names), "connection"), _count(len(jobs), "share job")]
            count = ", ".join(c for c in counts if c)
            self.statusBar().showMessage(f"{count}. {self._next_sync_text()}")

    def _next_sync_text(self) -> str:
        due = [d for name in self.scheduler.names if (d := self.scheduler.due(name)) is not None]
        if not due:
            return ""
        first, now = min(due), self.scheduler.clock()
        minutes = max(0, round((first - now) / 60))
        if minutes < 1:
            return "Next sync in less than a minute."
        if minutes < 60:
            return f"Next sync in {minutes} min."
        return f"Next sync: {when_next(first, now)}."

    @Slot(str)
    def _on_status_changed(self, name: str) -> None:
        row = self.selected()
        job = self.selected_job()
        if (row is not None and row.name == name) or (job is not None and name in job.names):
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
        if row is not None:
            self.open_health_of(row.name)

    @Slot(str)
    def open_health_of(self, name: str) -> HealthView:
        """The Health of connection ``name`` (one window per connection), in front."""
        view = self.health_views.get(name)
        if view is None:
            view = HealthView(self.tasks, name)
            view.setWindowIcon(icon("action-health"))
            self.health_views[name] = view
            view.destroyed.connect(lambda *_a, name=name: self.health_views.pop(name, None))
            view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        status = self.manager.status(name)
        if status.state is RunState.WAITING:
            view.set_waiting(status.text.removeprefix("Waiting for "))
        view.show()
        view.raise_()
        view.activateWindow()
        return view

    # -- share jobs ------------------------------------------------------------------------

    @Slot()
    def new_share_job(self) -> None:
        """The share job wizard; once saved, every destination's first run starts at once."""
        from piesync_desktop.ui.share.job_wizard import ShareJobWizard

        wizard = ShareJobWizard(self.tasks, parent=self)
        wizard.saved.connect(self._share_job_saved)
        wizard.finished.connect(wizard.deleteLater)
        wizard.open()

    @Slot(str)
    def _share_job_saved(self, name: str) -> None:
        def destinations(store: Store) -> list[str]:
            return [d.name for d in store.job_destinations(store.share_job(name).id or 0)]

        def start(names: list[str]) -> None:
            for destination in names:
                self.scheduler.run_now(destination)
            self.statusBar().showMessage(
                f"Share job '{name}' saved; it is copying its group to "
                f"{_count(len(names), 'destination') or 'no destination yet'}.",
                8000,
            )

        self._select_job = name
        self.sections.setCurrentIndex(JOBS_TAB)
        self.tasks.submit(destinations, start)
        self.refresh()

    @Slot()
    def run_selected_job(self) -> list[str]:
        """Start every destination of the chosen job that is not paused."""
        job = self.selected_job()
        if job is None:
            return []
        started = [
            d.name
            for d in job.destinations
            if not d.connection.paused and self.scheduler.run_now(d.name)
        ]
        self._update_actions()
        return started

    @Slot()
    def open_job(self) -> JobView | None:
        """The page of the chosen share job (one window per job), in front."""
        job = self.selected_job()
        return self.open_job_named(job.name) if job is not None else None

    def open_job_named(self, name: str) -> JobView:
        view = self.job_views.get(name)
        if view is None:
            view = JobView(self.tasks, self.manager, self.scheduler, name)
            self.job_views[name] = view
            view.changed.connect(self.refresh)
            view.health_requested.connect(self.open_health_of)
            view.destination_removed.connect(self._close_health)
            view.destroyed.connect(lambda *_a, name=name: self._job_view_closed(name))
            view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.show()
        view.raise_()
        view.activateWindow()
        return view

    @Slot(str)
    def _close_health(self, name: str) -> None:
        view = self.health_views.pop(name, None)
        if view is not None:
            view.close()

    def _job_view_closed(self, name: str) -> None:
        self.job_views.pop(name, None)
        self.refresh()  # a schedule saved as the page closed

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

    @Slot(QPoint)
    def _jobs_context_menu(self, position: QPoint) -> None:
        index: QModelIndex = self.jobs_table.indexAt(position)
        if not index.isValid():
            return
        self.jobs_table.selectRow(index.row())
        menu = QMenu(self)
        menu.addAction(self.open_job_action)
        menu.addAction(self.run_job_action)
        menu.popup(self.jobs_table.viewport().mapToGlobal(position))

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
        if self.scheduler.names and not self._confirm_quit():
            event.ignore()
            return
        for view in list(self.health_views.values()):
            view.close()
        for job_view in list(self.job_views.values()):
            job_view.close()
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


def _count(number: int, word: str) -> str:
    """How many, in words ("2 connections", "1 share job"); empty for none."""
    return f"{number} {word}{'' if number == 1 else 's'}" if number else ""


def _titled(title: str, number: int) -> str:
    """A section's tab: its title and how many it lists."""
    return f"{title} ({number})" if number else title
