"""The share job wizard: a source address book, one of its groups, destinations, name and schedule.

What the CLI's ``share NAME --source ... --group ... --to ...`` does, page by page: the source is
chosen on the connection wizard's app page, its groups are counted on a worker thread (the
contacts of each label, category or list), destinations are added one by one through
:class:`DestinationDialog`, and Finish saves the job and its destinations through the engine
(:func:`engine.share.create_job` and :func:`engine.share.add_destination`, on the store tasks'
thread). A refusal is shown on the page and nothing is kept; success says ``saved(name)`` and the
main window runs the job at once.
"""

from __future__ import annotations

import enum
import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import (
    QAbstractListModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
)

from piesync_desktop.engine import share
from piesync_desktop.engine.connection import (
    REFERENCE_TAG_PREFIX,
    SHARE_INTERVAL_MINUTES,
    ConnectionSettings,
    Side,
)
from piesync_desktop.engine.connection_setup import (
    ConnectedAccount,
    connected_accounts,
    name_problem,
    open_side,
)
from piesync_desktop.engine.connectors.base import AppInfo, parse_spec
from piesync_desktop.engine.model import SYSTEM_TAGS
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.icons import app_icon, icon
from piesync_desktop.ui.share.destination_dialog import (
    AddressBookPage,
    DestinationDialog,
    address_book_key,
    address_book_label,
)
from piesync_desktop.ui.tasks import StoreTasks, TaskError, TaskGroup
from piesync_desktop.ui.wizard.background import Background, JobContext
from piesync_desktop.ui.wizard.common import (
    FormLayout,
    NoticeLine,
    WizardPage,
    explanation,
    problem_palette,
    set_buttons_enabled,
)
from piesync_desktop.ui.wizard.draft import ConnectionDraft

Index = QModelIndex | QPersistentModelIndex
PROGRESS_EVERY = 500
REFERENCE_TAG = re.compile(re.escape(REFERENCE_TAG_PREFIX) + r"\d+", re.IGNORECASE)
PLURALS = {"category": "categories", "list": "lists", "label": "labels", "group": "groups"}
MAX_HOURS = 7 * 24
MAX_MINUTES = 24 * 60


class PageId(enum.IntEnum):
    """The wizard's pages, in order."""

    SOURCE = 0
    GROUP = 1
    DESTINATIONS = 2
    NAME = 3


def plural(noun: str) -> str:
    return PLURALS.get(noun, f"{noun}s")


def contacts(count: int) -> str:
    return "1 contact" if count == 1 else f"{count:,} contacts"


def share_name_problem(name: str, taken: set[str]) -> str | None:
    """Why ``name`` cannot name a new share job, in the words :func:`share.create_job` uses."""
    problem = name_problem(name, taken)
    return problem.replace("connection", "share job") if problem else None


def schedule_text(minutes: int) -> str:
    """How often a job runs, in words ('once a day', 'every 6 hours', 'every 30 minutes')."""
    if minutes == SHARE_INTERVAL_MINUTES:
        return "once a day"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "every hour" if hours == 1 else f"every {hours} hours"
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


# -- the source's groups ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupCount:
    """One group of the source and how many of its contacts are in it."""

    name: str
    count: int

    @property
    def text(self) -> str:
        return f"{self.name} ({contacts(self.count)})"


@dataclass(frozen=True, slots=True)
class SourceGroups:
    """What reading the source found: its groups (most common name first), of how many."""

    spec: str
    groups: tuple[GroupCount, ...]
    total: int
    unreadable: int = 0


def read_groups(spec: str, ctx: JobContext) -> SourceGroups:
    """Open the source and count the contacts of each of its groups (on a worker thread).

    The program's own tags ('PieSync Trash', 'PieSync Unsubscribes', the jobs' 'gSync<n>') are
    not groups a person shares, so they are left out.
    """
    connector = open_side(spec)
    changes = connector.changes(None)
    counts: Counter[str] = Counter()
    total = 0
    for total, record in enumerate(changes.records, 1):
        counts.update(record.tags)
        if total % PROGRESS_EVERY == 0:
            ctx.check()
            ctx.report((total, changes.total))
    groups = tuple(
        GroupCount(name, count)
        for name, count in sorted(counts.items(), key=lambda item: item[0].casefold())
        if name not in SYSTEM_TAGS and not REFERENCE_TAG.fullmatch(name)
    )
    return SourceGroups(spec, groups, total, len(changes.failures))


class GroupsModel(QAbstractListModel):
    """The source's groups, one row each: 'Team (12 contacts)'."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._groups: list[GroupCount] = []

    def set_groups(self, groups: Sequence[GroupCount]) -> None:
        self.beginResetModel()
        self._groups = list(groups)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._groups)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        group = self._groups[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return group.text
        if role == Qt.ItemDataRole.UserRole:
            return group.name
        return None

    def group(self, row: int) -> GroupCount:
        return self._groups[row]

    def row_of(self, name: str) -> int:
        wanted = name.strip().casefold()
        return next(
            (row for row, group in enumerate(self._groups) if group.name.casefold() == wanted), -1
        )


# -- destinations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Destination:
    """One address book the group is copied to."""

    spec: str
    label: str

    @property
    def app_key(self) -> str:
        return parse_spec(self.spec)[0]

    @property
    def location(self) -> str:
        return parse_spec(self.spec)[1]


class DestinationsModel(QAbstractListModel):
    """The destinations chosen so far, in the order they were added."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[Destination] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{row.label}   {row.location}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.spec
        if role == Qt.ItemDataRole.DecorationRole:
            return app_icon(row.app_key)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return row.label
        return None

    def add(self, destination: Destination) -> int:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(destination)
        self.endInsertRows()
        return row

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._rows[row]
        self.endRemoveRows()

    def destinations(self) -> list[Destination]:
        return list(self._rows)

    def specs(self) -> list[str]:
        return [row.spec for row in self._rows]


# -- the wizard's choices ---------------------------------------------------------------------


@dataclass(slots=True)
class ShareDraft:
    """Every choice of the wizard so far; the source's app and spec are in ``source``'s side A."""

    source: ConnectionDraft = field(default_factory=ConnectionDraft)
    group: str = ""
    groups: SourceGroups | None = None  # the source's groups, once read
    name: str = ""
    name_edited: bool = False
    interval_minutes: int = SHARE_INTERVAL_MINUTES
    taken_names: set[str] = field(default_factory=set)
    next_id: int = 1  # the id the store will give the job (for the summary's 'gSync<id>')

    @property
    def source_spec(self) -> str:
        return self.source.specs[Side.A]

    @property
    def source_app(self) -> AppInfo | None:
        return self.source.apps[Side.A]

    @property
    def source_label(self) -> str:
        return address_book_label(self.source_spec) if self.source_spec else "the source"

    @property
    def tag_noun(self) -> str:
        app = self.source_app
        return app.capabilities.tag_noun if app else "group"

    def group_count(self) -> int | None:
        """How many of the source's contacts are in the group, once the source was read."""
        read = self.groups
        if read is None or read.spec != self.source_spec:
            return None
        wanted = self.group.casefold()
        return sum(g.count for g in read.groups if g.name.casefold() == wanted)


def save_share_job(
    store: Store, name: str, source: str, group: str, interval: int, specs: Sequence[str]
) -> str:
    """Save a job and its destinations, all or nothing (as the CLI's ``share`` does)."""
    job = share.create_job(store, name, source, group, interval)
    added: list[ConnectionSettings] = []
    try:
        for spec in specs:
            added.append(share.add_destination(store, job, spec))
    except Exception:
        for settings in added:  # nothing ran yet: nothing of the job is kept
            store.remove_connection(settings.name)
        store.remove_share_job(job.id or 0)
        raise
    return job.name


Loaded = tuple[list[ConnectedAccount], list[str], int]


def load_store(store: Store) -> Loaded:
    """The accounts, the names taken (connections and share jobs) and the next job's id."""
    jobs = store.share_jobs()
    names = store.connection_names() + [job.name for job in jobs]
    return connected_accounts(store), names, max((job.id or 0 for job in jobs), default=0) + 1


# -- pages --------------------------------------------------------------------------------------


class GroupPage(WizardPage):
    """Choose the group to share: the source's groups with their counts, or a name typed."""

    def __init__(
        self, draft: ShareDraft, runner: Background, parent: QWidget | None = None
    ) -> None:
        super().__init__(
            "The group to share",
            "Choose the group whose contacts are copied to every destination.",
            parent,
        )
        self._draft = draft
        self._runner = runner
        self._read_for = ""
        self._syncing = False

        self.status = explanation("", self)
        self.body.addWidget(self.status)
        self.model = GroupsModel(self)
        self.groups_view = QListView(self)
        self.groups_view.setModel(self.model)
        self.groups_view.setAccessibleName("Groups")
        self.groups_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.groups_view.setSpacing(2)
        self.body.addWidget(self.groups_view, 1)
        form = FormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.body.addLayout(form)
        self.group_edit = QLineEdit(self)
        self.group_edit.setAccessibleName("Group to share")
        self.group_edit.setClearButtonEnabled(True)
        self.group_edit.setMaxLength(200)
        self.group_label = QLabel("Group:", self)
        form.addRow(self.group_label, self.group_edit)
        self.group_note = explanation("", self)
        form.addRow("", self.group_note)

        self.groups_view.selectionModel().currentChanged.connect(self._on_group_chosen)
        self.group_edit.textChanged.connect(self._on_group_typed)

    def initializePage(self) -> None:
        draft = self._draft
        noun, nouns = draft.tag_noun, plural(draft.tag_noun)
        self.setSubTitle(
            f"Choose the {noun} of {draft.source_label} whose contacts are copied to every "
            f"destination, or type its name."
        )
        self.group_label.setText(f"{noun.capitalize()}:")
        self.group_edit.setPlaceholderText(f"The name of a {noun}, e.g. Team")
        self.groups_view.setAccessibleName(nouns.capitalize())
        if draft.source_spec != self._read_for:
            self._read()
        self._show_group()

    def isComplete(self) -> bool:
        return bool(self._draft.group)

    def _read(self) -> None:
        draft = self._draft
        spec = self._read_for = draft.source_spec
        draft.groups = None
        self.model.set_groups(())
        self.clear_problem()
        self.status.setText(f"Reading the contacts of {draft.source_label}…")
        self._runner.submit(
            "groups",
            lambda ctx: read_groups(spec, ctx),
            self._on_read,
            self._on_read_failed,
            self._on_progress,
        )

    def _on_progress(self, value: tuple[int, int]) -> None:
        done, total = value
        of = f" of {total:,}" if total else ""
        self.status.setText(
            f"Reading the contacts of {self._draft.source_label}… {done:,}{of} so far."
        )

    def _on_read(self, read: SourceGroups) -> None:
        draft = self._draft
        if read.spec != draft.source_spec:
            return
        draft.groups = read
        self.model.set_groups(read.groups)
        nouns = plural(draft.tag_noun)
        if read.groups:
            text = (
                f"{len(read.groups)} {nouns if len(read.groups) > 1 else draft.tag_noun} among "
                f"the {contacts(read.total)} of {draft.source_label}."
            )
        else:
            text = (
                f"No contact of {draft.source_label} is in a {draft.tag_noun} yet "
                f"({contacts(read.total)} read). Type the name of the {draft.tag_noun} to share: "
                "its contacts are copied once there are some."
            )
        if read.unreadable:
            text += f" {contacts(read.unreadable)} could not be read and are not counted."
        self.status.setText(text)
        self._show_group()

    def _on_read_failed(self, problem: TaskError) -> None:
        self._read_for = ""  # read again when the page is shown again
        self.status.setText(f"The {plural(self._draft.tag_noun)} could not be read.")
        self.show_problem(problem)

    def _on_group_chosen(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._syncing or not current.isValid():
            return
        self.group_edit.setText(self.model.group(current.row()).name)

    def _on_group_typed(self, text: str) -> None:
        self._draft.group = text.strip()
        self._show_group()
        self.completeChanged.emit()

    def _show_group(self) -> None:
        """Select the group typed in the list, and say how many contacts it has."""
        draft = self._draft
        if self.group_edit.text().strip() != draft.group:
            self.group_edit.blockSignals(True)
            self.group_edit.setText(draft.group)
            self.group_edit.blockSignals(False)
        row = self.model.row_of(draft.group) if draft.group else -1
        selection = self.groups_view.selectionModel()
        self._syncing = True
        try:
            if row >= 0:
                selection.setCurrentIndex(
                    self.model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                )
            else:
                selection.clear()
        finally:
            self._syncing = False
        count = draft.group_count()
        if not draft.group:
            self.group_note.setText(f"Choose a {draft.tag_noun} above, or type its name.")
        elif count is None:
            self.group_note.setText("")
        elif count:
            self.group_note.setText(
                f"{contacts(count)} of {draft.source_label} are in '{draft.group}' now."
            )
        else:
            self.group_note.setText(
                f"No contact is in '{draft.group}' yet: the job copies the contacts you put in it."
            )


class DestinationsPage(WizardPage):
    """The address books the group is copied to: Add… (one at a time) and Remove."""

    def __init__(
        self,
        draft: ShareDraft,
        tasks: StoreTasks,
        model: DestinationsModel,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Destinations",
            "The address books the group's contacts are copied to: one per person you share "
            "with, or as many as you like.",
            parent,
        )
        self._draft = draft
        self._tasks = tasks
        self.model = model
        self.dialog: DestinationDialog | None = None

        self.intro = explanation("", self)
        self.body.addWidget(self.intro)
        row = QHBoxLayout()
        self.body.addLayout(row, 1)
        self.view = QListView(self)
        self.view.setModel(model)
        self.view.setAccessibleName("Destinations")
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setSpacing(2)
        row.addWidget(self.view, 1)
        buttons = QVBoxLayout()
        row.addLayout(buttons)
        self.add_button = QPushButton(icon("action-add"), "Add…", self)
        self.add_button.setAccessibleName("Add a destination")
        self.remove_button = QPushButton(icon("action-remove"), "Remove", self)
        self.remove_button.setAccessibleName("Remove the destination")
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        self.empty = NoticeLine("info", self)
        self.empty.show_text("Add at least one destination.")
        self.body.addWidget(self.empty)

        self.add_button.clicked.connect(self.add_destination)
        self.remove_button.clicked.connect(self.remove_selected)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        model.rowsInserted.connect(self._on_rows_changed)
        model.rowsRemoved.connect(self._on_rows_changed)
        self._update_buttons()

    def initializePage(self) -> None:
        draft = self._draft
        self.intro.setText(
            f"Each destination gets a copy of every contact in '{draft.group}' of "
            f"{draft.source_label}. A destination is another account or address book than the "
            "source; its owner's own contacts are never touched."
        )
        self._on_rows_changed()

    def isComplete(self) -> bool:
        return self.model.rowCount() > 0 and self.conflict() is None

    def conflict(self) -> Destination | None:
        """A destination that is the source (chosen again as the source after it was added)."""
        source = address_book_key(self._draft.source_spec)
        return next(
            (row for row in self.model.destinations() if address_book_key(row.spec) == source),
            None,
        )

    def add_destination(self) -> None:
        """Open the destination dialog, excluding the source and the destinations so far."""
        if self.dialog is not None:
            return
        dialog = DestinationDialog(
            self._tasks,
            "Add a destination",
            [self._draft.source_spec, *self.model.specs()],
            self.wizard() or self,
        )
        dialog.accepted.connect(lambda: self._on_chosen(dialog.spec))
        dialog.finished.connect(self._on_dialog_closed)
        self.dialog = dialog
        dialog.open()

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.view.selectionModel().selectedRows()})
        for row in reversed(rows):
            self.model.remove(row)

    def close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.reject()

    def _on_chosen(self, spec: str) -> None:
        if not spec or spec in self.model.specs():
            return
        row = self.model.add(Destination(spec, address_book_label(spec)))
        self.view.selectionModel().setCurrentIndex(
            self.model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
        )

    def _on_dialog_closed(self, _result: int) -> None:
        dialog, self.dialog = self.dialog, None
        if dialog is not None:
            dialog.deleteLater()

    def _on_rows_changed(self, *_args: object) -> None:
        self.empty.setVisible(self.model.rowCount() == 0)
        conflict = self.conflict()
        if conflict is not None:
            self.show_problem(
                TaskError(
                    "The source is a destination",
                    f"{conflict.label} is now the job's source; remove it from the destinations.",
                )
            )
        else:
            self.clear_problem()
        self._update_buttons()
        self.completeChanged.emit()

    def _update_buttons(self, *_args: object) -> None:
        self.remove_button.setEnabled(self.view.selectionModel().hasSelection())


class NamePage(WizardPage):
    """Name the job, say how often it runs, and spell out what Finish will do."""

    def __init__(
        self, draft: ShareDraft, model: DestinationsModel, parent: QWidget | None = None
    ) -> None:
        super().__init__(
            "Name and schedule",
            "Give the share job a name you will recognise, say how often it runs, and check "
            "what it will do.",
            parent,
        )
        self._draft = draft
        self._model = model
        form = FormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.body.addLayout(form)
        self.name_edit = QLineEdit(self)
        self.name_edit.setAccessibleName("Share job name")
        self.name_edit.setMaxLength(120)
        form.addRow("Name:", self.name_edit)
        self.name_status = explanation("", self)
        form.addRow("", self.name_status)

        schedule = QWidget(self)
        schedule_layout = QVBoxLayout(schedule)
        schedule_layout.setContentsMargins(0, 0, 0, 0)
        self.daily = QRadioButton("Daily (recommended)", schedule)
        every_row = QHBoxLayout()
        self.every = QRadioButton("Every", schedule)
        self.every_count = QSpinBox(schedule)
        self.every_count.setAccessibleName("How often")
        self.every_unit = QComboBox(schedule)
        self.every_unit.addItem("hours", 60)
        self.every_unit.addItem("minutes", 1)
        self.every_unit.setAccessibleName("Unit")
        every_row.addWidget(self.every)
        every_row.addWidget(self.every_count)
        every_row.addWidget(self.every_unit)
        every_row.addStretch(1)
        schedule_layout.addWidget(self.daily)
        schedule_layout.addLayout(every_row)
        self.schedule_group = QButtonGroup(self)
        self.schedule_group.addButton(self.daily)
        self.schedule_group.addButton(self.every)
        self.daily.setChecked(True)
        self.every_count.setRange(1, MAX_HOURS)
        self.every_count.setValue(12)
        form.addRow("Runs:", schedule)

        self.summary_title = QLabel("<b>When you click Create share job</b>", self)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.body.addSpacing(12)
        self.body.addWidget(self.summary_title)
        self.body.addWidget(self.summary)
        self.body.addStretch(1)

        self.name_edit.textChanged.connect(self._on_name_edited)
        self.schedule_group.buttonToggled.connect(self._on_schedule)
        self.every_count.valueChanged.connect(self._on_schedule)
        self.every_unit.currentIndexChanged.connect(self._on_unit)
        self._show_schedule()

    def initializePage(self) -> None:
        draft = self._draft
        if not draft.name_edited:
            draft.name = self.suggested_name()
        self.name_edit.blockSignals(True)  # only the person's edits are theirs
        self.name_edit.setText(draft.name)
        self.name_edit.blockSignals(False)
        self._check_name()
        self._fill_summary()

    def isComplete(self) -> bool:
        return share_name_problem(self._draft.name, self._draft.taken_names) is None

    def suggested_name(self) -> str:
        """'<group> for <n> accounts', made free of the names taken."""
        draft = self._draft
        count = self._model.rowCount()
        base = f"{draft.group} for {count} account{'' if count == 1 else 's'}"
        name, number = base, 2
        while name in draft.taken_names:
            name, number = f"{base} ({number})", number + 1
        return name

    def recheck_name(self) -> None:
        """Check the name again (the taken names changed)."""
        self._check_name()
        self._fill_summary()
        self.completeChanged.emit()

    def _on_name_edited(self, text: str) -> None:
        draft = self._draft
        draft.name = text
        draft.name_edited = True
        self.clear_problem()
        self._check_name()
        self.completeChanged.emit()

    def _check_name(self) -> None:
        problem = share_name_problem(self._draft.name, self._draft.taken_names)
        if problem:
            self.name_status.setText(problem)
            self.name_status.setPalette(problem_palette(self.name_status))
        else:
            self.name_status.setText("The name shows in the window, in Health and in the CLI.")
            self.name_status.setPalette(explanation().palette())

    def _on_unit(self, _index: int) -> None:
        per = int(self.every_unit.currentData())
        before = self.every_count.value()
        self.every_count.blockSignals(True)
        if per == 60:  # minutes -> hours
            self.every_count.setRange(1, MAX_HOURS)
            self.every_count.setValue(max(1, round(before / 60)))
        else:  # hours -> minutes
            self.every_count.setRange(1, MAX_MINUTES)
            self.every_count.setValue(min(MAX_MINUTES, before * 60))
        self.every_count.blockSignals(False)
        self._on_schedule()

    def _on_schedule(self, *_args: object) -> None:
        self._show_schedule()
        self._fill_summary()

    def _show_schedule(self) -> None:
        every = self.every.isChecked()
        self.every_count.setEnabled(every)
        self.every_unit.setEnabled(every)
        if every:
            minutes = self.every_count.value() * int(self.every_unit.currentData())
        else:
            minutes = SHARE_INTERVAL_MINUTES
        self._draft.interval_minutes = minutes

    def _fill_summary(self) -> None:
        draft = self._draft
        group, source = draft.group, draft.source_label
        destinations = self._model.destinations()
        count = draft.group_count()
        now = f" ({contacts(count)} now)" if count is not None else ""
        where = "; ".join(d.label for d in destinations)
        many = f"{len(destinations)} destinations" if len(destinations) != 1 else "one destination"
        tag = f"{REFERENCE_TAG_PREFIX}{draft.next_id}"
        lines = [
            f"The contacts in the {draft.tag_noun} '{group}' of {source}{now} are copied, one "
            f"way, to {many}: {where}.",
            f"Each copy is put in '{group}' there and carries the tag '{tag}'. Leave that tag "
            "alone: it is how the job knows its own copies.",
            "Edits made to a copy in a destination are overwritten at the next run: change the "
            f"contact in {source} instead.",
            "The destination owner's own contacts are never touched, not even those they put "
            f"in '{group}'.",
            f"A contact that leaves '{group}' in {source} is tagged 'PieSync Trash' in the "
            "destinations, for their owner to review; nothing is deleted.",
            f"The job runs at once after Finish, then {schedule_text(draft.interval_minutes)}.",
        ]
        items = "".join(f"<li>{html.escape(line, quote=False)}</li>" for line in lines)
        self.summary.setText(f'<ul style="-qt-list-indent: 1;">{items}</ul>')


# -- the wizard ---------------------------------------------------------------------------------


class ShareJobWizard(QWizard):
    """Sets up a new share job: a source group pushed, one way, to one or many destinations."""

    saved = Signal(str)

    def __init__(self, tasks: StoreTasks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self._group = TaskGroup(tasks)
        self.draft = ShareDraft()
        self.runner = Background("share-source", self)
        self.destinations = DestinationsModel(self)
        self._saving = False
        self._loaded = False
        self._closed = False

        self.setWindowTitle("New share job")
        self.setWindowIcon(icon("piesync-desktop"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Create share job")
        self.resize(1000, 720)

        self.source_page = AddressBookPage(
            "The source",
            "Choose the app and the address book whose group you want to share, and sign in "
            "where the app asks for it.",
            self.draft.source,
            self.runner,
            parent=self,
        )
        self.group_page = GroupPage(self.draft, self.runner, self)
        self.destinations_page = DestinationsPage(self.draft, tasks, self.destinations, self)
        self.name_page = NamePage(self.draft, self.destinations, self)
        self.pages: dict[PageId, WizardPage] = {
            PageId.SOURCE: self.source_page,
            PageId.GROUP: self.group_page,
            PageId.DESTINATIONS: self.destinations_page,
            PageId.NAME: self.name_page,
        }
        for page_id, page in self.pages.items():
            self.setPage(page_id, page)
        self._load()

    # -- loading ------------------------------------------------------------------------------

    def _load(self) -> None:
        self._group.submit(load_store, self._on_loaded, self._on_load_failed)

    def _on_loaded(self, loaded: Loaded) -> None:
        accounts, names, next_id = loaded
        self.draft.source.accounts = accounts
        self.draft.taken_names = set(names)
        self.draft.next_id = next_id
        self._loaded = True
        self.source_page.set_loaded()

    def _on_load_failed(self, problem: TaskError) -> None:
        self._show_problem(problem)

    # -- finishing ----------------------------------------------------------------------------

    def accept(self) -> None:
        """Save through the store tasks; the wizard closes once the job and all its
        destinations are saved."""
        if self._saving or not self._loaded:
            return
        draft = self.draft
        name, source, group = draft.name.strip(), draft.source_spec, draft.group
        interval, specs = draft.interval_minutes, self.destinations.specs()
        self._set_saving(True)
        self._group.submit(
            lambda store: save_share_job(store, name, source, group, interval, specs),
            self._on_saved,
            self._on_save_failed,
        )

    def reject(self) -> None:
        if not self._saving:
            super().reject()

    def done(self, result: int) -> None:
        self.destinations_page.close_dialog()
        super().done(result)
        if not self.isVisible() and not self._closed:
            self._closed = True
            self._group.forget_all()
            self.runner.shutdown()

    def _set_saving(self, saving: bool) -> None:
        self._saving = saving
        buttons = QWizard.WizardButton
        set_buttons_enabled(
            self, (buttons.FinishButton, buttons.BackButton, buttons.CancelButton), not saving
        )
        if not saving:  # the Finish button follows the page again
            page = self.currentPage()
            finish = self.button(QWizard.WizardButton.FinishButton)
            if page is not None and finish is not None:
                finish.setEnabled(page.isComplete())
        self.name_page.name_edit.setReadOnly(saving)

    def _on_saved(self, name: str) -> None:
        self._set_saving(False)
        super().accept()
        self.saved.emit(name)

    def _on_save_failed(self, problem: TaskError) -> None:
        self._set_saving(False)
        self._show_problem(problem)
        self._group.submit(load_store, self._on_reloaded)  # another window may have taken the name

    def _on_reloaded(self, loaded: Loaded) -> None:
        _accounts, names, next_id = loaded
        self.draft.taken_names = set(names)
        self.draft.next_id = next_id
        if self.currentPage() is self.name_page:
            self.name_page.recheck_name()

    def _show_problem(self, problem: TaskError) -> None:
        page = self.currentPage()
        if isinstance(page, WizardPage):
            page.show_problem(problem)
