"""Rules: an IF/THEN editor per source app, starting from the all-contacts rules, with a count
of the contacts each rule matches (counted on the side's own worker thread)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QGroupBox, QPushButton, QScrollArea, QVBoxLayout, QWidget

from piesync_desktop.engine.connection import Side
from piesync_desktop.engine.rules import Rule, default_rules
from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.wizard.common import NoticeLine, WizardPage, explanation
from piesync_desktop.ui.wizard.draft import ConnectionDraft
from piesync_desktop.ui.wizard.rule_editor import RuleEditor, RuleSides
from piesync_desktop.ui.wizard.side_reads import ReadProgress, RuleCounts, SideReads

COUNT_DELAY_MS = 300  # after the last edit


class SideRulesSection(QGroupBox):
    """The rules of one source app, in order, with an Add rule button."""

    def __init__(self, side: Side, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = side
        self.editors: list[RuleEditor] = []
        self.sides: RuleSides | None = None
        self.on_changed: Callable[[], None] = lambda: None
        layout = QVBoxLayout(self)
        self.rules_box = QVBoxLayout()
        layout.addLayout(self.rules_box)
        self.add_button = QPushButton(icon("action-add"), "Add rule", self)
        layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.add_button.clicked.connect(self.add_rule)

    def load(self, rules: list[Rule], sides: RuleSides, tags: tuple[str, ...]) -> None:
        self.sides = sides
        for editor in self.editors:
            editor.deleteLater()
        self.editors = []
        for rule in rules or [Rule(side=self.side.value, name="all contacts")]:
            self._append(rule)
        self.set_known_tags(tags)
        self._renumber()

    def rules(self) -> list[Rule]:
        return [editor.rule() for editor in self.editors]

    def add_rule(self) -> RuleEditor:
        editor = self._append(Rule(side=self.side.value))
        self._renumber()
        self.on_changed()
        return editor

    def set_known_tags(self, tags: tuple[str, ...]) -> None:
        for editor in self.editors:
            editor.set_known_tags(tags)

    def set_counts(self, texts: list[str]) -> None:
        for editor, text in zip(self.editors, texts, strict=False):
            editor.set_count(text)

    def _append(self, rule: Rule) -> RuleEditor:
        assert self.sides is not None
        editor = RuleEditor(len(self.editors) + 1, rule, self.sides, self)
        editor.changed.connect(lambda: self.on_changed())
        editor.remove_requested.connect(self._remove)
        self.editors.append(editor)
        self.rules_box.addWidget(editor)
        return editor

    def _remove(self, editor: RuleEditor) -> None:
        if len(self.editors) <= 1:
            return
        self.editors.remove(editor)
        editor.deleteLater()
        self._renumber()
        self.on_changed()

    def _renumber(self) -> None:
        for number, editor in enumerate(self.editors, 1):
            editor.set_number(number)
            editor.set_removable(len(self.editors) > 1)


class RulesPage(WizardPage):
    """IF/THEN rules per source app."""

    def __init__(
        self,
        draft: Callable[[], ConnectionDraft],
        reads: SideReads,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            "Rules",
            "Which contacts sync. A contact syncs when it matches at least one rule of its app; "
            "the THEN actions of the rules it matches are applied in the other app.",
            parent,
        )
        self._draft = draft
        self._reads = reads
        self._built_for: tuple[str, str] | None = None
        self.reading = explanation("", self)
        self.body.addWidget(self.reading)
        self.one_way_note = NoticeLine("info", self)
        self.one_way_note.hide()
        self.body.addWidget(self.one_way_note)
        self.unfinished = NoticeLine("warning", self)
        self.unfinished.hide()
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        content = QWidget(scroll)
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 6, 0)
        self.sections = {side: SideRulesSection(side, content) for side in Side}
        for section in self.sections.values():
            content_layout.addWidget(section)
            section.on_changed = lambda s=section.side: self._on_edited(s)
        content_layout.addStretch(1)
        scroll.setWidget(content)
        self.body.addWidget(scroll, 1)
        self.body.addWidget(self.unfinished)
        self._timers: dict[Side, QTimer] = {}
        for side in Side:
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(COUNT_DELAY_MS)
            timer.timeout.connect(lambda s=side: self._count(s))
            self._timers[side] = timer
        reads.schema_ready.connect(self._on_schema)
        reads.snapshot_ready.connect(self._on_snapshot)
        reads.progressed.connect(self._on_progress)
        reads.failed.connect(self._on_failed)

    # -- QWizardPage --------------------------------------------------------------------------

    def initializePage(self) -> None:
        self._build()

    def isComplete(self) -> bool:
        return self._built_for is not None and self._unfinished() is None

    def _unfinished(self) -> str | None:
        draft = self._draft()
        for side in Side:
            if not draft.direction.reads_from(side):
                continue
            for number, editor in enumerate(self.sections[side].editors, 1):
                missing = editor.unfinished()
                if missing:
                    return f"Rule {number} of {draft.label(side)}: {missing}."
        return None

    def _show_unfinished(self) -> None:
        missing = self._unfinished() if self._built_for is not None else None
        if missing:
            self.unfinished.show_text(missing)
        else:
            self.unfinished.hide()
        self.completeChanged.emit()

    # -- building -----------------------------------------------------------------------------

    def _showing(self) -> bool:
        wizard = self.wizard()
        return wizard is not None and wizard.currentPage() is self

    def _on_schema(self, _side: Side) -> None:
        if self._showing() and self._built_for is None:
            self._build()

    def _build(self) -> None:
        draft = self._draft()
        found = {side: self._reads.schema(side) for side in Side}
        schemas = {side: schema for side, schema in found.items() if schema is not None}
        if len(schemas) < len(found):
            self._built_for = None
            self.reading.setText(
                f"Reading the fields of {draft.label(Side.A)} and {draft.label(Side.B)}…"
            )
            self.reading.show()
            for section in self.sections.values():
                section.hide()
            self.completeChanged.emit()
            return
        self.reading.hide()
        if draft.rules_for != draft.apps_now():
            draft.rules = default_rules()
            draft.rules_for = draft.apps_now()
        for side in Side:
            other = side.other
            sides = RuleSides(
                source_schema=schemas[side],
                target_schema=schemas[other],
                source_tag_noun=draft.tag_noun(side),
                target_tag_noun=draft.tag_noun(other),
                source_has_tags=draft.app(side).capabilities.tags,
                target_has_tags=draft.app(other).capabilities.tags,
                target_label=draft.label(other),
            )
            section = self.sections[side]
            section.setTitle(f"Contacts of {draft.label(side)} that sync to {draft.label(other)}")
            snapshot = self._reads.snapshot(side)
            section.load(
                [rule for rule in draft.rules if rule.side == side.value],
                sides,
                snapshot.tags if snapshot else (),
            )
            reads_from = draft.direction.reads_from(side)
            section.setVisible(reads_from)
        self._show_one_way_note()
        self._built_for = draft.specs_now()
        self._store_rules()
        self._show_unfinished()
        for side in Side:
            self._count(side)
        self.completeChanged.emit()

    def _show_one_way_note(self) -> None:
        draft = self._draft()
        targets = [side for side in Side if not draft.direction.reads_from(side)]
        if not targets:
            self.one_way_note.hide()
            return
        target = targets[0]
        self.one_way_note.show_text(
            f"In a one-way sync {draft.label(target)} only receives contacts, so only the rules "
            f"of {draft.label(target.other)} apply."
        )

    # -- edits and counts ---------------------------------------------------------------------

    def _store_rules(self) -> None:
        self._draft().rules = self.sections[Side.A].rules() + self.sections[Side.B].rules()

    def _on_edited(self, side: Side) -> None:
        self._store_rules()
        self._show_unfinished()
        self.sections[side].set_counts(["Counting…"] * len(self.sections[side].editors))
        self._timers[side].start()

    def _count(self, side: Side) -> None:
        section = self.sections[side]
        if not section.editors:
            return
        rules = section.rules()
        started = self._reads.count(side, rules, lambda counts, s=side: self._on_counts(s, counts))
        if not started and self._reads.error(side) is None:
            section.set_counts(["Counting…"] * len(section.editors))

    def _on_counts(self, side: Side, counts: RuleCounts) -> None:
        noun = "contact" if counts.total == 1 else "contacts"
        self.sections[side].set_counts(
            [f"Matches {n:,} of {counts.total:,} {noun}" for n in counts.matches]
        )

    def _on_snapshot(self, side: Side) -> None:
        snapshot = self._reads.snapshot(side)
        if snapshot is None or self._built_for is None:
            return
        self.sections[side].set_known_tags(snapshot.tags)
        self._count(side)

    def _on_progress(self, side: Side, progress: ReadProgress) -> None:
        if self._built_for is None:
            return
        section = self.sections[side]
        section.set_counts([f"Counting… ({progress.done:,} read)"] * len(section.editors))

    def _on_failed(self, side: Side, problem: object) -> None:
        section = self.sections[side]
        section.set_counts(["Cannot count: the app could not be read"] * len(section.editors))
