"""The page of one share job, in a window of its own (as Health is): source, destinations,
schedule and timeline.

It says what the job shares and why its reference tag must stay on the copies; lists the
destinations with the live status of their runs (Add…, Remove…, Health, Run now); sets how often
the job runs; and shows the job's own timeline, newest first. Store reads go through
:class:`StoreTasks`; adding a destination (it opens both accounts) and removing one (it reads
and writes the destination) run on a worker thread, so the window never waits on the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape as _html_escape
from typing import Any

from PySide6.QtCore import QCoreApplication, QSignalBlocker, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine import share
from piesync_desktop.engine.share import RemovalPlan, RemovalResult
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.icons import app_icon, icon
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.share.jobs_model import (
    DestinationColumn,
    DestinationRow,
    DestinationsModel,
    EventColumn,
    EventsModel,
    JobPage,
    load_job_page,
    next_run_of,
    when_next,
)
from piesync_desktop.ui.share.removal import RemovalDialog, RemovalFlow, result_text
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.tasks import StoreTasks, TaskError, TaskGroup
from piesync_desktop.ui.wizard.background import Background, JobContext
from piesync_desktop.ui.workers import RunResult


def escape(text: str) -> str:
    """Text for a rich-text label (quotes stay quotes)."""
    return _html_escape(text, quote=False)


MAX_HOURS = 24 * 7  # the schedule runs at least weekly
SAVE_DELAY_MS = 600  # the interval is saved this long after the last click of the spin box


def destination_dialog(tasks: StoreTasks, exclude: Sequence[str], parent: QWidget) -> Any:
    """The dialog that picks a destination (its ``spec`` once accepted)."""
    from piesync_desktop.ui.share.destination_dialog import DestinationDialog

    return DestinationDialog(tasks, title="Add a destination", exclude=exclude, parent=parent)


BANNER_STYLES = {  # (background, border, text)
    "info": ("#e8f0fe", "#aecbfa", "#174ea6"),
    "done": ("#e6f4ea", "#a8dab5", "#0d652d"),
    "problem": ("#fce8e6", "#f6aea9", "#a50e0e"),
    "busy": ("#fef7e0", "#f9d67a", "#5f4b00"),
}


class Banner(QLabel):
    """A note in a coloured frame: information (blue), done (green), busy (yellow) or a
    problem (red)."""

    def __init__(self, kind: str = "info", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setMargin(8)
        self.kind = kind
        self.set_kind(kind)

    def set_kind(self, kind: str) -> None:
        self.kind = kind
        background, border, colour = BANNER_STYLES[kind]
        self.setStyleSheet(
            f"QLabel {{ background: {background}; border: 1px solid {border}; "
            f"border-radius: 4px; color: {colour}; }}"
        )

    def say(self, kind: str, text: str) -> None:
        """Show ``text`` (HTML) in the ``kind``'s colours; empty text hides the banner."""
        self.set_kind(kind)
        self.setText(text)
        self.setVisible(bool(text))


class JobView(QWidget):
    """One share job: what it shares, its destinations, its schedule and its timeline."""

    changed = Signal()  # destinations or schedule changed: the window reads the jobs again
    health_requested = Signal(str)  # the connection of a destination
    destination_removed = Signal(str)  # its connection is gone (its Health closes)
    loaded = Signal()  # the page shows what the store holds now

    def __init__(
        self,
        tasks: StoreTasks,
        manager: SyncManager,
        scheduler: SyncScheduler,
        job: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle(f"Share job: {job}")
        self.setWindowIcon(icon("piesync-desktop"))
        self.resize(1080, 720)
        self.tasks = tasks
        self.manager = manager
        self.scheduler = scheduler
        self.job_name = job
        self.page: JobPage | None = None
        self.removal: RemovalFlow | None = None
        self.adding: str | None = None  # the spec of a destination being added
        self._closed = False
        self._group = TaskGroup(tasks)
        self._background = Background(f"share-job:{job}", self)
        app = QCoreApplication.instance()
        if app is not None:  # the program quits with the page open: its thread stops first
            app.aboutToQuit.connect(self._background.shutdown)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._save_interval)

        self.destinations_model = DestinationsModel(manager, scheduler, self)
        self.events_model = EventsModel(self)

        layout = QVBoxLayout(self)
        layout.addLayout(self._make_header())
        self.tag_note = Banner("info")
        self.tag_note.hide()
        layout.addWidget(self.tag_note)
        self.notice = Banner("done")
        self.notice.hide()
        layout.addWidget(self.notice)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._make_destinations())
        splitter.addWidget(self._make_timeline())
        splitter.setSizes([340, 300])
        layout.addWidget(splitter, 1)

        manager.status_changed.connect(self._on_status_changed)
        manager.run_finished.connect(self._on_run_finished)
        self._update_buttons()
        self.refresh()

    # -- building --------------------------------------------------------------------------

    def _make_header(self) -> QHBoxLayout:
        self.source_icon = QLabel()
        self.source_icon.setPixmap(icon("piesync-desktop").pixmap(QSize(40, 40)))
        self.title = QLabel(escape(self.job_name))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.summary = QLabel("Reading the store…")
        self.summary.setWordWrap(True)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.summary)
        header = QHBoxLayout()
        header.addWidget(self.source_icon, 0, Qt.AlignmentFlag.AlignTop)
        header.addSpacing(6)
        header.addLayout(text, 1)
        return header

    def _make_destinations(self) -> QGroupBox:
        box = QGroupBox("Destinations")
        self.destinations_table = self._make_table(self.destinations_model)
        header = self.destinations_table.horizontalHeader()
        for column, width in (
            (DestinationColumn.DESTINATION, 300),
            (DestinationColumn.LAST_RUN, 110),
            (DestinationColumn.NEXT_RUN, 120),
            (DestinationColumn.COPIES, 110),
            (DestinationColumn.FAILING, 70),
        ):
            header.resizeSection(column, width)
        self.destinations_table.selectionModel().selectionChanged.connect(
            lambda *_: self._update_buttons()
        )
        self.destinations_table.doubleClicked.connect(lambda _index: self.open_health())
        self.no_destinations = QLabel(
            "No destinations: Add… one, and the job copies its group there at once."
        )
        self.no_destinations.setEnabled(False)
        self.no_destinations.hide()

        self.add_button = QPushButton(icon("action-add"), "Add…")
        self.add_button.setToolTip("Add an account the group is copied to")
        self.add_button.clicked.connect(self.add_destination)
        self.remove_button = QPushButton(icon("action-remove"), "Remove…")
        self.remove_button.setToolTip(
            "Remove the chosen destination: its copies are deleted there, after you confirm"
        )
        self.remove_button.clicked.connect(self.remove_destination)
        self.health_button = QPushButton(icon("action-health"), "Health")
        self.health_button.setToolTip("The Health of the chosen destination")
        self.health_button.clicked.connect(self.open_health)
        self.run_button = QPushButton(icon("action-sync"), "Run now")
        self.run_button.setToolTip("Copy the group to every destination now")
        self.run_button.clicked.connect(self.run_now)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, self.health_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)

        self.interval = QSpinBox()
        self.interval.setRange(1, MAX_HOURS)
        self.interval.setValue(24)
        self.interval.setSuffix(" hours")
        self.interval.setAccessibleName("Run every so many hours")
        self.interval.setEnabled(False)
        self.interval.valueChanged.connect(self._interval_changed)
        self.schedule_note = QLabel()
        self.schedule_note.setEnabled(False)
        schedule = QHBoxLayout()
        schedule.addWidget(QLabel("The job runs when a destination is added, then every"))
        schedule.addWidget(self.interval)
        schedule.addWidget(QLabel("and on Run now."))
        schedule.addSpacing(12)
        schedule.addWidget(self.schedule_note, 1)

        column = QVBoxLayout(box)
        column.addWidget(self.destinations_table, 1)
        column.addWidget(self.no_destinations)
        column.addLayout(buttons)
        column.addLayout(schedule)
        return box

    def _make_timeline(self) -> QGroupBox:
        box = QGroupBox("Timeline")
        self.events_table = self._make_table(self.events_model)
        header = self.events_table.horizontalHeader()
        for column, width in (
            (EventColumn.WHEN, 140),
            (EventColumn.DESTINATION, 220),
            (EventColumn.WHAT, 190),
            (EventColumn.CONTACT, 170),
        ):
            header.resizeSection(column, width)
        self.timeline_note = QLabel(
            "What happened to the job itself, newest first: destinations added and removed, "
            "and the contacts a removal deleted or let go. Each destination's syncs are in its "
            "Health."
        )
        self.timeline_note.setWordWrap(True)
        self.timeline_note.setEnabled(False)
        column = QVBoxLayout(box)
        column.addWidget(self.timeline_note)
        column.addWidget(self.events_table, 1)
        return box

    @staticmethod
    def _make_table(model: DestinationsModel | EventsModel) -> QTableView:
        table = QTableView()
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 12)
        header = table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        return table

    # -- state -----------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A destination is being added or removed."""
        return self.adding is not None or self.removal is not None

    def selected(self) -> DestinationRow | None:
        rows = self.destinations_table.selectionModel().selectedRows()
        return self.destinations_model.destination(rows[0].row()) if rows else None

    def select(self, name: str) -> None:
        row = self.destinations_model.row_of(name)
        if row is not None:
            self.destinations_table.selectRow(row)

    def _update_buttons(self) -> None:
        chosen = self.selected()
        loaded = self.page is not None
        self.add_button.setEnabled(loaded and not self.busy)
        self.remove_button.setEnabled(chosen is not None and not self.busy)
        self.health_button.setEnabled(chosen is not None)
        names = self.destinations_model.names
        idle = [n for n in names if not self.manager.is_running(n)]
        self.run_button.setEnabled(bool(idle) and not self.busy)
        self.interval.setEnabled(loaded)
        self._show_next_run()

    def _show_next_run(self) -> None:
        due = next_run_of(self.scheduler, self.destinations_model.names)
        if due is None:
            self.schedule_note.setText("")
        else:
            self.schedule_note.setText(f"Next run: {when_next(due, self.scheduler.clock())}")

    @Slot()
    def refresh(self) -> None:
        """Read the job again (after a run of a destination, an addition, a removal)."""
        name = self.job_name
        self._group.submit(lambda store: load_job_page(store, name), self._show_page, self._problem)

    def _show_page(self, page: JobPage) -> None:
        self.page = page
        row = page.row
        job = row.job
        self.source_icon.setPixmap(app_icon(row.source.key).pixmap(QSize(40, 40)))
        self.summary.setText(
            f"Copies the contacts of <b>{escape(str(row.source))}</b> in the group "
            f"<b>'{escape(job.group)}'</b>, one way, to each destination below: a copy "
            "follows its original, edits made to a copy are overwritten, and a contact that "
            "leaves the group is tagged 'PieSync Trash' there."
        )
        self.summary.setToolTip(job.source_spec)
        self.tag_note.setText(escape(job.role().note()))
        self.tag_note.show()
        chosen = self.selected()
        self.destinations_model.set_rows(row.destinations)
        if chosen is not None and self.destinations_model.row_of(chosen.name) is not None:
            self.select(chosen.name)
        elif row.destinations:
            self.destinations_table.selectRow(0)
        self.no_destinations.setVisible(not row.destinations)
        self.events_model.set_events(page.events)
        if not self._save_timer.isActive():
            with QSignalBlocker(self.interval):
                self.interval.setValue(max(1, round(job.interval_minutes / 60)))
            self._set_suffix()
        self._update_buttons()
        self.loaded.emit()

    @Slot(str)
    def _on_status_changed(self, name: str) -> None:
        if name in self.destinations_model.names:
            self._update_buttons()

    @Slot(object)
    def _on_run_finished(self, result: RunResult) -> None:
        if result.connection in self.destinations_model.names:
            self.refresh()

    def _problem(self, problem: TaskError) -> None:
        self.notice.say("problem", f"<b>{escape(problem.title)}</b>: {escape(problem.message)}")

    # -- actions ---------------------------------------------------------------------------

    @Slot()
    def run_now(self) -> list[str]:
        """Start every destination that is not paused; returns those started."""
        rows = self.destinations_model.rows
        started = [
            row.name
            for row in rows
            if not row.connection.paused and self.scheduler.run_now(row.name)
        ]
        paused = [row.label.short() for row in rows if row.connection.paused]
        plural = "" if len(started) == 1 else "s"
        text = f"Copying the group to {len(started)} destination{plural} now."
        if not started:
            text = "Nothing to start: every destination is running or paused."
        if paused:
            text += " Paused, so not run: " + ", ".join(paused) + "."
        self.notice.say("done", escape(text))
        self._update_buttons()
        return started

    @Slot()
    def open_health(self) -> None:
        chosen = self.selected()
        if chosen is not None:
            self.health_requested.emit(chosen.name)

    @Slot()
    def add_destination(self) -> None:
        """Pick an account (the destination dialog), add it, and run it at once."""
        if self.page is None or self.busy:
            return
        exclude = [self.page.row.job.source_spec] + [d.spec for d in self.page.row.destinations]
        dialog = destination_dialog(self.tasks, exclude, self)
        dialog.accepted.connect(lambda: self._add(str(dialog.spec)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _add(self, spec: str) -> None:
        if not spec or self.busy:
            return
        self.adding = spec
        self._update_buttons()
        self.notice.say("busy", f"Adding {escape(spec)}: checking the account…")
        store_path, name = self.manager.store_path, self.job_name

        def add(_ctx: JobContext) -> tuple[str, str]:
            with Store(store_path) as store:
                settings = share.add_destination(store, store.share_job(name), spec)
                return settings.name, settings.b_spec

        self._background.submit("add", add, self._added, self._add_failed)

    def _added(self, added: tuple[str, str]) -> None:
        name, _spec = added
        self.adding = None
        self.scheduler.run_now(name)
        self.notice.say(
            "done",
            f"Destination added; its first run is copying '{escape(self._group_name())}' "
            "there now.",
        )
        self._select_after_load(name)
        self.refresh()
        self.changed.emit()

    def _add_failed(self, problem: TaskError) -> None:
        self.adding = None
        self._problem(problem)
        self._update_buttons()

    def _select_after_load(self, name: str) -> None:
        def select() -> None:
            self.loaded.disconnect(select)
            self.select(name)

        self.loaded.connect(select)

    @Slot()
    def remove_destination(self) -> RemovalFlow | None:
        """Remove the chosen destination: read it, confirm, then delete the job's copies."""
        chosen = self.selected()
        if chosen is None or self.busy:
            return None
        flow = RemovalFlow(
            self._background, self.manager, self.job_name, chosen.name, chosen.label.short(), self
        )
        self.removal = flow
        flow.progress.connect(self._removal_progress)
        flow.finished.connect(self._removed)
        flow.cancelled.connect(self._removal_over)
        flow.failed.connect(self._removal_failed)
        self._update_buttons()
        flow.start()
        return flow

    @property
    def confirmation(self) -> RemovalDialog | None:
        """The removal's confirmation while it is shown."""
        return self.removal.dialog if self.removal is not None else None

    def _removal_progress(self, text: str) -> None:
        if text:
            self.notice.say("busy", escape(text))
        elif self.notice.kind == "busy":
            self.notice.say("busy", "")

    def _removed(self, plan: RemovalPlan, result: RemovalResult) -> None:
        self._removal_over()
        kind = "done" if result.complete else "problem"
        self.notice.say(kind, escape(result_text(plan, result)))
        if result.complete:
            self.destination_removed.emit(plan.destination.name)
        self.refresh()
        self.changed.emit()

    def _removal_failed(self, problem: TaskError) -> None:
        self._removal_over()
        self._problem(problem)
        self.refresh()
        self.changed.emit()

    def _removal_over(self) -> None:
        if self.removal is not None:
            self.removal.deleteLater()
            self.removal = None
        self._update_buttons()

    # -- schedule --------------------------------------------------------------------------

    def _group_name(self) -> str:
        return self.page.row.job.group if self.page is not None else ""

    def _set_suffix(self) -> None:
        self.interval.setSuffix(" hour" if self.interval.value() == 1 else " hours")

    @Slot(int)
    def _interval_changed(self, _hours: int) -> None:
        self._set_suffix()
        self._save_timer.start()

    @Slot()
    def _save_interval(self) -> None:
        if self.page is None:
            return
        job_id = self.page.row.job.id or 0
        hours = self.interval.value()

        def save(store: Store) -> None:
            store.set_share_interval(job_id, hours * 60)

        def saved(_result: object) -> None:
            every = "hour" if hours == 1 else f"{hours} hours"
            self.notice.say("done", f"Saved: the job runs every {every}.")
            self.refresh()
            self.changed.emit()

        self._group.submit(save, saved, self._problem)

    # -- closing ---------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.busy:
            what = "added" if self.adding is not None else "removed"
            self.notice.say(
                "busy",
                f"A destination is being {what}; this page can close once that is done.",
            )
            event.ignore()
            return
        if self._closed:
            super().closeEvent(event)
            return
        self._closed = True
        if self._save_timer.isActive():
            self._save_timer.stop()
            self._save_interval()
        self.manager.status_changed.disconnect(self._on_status_changed)
        self.manager.run_finished.disconnect(self._on_run_finished)
        self._group.forget_all()
        self._background.shutdown()
        super().closeEvent(event)
