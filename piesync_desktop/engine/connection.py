"""What one connection between two apps is: its two sides, direction, winner and options.

The store persists these; the sync run reads them. Mappings and rules live in their own modules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from piesync_desktop.engine.mapping import MappingSpec
from piesync_desktop.engine.rules import Rule

DEFAULT_INTERVAL_MINUTES = 5  # as PieSync polled


class Side(enum.StrEnum):
    """One of the two apps of a connection."""

    A = "a"
    B = "b"

    @property
    def other(self) -> Side:
        return Side.B if self is Side.A else Side.A


class Direction(enum.StrEnum):
    """Which way changes flow."""

    TWO_WAY = "two-way"
    A_TO_B = "a-to-b"
    B_TO_A = "b-to-a"

    def writes(self, side: Side) -> bool:
        """Whether a run may write to ``side``."""
        if self is Direction.TWO_WAY:
            return True
        return side is (Side.B if self is Direction.A_TO_B else Side.A)

    def reads_from(self, side: Side) -> bool:
        """Whether ``side`` is a source of changes."""
        return self.writes(side.other)


@dataclass(slots=True)
class ConnectionSettings:
    """Everything a person chose for one connection."""

    name: str
    a_spec: str
    b_spec: str
    direction: Direction = Direction.TWO_WAY
    winner: Side = Side.A
    avoid_duplicates: bool = True
    sync_deletions: bool = False
    sync_unsubscribes: bool = False
    paused: bool = False
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES  # how often the window syncs it
    mappings: list[MappingSpec] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    id: int | None = None

    def spec(self, side: Side) -> str:
        return self.a_spec if side is Side.A else self.b_spec

    def effective_winner(self) -> Side:
        """One-way connections: the source always wins."""
        if self.direction is Direction.A_TO_B:
            return Side.A
        if self.direction is Direction.B_TO_A:
            return Side.B
        return self.winner
