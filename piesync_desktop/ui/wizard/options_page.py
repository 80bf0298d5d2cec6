"""Options: Avoid Duplicates (with the risk spelled out when it is turned off), the winning app,
Sync Deletions and Sync Unsubscribes (offered only when both apps can do it, otherwise a sentence
saying why not), and how often the connection syncs."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connection_setup import (
    OptionAvailability,
    deletions_availability,
    unsubscribes_availability,
)
from piesync_desktop.ui.wizard.common import NoticeLine, WizardPage, explanation
from piesync_desktop.ui.wizard.draft import ConnectionDraft

INTERVALS = (
    (5, "Every 5 minutes"),
    (15, "Every 15 minutes"),
    (30, "Every 30 minutes"),
    (60, "Every hour"),
    (180, "Every 3 hours"),
    (720, "Every 12 hours"),
    (1440, "Once a day"),
)

AVOID_DUPLICATES_RISK = (
    "Without Avoid Duplicates, contacts without an email address sync too. Nothing can match "
    "them to a contact that already exists in the other app, so each is created there again: "
    "you may get duplicates, and they are hard to clean up."
)


def interval_text(minutes: int) -> str:
    for value, text in INTERVALS:
        if value == minutes:
            return text
    return f"Every {minutes} minutes"


class OptionSwitch(QWidget):
    """A check box with its sentence, or, when the apps cannot do it, only a sentence why not."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.check = QCheckBox(text, self)
        self.sentence = explanation("", self)
        layout.addWidget(self.check)
        layout.addWidget(self.sentence)

    def set_availability(self, availability: OptionAvailability, on: bool) -> None:
        self.check.setVisible(availability.available)
        self.check.setChecked(on and availability.available)
        self.sentence.setText(availability.explanation)

    @property
    def offered(self) -> bool:
        return not self.check.isHidden()


class OptionsPage(WizardPage):
    """The connection's options."""

    def __init__(self, draft: Callable[[], ConnectionDraft], parent: QWidget | None = None) -> None:
        super().__init__(
            "Options",
            "How the connection treats duplicates, conflicts, deletions and unsubscribes, and how "
            "often it syncs.",
            parent,
        )
        self._draft = draft
        form = QFormLayout()
        form.setVerticalSpacing(14)
        self.body.addLayout(form)
        self.body.addStretch(1)

        duplicates = QWidget(self)
        duplicates_layout = QVBoxLayout(duplicates)
        duplicates_layout.setContentsMargins(0, 0, 0, 0)
        self.avoid_duplicates = QCheckBox(
            "Only sync contacts with an email address, matched on that address", duplicates
        )
        self.duplicates_sentence = explanation(
            "Contacts are paired across the two apps on their email address; a contact without "
            "one is left out, and Health says so.",
            duplicates,
        )
        self.duplicates_warning = NoticeLine("warning", duplicates)
        self.duplicates_warning.show_text(AVOID_DUPLICATES_RISK)
        duplicates_layout.addWidget(self.avoid_duplicates)
        duplicates_layout.addWidget(self.duplicates_sentence)
        duplicates_layout.addWidget(self.duplicates_warning)
        form.addRow("Avoid Duplicates:", duplicates)

        winner = QWidget(self)
        winner_layout = QVBoxLayout(winner)
        winner_layout.setContentsMargins(0, 0, 0, 0)
        self.winner = QComboBox(winner)
        self.winner_sentence = explanation("", winner)
        winner_layout.addWidget(self.winner, 0, Qt.AlignmentFlag.AlignLeft)
        winner_layout.addWidget(self.winner_sentence)
        form.addRow("Winning app:", winner)

        self.deletions = OptionSwitch("Sync Deletions", self)
        form.addRow("Deletions:", self.deletions)
        self.unsubscribes = OptionSwitch("Sync Unsubscribes", self)
        form.addRow("Unsubscribes:", self.unsubscribes)

        self.interval = QComboBox(self)
        self.interval.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        form.addRow("Sync:", self.interval)

        self.avoid_duplicates.toggled.connect(self._on_avoid_duplicates)
        self.winner.currentIndexChanged.connect(self._on_winner)
        self.deletions.check.toggled.connect(self._on_deletions)
        self.unsubscribes.check.toggled.connect(self._on_unsubscribes)
        self.interval.currentIndexChanged.connect(self._on_interval)

    def initializePage(self) -> None:
        draft = self._draft()
        a, b = draft.label(Side.A), draft.label(Side.B)
        for widget in (self.winner, self.interval):
            widget.blockSignals(True)
        self.avoid_duplicates.setChecked(draft.avoid_duplicates)
        self.duplicates_warning.setVisible(not draft.avoid_duplicates)

        self.winner.clear()
        self.winner.addItem(a, Side.A)
        self.winner.addItem(b, Side.B)
        one_way = draft.direction is not Direction.TWO_WAY
        self.winner.setCurrentIndex(0 if draft.effective_winner() is Side.A else 1)
        self.winner.setEnabled(not one_way)
        if one_way:
            source = a if draft.direction is Direction.A_TO_B else b
            self.winner_sentence.setText(
                f"In a one-way sync the source app, {source}, always wins."
            )
        else:
            self.winner_sentence.setText(
                "When a contact was changed differently in both apps since the last sync, the "
                "winning app's value is kept. Blanks never overwrite a value."
            )

        self.interval.clear()
        minutes = [value for value, _ in INTERVALS]
        if draft.interval_minutes not in minutes:
            minutes.append(draft.interval_minutes)
        for value in sorted(minutes):
            self.interval.addItem(interval_text(value), value)
        self.interval.setCurrentIndex(self.interval.findData(draft.interval_minutes))
        for widget in (self.winner, self.interval):
            widget.blockSignals(False)
        self._refresh_availability()

    def _refresh_availability(self) -> None:
        draft = self._draft()
        apps = (draft.app(Side.A), draft.app(Side.B))
        labels = (draft.label(Side.A), draft.label(Side.B))
        deletions = deletions_availability(*apps, draft.direction, *labels)
        unsubscribes = unsubscribes_availability(*apps, draft.direction, *labels)
        self.deletions.set_availability(deletions, draft.sync_deletions)
        self.unsubscribes.set_availability(unsubscribes, draft.sync_unsubscribes)
        draft.sync_deletions = draft.sync_deletions and deletions.available
        draft.sync_unsubscribes = draft.sync_unsubscribes and unsubscribes.available

    # -- reactions ----------------------------------------------------------------------------

    def _on_avoid_duplicates(self, on: bool) -> None:
        self._draft().avoid_duplicates = on
        self.duplicates_warning.setVisible(not on)

    def _on_winner(self, index: int) -> None:
        side = self.winner.itemData(index)  # Qt hands the enum back as its plain value
        if side and self._draft().direction is Direction.TWO_WAY:
            self._draft().winner = Side(side)

    def _on_deletions(self, on: bool) -> None:
        self._draft().sync_deletions = on

    def _on_unsubscribes(self, on: bool) -> None:
        self._draft().sync_unsubscribes = on

    def _on_interval(self, index: int) -> None:
        minutes = self.interval.itemData(index)
        if minutes:
            self._draft().interval_minutes = int(minutes)
