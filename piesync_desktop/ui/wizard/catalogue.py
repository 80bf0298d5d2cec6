"""The app choice: the catalogue of apps this build can connect, searchable as you type.

Only apps that exist (in the engine's catalogue) and that the wizard can authorize are listed.
Each entry says what the app supports, since that decides the options a connection offers.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QFont, QFontMetrics, QIcon, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from piesync_desktop.engine.connectors import base
from piesync_desktop.engine.connectors.base import AppInfo
from piesync_desktop.ui.icons import app_icon

APP_ROLE = Qt.ItemDataRole.UserRole + 1
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2
SUPPORT_ROLE = Qt.ItemDataRole.UserRole + 3

Index = QModelIndex | QPersistentModelIndex


def supported_apps() -> list[AppInfo]:
    """The engine's catalogue, limited to apps the wizard has an authorization page for."""
    from piesync_desktop.ui.wizard.authorization import has_authorization

    return [app for app in base.catalogue() if has_authorization(app.key)]


def app_by_key(key: str) -> AppInfo | None:
    return next((app for app in base.catalogue() if app.key == key), None)


def capability_summary(app: AppInfo) -> str:
    """One line saying what the app supports and what not (tags, deletions, unsubscribes,
    custom fields), in the app's own word for tags."""
    caps = app.capabilities
    nouns = {"category": "categories", "list": "lists", "group": "groups", "tag": "tags"}
    tags = nouns.get(caps.tag_noun, f"{caps.tag_noun}s")
    features = [
        (f"{tags} (tags)" if caps.tag_noun != "tag" else "tags", caps.tags),
        ("deletions", caps.deletions),
        ("unsubscribes", caps.unsubscribes),
        ("custom fields", caps.custom_fields),
    ]
    has = [name for name, ok in features if ok]
    lacks = [name for name, ok in features if not ok]
    parts = []
    if has:
        parts.append("Supports " + ", ".join(has) + ".")
    if lacks:
        parts.append("No " + ", no ".join(lacks) + ".")
    return " ".join(parts)


class CatalogueModel(QAbstractListModel):
    """The apps of the catalogue, one row each."""

    def __init__(self, apps: list[AppInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._apps = list(apps)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._apps)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        app = self._apps[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return app.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{app.description}\n{capability_summary(app)}"
        if role == Qt.ItemDataRole.DecorationRole:
            return app_icon(app.key)
        if role == APP_ROLE:
            return app
        if role == SEARCH_ROLE:
            return f"{app.name} {app.key} {app.description}"
        if role == SUPPORT_ROLE:
            return capability_summary(app)
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return f"{app.description} {capability_summary(app)}"
        return None

    def row_of(self, key: str) -> int:
        return next((row for row, app in enumerate(self._apps) if app.key == key), -1)


class CatalogueFilter(QSortFilterProxyModel):
    """Keeps the apps whose name, key or description holds every word typed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []

    def set_search(self, text: str) -> None:
        self.beginFilterChange()
        self._words = text.casefold().split()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        source = self.sourceModel()
        text = str(source.data(source.index(row, 0, parent), SEARCH_ROLE) or "").casefold()
        return all(word in text for word in self._words)


class AppDelegate(QStyledItemDelegate):
    """Draws an app as its logo, its name in bold, its description and what it supports."""

    ICON = 32
    PAD = 8

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        bold = QFont(option.font)
        bold.setBold(True)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() * 0.9))
        return bold, small

    def _blocks(self, option: QStyleOptionViewItem, index: Index) -> list[tuple[QFont, str]]:
        bold, small = self._fonts(option)
        app: AppInfo = index.data(APP_ROLE)
        return [
            (bold, app.name),
            (option.font, app.description),
            (small, str(index.data(SUPPORT_ROLE))),
        ]

    def _text_width(self, option: QStyleOptionViewItem) -> int:
        return max(120, option.rect.width() - self.ICON - 3 * self.PAD)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        width = self._text_width(option) if option.rect.width() > 0 else 260
        height = self.PAD
        for font, text in self._blocks(option, index):
            rect = QFontMetrics(font).boundingRect(
                QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, text
            )
            height += rect.height() + 2
        return QSize(width + self.ICON + 3 * self.PAD, max(height + self.PAD, self.ICON + 16))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        app: AppInfo = index.data(APP_ROLE)
        option.text, option.icon = "", QIcon()
        option.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        if style is not None:  # the selection and focus background only
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        rect = option.rect
        app_icon(app.key).paint(
            painter,
            QRect(rect.left() + self.PAD, rect.top() + self.PAD, self.ICON, self.ICON),
        )
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = (
            option.palette.ColorRole.HighlightedText if selected else option.palette.ColorRole.Text
        )
        painter.save()
        painter.setPen(option.palette.color(role))
        left = rect.left() + self.ICON + 2 * self.PAD
        top = rect.top() + self.PAD
        width = self._text_width(option)
        for font, block in self._blocks(option, index):
            painter.setFont(font)
            bounds = QFontMetrics(font).boundingRect(
                QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, block
            )
            painter.drawText(
                QRect(left, top, width, bounds.height()),
                int(Qt.TextFlag.TextWordWrap),
                block,
            )
            top += bounds.height() + 2
        painter.restore()
