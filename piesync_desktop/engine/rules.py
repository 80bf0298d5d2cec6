"""IF/THEN rules: which contacts of a side sync, and what happens to them on the other side.

A rule belongs to one (source) side. IF its conditions hold for a contact there, THEN the contact
syncs and the rule's actions are applied to its counterpart on the other side. A side's default
is one rule with no condition: all contacts. A contact that matches no rule is excluded.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from piesync_desktop.engine.model import Address, Record


class ConditionOp(enum.StrEnum):
    """What an IF of a rule tests."""

    IN_TAG = "in_tag"  # in a tag, category, group or list: whatever the app calls it
    NOT_IN_TAG = "not_in_tag"
    EQUALS = "equals"
    CONTAINS = "contains"
    IS_EMPTY = "is_empty"
    NOT_EMPTY = "not_empty"


class ActionOp(enum.StrEnum):
    """What a THEN of a rule does."""

    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    SET_FIELD = "set_field"


@dataclass(frozen=True, slots=True)
class Condition:
    """One IF clause on the source contact; ``value`` is a tag name or the text to compare."""

    op: ConditionOp
    value: str = ""
    field: str = ""

    def holds(self, record: Record) -> bool:
        op = self.op
        if op is ConditionOp.IN_TAG:
            return _has_tag(record, self.value)
        if op is ConditionOp.NOT_IN_TAG:
            return not _has_tag(record, self.value)
        texts = list(_texts(record, self.field))
        if op is ConditionOp.IS_EMPTY:
            return not texts
        if op is ConditionOp.NOT_EMPTY:
            return bool(texts)
        wanted = self.value.strip().casefold()
        if op is ConditionOp.EQUALS:
            return any(text.casefold() == wanted for text in texts)
        return any(wanted in text.casefold() for text in texts)

    def describe(self) -> str:
        if self.op in (ConditionOp.IN_TAG, ConditionOp.NOT_IN_TAG):
            verb = "is in" if self.op is ConditionOp.IN_TAG else "is not in"
            return f"contact {verb} '{self.value}'"
        if self.op in (ConditionOp.IS_EMPTY, ConditionOp.NOT_EMPTY):
            return f"{self.field} {self.op.value.replace('_', ' ')}"
        return f"{self.field} {self.op.value} '{self.value}'"


@dataclass(frozen=True, slots=True)
class Action:
    """One THEN clause, applied to the counterpart on the other side."""

    op: ActionOp
    value: str = ""
    field: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """IF all (or any) conditions hold for a contact of ``side``, THEN sync it and act."""

    side: str  # "a" or "b": the source side the conditions are checked on
    conditions: tuple[Condition, ...] = ()
    actions: tuple[Action, ...] = ()
    match_all: bool = True
    undo: bool = False  # revert the actions when a contact stops matching
    name: str = ""

    def matches(self, record: Record) -> bool:
        if not self.conditions:
            return True
        results = (condition.holds(record) for condition in self.conditions)
        return all(results) if self.match_all else any(results)

    @property
    def key(self) -> str:
        """Stable identity of the rule's content (to remember which rules a contact matched)."""
        blob = json.dumps(rule_to_json(self), sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def describe(self) -> str:
        if not self.conditions:
            return self.name or "all contacts"
        joiner = " and " if self.match_all else " or "
        return self.name or joiner.join(c.describe() for c in self.conditions)


def default_rules() -> list[Rule]:
    return [Rule(side="a", name="all contacts"), Rule(side="b", name="all contacts")]


def matching_rules(rules: Sequence[Rule], side: str, record: Record) -> list[Rule]:
    return [rule for rule in rules if rule.side == side and rule.matches(record)]


def managed_tags(rules: Iterable[Rule]) -> dict[str, set[str]]:
    """Per target side, the tags rules add or remove there (kept out of the tag mapping)."""
    managed: dict[str, set[str]] = {"a": set(), "b": set()}
    for rule in rules:
        target = "b" if rule.side == "a" else "a"
        for action in rule.actions:
            if action.op in (ActionOp.ADD_TAG, ActionOp.REMOVE_TAG):
                managed[target].add(action.value)
    return managed


def rule_to_json(rule: Rule) -> dict:
    return asdict(rule)


def rule_from_json(data: dict) -> Rule:
    return Rule(
        side=data["side"],
        conditions=tuple(
            Condition(ConditionOp(c["op"]), c.get("value", ""), c.get("field", ""))
            for c in data.get("conditions", ())
        ),
        actions=tuple(
            Action(ActionOp(a["op"]), a.get("value", ""), a.get("field", ""))
            for a in data.get("actions", ())
        ),
        match_all=data.get("match_all", True),
        undo=data.get("undo", False),
        name=data.get("name", ""),
    )


def _has_tag(record: Record, tag: str) -> bool:
    wanted = tag.strip().casefold()
    return any(t.casefold() == wanted for t in record.tags)


def _texts(record: Record, key: str) -> Iterable[str]:
    value = record.fields.get(key, "")
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
        return
    for item in value:
        text = item.value.label() if isinstance(item.value, Address) else item.value
        if text.strip():
            yield text.strip()
