"""Mappings: the default field mapping with a toggle per row, and custom mappings checked live
(a refused one says why, in the words of PieSync's article)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine.connection import Side
from piesync_desktop.engine.connection_setup import check_new_mapping
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.mapping import default_mappings
from piesync_desktop.engine.model import AppSchema
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.common import WizardPage, explanation, problem_palette
from piesync_desktop.ui.wizard.draft import ConnectionDraft
from piesync_desktop.ui.wizard.mapping_model import (
    A_FIELD,
    ARROW,
    ARROWS,
    B_FIELD,
    HOW,
    SYNC,
    MappingTableModel,
)
from piesync_desktop.ui.wizard.side_reads import SideReads


class MappingsPage(WizardPage):
    """The mapping table of the two chosen apps."""

    def __init__(
        self,
        draft: Callable[[], ConnectionDraft],
        reads: SideReads,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Field mappings",
            "Which fields sync. Every connection starts with the default mapping of its two apps; "
            "switch a row off to leave that field alone, or add your own mapping below.",
            parent,
        )
        self._draft = draft
        self._reads = reads
        self.model: MappingTableModel | None = None

        self.reading = QLabel(self)
        self.reading.setWordWrap(True)
        self.body.addWidget(self.reading)
        self.table = QTableView(self)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setAccessibleName("Field mappings")
        self.body.addWidget(self.table, 1)

        below = QHBoxLayout()
        self.remove_button = QPushButton("Remove custom mapping", self)
        self.remove_button.setEnabled(False)
        below.addStretch(1)
        below.addWidget(self.remove_button)
        self.body.addLayout(below)

        self.custom = QGroupBox("Add a custom mapping", self)
        custom_layout = QVBoxLayout(self.custom)
        row = QHBoxLayout()
        self.a_combo = QComboBox(self.custom)
        self.b_combo = QComboBox(self.custom)
        self.arrow = QLabel("⇄", self.custom)
        arrow_font = self.arrow.font()
        arrow_font.setPointSizeF(arrow_font.pointSizeF() * 1.4)
        self.arrow.setFont(arrow_font)
        self.add_button = QPushButton("Add mapping", self.custom)
        self.add_button.setEnabled(False)
        row.addWidget(self.a_combo, 1)
        row.addWidget(self.arrow)
        row.addWidget(self.b_combo, 1)
        row.addWidget(self.add_button)
        custom_layout.addLayout(row)
        self.verdict = explanation("Pick a field of each app to see whether they can be mapped.")
        custom_layout.addWidget(self.verdict)
        self.body.addWidget(self.custom)

        self.a_combo.currentIndexChanged.connect(self._check_custom)
        self.b_combo.currentIndexChanged.connect(self._check_custom)
        self.add_button.clicked.connect(self._add_custom)
        self.remove_button.clicked.connect(self._remove_custom)
        reads.schema_ready.connect(self._on_schema)
        reads.failed.connect(self._on_read_failed)

    # -- QWizardPage --------------------------------------------------------------------------

    def initializePage(self) -> None:
        self._build()

    def isComplete(self) -> bool:
        return self.model is not None

    # -- building -----------------------------------------------------------------------------

    def _schemas(self) -> dict[Side, AppSchema] | None:
        a, b = self._reads.schema(Side.A), self._reads.schema(Side.B)
        return {Side.A: a, Side.B: b} if a is not None and b is not None else None

    def _on_schema(self, _side: Side) -> None:
        if self.wizard() is not None and self.wizard().currentPage() is self and self.model is None:
            self._build()

    def _on_read_failed(self, side: Side, problem: TaskError) -> None:
        draft = self._draft()
        self.show_problem(TaskError(f"Cannot read {draft.label(side)}", problem.message))
        self.reading.hide()

    def _build(self) -> None:
        draft = self._draft()
        schemas = self._schemas()
        for side in Side:
            error = self._reads.error(side)
            if error is not None:
                self._on_read_failed(side, error)
        if schemas is None:
            self.model = None
            self.table.setModel(None)
            self.reading.setText(
                f"Reading the fields of {draft.label(Side.A)} and {draft.label(Side.B)}…"
            )
            self.reading.show()
            self.custom.setEnabled(False)
            self.completeChanged.emit()
            return
        self.reading.hide()
        self.clear_problem()
        if draft.mappings is None or draft.mappings_for != draft.specs_now():
            draft.mappings = default_mappings(
                schemas[Side.A],
                schemas[Side.B],
                draft.app(Side.A).capabilities.tags,
                draft.app(Side.B).capabilities.tags,
            )
            draft.mappings_for = draft.specs_now()
        self.model = MappingTableModel(
            draft.mappings,
            schemas,
            {side: draft.tag_noun(side) for side in Side},
            (draft.label(Side.A), draft.label(Side.B)),
            draft.direction,
        )
        self.table.setModel(self.model)
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(SYNC, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(A_FIELD, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(ARROW, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(B_FIELD, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(HOW, QHeaderView.ResizeMode.ResizeToContents)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.model.dataChanged.connect(lambda *_: self._check_custom())
        self.arrow.setText(ARROWS[draft.direction])
        self._fill_combo(self.a_combo, schemas[Side.A], draft.label(Side.A))
        self._fill_combo(self.b_combo, schemas[Side.B], draft.label(Side.B))
        self.custom.setEnabled(True)
        self._check_custom()
        self.completeChanged.emit()

    @staticmethod
    def _fill_combo(combo: QComboBox, schema: AppSchema, label: str) -> None:
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(f"A field of {label}…", "")
        for spec in schema.fields.values():
            combo.addItem(spec.label, spec.key)
        combo.blockSignals(False)

    # -- custom mappings ----------------------------------------------------------------------

    def _candidate(self) -> tuple[str, str]:
        return self.a_combo.currentData() or "", self.b_combo.currentData() or ""

    def _check_custom(self) -> None:
        a_field, b_field = self._candidate()
        schemas = self._schemas()
        self.add_button.setEnabled(False)
        self.verdict.setPalette(self.palette())
        if self.model is None or schemas is None or not a_field or not b_field:
            self.verdict.setText("Pick a field of each app to see whether they can be mapped.")
            return
        draft = self._draft()
        try:
            check_new_mapping(
                self.model.mappings,
                schemas[Side.A],
                schemas[Side.B],
                a_field,
                b_field,
                draft.label(Side.A),
                draft.label(Side.B),
            )
        except ConfigError as exc:
            self.verdict.setText(exc.message)
            self.verdict.setPalette(problem_palette(self.verdict))
            return
        self.verdict.setText(
            f"{schemas[Side.A][a_field].label} and {schemas[Side.B][b_field].label} can be mapped."
        )
        self.add_button.setEnabled(True)

    def _add_custom(self) -> None:
        schemas = self._schemas()
        if self.model is None or schemas is None:
            return
        a_field, b_field = self._candidate()
        draft = self._draft()
        try:
            spec = check_new_mapping(
                self.model.mappings,
                schemas[Side.A],
                schemas[Side.B],
                a_field,
                b_field,
                draft.label(Side.A),
                draft.label(Side.B),
            )
        except ConfigError:
            self._check_custom()
            return
        row = self.model.add(spec)
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        self.a_combo.setCurrentIndex(0)
        self.b_combo.setCurrentIndex(0)

    def _selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.model else []
        return rows[0].row() if rows else None

    def _on_selection(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        row = self._selected_row()
        self.remove_button.setEnabled(
            self.model is not None and row is not None and self.model.mappings[row].custom
        )

    def _remove_custom(self) -> None:
        row = self._selected_row()
        if self.model is None or row is None or not self.model.mappings[row].custom:
            return
        self.model.remove(row)
        self.remove_button.setEnabled(False)
        self._check_custom()
