"""The connection the wizard is putting together, page by page, before it is saved.

Pages read it when they are shown and write to it as the person changes something, so going
back and forth never loses a choice. It becomes :class:`ConnectionSettings` only on Finish,
through the same engine checks the CLI's ``connect`` makes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from piesync_desktop.engine import connection_setup
from piesync_desktop.engine.connection import (
    DEFAULT_INTERVAL_MINUTES,
    ConnectionSettings,
    Direction,
    Side,
)
from piesync_desktop.engine.connection_setup import ConnectedAccount, SideChoice
from piesync_desktop.engine.connectors.base import AppInfo
from piesync_desktop.engine.mapping import MappingSpec
from piesync_desktop.engine.rules import Rule, default_rules


@dataclass(slots=True)
class ConnectionDraft:
    """Every choice of the wizard so far; ``existing`` is the connection being edited."""

    existing: ConnectionSettings | None = None
    apps: dict[Side, AppInfo | None] = field(default_factory=lambda: {Side.A: None, Side.B: None})
    specs: dict[Side, str] = field(default_factory=lambda: {Side.A: "", Side.B: ""})
    direction: Direction = Direction.TWO_WAY
    winner: Side = Side.A
    avoid_duplicates: bool = True
    sync_deletions: bool = False
    sync_unsubscribes: bool = False
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES
    mappings: list[MappingSpec] | None = None  # None until the schemas are known
    mappings_for: tuple[str, str] = ("", "")  # the specs the mappings were made for
    rules: list[Rule] = field(default_factory=default_rules)
    rules_for: tuple[str, str] = ("", "")  # the apps the rules were written for
    name: str = ""
    name_edited: bool = False
    taken_names: set[str] = field(default_factory=set)
    accounts: list[ConnectedAccount] = field(default_factory=list)

    @property
    def editing(self) -> bool:
        return self.existing is not None

    @classmethod
    def from_settings(
        cls, settings: ConnectionSettings, apps: dict[Side, AppInfo]
    ) -> ConnectionDraft:
        """A draft that starts from a saved connection (Edit)."""
        return cls(
            existing=settings,
            apps={Side.A: apps[Side.A], Side.B: apps[Side.B]},
            specs={Side.A: settings.a_spec, Side.B: settings.b_spec},
            direction=settings.direction,
            winner=settings.winner,
            avoid_duplicates=settings.avoid_duplicates,
            sync_deletions=settings.sync_deletions,
            sync_unsubscribes=settings.sync_unsubscribes,
            interval_minutes=settings.interval_minutes,
            mappings=list(settings.mappings) or None,
            mappings_for=(settings.a_spec, settings.b_spec),
            rules=list(settings.rules) or default_rules(),
            rules_for=(apps[Side.A].key, apps[Side.B].key),
            name=settings.name,
            name_edited=True,
        )

    def app(self, side: Side) -> AppInfo:
        chosen = self.apps[side]
        assert chosen is not None, "an app is chosen before any later page is shown"
        return chosen

    def choice(self, side: Side) -> SideChoice:
        return connection_setup.describe_side(self.specs[side], self.app(side))

    def label(self, side: Side) -> str:
        """How pages name a side: its app and its location's short name."""
        chosen = self.apps[side]
        if chosen is None or not self.specs[side]:
            return "the first app" if side is Side.A else "the second app"
        location = self.specs[side].partition(":")[2]
        return f"{chosen.name} '{connection_setup.short_location(location)}'"

    def tag_noun(self, side: Side) -> str:
        chosen = self.apps[side]
        return chosen.capabilities.tag_noun if chosen else "tag"

    def specs_now(self) -> tuple[str, str]:
        return self.specs[Side.A], self.specs[Side.B]

    def apps_now(self) -> tuple[str, str]:
        a, b = self.apps[Side.A], self.apps[Side.B]
        return (a.key if a else "", b.key if b else "")

    def effective_winner(self) -> Side:
        if self.direction is Direction.A_TO_B:
            return Side.A
        if self.direction is Direction.B_TO_A:
            return Side.B
        return self.winner

    def new_settings(self) -> ConnectionSettings:
        """The settings of a new connection, checked as the CLI checks them."""
        return connection_setup.build_settings(
            self.name,
            self.choice(Side.A),
            self.choice(Side.B),
            direction=self.direction,
            winner=self.effective_winner(),
            avoid_duplicates=self.avoid_duplicates,
            sync_deletions=self.sync_deletions,
            sync_unsubscribes=self.sync_unsubscribes,
            interval_minutes=self.interval_minutes,
            mappings=self.mappings or [],
            rules=self.rules,
        )

    def changed_settings(self) -> ConnectionSettings:
        """The saved connection with this draft's options, mappings and rules."""
        assert self.existing is not None
        connection_setup.check_options(
            self.app(Side.A),
            self.app(Side.B),
            self.direction,
            self.sync_deletions,
            self.sync_unsubscribes,
        )
        return dataclasses.replace(
            self.existing,
            direction=self.direction,
            winner=self.effective_winner(),
            avoid_duplicates=self.avoid_duplicates,
            sync_deletions=self.sync_deletions,
            sync_unsubscribes=self.sync_unsubscribes,
            interval_minutes=self.interval_minutes,
            mappings=list(self.mappings if self.mappings is not None else self.existing.mappings),
            rules=list(self.rules),
        )
