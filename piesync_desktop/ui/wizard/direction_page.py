"""Direction: two-way, or one-way either way, each with one sentence and a small picture."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QLabel, QRadioButton, QSizePolicy, QWidget

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.ui.icons import app_icon
from piesync_desktop.ui.wizard.common import WizardPage
from piesync_desktop.ui.wizard.draft import ConnectionDraft

TITLES = {
    Direction.TWO_WAY: "Two-way",
    Direction.A_TO_B: "One-way, first to second",
    Direction.B_TO_A: "One-way, second to first",
}


def direction_sentence(direction: Direction, a: str, b: str) -> str:
    """What a direction does, in one sentence naming the two sides."""
    if direction is Direction.TWO_WAY:
        return (
            f"Contacts and changes go both ways, so {a} and {b} keep the same contacts "
            "(recommended to keep two apps tightly in sync)."
        )
    source, target = (a, b) if direction is Direction.A_TO_B else (b, a)
    return (
        f"Contacts and changes go from {source} to {target} only; what you change in {target} "
        f"stays in {target}."
    )


class DirectionPicture(QWidget):
    """Two app logos with the arrow(s) of a direction between them."""

    ICON = 32

    def __init__(self, direction: Direction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.direction = direction
        self.icons: tuple[QIcon, QIcon] = (QIcon(), QIcon())
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def set_apps(self, a_key: str, b_key: str) -> None:
        self.icons = (app_icon(a_key), app_icon(b_key))
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(self.ICON * 2 + 96, self.ICON + 8)

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        top = (self.height() - self.ICON) / 2
        left_icon = QRectF(0, top, self.ICON, self.ICON)
        right_icon = QRectF(self.width() - self.ICON, top, self.ICON, self.ICON)
        self.icons[0].paint(painter, left_icon.toRect())
        self.icons[1].paint(painter, right_icon.toRect())
        pen = QPen(self.palette().color(self.foregroundRole()), 2)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        start, end = left_icon.right() + 10, right_icon.left() - 10
        middle = self.height() / 2
        if self.direction is Direction.TWO_WAY:
            self._arrow(painter, QPointF(start, middle - 5), QPointF(end, middle - 5))
            self._arrow(painter, QPointF(end, middle + 5), QPointF(start, middle + 5))
        elif self.direction is Direction.A_TO_B:
            self._arrow(painter, QPointF(start, middle), QPointF(end, middle))
        else:
            self._arrow(painter, QPointF(end, middle), QPointF(start, middle))
        painter.end()

    @staticmethod
    def _arrow(painter: QPainter, tail: QPointF, head: QPointF) -> None:
        painter.drawLine(tail, head)
        back = -7 if head.x() > tail.x() else 7
        path = QPainterPath(head)
        path.lineTo(head.x() + back, head.y() - 4)
        path.moveTo(head)
        path.lineTo(head.x() + back, head.y() + 4)
        painter.drawPath(path)


class DirectionPage(WizardPage):
    """Which way changes flow."""

    def __init__(self, draft: Callable[[], ConnectionDraft], parent: QWidget | None = None) -> None:
        super().__init__(
            "Direction",
            "Choose which way contacts and their changes travel between the two apps.",
            parent,
        )
        self._draft = draft
        grid = QGridLayout()
        grid.setColumnStretch(2, 1)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(14)
        self.body.addLayout(grid)
        self.body.addStretch(1)
        self.group = QButtonGroup(self)
        self.buttons: dict[Direction, QRadioButton] = {}
        self.pictures: dict[Direction, DirectionPicture] = {}
        self.sentences: dict[Direction, QLabel] = {}
        for row, direction in enumerate(Direction):
            button = QRadioButton(TITLES[direction], self)
            picture = DirectionPicture(direction, self)
            sentence = QLabel(self)
            sentence.setWordWrap(True)
            sentence.setBuddy(button)
            grid.addWidget(button, row, 0)
            grid.addWidget(picture, row, 1)
            grid.addWidget(sentence, row, 2)
            self.group.addButton(button)
            self.buttons[direction] = button
            self.pictures[direction] = picture
            self.sentences[direction] = sentence
            button.toggled.connect(lambda on, d=direction: on and self._chosen(d))

    def initializePage(self) -> None:
        draft = self._draft()
        a, b = draft.label(Side.A), draft.label(Side.B)
        keys = draft.apps_now()
        for direction in Direction:
            self.sentences[direction].setText(direction_sentence(direction, a, b))
            self.pictures[direction].set_apps(*keys)
        self.buttons[Direction.A_TO_B].setText(f"One-way, {_short(a)} to {_short(b)}")
        self.buttons[Direction.B_TO_A].setText(f"One-way, {_short(b)} to {_short(a)}")
        self.buttons[draft.direction].setChecked(True)

    def _chosen(self, direction: Direction) -> None:
        self._draft().direction = direction


def _short(label: str) -> str:
    """The location part of a side's label ("vCard folder 'work'" -> "work")."""
    return label.split("'")[1] if label.count("'") >= 2 else label
