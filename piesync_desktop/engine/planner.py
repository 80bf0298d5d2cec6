"""The three-way, field-level merge of one pair of contacts, as PieSync's articles describe it.

Each mapped slot is merged against the base (the value both sides held after the last sync):
changed on one side only, the change crosses; changed on both, the winning app's value wins, except
that an empty value of the winner never clears the other side. When two contacts meet for the
first time (no base), blanks are filled both ways and the winner decides where both have values.
Tag slots merge element by element: an addition or removal on either side crosses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from piesync_desktop.engine.model import is_empty


def _same(x: Any, y: Any) -> bool:
    """Equal values; any two empty ones are the same ('' and () both mean nothing, and bases
    saved before a slot of several values was always kept as a tuple hold '')."""
    return x == y or (is_empty(x) and is_empty(y))


def merge_value(base: Any, a: Any, b: Any, winner: str, first_meeting: bool) -> Any:
    if _same(a, b):
        return b if isinstance(b, tuple) and not isinstance(a, tuple) else a  # a slot's own form
    if first_meeting:
        if is_empty(a):
            return b
        if is_empty(b):
            return a
        return a if winner == "a" else b
    if _same(a, base):
        return b
    if _same(b, base):
        return a
    win, lose = (a, b) if winner == "a" else (b, a)
    return lose if is_empty(win) else win


def merge_set(
    base: tuple[str, ...] | None, a: tuple[str, ...], b: tuple[str, ...]
) -> tuple[str, ...]:
    sa, sb = set(a), set(b)
    if base is None:
        return tuple(sorted(sa | sb))
    sbase = set(base)
    kept = (sa & sb) | (sa - sbase) | (sb - sbase)
    return tuple(sorted(kept))


def merge(
    base: Mapping[str, Any] | None,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    winner: str,
    set_slots: set[str],
) -> dict[str, Any]:
    """Merged slot values for a pair; ``base`` is None when the two meet for the first time."""
    merged: dict[str, Any] = {}
    for key in a.keys() | b.keys():
        va, vb = a.get(key), b.get(key)
        known = base is not None and key in base
        if key in set_slots:
            merged[key] = merge_set(base[key] if known else None, va or (), vb or ())
        else:
            merged[key] = merge_value(
                base.get(key) if known else None, va, vb, winner, first_meeting=not known
            )
    return merged
