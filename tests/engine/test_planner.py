"""The three-way, field-level merge: values, tag sets, first meetings, and its properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from piesync_desktop.engine.model import Item, is_empty
from piesync_desktop.engine.planner import merge, merge_set, merge_value

# -- merge_value ----------------------------------------------------------------------------------


@pytest.mark.parametrize("winner", ["a", "b"])
@pytest.mark.parametrize("first_meeting", [True, False])
def test_equal_values_are_kept(winner: str, first_meeting: bool) -> None:
    assert merge_value("old", "same", "same", winner, first_meeting) == "same"
    assert merge_value(None, "", "", winner, first_meeting) == ""


@pytest.mark.parametrize("winner", ["a", "b"])
def test_change_on_one_side_crosses_whoever_wins(winner: str) -> None:
    assert merge_value("old", "new", "old", winner, False) == "new"
    assert merge_value("old", "old", "new", winner, False) == "new"


@pytest.mark.parametrize("winner", ["a", "b"])
def test_clearing_on_one_side_crosses(winner: str) -> None:
    assert merge_value("old", "", "old", winner, False) == ""
    assert merge_value("old", "old", "", winner, False) == ""


def test_change_on_both_sides_the_winner_wins() -> None:
    assert merge_value("old", "from a", "from b", "a", False) == "from a"
    assert merge_value("old", "from a", "from b", "b", False) == "from b"


def test_empty_winner_never_clears_the_other_side() -> None:
    assert merge_value("old", "", "from b", "a", False) == "from b"
    assert merge_value("old", "from a", "  ", "b", False) == "from a"
    assert merge_value("old", (), (Item("work", "x"),), "a", False) == (Item("work", "x"),)


def test_empty_loser_of_a_double_change_loses() -> None:
    assert merge_value("old", "from a", "", "a", False) == "from a"
    assert merge_value("old", "", "from b", "b", False) == "from b"


def test_first_meeting_fills_blanks_both_ways() -> None:
    for winner in ("a", "b"):
        assert merge_value(None, "", "from b", winner, True) == "from b"
        assert merge_value(None, "from a", "", winner, True) == "from a"
        assert merge_value(None, None, "from b", winner, True) == "from b"
        assert merge_value(None, "from a", None, winner, True) == "from a"
        assert merge_value(None, (), (Item("home", "x"),), winner, True) == (Item("home", "x"),)


def test_first_meeting_the_winner_decides_where_both_have_values() -> None:
    assert merge_value(None, "from a", "from b", "a", True) == "from a"
    assert merge_value(None, "from a", "from b", "b", True) == "from b"


def test_first_meeting_ignores_the_base() -> None:
    # with a base equal to a, a non-first meeting would let b's value cross
    assert merge_value("from a", "from a", "from b", "a", True) == "from a"


def test_multi_values_merge_whole() -> None:
    base = (Item("work", "a@x.com"),)
    a = (Item("work", "a@x.com"), Item("home", "h@x.com"))
    assert merge_value(base, a, base, "b", False) == a
    b = (Item("mobile", "a@x.com"),)  # only the kind changed
    assert merge_value(base, base, b, "a", False) == b


# -- merge_set -----------------------------------------------------------------------------------


def test_merge_set_additions_cross_both_ways() -> None:
    assert merge_set(("x",), ("x", "a"), ("x", "b")) == ("a", "b", "x")


def test_merge_set_removals_cross_both_ways() -> None:
    assert merge_set(("x", "y", "z"), ("y", "z"), ("x", "y")) == ("y",)


def test_merge_set_addition_and_removal_together() -> None:
    assert merge_set(("old",), ("new",), ("old",)) == ("new",)
    assert merge_set(("old",), ("old",), ("new",)) == ("new",)


def test_merge_set_removed_on_one_side_added_on_the_other() -> None:
    # "y" was not in the base: b added it; a removed "x": both cross
    assert merge_set(("x",), (), ("x", "y")) == ("y",)


def test_merge_set_first_meeting_is_the_union() -> None:
    assert merge_set(None, ("b", "a"), ("c", "a")) == ("a", "b", "c")
    assert merge_set(None, (), ()) == ()


def test_merge_set_is_sorted() -> None:
    assert merge_set((), ("z", "a"), ("m",)) == ("a", "m", "z")


# -- merge ---------------------------------------------------------------------------------------


def test_merge_field_by_field() -> None:
    base = {"name": "Jane", "company": "ACME", "title": "CEO", "tags": ("x",)}
    a = {"name": "Jane Doe", "company": "ACME", "title": "CTO", "tags": ("x", "a")}
    b = {"name": "Jane", "company": "Initech", "title": "CFO", "tags": ()}
    merged = merge(base, a, b, "b", {"tags"})
    assert merged == {"name": "Jane Doe", "company": "Initech", "title": "CFO", "tags": ("a",)}


def test_merge_without_base_is_a_first_meeting() -> None:
    a = {"name": "Jane", "company": "", "tags": ("a",)}
    b = {"name": "Janet", "company": "ACME", "tags": ("b",)}
    assert merge(None, a, b, "a", {"tags"}) == {
        "name": "Jane",
        "company": "ACME",
        "tags": ("a", "b"),
    }
    assert merge(None, a, b, "b", {"tags"})["name"] == "Janet"


def test_a_slot_missing_from_base_is_a_first_meeting() -> None:
    # a mapping added after the pair last synced: no base for its slot
    base = {"name": "Jane", "tags": ("x",)}
    a = {"name": "Jane", "phone": "", "title": "CEO", "tags": ("x",), "labels": ("a",)}
    b = {"name": "Jane", "phone": "+32", "title": "CTO", "tags": ("x",), "labels": ("b",)}
    merged = merge(base, a, b, "b", {"tags", "labels"})
    assert merged["phone"] == "+32"  # the blank is filled, not treated as a clear
    assert merged["title"] == "CTO"  # the winner decides
    assert merged["labels"] == ("a", "b")  # a set slot without base is the union
    assert merged["tags"] == ("x",)


# -- properties ----------------------------------------------------------------------------------

TEXT = st.sampled_from(["", " ", "a", "b", "Jane", "jane", "ACME"])
ITEMS = st.lists(
    st.builds(Item, st.sampled_from(["work", "home"]), st.sampled_from(["x", "y", ""])),
    max_size=2,
).map(tuple)
VALUE = st.one_of(TEXT, ITEMS)
TAGSET = st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True).map(
    lambda tags: tuple(sorted(tags))
)
SLOTS = ["s1", "s2", "s3"]
SET_SLOTS = {"tags"}


@st.composite
def sides(draw: st.DrawFn) -> dict:
    values = {key: draw(VALUE) for key in SLOTS}
    values["tags"] = draw(TAGSET)
    return values


@st.composite
def bases(draw: st.DrawFn) -> dict | None:
    if draw(st.booleans()):
        return None
    full = draw(sides())
    kept = draw(st.sets(st.sampled_from([*SLOTS, "tags"])))
    return {key: value for key, value in full.items() if key in kept}


WINNER = st.sampled_from(["a", "b"])


@settings(max_examples=100, deadline=None)
@given(base=bases(), a=sides(), b=sides(), winner=WINNER)
def test_merge_picks_a_or_b_for_every_value_slot(
    base: dict | None, a: dict, b: dict, winner: str
) -> None:
    merged = merge(base, a, b, winner, SET_SLOTS)
    assert merged.keys() == a.keys() | b.keys()
    for key in SLOTS:
        assert merged[key] in (a[key], b[key])


@settings(max_examples=100, deadline=None)
@given(base=bases(), x=sides(), winner=WINNER)
def test_merge_of_equal_sides_is_that_side(base: dict | None, x: dict, winner: str) -> None:
    assert merge(base, x, x, winner, SET_SLOTS) == x


@settings(max_examples=100, deadline=None)
@given(base=bases(), a=sides(), b=sides(), winner=WINNER)
def test_merge_is_idempotent(base: dict | None, a: dict, b: dict, winner: str) -> None:
    merged = merge(base, a, b, winner, SET_SLOTS)
    assert merge(merged, merged, merged, winner, SET_SLOTS) == merged


@settings(max_examples=100, deadline=None)
@given(base=bases(), a=sides(), b=sides())
def test_merge_set_never_invents_tags(base: dict | None, a: dict, b: dict) -> None:
    merged = merge(base, a, b, "a", SET_SLOTS)
    assert set(merged["tags"]) <= set(a["tags"]) | set(b["tags"])
    assert set(a["tags"]) & set(b["tags"]) <= set(merged["tags"])  # agreed tags stay


@settings(max_examples=100, deadline=None)
@given(base=sides(), a=sides(), winner=WINNER)
def test_one_sided_change_always_crosses(base: dict, a: dict, winner: str) -> None:
    # b still holds the base: whatever a did (even clearing) is the result
    assert emptied(merge(base, a, dict(base), winner, SET_SLOTS)) == emptied(a)
    assert emptied(merge(base, dict(base), a, winner, SET_SLOTS)) == emptied(a)


def emptied(values: dict) -> dict:
    """``values`` with every empty one as None: '' and () are the same nothing (a base saved
    before a slot of several values was always a tuple holds '')."""
    return {
        key: (None if key not in SET_SLOTS and is_empty(value) else value)
        for key, value in values.items()
    }


def test_an_empty_slot_of_several_values_is_merged_in_its_own_form() -> None:
    assert merge({"s": ""}, {"s": ()}, {"s": ""}, "a", set()) == {"s": ()}
    assert merge({"s": ""}, {"s": ""}, {"s": ()}, "a", set()) == {"s": ()}
    kept = (Item("work", "+1 555 0101"),)
    assert merge({"s": ""}, {"s": ()}, {"s": kept}, "a", set()) == {"s": kept}
