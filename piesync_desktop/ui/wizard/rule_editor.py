"""One IF/THEN rule as a small form: conditions on the source contact, actions on its counterpart.

The conditions and actions are the engine's (:mod:`piesync_desktop.engine.rules`): in or not in a
tag (category, group, list: the app's own word), a field that is, contains, is empty or is not
empty; add to or remove from a tag, set a field. A rule without conditions matches all contacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine.model import AppSchema
from piesync_desktop.engine.rules import Action, ActionOp, Condition, ConditionOp, Rule
from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.wizard.common import explanation

TAG_SUBJECT = ""  # the subject combo's data for "the contact's tags"
ALL_CONTACTS = "all contacts"
TAG_OPS = ((ConditionOp.IN_TAG, "is in"), (ConditionOp.NOT_IN_TAG, "is not in"))
FIELD_OPS = (
    (ConditionOp.EQUALS, "is"),
    (ConditionOp.CONTAINS, "contains"),
    (ConditionOp.IS_EMPTY, "is empty"),
    (ConditionOp.NOT_EMPTY, "is not empty"),
)
NO_VALUE_OPS = frozenset({ConditionOp.IS_EMPTY, ConditionOp.NOT_EMPTY})


@dataclass(frozen=True, slots=True)
class RuleSides:
    """What a rule editor needs to know of the two sides."""

    source_schema: AppSchema
    target_schema: AppSchema
    source_tag_noun: str
    target_tag_noun: str
    source_has_tags: bool
    target_has_tags: bool
    target_label: str


def rule_sentence(
    rule: Rule,
    schemas: tuple[AppSchema | None, AppSchema | None],
    nouns: tuple[str, str],
) -> str:
    """A rule in words with the fields' labels ("in category 'Customers', then add to ...");
    ``schemas`` and ``nouns`` are the source's, then the target's."""
    source_noun, target_noun = nouns

    def label(key: str, schema: AppSchema | None = schemas[0]) -> str:
        return schema.fields[key].label if schema and key in schema.fields else key

    words = {
        ConditionOp.IN_TAG: lambda c: f"in {source_noun} '{c.value}'",
        ConditionOp.NOT_IN_TAG: lambda c: f"not in {source_noun} '{c.value}'",
        ConditionOp.EQUALS: lambda c: f"{label(c.field)} is '{c.value}'",
        ConditionOp.CONTAINS: lambda c: f"{label(c.field)} contains '{c.value}'",
        ConditionOp.IS_EMPTY: lambda c: f"{label(c.field)} is empty",
        ConditionOp.NOT_EMPTY: lambda c: f"{label(c.field)} is not empty",
    }
    joiner = " and " if rule.match_all else " or "
    text = joiner.join(words[c.op](c) for c in rule.conditions) or ALL_CONTACTS
    doings = {
        ActionOp.ADD_TAG: lambda a: f"add to {target_noun} '{a.value}'",
        ActionOp.REMOVE_TAG: lambda a: f"remove from {target_noun} '{a.value}'",
        ActionOp.SET_FIELD: lambda a: f"set {label(a.field, schemas[1])} to '{a.value}'",
    }
    if rule.actions:
        text += ", then " + " and ".join(doings[a.op](a) for a in rule.actions)
    return text


def _remove_button(parent: QWidget, tip: str, whole_rule: bool = False) -> QToolButton:
    """A trash can for a rule, a small clear cross for one of its rows."""
    button = QToolButton(parent)
    if whole_rule:
        button.setIcon(icon("action-remove"))
    else:
        button.setIcon(parent.style().standardIcon(QStyle.StandardPixmap.SP_LineEditClearButton))
    button.setToolTip(tip)
    button.setAccessibleName(tip)
    button.setAutoRaise(True)
    return button


def _link_button(text: str, parent: QWidget) -> QPushButton:
    button = QPushButton(icon("action-add"), text, parent)
    button.setFlat(True)
    button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
    return button


class ConditionRow(QWidget):
    """One IF clause: subject (a tag or a field), how it compares, and the value."""

    changed = Signal()
    removed = Signal(object)

    def __init__(self, sides: RuleSides, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.subject = QComboBox(self)
        if sides.source_has_tags:
            self.subject.addItem(sides.source_tag_noun.capitalize(), TAG_SUBJECT)
        for spec in sides.source_schema.fields.values():
            self.subject.addItem(spec.label, spec.key)
        self.op = QComboBox(self)
        self.value = QComboBox(self)
        self.value.setEditable(True)
        self.value.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.value.setMinimumContentsLength(14)
        self.value.lineEdit().setPlaceholderText("value")
        remove = _remove_button(self, "Remove this condition")
        layout.addWidget(self.subject, 2)
        layout.addWidget(self.op, 1)
        layout.addWidget(self.value, 2)
        layout.addWidget(remove)
        self._tags: Sequence[str] = ()
        self._fill_ops()
        self.subject.currentIndexChanged.connect(self._on_subject)
        self.op.currentIndexChanged.connect(self._on_op)
        self.value.editTextChanged.connect(lambda _t: self.changed.emit())
        remove.clicked.connect(lambda: self.removed.emit(self))

    def set_known_tags(self, tags: Sequence[str]) -> None:
        self._tags = tags
        if self.subject.currentData() == TAG_SUBJECT:
            text = self.value.currentText()
            self.value.blockSignals(True)
            self.value.clear()
            self.value.addItems(list(tags))
            self.value.setEditText(text)
            self.value.blockSignals(False)

    def load(self, condition: Condition) -> None:
        subject = TAG_SUBJECT if condition.op in dict(TAG_OPS) else condition.field
        index = self.subject.findData(subject)
        self.subject.setCurrentIndex(max(index, 0))
        self._fill_ops()
        self.op.setCurrentIndex(max(self.op.findData(condition.op), 0))
        self.value.setEditText(condition.value)
        self._on_op()

    def condition(self) -> Condition:
        subject = self.subject.currentData()
        op = ConditionOp(self.op.currentData())
        value = "" if op in NO_VALUE_OPS else self.value.currentText().strip()
        return Condition(op, value, "" if subject == TAG_SUBJECT else subject)

    def _fill_ops(self) -> None:
        ops = TAG_OPS if self.subject.currentData() == TAG_SUBJECT else FIELD_OPS
        self.op.blockSignals(True)
        self.op.clear()
        for op, text in ops:
            self.op.addItem(text, op)
        self.op.blockSignals(False)
        text = self.value.currentText()
        self.value.blockSignals(True)
        self.value.clear()
        if self.subject.currentData() == TAG_SUBJECT:
            self.value.addItems(list(self._tags))
        self.value.setEditText(text)
        self.value.blockSignals(False)

    def _on_subject(self) -> None:
        self._fill_ops()
        self._on_op()

    def _on_op(self) -> None:
        op = self.op.currentData()
        self.value.setVisible(op not in NO_VALUE_OPS)
        self.changed.emit()


class ActionRow(QWidget):
    """One THEN clause, on the other app's contact: add to or remove from a tag, or set a field."""

    changed = Signal()
    removed = Signal(object)

    def __init__(self, sides: RuleSides, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        noun = sides.target_tag_noun
        self.op = QComboBox(self)
        if sides.target_has_tags:
            self.op.addItem(f"Add to {noun}", ActionOp.ADD_TAG)
            self.op.addItem(f"Remove from {noun}", ActionOp.REMOVE_TAG)
        self.op.addItem("Set field", ActionOp.SET_FIELD)
        self.field = QComboBox(self)
        for spec in sides.target_schema.fields.values():
            if not spec.multi and not spec.read_only:
                self.field.addItem(spec.label, spec.key)
        self.value = QComboBox(self)
        self.value.setEditable(True)
        self.value.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.value.setMinimumContentsLength(14)
        self.value.lineEdit().setPlaceholderText("value")
        remove = _remove_button(self, "Remove this action")
        layout.addWidget(self.op, 2)
        layout.addWidget(self.field, 1)
        layout.addWidget(self.value, 2)
        layout.addWidget(remove)
        self.op.currentIndexChanged.connect(self._on_op)
        self.field.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.value.editTextChanged.connect(lambda _t: self.changed.emit())
        remove.clicked.connect(lambda: self.removed.emit(self))
        self._on_op()

    def load(self, action: Action) -> None:
        self.op.setCurrentIndex(max(self.op.findData(action.op), 0))
        if action.field:
            self.field.setCurrentIndex(max(self.field.findData(action.field), 0))
        self.value.setEditText(action.value)

    def action(self) -> Action:
        op = ActionOp(self.op.currentData())
        field = self.field.currentData() if op is ActionOp.SET_FIELD else ""
        return Action(op, self.value.currentText().strip(), field or "")

    def _on_op(self) -> None:
        self.field.setVisible(self.op.currentData() == ActionOp.SET_FIELD)
        self.changed.emit()


class RuleEditor(QFrame):
    """One rule: IF its conditions hold for a contact of the source app, THEN sync the contact
    and apply its actions in the other app."""

    changed = Signal()
    remove_requested = Signal(object)

    def __init__(
        self, number: int, rule: Rule, sides: RuleSides, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.sides = sides
        self.side = rule.side
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)

        header = QHBoxLayout()
        self.title = QLabel(self)
        self.match = QComboBox(self)
        self.match.addItem("all conditions hold", True)
        self.match.addItem("any condition holds", False)
        self.match.setCurrentIndex(0 if rule.match_all else 1)
        self.count = QLabel("Counting…", self)
        self.count.setAccessibleName("Contacts this rule matches")
        self.remove_button = _remove_button(self, "Remove this rule", whole_rule=True)
        header.addWidget(self.title)
        header.addWidget(self.match)
        header.addStretch(1)
        header.addWidget(self.count)
        header.addWidget(self.remove_button)
        layout.addLayout(header)

        self.all_contacts = explanation("All contacts.", self)
        layout.addWidget(self.all_contacts)
        self.conditions_box = QVBoxLayout()
        layout.addLayout(self.conditions_box)
        self.add_condition_button = _link_button("Add condition", self)
        layout.addWidget(self.add_condition_button)

        self.then = QLabel(f"<b>THEN</b> sync the contact to {sides.target_label}", self)
        layout.addWidget(self.then)
        self.actions_box = QVBoxLayout()
        layout.addLayout(self.actions_box)
        self.add_action_button = _link_button("Add action", self)
        layout.addWidget(self.add_action_button)
        self.undo = QCheckBox("Undo these actions when a contact stops matching this rule", self)
        self.undo.setChecked(rule.undo)
        layout.addWidget(self.undo)

        self.condition_rows: list[ConditionRow] = []
        self.action_rows: list[ActionRow] = []
        self._tags: Sequence[str] = ()
        for condition in rule.conditions:
            self._add_condition(condition)
        for action in rule.actions:
            self._add_action(action)
        self.set_number(number)
        self._update_shape()
        self.match.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.undo.toggled.connect(lambda _on: self.changed.emit())
        self.add_condition_button.clicked.connect(lambda: self._add_condition(None))
        self.add_action_button.clicked.connect(lambda: self._add_action(None))
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self))

    def set_number(self, number: int) -> None:
        self.title.setText(f"<b>Rule {number}: IF</b>")

    def set_removable(self, removable: bool) -> None:
        self.remove_button.setEnabled(removable)
        self.remove_button.setToolTip(
            "Remove this rule"
            if removable
            else "The only rule of this app cannot go: without a rule, none of its contacts sync."
        )

    def set_count(self, text: str) -> None:
        self.count.setText(text)

    def set_known_tags(self, tags: Sequence[str]) -> None:
        self._tags = tags
        for row in self.condition_rows:
            row.set_known_tags(tags)

    def unfinished(self) -> str | None:
        """What is still missing in this rule (a value to compare or a tag to add), or None."""
        for row in self.condition_rows:
            condition = row.condition()
            if condition.op not in NO_VALUE_OPS and not condition.value:
                return f"a condition on {row.subject.currentText()} has no value yet"
        for row in self.action_rows:
            action = row.action()
            if action.op is not ActionOp.SET_FIELD and not action.value:
                return f"'{row.op.currentText()}' names no {self.sides.target_tag_noun} yet"
        return None

    def rule(self) -> Rule:
        conditions = tuple(row.condition() for row in self.condition_rows)
        return Rule(
            side=self.side,
            conditions=conditions,
            actions=tuple(row.action() for row in self.action_rows),
            match_all=bool(self.match.currentData()),
            undo=self.undo.isChecked(),
            name="" if conditions else ALL_CONTACTS,
        )

    def add_condition(self) -> ConditionRow:
        return self._add_condition(None)

    def add_action(self) -> ActionRow:
        return self._add_action(None)

    def _add_condition(self, condition: Condition | None) -> ConditionRow:
        row = ConditionRow(self.sides, self)
        row.set_known_tags(self._tags)
        if condition is not None:
            row.load(condition)
        row.changed.connect(self.changed)
        row.removed.connect(self._remove_condition)
        self.condition_rows.append(row)
        self.conditions_box.addWidget(row)
        self._update_shape()
        if condition is None:
            self.changed.emit()
        return row

    def _add_action(self, action: Action | None) -> ActionRow:
        row = ActionRow(self.sides, self)
        if action is not None:
            row.load(action)
        row.changed.connect(self.changed)
        row.removed.connect(self._remove_action)
        self.action_rows.append(row)
        self.actions_box.addWidget(row)
        self._update_shape()
        if action is None:
            self.changed.emit()
        return row

    def _remove_condition(self, row: ConditionRow) -> None:
        self.condition_rows.remove(row)
        row.deleteLater()
        self._update_shape()
        self.changed.emit()

    def _remove_action(self, row: ActionRow) -> None:
        self.action_rows.remove(row)
        row.deleteLater()
        self._update_shape()
        self.changed.emit()

    def _update_shape(self) -> None:
        self.all_contacts.setVisible(not self.condition_rows)
        self.match.setVisible(len(self.condition_rows) > 1)
        self.undo.setVisible(bool(self.action_rows))
