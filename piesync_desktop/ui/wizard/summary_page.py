"""The last page: the connection's name (suggested from the two locations, and free) and what
Finish will save."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QWidget

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connection_setup import name_problem, suggest_name
from piesync_desktop.engine.mapping import MappingKind
from piesync_desktop.ui.wizard.common import WizardPage, explanation, problem_palette
from piesync_desktop.ui.wizard.direction_page import TITLES
from piesync_desktop.ui.wizard.draft import ConnectionDraft
from piesync_desktop.ui.wizard.options_page import interval_text
from piesync_desktop.ui.wizard.rule_editor import rule_sentence
from piesync_desktop.ui.wizard.side_reads import SideReads


def _on_off(value: bool) -> str:
    return "On" if value else "Off"


class SummaryPage(WizardPage):
    """Name the connection and check what will be saved."""

    def __init__(
        self,
        draft: Callable[[], ConnectionDraft],
        reads: SideReads,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Name and finish",
            "Give the connection a name you will recognise, and check your choices.",
            parent,
        )
        self._draft = draft
        self._reads = reads
        form = QFormLayout()
        self.body.addLayout(form)
        self.name_edit = QLineEdit(self)
        self.name_edit.setAccessibleName("Connection name")
        self.name_edit.setMaxLength(120)
        form.addRow("Name:", self.name_edit)
        self.name_status = explanation("", self)
        form.addRow("", self.name_status)
        self.rows: dict[str, QLabel] = {}
        for key in (
            "First app",
            "Second app",
            "Direction",
            "Field mappings",
            "Rules",
            "Avoid Duplicates",
            "Winning app",
            "Sync Deletions",
            "Sync Unsubscribes",
            "Sync",
        ):
            label = QLabel(self)
            label.setWordWrap(True)
            self.rows[key] = label
            form.addRow(f"{key}:", label)
        self.after = explanation("", self)
        self.body.addSpacing(12)
        self.body.addWidget(self.after)
        self.body.addStretch(1)
        self.name_edit.textChanged.connect(self._on_name_edited)

    def initializePage(self) -> None:
        draft = self._draft()
        self.name_edit.blockSignals(True)  # only the person's edits are theirs
        if draft.editing:
            self.name_edit.setText(draft.name)
            self.name_edit.setReadOnly(True)
            self.name_status.setText("A connection keeps its name.")
            self.after.setText("Saving applies the changes from the next sync on.")
            self.name_edit.blockSignals(False)
        else:
            if not draft.name_edited:
                draft.name = suggest_name(
                    draft.choice(Side.A), draft.choice(Side.B), draft.taken_names
                )
            self.name_edit.setText(draft.name)
            self.name_edit.blockSignals(False)
            self.after.setText(
                "Finish saves the connection; its first sync then starts in the background."
            )
            self._check_name()
        self._fill_summary()

    def isComplete(self) -> bool:
        draft = self._draft()
        return draft.editing or name_problem(draft.name, draft.taken_names) is None

    def recheck_name(self) -> None:
        """Check the name again (the taken names changed)."""
        if not self._draft().editing:
            self._check_name()
            self.completeChanged.emit()

    def _on_name_edited(self, text: str) -> None:
        draft = self._draft()
        draft.name = text
        draft.name_edited = True
        self._check_name()
        self.completeChanged.emit()

    def _check_name(self) -> None:
        draft = self._draft()
        problem = name_problem(draft.name, draft.taken_names)
        if problem:
            self.name_status.setText(problem)
            self.name_status.setPalette(problem_palette(self.name_status))
        else:
            self.name_status.setText("The name shows in the window, in Health and in the CLI.")
            self.name_status.setPalette(explanation().palette())

    def _fill_summary(self) -> None:
        draft = self._draft()
        a, b = draft.label(Side.A), draft.label(Side.B)
        self.rows["First app"].setText(f"{a} ({draft.specs[Side.A].partition(':')[2]})")
        self.rows["Second app"].setText(f"{b} ({draft.specs[Side.B].partition(':')[2]})")
        self.rows["Direction"].setText(TITLES[draft.direction])
        mappings = draft.mappings or []
        on = sum(1 for m in mappings if m.enabled)
        custom = sum(1 for m in mappings if m.custom)
        text = f"{on} of {len(mappings)} on"
        if custom:
            text += f", {custom} custom"
        if any(m.kind is MappingKind.NAME and m.enabled for m in mappings):
            text += "; names joined and split"
        self.rows["Field mappings"].setText(text)
        sources = [side for side in Side if draft.direction.reads_from(side)]
        self.rows["Rules"].setText(
            "\n".join(
                f"{draft.label(side)}: "
                + "; ".join(
                    rule_sentence(
                        rule,
                        (self._reads.schema(side), self._reads.schema(side.other)),
                        (draft.tag_noun(side), draft.tag_noun(side.other)),
                    )
                    for rule in draft.rules
                    if rule.side == side.value
                )
                for side in sources
            )
        )
        self.rows["Avoid Duplicates"].setText(_on_off(draft.avoid_duplicates))
        winner = draft.effective_winner()
        self.rows["Winning app"].setText(
            draft.label(winner)
            + (
                " (the source of a one-way sync)"
                if draft.direction is not Direction.TWO_WAY
                else ""
            )
        )
        self.rows["Sync Deletions"].setText(_on_off(draft.sync_deletions))
        self.rows["Sync Unsubscribes"].setText(_on_off(draft.sync_unsubscribes))
        self.rows["Sync"].setText(interval_text(draft.interval_minutes))
