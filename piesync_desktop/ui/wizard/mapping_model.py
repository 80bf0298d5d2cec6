"""The mapping table: one row per mapping with its toggle, the two fields and how they sync."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.mapping import NAME_PARTS, MappingKind, MappingSpec
from piesync_desktop.engine.model import AppSchema

Index = QModelIndex | QPersistentModelIndex

SYNC, A_FIELD, ARROW, B_FIELD, HOW = range(5)
ARROWS = {Direction.TWO_WAY: "⇄", Direction.A_TO_B: "→", Direction.B_TO_A: "←"}
TAG_PLURALS = {"category": "Categories", "list": "Lists", "group": "Groups", "tag": "Tags"}


def field_label(schema: AppSchema, name: str, tag_noun: str) -> str:
    """How a mapped field reads in the table (the name parts as one, tags in the app's word)."""
    if name == NAME_PARTS:
        given = schema.fields.get("given_name")
        family = schema.fields.get("family_name")
        return (
            f"{given.label if given else 'First name'} + {family.label if family else 'Last name'}"
        )
    if name == "tags":
        return TAG_PLURALS.get(tag_noun, f"{tag_noun.capitalize()}s")
    spec = schema.fields.get(name)
    return spec.label if spec else name


def how_it_syncs(spec: MappingSpec) -> tuple[str, str]:
    """The short 'how' of a row and its longer tooltip."""
    if spec.kind is MappingKind.NAME:
        return (
            "Name join/split",
            "First and last name are joined into the one name field of the other app, and split "
            "again on the way back; only the part that changed is written.",
        )
    if spec.kind is MappingKind.TAGS:
        return (
            "Merged one by one",
            "Each tag added or removed on one side is added or removed "
            "on the other; the others stay.",
        )
    if spec.custom:
        return ("Custom mapping", "A mapping you added.")
    return ("Default mapping", "The same field in both apps.")


class MappingTableModel(QAbstractTableModel):
    """The connection's mappings (the draft's own list, changed in place) as a table."""

    def __init__(
        self,
        mappings: list[MappingSpec],
        schemas: dict[Side, AppSchema],
        tag_nouns: dict[Side, str],
        headers: tuple[str, str],
        direction: Direction,
    ) -> None:
        super().__init__()
        self.mappings = mappings
        self.schemas = schemas
        self.tag_nouns = tag_nouns
        self.headers = headers
        self.direction = direction

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.mappings)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 5

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        return ("Sync", self.headers[0], "", self.headers[1], "How")[section]

    def label(self, row: int, side: Side) -> str:
        spec = self.mappings[row]
        name = spec.a_field if side is Side.A else spec.b_field
        return field_label(self.schemas[side], name, self.tag_nouns[side])

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        spec, column = self.mappings[index.row()], index.column()
        if role == Qt.ItemDataRole.CheckStateRole and column == SYNC:
            return Qt.CheckState.Checked if spec.enabled else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DisplayRole:
            if column == A_FIELD:
                return self.label(index.row(), Side.A)
            if column == B_FIELD:
                return self.label(index.row(), Side.B)
            if column == ARROW:
                return ARROWS[self.direction]
            if column == HOW:
                return how_it_syncs(spec)[0]
        if role == Qt.ItemDataRole.ToolTipRole and column == HOW:
            return how_it_syncs(spec)[1]
        if role == Qt.ItemDataRole.AccessibleTextRole and column == SYNC:
            return "on" if spec.enabled else "off"
        if role == Qt.ItemDataRole.TextAlignmentRole and column == ARROW:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.FontRole and column == ARROW:
            font = QApplication.font()
            font.setPointSizeF(font.pointSizeF() * 1.4)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and not spec.enabled and column != SYNC:
            return QApplication.palette().color(QPalette.ColorRole.PlaceholderText)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == SYNC:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def setData(self, index: Index, value: object, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.CheckStateRole or index.column() != SYNC:
            return False
        on = Qt.CheckState(value) == Qt.CheckState.Checked  # type: ignore[arg-type]
        self.set_enabled(index.row(), on)
        return True

    def set_enabled(self, row: int, enabled: bool) -> None:
        self.mappings[row] = dataclasses.replace(self.mappings[row], enabled=enabled)
        self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def add(self, spec: MappingSpec) -> int:
        row = len(self.mappings)
        self.beginInsertRows(QModelIndex(), row, row)
        self.mappings.append(spec)
        self.endInsertRows()
        return row

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self.mappings[row]
        self.endRemoveRows()
