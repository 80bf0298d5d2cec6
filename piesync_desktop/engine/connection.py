"""What one connection between two apps is: its two sides, direction, winner and options.

The store persists these; the sync run reads them. Mappings and rules live in their own modules.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from piesync_desktop.engine.mapping import MappingSpec
from piesync_desktop.engine.rules import Action, ActionOp, Condition, ConditionOp, Rule

DEFAULT_INTERVAL_MINUTES = 5  # as PieSync polled
SHARE_INTERVAL_MINUTES = 24 * 60  # a share job checks its group daily, as PieSync's did
REFERENCE_TAG_PREFIX = "gSync"


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


@dataclass(frozen=True, slots=True)
class ShareRole:
    """What makes a connection one destination of a share job (see ``engine/share.py``).

    Such a connection is one-way from the job's source to one destination account and syncs
    only the source's contacts in ``group``; every copy it makes carries ``reference_tag``.
    """

    job_id: int
    job_name: str
    group: str

    @property
    def reference_tag(self) -> str:
        """The tag by which the job knows its own copies (PieSync's ``gSync<number>``)."""
        return f"{REFERENCE_TAG_PREFIX}{self.job_id}"

    def note(self, tag_noun: str = "tag") -> str:
        """What Health says of the reference tag, so nobody takes it off a copy."""
        return (
            f"Every contact share job '{self.job_name}' puts in a destination carries the "
            f"{tag_noun} '{self.reference_tag}'. Leave it on them: it is how the job knows its "
            "own contacts, the only ones it changes (and deletes when you remove a destination)."
        )

    def rules(self) -> list[Rule]:
        """The destination's one rule: IF in the group THEN into the group, with the tag."""
        return [
            Rule(
                side="a",
                conditions=(Condition(ConditionOp.IN_TAG, self.group),),
                actions=(
                    Action(ActionOp.ADD_TAG, self.group),
                    Action(ActionOp.ADD_TAG, self.reference_tag),
                ),
                name=f"in '{self.group}'",
            )
        ]


@dataclass(slots=True)
class ShareJob:
    """One source group shared, one way, with one or many destination accounts."""

    name: str
    source_spec: str
    group: str
    interval_minutes: int = SHARE_INTERVAL_MINUTES
    id: int | None = None
    created_at: float = 0.0

    def role(self) -> ShareRole:
        assert self.id is not None, "a job has an id once the store saved it"
        return ShareRole(self.id, self.name, self.group)


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
    share: ShareRole | None = None  # set for the destinations of a share job

    def spec(self, side: Side) -> str:
        return self.a_spec if side is Side.A else self.b_spec

    def effective_winner(self) -> Side:
        """One-way connections: the source always wins."""
        if self.direction is Direction.A_TO_B:
            return Side.A
        if self.direction is Direction.B_TO_A:
            return Side.B
        return self.winner
