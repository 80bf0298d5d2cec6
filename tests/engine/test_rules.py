"""IF/THEN rules: conditions on the source contact, match all/any, keys and persistence."""

from __future__ import annotations

import json

import pytest

from piesync_desktop.engine.model import Address, Item, Record
from piesync_desktop.engine.rules import (
    Action,
    ActionOp,
    Condition,
    ConditionOp,
    Rule,
    default_rules,
    managed_tags,
    matching_rules,
    rule_from_json,
    rule_to_json,
)

CONTACT = Record(
    "1",
    {
        "company": "  ACME Corp ",
        "title": "",
        "emails": (Item("work", "Jane@ACME.com"), Item("home", "jane@home.org")),
        "phones": (Item("work", "  "),),
        "addresses": (Item("home", Address(street="Main St 1", locality="Gent")),),
    },
    tags=frozenset({"Customers", "VIP"}),
)


@pytest.mark.parametrize("tag", ["Customers", "customers", "VIP", " vip ", "CUSTOMERS"])
def test_in_tag_is_case_insensitive(tag: str) -> None:
    assert Condition(ConditionOp.IN_TAG, tag).holds(CONTACT)
    assert not Condition(ConditionOp.NOT_IN_TAG, tag).holds(CONTACT)


@pytest.mark.parametrize("tag", ["Leads", "Customer", ""])
def test_not_in_tag(tag: str) -> None:
    assert Condition(ConditionOp.NOT_IN_TAG, tag).holds(CONTACT)
    assert not Condition(ConditionOp.IN_TAG, tag).holds(CONTACT)


def test_in_tag_on_a_contact_without_tags() -> None:
    bare = Record("2")
    assert not Condition(ConditionOp.IN_TAG, "VIP").holds(bare)
    assert Condition(ConditionOp.NOT_IN_TAG, "VIP").holds(bare)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("company", "acme corp", True),  # single field, trimmed, case-insensitive
        ("company", " ACME CORP ", True),
        ("company", "ACME", False),  # equals is the whole value
        ("emails", "jane@home.org", True),  # any value of a multi field
        ("emails", "JANE@acme.com", True),
        ("emails", "jane", False),
        ("addresses", "Main St 1, Gent", True),  # an address compares by its label
        ("missing", "", False),
    ],
)
def test_equals(field: str, value: str, expected: bool) -> None:
    assert Condition(ConditionOp.EQUALS, value, field).holds(CONTACT) is expected


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("company", "acme", True),
        ("company", "corp", True),
        ("company", "inc", False),
        ("emails", "HOME.ORG", True),  # the second value of a multi field
        ("emails", "example", False),
        ("addresses", "gent", True),
        ("title", "x", False),
        ("missing", "x", False),
    ],
)
def test_contains(field: str, value: str, expected: bool) -> None:
    assert Condition(ConditionOp.CONTAINS, value, field).holds(CONTACT) is expected


@pytest.mark.parametrize(
    ("field", "empty"),
    [
        ("company", False),
        ("title", True),  # an empty string
        ("missing", True),  # absent from the record
        ("emails", False),
        ("phones", True),  # a multi field whose only item is blank
        ("addresses", False),
    ],
)
def test_is_empty_and_not_empty(field: str, empty: bool) -> None:
    assert Condition(ConditionOp.IS_EMPTY, field=field).holds(CONTACT) is empty
    assert Condition(ConditionOp.NOT_EMPTY, field=field).holds(CONTACT) is not empty


def test_is_empty_on_a_blank_address() -> None:
    record = Record("3", {"addresses": (Item("home", Address(street="  ")),)})
    assert Condition(ConditionOp.IS_EMPTY, field="addresses").holds(record)


IN_VIP = Condition(ConditionOp.IN_TAG, "VIP")
IN_LEADS = Condition(ConditionOp.IN_TAG, "Leads")


def test_match_all_needs_every_condition() -> None:
    assert Rule("a", (IN_VIP, Condition(ConditionOp.CONTAINS, "acme", "company"))).matches(CONTACT)
    assert not Rule("a", (IN_VIP, IN_LEADS)).matches(CONTACT)
    assert not Rule("a", (IN_LEADS, IN_VIP)).matches(CONTACT)


def test_match_any_needs_one_condition() -> None:
    assert Rule("a", (IN_LEADS, IN_VIP), match_all=False).matches(CONTACT)
    assert Rule("a", (IN_VIP, IN_LEADS), match_all=False).matches(CONTACT)
    assert not Rule(
        "a", (IN_LEADS, Condition(ConditionOp.IN_TAG, "Other")), match_all=False
    ).matches(CONTACT)


@pytest.mark.parametrize("match_all", [True, False])
def test_rule_without_condition_matches_every_contact(match_all: bool) -> None:
    rule = Rule("a", match_all=match_all)
    assert rule.matches(CONTACT)
    assert rule.matches(Record("empty"))


def test_default_rules_are_one_all_contacts_rule_per_side() -> None:
    rules = default_rules()
    assert sorted(rule.side for rule in rules) == ["a", "b"]
    assert all(not rule.conditions and not rule.actions for rule in rules)
    assert all(rule.describe() == "all contacts" for rule in rules)


def test_matching_rules_filters_by_side_and_conditions() -> None:
    vip = Rule("a", (IN_VIP,), name="vip")
    leads = Rule("a", (IN_LEADS,), name="leads")
    other_side = Rule("b", name="all b")
    rules = [vip, leads, other_side]
    assert matching_rules(rules, "a", CONTACT) == [vip]
    assert matching_rules(rules, "b", CONTACT) == [other_side]
    assert matching_rules(rules, "a", Record("x")) == []


def test_describe() -> None:
    rule = Rule("a", (IN_VIP, Condition(ConditionOp.IS_EMPTY, field="title")), match_all=False)
    assert rule.describe() == "contact is in 'VIP' or title is empty"
    cond = Condition(ConditionOp.CONTAINS, "acme", "company")
    assert cond.describe() == "company contains 'acme'"
    assert Condition(ConditionOp.NOT_IN_TAG, "X").describe() == "contact is not in 'X'"
    assert Rule("a", (IN_VIP,), name="Only VIPs").describe() == "Only VIPs"


FULL_RULE = Rule(
    side="b",
    conditions=(
        Condition(ConditionOp.IN_TAG, "VIP"),
        Condition(ConditionOp.EQUALS, "ACME", "company"),
    ),
    actions=(
        Action(ActionOp.ADD_TAG, "From CRM"),
        Action(ActionOp.SET_FIELD, "customer", "lifecycle"),
    ),
    match_all=False,
    undo=True,
    name="VIPs at ACME",
)


def test_rule_key_is_stable() -> None:
    twin = Rule(
        side="b",
        conditions=tuple(FULL_RULE.conditions),
        actions=tuple(FULL_RULE.actions),
        match_all=False,
        undo=True,
        name="VIPs at ACME",
    )
    assert FULL_RULE.key == twin.key
    assert len(FULL_RULE.key) == 12
    assert int(FULL_RULE.key, 16) >= 0  # hexadecimal
    assert rule_from_json(json.loads(json.dumps(rule_to_json(FULL_RULE)))).key == FULL_RULE.key


@pytest.mark.parametrize(
    "changed",
    [
        Rule("a", FULL_RULE.conditions, FULL_RULE.actions, False, True, "VIPs at ACME"),
        Rule("b", FULL_RULE.conditions[:1], FULL_RULE.actions, False, True, "VIPs at ACME"),
        Rule(
            "b",
            (IN_VIP, Condition(ConditionOp.EQUALS, "ACME Corp", "company")),
            FULL_RULE.actions,
            False,
            True,
            "VIPs at ACME",
        ),
        Rule("b", FULL_RULE.conditions, FULL_RULE.actions[:1], False, True, "VIPs at ACME"),
        Rule("b", FULL_RULE.conditions, FULL_RULE.actions, True, True, "VIPs at ACME"),
        Rule("b", FULL_RULE.conditions, FULL_RULE.actions, False, False, "VIPs at ACME"),
        Rule("b", FULL_RULE.conditions[::-1], FULL_RULE.actions, False, True, "VIPs at ACME"),
    ],
)
def test_rule_key_changes_with_content(changed: Rule) -> None:
    assert changed.key != FULL_RULE.key


def test_rule_json_round_trip() -> None:
    data = rule_to_json(FULL_RULE)
    restored = rule_from_json(json.loads(json.dumps(data)))
    assert restored == FULL_RULE
    assert isinstance(restored.conditions, tuple)
    assert restored.conditions[0].op is ConditionOp.IN_TAG
    assert restored.actions[1].op is ActionOp.SET_FIELD


def test_rule_from_minimal_json_uses_defaults() -> None:
    rule = rule_from_json({"side": "a", "conditions": [{"op": "not_in_tag", "value": "X"}]})
    assert rule == Rule("a", (Condition(ConditionOp.NOT_IN_TAG, "X"),))
    assert rule.match_all and not rule.undo and rule.actions == ()


def test_rule_from_json_refuses_an_unknown_op() -> None:
    with pytest.raises(ValueError, match="bogus"):
        rule_from_json({"side": "a", "conditions": [{"op": "bogus"}]})


def test_managed_tags_are_per_target_side() -> None:
    rules = [
        Rule("a", actions=(Action(ActionOp.ADD_TAG, "From A"),)),
        Rule("a", actions=(Action(ActionOp.REMOVE_TAG, "Lead"),)),
        Rule("b", actions=(Action(ActionOp.ADD_TAG, "From B"),)),
        Rule("b", actions=(Action(ActionOp.SET_FIELD, "customer", "lifecycle"),)),
        Rule("b", (IN_VIP,)),
    ]
    assert managed_tags(rules) == {"a": {"From B"}, "b": {"From A", "Lead"}}


def test_managed_tags_of_no_rules() -> None:
    assert managed_tags([]) == {"a": set(), "b": set()}
    assert managed_tags(default_rules()) == {"a": set(), "b": set()}
