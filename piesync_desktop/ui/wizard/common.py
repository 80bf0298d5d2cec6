"""Small pieces every page of the wizard uses: the page base with its problem line, and labels.

A page shows what went wrong as a sentence under its content (a title in bold, then what to do),
never in a traceback or a console; explanations are wrapped, muted text.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QStyle,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from piesync_desktop.ui.tasks import TaskError


def explanation(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A wrapped sentence in the palette's muted text colour."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    palette = label.palette()
    palette.setColor(
        QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText)
    )
    label.setPalette(palette)
    return label


PROBLEM_COLOUR = QColor("#b3261e")  # a red that reads on light and dark backgrounds


def set_buttons_enabled(
    wizard: QWizard, buttons: tuple[QWizard.WizardButton, ...], enabled: bool
) -> None:
    """Turn a wizard's buttons on or off together (off while it saves)."""
    for which in buttons:
        widget = wizard.button(which)
        if widget is not None:
            widget.setEnabled(enabled)


def problem_palette(widget: QWidget) -> QPalette:
    """The widget's palette with its text in the problem colour."""
    palette = widget.palette()
    palette.setColor(QPalette.ColorRole.WindowText, PROBLEM_COLOUR)
    return palette


class NoticeLine(QWidget):
    """An icon and a wrapped sentence: a warning, an error, or a plain note."""

    def __init__(self, kind: str = "warning", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        icons = {
            "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
            "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
            "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
        }
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.icon = QLabel(self)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        self.icon.setPixmap(self.style().standardIcon(icons[kind]).pixmap(size, size))
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)

    def show_text(self, text: str, title: str = "") -> None:
        if title:
            self.text.setTextFormat(Qt.TextFormat.RichText)
            self.text.setText(f"<b>{html.escape(title)}</b><br>{html.escape(text)}")
        else:
            self.text.setTextFormat(Qt.TextFormat.PlainText)
            self.text.setText(text)
        self.show()

    def message(self) -> str:
        return self.text.text()


class WizardPage(QWizardPage):
    """A page with a content area and, under it, a line for what went wrong."""

    def __init__(self, title: str, subtitle: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTitle(title)
        self.setSubTitle(subtitle)
        outer = QVBoxLayout(self)
        self.body = QVBoxLayout()
        outer.addLayout(self.body, 1)
        self.problem = NoticeLine("error", self)
        self.problem.hide()
        outer.addWidget(self.problem)

    def show_problem(self, problem: TaskError) -> None:
        self.problem.show_text(problem.message, problem.title)

    def clear_problem(self) -> None:
        self.problem.hide()


class FormLayout(QFormLayout):
    """A QFormLayout whose wrapped sentences keep their height when their text changes.

    QFormLayout keeps one table of row heights for two cached widths (its size hint's and the
    last one asked): asking the size hint's width after the real one, as the wizard's layouts
    do, leaves the table of the narrower width to lay the rows out at the real one, and a
    sentence that grew a line is squeezed over the rows around it. Asking a width next to the
    real one first makes it measure the rows again for the geometry it is given.
    """

    def setGeometry(self, rect: QRect) -> None:
        if self.hasHeightForWidth():
            probe = rect.width() + 1
            if probe == self.sizeHint().width():
                probe += 1
            self.heightForWidth(probe)
        super().setGeometry(rect)


def account_form(widget: QWidget, intro: str) -> tuple[FormLayout, QLabel, QComboBox]:
    """The head of an account's authorization form: what the app is, in a sentence, and the
    accounts already connected (a combo the caller fills and shows when there are some)."""
    form = FormLayout(widget)
    form.setContentsMargins(0, 0, 0, 0)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.addRow(explanation(intro, widget))
    used_label = QLabel("Already connected:", widget)
    used_combo = QComboBox(widget)
    used_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    used_combo.setAccessibleName("Use an account already connected")
    form.addRow(used_label, used_combo)
    return form, used_label, used_combo
