"""The Health window of one connection: which contacts are in sync, which are not, and why.

It has the seven parts of PieSync's Health: contacts in sync, excluded (with the reason) and
duplicates, as counters that filter the contact list; the summary of performed actions per app
and the summary of failure reasons, each figure listing its contacts; a search over name, email
and contact id; and the activity timeline, most recent first. In a one-way connection, contacts
that exist only in the target are not shown (the read model leaves them out). The Health of a
share job's destination names its job and says why the job's reference tag must stay on the
copies. Everything is read through :class:`StoreTasks`; the lists are the lazy models of
:mod:`health_models`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QSignalBlocker,
    QSize,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QCloseEvent, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine.connection import Direction
from piesync_desktop.engine.store import ACTIVITY_KEEP, Store
from piesync_desktop.ui.connections_model import (
    ARROWS,
    DIRECTION_TEXT,
    AppLabel,
    tag_noun,
    when,
)
from piesync_desktop.ui.health_models import (
    STATE_TEXT,
    ContactColumn,
    ContactQuery,
    ContactsModel,
    FailureReasonsModel,
    HealthOverview,
    ReasonColumn,
    TimelineColumn,
    TimelineModel,
    load_overview,
    side_names,
)
from piesync_desktop.ui.icons import app_icon, icon, state_icon
from piesync_desktop.ui.tasks import StoreTasks, TaskError, TaskGroup

SEARCH_DELAY_MS = 150  # the search waits this long after the last keystroke
COUNTERS = (
    ("in_sync", "in_sync", "In sync"),
    ("excluded", "excluded", "Excluded"),
    ("duplicate", "duplicates", "Duplicates"),
    ("failing", "failing", "Failing"),
)  # (state, key in the counts, label)
COUNTER_TIPS = {
    "in_sync": "Contacts kept in sync between the two apps. Click to list them.",
    "excluded": "Contacts left out on purpose: they match no rule, or have no email while "
    "Avoid Duplicates is on. Click to list them with the reason.",
    "duplicate": "Contacts with the same email as another contact of the same app: only the "
    "first one is synced. Click to list them.",
    "failing": "Contacts that could not be synced; they are tried again at every sync. "
    "Click to list them with the reason.",
}
RUN_OUTCOME = {
    "completed": "completed",
    "running": "under way",
    "failed": "did not complete",
    "braked": "stopped by the safety brake",
    "cancelled": "cancelled",
}


def app_html(app: AppLabel, label: QLabel, width: int) -> str:
    """An app's name over where it is, the place elided in the middle to about ``width`` px."""
    where = ""
    if app.location:
        place = label.fontMetrics().elidedText(app.location, Qt.TextElideMode.ElideMiddle, width)
        where = f"<br><small>{html.escape(place)}</small>"
    return f"<b>{html.escape(app.name)}</b>{where}"


class CounterButton(QPushButton):
    """One of the four counters: the state's symbol, its figure and name; checked = filtering."""

    def __init__(self, state: str, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setCheckable(True)
        self.setToolTip(COUNTER_TIPS[state])
        self.setMinimumHeight(58)
        self.symbol = QLabel()
        self.symbol.setPixmap(state_icon(state).pixmap(QSize(28, 28)))
        self.figure = QLabel("…")
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.figure.setFont(font)
        self.caption = QLabel(label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 6, 14, 6)
        layout.addWidget(self.symbol)
        layout.addSpacing(6)
        layout.addWidget(self.figure)
        layout.addWidget(self.caption, 1)
        for child in (self.symbol, self.figure, self.caption):
            child.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAccessibleName(label)

    def set_count(self, count: int) -> None:
        self.figure.setText(f"{count:,}")
        self.setAccessibleName(f"{self.caption.text()}: {count:,}")

    def sizeHint(self) -> QSize:
        return self.layout().sizeHint().expandedTo(QSize(150, 58))


class ActionSummary(QGroupBox):
    """The summary of performed actions: created and updated per app, each figure clickable."""

    chosen = Signal(str, str)  # side, "created" | "updated"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Performed actions", parent)
        self.apps: dict[str, QLabel] = {}
        self.buttons: dict[tuple[str, str], QPushButton] = {}
        grid = QGridLayout(self)
        for column, title in ((1, "Created"), (2, "Updated")):
            heading = QLabel(f"<b>{title}</b>")
            heading.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(heading, 0, column)
        for row, side in ((1, "a"), (2, "b")):
            app = QLabel(side.upper())
            app.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            self.apps[side] = app
            grid.addWidget(app, row, 0)
            for column, action in ((1, "created"), (2, "updated")):
                button = QPushButton("0")
                button.setFlat(True)
                button.setCursor(Qt.CursorShape.PointingHandCursor)
                button.setStyleSheet(
                    "QPushButton { border: none; padding: 2px 6px; }"
                    " QPushButton:enabled { color: palette(link); text-decoration: underline; }"
                )
                button.clicked.connect(lambda _c=False, s=side, a=action: self.chosen.emit(s, a))
                self.buttons[(side, action)] = button
                grid.addWidget(button, row, column, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(0, 1)
        note = QLabel("Click a figure to list those contacts.")
        note.setEnabled(False)
        grid.addWidget(note, 3, 0, 1, 3)

    def show_overview(self, overview: HealthOverview) -> None:
        for side, label in self.apps.items():
            app = overview.apps[side]
            label.setText(app_html(app, label, 190))
            label.setToolTip(str(app))
            for action in ("created", "updated"):
                figure = overview.actions[side][action]
                button = self.buttons[(side, action)]
                button.setText(f"{figure:,}")
                button.setEnabled(figure > 0)
                button.setToolTip(f"List the contacts {action} in {app.name} by the syncs")


class HealthView(QWidget):
    """Health of one connection, in a window of its own."""

    loaded = Signal()  # the counters and the first page of the contact list are shown

    def __init__(self, tasks: StoreTasks, connection: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle(f"Health: {connection}")
        self.setWindowIcon(icon("action-health"))
        self.resize(1240, 760)
        self.tasks = tasks
        self.connection = connection
        self.overview: HealthOverview | None = None
        self.waiting_for: str | None = None
        self._group = TaskGroup(tasks)
        self._overview_pending = False
        self._page_pending = False
        self._scroll_back: dict[QAbstractItemModel, int] = {}

        self.contacts_model = ContactsModel(tasks, connection, self)
        self.timeline_model = TimelineModel(tasks, connection, self)
        self.reasons_model = FailureReasonsModel(self)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self._search_now)

        layout = QVBoxLayout(self)
        layout.addLayout(self._make_header())
        layout.addWidget(self._make_share_banner())
        layout.addWidget(self._make_waiting_banner())
        layout.addWidget(self._make_problem_banner())
        layout.addLayout(self._make_counters())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._make_summaries())
        splitter.addWidget(self._make_tabs())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([350, 890])
        layout.addWidget(splitter, 1)

        self.contacts_model.loaded.connect(self._on_page_loaded)
        self.contacts_model.total_changed.connect(self._show_caption)
        self.contacts_model.failed.connect(self._show_problem)
        self.timeline_model.failed.connect(self._show_problem)
        self.timeline_model.loaded.connect(self._on_timeline_loaded)
        self.refresh()

    # -- building ------------------------------------------------------------------------

    def _make_header(self) -> QHBoxLayout:
        self.app_icons = {"a": QLabel(), "b": QLabel()}
        self.app_names = {"a": QLabel("…"), "b": QLabel("…")}
        self.arrow = QLabel("⇄")
        arrow_font = QFont(self.font())
        arrow_font.setPointSizeF(arrow_font.pointSizeF() * 1.6)
        self.arrow.setFont(arrow_font)
        self.direction_label = QLabel()
        self.last_sync_label = QLabel("Reading the store…")
        self.last_sync_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.last_sync_label.setWordWrap(True)
        header = QHBoxLayout()
        for side in ("a", "b"):
            header.addWidget(self.app_icons[side])
            header.addWidget(self.app_names[side])
            if side == "a":
                header.addSpacing(8)
                header.addWidget(self.arrow)
                header.addSpacing(8)
        header.addSpacing(16)
        header.addWidget(self.direction_label)
        header.addStretch(1)
        header.addWidget(self.last_sync_label, 1)
        return header

    def _make_share_banner(self) -> QFrame:
        self.share_banner = QFrame()
        self.share_banner.setObjectName("shareBanner")
        self.share_banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.share_banner.setStyleSheet(
            "#shareBanner { background: #e8f0fe; border: 1px solid #aecbfa; border-radius: 4px; }"
            " #shareBanner QLabel { color: #174ea6; }"
        )
        self.share_label = QLabel()
        self.share_label.setWordWrap(True)
        self.share_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self.share_banner)
        row.addWidget(self.share_label, 1)
        self.share_banner.hide()
        return self.share_banner

    def _make_waiting_banner(self) -> QFrame:
        self.waiting_banner = QFrame()
        self.waiting_banner.setObjectName("waitingBanner")
        self.waiting_banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.waiting_banner.setStyleSheet(
            "#waitingBanner { background: #fef7e0; border: 1px solid #f9d67a; border-radius: 4px; }"
            " #waitingBanner QLabel { color: #5f4b00; }"
        )
        symbol = QLabel()
        symbol.setPixmap(icon("action-pause").pixmap(QSize(20, 20)))
        self.waiting_label = QLabel()
        self.waiting_label.setWordWrap(True)
        row = QHBoxLayout(self.waiting_banner)
        row.addWidget(symbol)
        row.addWidget(self.waiting_label, 1)
        self.waiting_banner.hide()
        return self.waiting_banner

    def _make_problem_banner(self) -> QLabel:
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem_label.setStyleSheet("color: #c5221f;")
        self.problem_label.hide()
        return self.problem_label

    def _make_counters(self) -> QHBoxLayout:
        self.counters: dict[str, CounterButton] = {}
        row = QHBoxLayout()
        for state, _key, label in COUNTERS:
            button = CounterButton(state, label)
            button.clicked.connect(lambda _c=False, s=state: self.show_state(s))
            self.counters[state] = button
            row.addWidget(button)
        return row

    def _make_summaries(self) -> QWidget:
        self.action_summary = ActionSummary()
        self.action_summary.chosen.connect(self.show_action)
        reasons_box = QGroupBox("Failure reasons")
        self.reasons_table = QTableView()
        self.reasons_table.setModel(self.reasons_model)
        self.reasons_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.reasons_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.reasons_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.reasons_table.setWordWrap(True)
        self.reasons_table.verticalHeader().setVisible(False)
        self.reasons_table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        header = self.reasons_table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(ReasonColumn.REASON, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(ReasonColumn.CONTACTS, QHeaderView.ResizeMode.ResizeToContents)
        self.reasons_table.clicked.connect(self._reason_clicked)
        self.reasons_table.activated.connect(self._reason_clicked)
        self.no_failures = QLabel("No contact is failing to sync.")
        self.no_failures.setEnabled(False)
        reasons_layout = QVBoxLayout(reasons_box)
        reasons_layout.addWidget(self.reasons_table, 1)
        reasons_layout.addWidget(self.no_failures)
        column = QWidget()
        self.summaries_layout = QVBoxLayout(column)
        self.summaries_layout.setContentsMargins(0, 0, 0, 0)
        self.summaries_layout.addWidget(self.action_summary)
        self.summaries_layout.addWidget(reasons_box, 1)
        self.summaries_layout.addStretch(0)  # takes the room when there is no failure to list
        return column

    def _make_tabs(self) -> QTabWidget:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name, email or contact ID")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _text: self.search_timer.start())
        self.search.returnPressed.connect(self._search_now)
        self.caption = QLabel("All contacts")
        self.caption_note = QLabel()
        self.caption_note.setWordWrap(True)
        self.caption_note.setEnabled(False)
        self.caption_note.hide()
        self.show_all_button = QPushButton("Show all contacts")
        self.show_all_button.clicked.connect(self.show_all)
        self.show_all_button.hide()
        caption_row = QHBoxLayout()
        caption_row.addWidget(self.caption, 1)
        caption_row.addWidget(self.show_all_button)
        self.contacts_table = self._make_table(self.contacts_model)
        header = self.contacts_table.horizontalHeader()
        for column, width in (
            (ContactColumn.STATE, 105),
            (ContactColumn.NAME, 175),
            (ContactColumn.EMAIL, 215),
            (ContactColumn.APP, 120),
            (ContactColumn.ID, 110),
        ):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        contacts_page = QWidget()
        contacts_layout = QVBoxLayout(contacts_page)
        contacts_layout.addWidget(self.search)
        contacts_layout.addLayout(caption_row)
        contacts_layout.addWidget(self.caption_note)
        contacts_layout.addWidget(self.contacts_table, 1)

        self.timeline_table = self._make_table(self.timeline_model)
        header = self.timeline_table.horizontalHeader()
        for column, width in (
            (TimelineColumn.WHEN, 140),
            (TimelineColumn.CONTACT, 200),
            (TimelineColumn.APP, 130),
        ):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        self.timeline_note = QLabel("The latest contacts the syncs processed, most recent first.")
        self.timeline_note.setEnabled(False)
        timeline_page = QWidget()
        timeline_layout = QVBoxLayout(timeline_page)
        timeline_layout.addWidget(self.timeline_note)
        timeline_layout.addWidget(self.timeline_table, 1)

        self.tabs = QTabWidget()
        self.tabs.addTab(contacts_page, icon("action-health"), "Contacts")
        self.tabs.addTab(timeline_page, icon("action-sync"), "Activity timeline")
        return self.tabs

    @staticmethod
    def _make_table(model: ContactsModel | TimelineModel) -> QTableView:
        table = QTableView()
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 10)
        table.horizontalHeader().setHighlightSections(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        return table

    # -- what the main window calls --------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Read everything again (the main window calls this after each sync of the connection)."""
        self._overview_pending = self._page_pending = True
        name = self.connection
        self._submit(lambda store: load_overview(store, name), self._show_overview)
        # The lists are read again as far as they were scrolled, and scrolled back there.
        self._scroll_back = {
            self.contacts_model: self.contacts_table.verticalScrollBar().value(),
            self.timeline_model: self.timeline_table.verticalScrollBar().value(),
        }
        self.contacts_model.reload()
        self.timeline_model.reload()

    def set_waiting(self, other: str | None) -> None:
        """Say which connection this one waits for (None: it no longer waits)."""
        self.waiting_for = other
        if other:
            self.waiting_label.setText(
                f"<b>Waiting for connection {html.escape(other)}</b>: it is syncing an app this "
                "connection also uses. This connection syncs as soon as it is done."
            )
        self.waiting_banner.setVisible(bool(other))

    # -- the contact list's filters ----------------------------------------------------------

    @Slot(str)
    def show_state(self, state: str) -> None:
        """List the contacts of one state (the counter's second click lists all of them)."""
        query = self.contacts_model.query
        if query.state == state and query.reason is None and query.action is None:
            self.show_all()
            return
        self._show_query(ContactQuery(state=state, search=self.search.text().strip()))

    @Slot(str)
    def show_reason(self, reason: str) -> None:
        """List the contacts failing for one reason."""
        query = ContactQuery(reason=reason, search=self.search.text().strip())
        if query != self.contacts_model.query:
            self._show_query(query)

    @Slot(str, str)
    def show_action(self, side: str, action: str) -> None:
        """List the contacts behind an action figure (the search is cleared: it does not apply)."""
        self.search_timer.stop()
        with QSignalBlocker(self.search):
            self.search.clear()
        self._show_query(ContactQuery(action=(side, action)))

    @Slot()
    def show_all(self) -> None:
        self._show_query(ContactQuery(search=self.search.text().strip()))

    @Slot()
    def _search_now(self) -> None:
        self.search_timer.stop()
        current = self.contacts_model.query
        base = ContactQuery() if current.action is not None else current
        wanted = replace(base, search=self.search.text().strip())
        if wanted != current:
            self._show_query(wanted)

    def _show_query(self, query: ContactQuery) -> None:
        self._scroll_back.pop(self.contacts_model, None)  # another list starts at its top
        self.tabs.setCurrentIndex(0)
        self._page_pending = True
        self.contacts_model.set_query(query)
        self._update_filters()
        self._show_caption()

    def _update_filters(self) -> None:
        query = self.contacts_model.query
        only_state = query.reason is None and query.action is None
        for state, button in self.counters.items():
            button.setChecked(only_state and query.state == state)
        row = self.reasons_model.row_of(query.reason) if query.reason is not None else None
        if row is None:
            self.reasons_table.clearSelection()
        else:
            self.reasons_table.selectRow(row)
        filtered = query.state is not None or query.reason is not None or query.action is not None
        self.show_all_button.setVisible(filtered)

    @Slot(QModelIndex)
    def _reason_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.show_reason(self.reasons_model.reason(index.row()))

    @Slot()
    def _show_caption(self, _total: int | None = None) -> None:
        query = self.contacts_model.query
        total = self.contacts_model.total
        if query.action is not None:
            side, action = query.action
            what = f"Contacts {action} in {self.contacts_model.names[side]} by the syncs"
        elif query.reason is not None:
            what = f"Failing: {query.reason}"
        elif query.state is not None:
            what = f"{STATE_TEXT.get(query.state, query.state)} contacts"
        else:
            what = "All contacts"
        if query.search:
            what += f" matching “{query.search}”"
        figure = "…" if total is None else f"{total:,} contact" + ("" if total == 1 else "s")
        note = self._caption_note(query, total)
        self.caption.setText(f"<b>{html.escape(what)}</b> · {figure}")
        self.caption.setToolTip(note)
        self.caption_note.setText(note)
        self.caption_note.setVisible(bool(note))

    def _caption_note(self, query: ContactQuery, total: int | None) -> str:
        if query.action is None or self.overview is None or total is None:
            return ""
        side, action = query.action
        figure = self.overview.actions[side][action]
        if figure == total:
            return ""
        counted = (
            "every contact created"
            if action == "created"
            else "every update, tagging a contact 'PieSync Trash' included"
        )
        return (
            f"The figure ({figure:,}) counts {counted}; this list shows each contact once, "
            f"from the latest {ACTIVITY_KEEP:,} rows of the activity timeline."
        )

    # -- answers ---------------------------------------------------------------------------

    def _show_overview(self, overview: HealthOverview) -> None:
        self.overview = overview
        self.problem_label.hide()
        for side in ("a", "b"):
            app = overview.apps[side]
            self.app_icons[side].setPixmap(app_icon(app.key).pixmap(QSize(28, 28)))
            self.app_names[side].setText(app_html(app, self.app_names[side], 300))
            self.app_names[side].setToolTip(str(app))
        self.contacts_model.set_apps(overview.apps)
        self.timeline_model.set_apps(overview.apps)
        self.arrow.setText(ARROWS[overview.direction])
        self.direction_label.setText(self._direction_text(overview))
        self.last_sync_label.setText(self._last_sync_text(overview))
        self._show_share(overview)
        for state, key, _label in COUNTERS:
            self.counters[state].set_count(overview.counts.get(key, 0))
        self.action_summary.show_overview(overview)
        self.reasons_model.set_reasons(overview.failure_reasons)
        self.reasons_table.setVisible(bool(overview.failure_reasons))
        self.no_failures.setVisible(not overview.failure_reasons)
        self.summaries_layout.setStretch(1, 1 if overview.failure_reasons else 0)
        self.summaries_layout.setStretch(2, 0 if overview.failure_reasons else 1)
        self._update_filters()
        self._show_caption()
        self._overview_pending = False
        self._emit_loaded()

    def _show_share(self, overview: HealthOverview) -> None:
        role = overview.share
        if role is not None:
            source = overview.apps["a"]
            job, group = html.escape(role.job_name, False), html.escape(role.group, False)
            self.share_label.setText(
                f"<b>A destination of the share job '{job}'</b>: it receives the contacts of "
                f"{html.escape(source.short(), False)} in the group '{group}', one way. "
                + html.escape(role.note(tag_noun(overview.apps["b"].key)), False)
            )
        self.share_banner.setVisible(role is not None)

    @staticmethod
    def _direction_text(overview: HealthOverview) -> str:
        text = DIRECTION_TEXT[overview.direction]
        if overview.direction is Direction.TWO_WAY or overview.hidden_side is None:
            return text
        target = side_names(overview.apps)[overview.hidden_side]
        return (
            f"{text}<br><small>Contacts that exist only in the target ({html.escape(target)}) "
            "are not shown.</small>"
        )

    @staticmethod
    def _last_sync_text(overview: HealthOverview) -> str:
        run = overview.last_run
        if run is None:
            return "Not synced yet"
        at = when(run["finished_at"] or run["started_at"])
        outcome = RUN_OUTCOME.get(run["status"], run["status"])
        text = f"Last sync: <b>{at}</b>, {outcome}"
        if run["status"] != "completed" and run["message"]:
            text += f"<br><small>{html.escape(run['message'])}</small>"
        return text

    @Slot()
    def _on_page_loaded(self) -> None:
        self._page_pending = False
        self._restore_scroll(self.contacts_model, self.contacts_table)
        self._emit_loaded()

    def _restore_scroll(self, model: QAbstractItemModel, table: QTableView) -> None:
        value = self._scroll_back.pop(model, None)
        if value:
            table.verticalScrollBar().setValue(value)

    @Slot()
    def _on_timeline_loaded(self) -> None:
        self._restore_scroll(self.timeline_model, self.timeline_table)
        if self.timeline_model.rowCount() == 0:
            self.timeline_note.setText("Nothing yet: the timeline fills as the syncs run.")
        else:
            self.timeline_note.setText(
                "The latest contacts the syncs processed, most recent first."
            )

    def _emit_loaded(self) -> None:
        if not self._overview_pending and not self._page_pending:
            self.loaded.emit()

    @Slot(object)
    def _show_problem(self, problem: TaskError) -> None:
        self.problem_label.setText(
            f"<b>{html.escape(problem.title)}</b>: {html.escape(problem.message)}"
        )
        self.problem_label.show()

    def _submit(self, function: Callable[[Store], Any], on_done: Callable[[Any], None]) -> None:
        self._group.submit(function, on_done, self._show_problem)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.search_timer.stop()
        self._group.forget_all()
        self.contacts_model.forget_pending()
        self.timeline_model.forget_pending()
        super().closeEvent(event)
