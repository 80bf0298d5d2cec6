"""The checks and steps of setting up a connection, shared by the CLI's ``connect`` and the wizard.

Both front ends ask the same questions (two different address books, options the two apps can
honour, a free name) and save the same way, so the answers live here once. Nothing here blocks on
more than the connectors' own ``open()`` (called only by :func:`validate_new_connection`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from piesync_desktop.engine.connection import (
    DEFAULT_INTERVAL_MINUTES,
    ConnectionSettings,
    Direction,
    Side,
)
from piesync_desktop.engine.connectors.base import AppInfo, Connector, open_connector
from piesync_desktop.engine.errors import ConfigError, ConnectorError
from piesync_desktop.engine.mapping import (
    NAME_PARTS,
    MappingKind,
    MappingSpec,
    check_custom,
    default_mappings,
)
from piesync_desktop.engine.model import TRASH_TAG, UNSUBSCRIBES_TAG, AppSchema
from piesync_desktop.engine.rules import Rule, default_rules
from piesync_desktop.engine.store import Store

NAME_PART_FIELDS = ("given_name", "middle_name", "family_name")


@dataclass(frozen=True, slots=True)
class SideChoice:
    """One side as the person chose it: the app and where its contacts are, not yet opened."""

    spec: str
    app: AppInfo
    account_key: str
    location: str
    account_label: str = ""  # how the account is named (an email, a portal): "" for the location

    @classmethod
    def of(cls, spec: str, connector: Connector, app: AppInfo | None = None) -> SideChoice:
        # Connectors of signed-in accounts name them (``account_label``); others are their place.
        label = str(getattr(connector, "account_label", "") or connector.location)
        return cls(spec, app or connector.app, connector.account_key, connector.location, label)

    @property
    def label(self) -> str:
        """How the window and messages name this side: the app and the location's short name."""
        return f"{self.app.name} '{short_location(self.location)}'"


@dataclass(frozen=True, slots=True)
class OptionAvailability:
    """Whether an option (Sync Deletions, Sync Unsubscribes) can work, and one sentence why."""

    available: bool
    explanation: str


@dataclass(frozen=True, slots=True)
class UsedLocation:
    """A location a connection already syncs, on one account."""

    spec: str
    connection: str


@dataclass(frozen=True, slots=True)
class ConnectedAccount:
    """An account the program already knows, so the person can pick it instead of signing in."""

    app: str
    key: str
    label: str
    used_by: tuple[UsedLocation, ...] = field(default=())


def short_location(location: str) -> str:
    """The last part of a location (a folder's name), or the location itself."""
    if "://" in location:  # an address: its #fragment is an option, not a name
        location = location.partition("#")[0]
    stripped = location.rstrip("/\\")
    name = PurePath(stripped).name if stripped else ""
    return name or location


def describe_side(spec: str, app: AppInfo | None = None) -> SideChoice:
    """The side ``spec`` names, without opening it (no I/O beyond resolving a path)."""
    return SideChoice.of(spec, open_connector(spec), app)


def open_side(spec: str) -> Connector:
    """The connector for ``spec``, opened; a location that cannot be used is a ConfigError."""
    connector = open_connector(spec)
    try:
        connector.open()
    except ConnectorError as exc:
        raise ConfigError(exc.message) from exc
    return connector


def same_address_book(a: SideChoice, b: SideChoice) -> bool:
    """Whether two sides name one address book (``/x/book/`` and ``/x/book`` included)."""
    if a.account_key != b.account_key:
        return False
    if a.app.key == "vcard":
        return True  # a folder's account is the folder itself, resolved
    return a.location.rstrip("/\\") == b.location.rstrip("/\\")


def check_distinct(a: SideChoice, b: SideChoice) -> None:
    """Refuse a connection of an address book with itself."""
    if same_address_book(a, b):
        raise ConfigError("Both sides name the same address book; pick two different ones.")


def validate_new_connection(a_spec: str, b_spec: str) -> tuple[Connector, Connector]:
    """Open both sides and check they are two different address books."""
    a, b = open_side(a_spec), open_side(b_spec)
    check_distinct(SideChoice.of(a_spec, a), SideChoice.of(b_spec, b))
    return a, b


def _flows(direction: Direction) -> list[tuple[Side, Side]]:
    """The (source, target) pairs changes travel along."""
    return [(source, source.other) for source in Side if direction.reads_from(source)]


def _labels(a: AppInfo, b: AppInfo, a_label: str | None, b_label: str | None) -> dict[Side, str]:
    return {Side.A: a_label or a.name, Side.B: b_label or b.name}


def deletions_availability(
    a: AppInfo,
    b: AppInfo,
    direction: Direction,
    a_label: str | None = None,
    b_label: str | None = None,
) -> OptionAvailability:
    """Sync Deletions needs, along every way changes travel, a source that notices deletions and
    a target that can tag a contact 'PieSync Trash'."""
    apps = {Side.A: a, Side.B: b}
    names = _labels(a, b, a_label, b_label)
    flows = _flows(direction)
    blind = [names[s] for s, _ in flows if not apps[s].capabilities.deletions]
    if blind:
        verb, it = ("does", "it") if len(blind) == 1 else ("do", "them")
        return OptionAvailability(
            False,
            f"Not available: {' and '.join(blind)} {verb} not report the contacts deleted in {it}.",
        )
    tagless = [names[t] for _, t in flows if not apps[t].capabilities.tags]
    if tagless:
        verb = "has" if len(tagless) == 1 else "have"
        return OptionAvailability(
            False,
            f"Not available: {' and '.join(tagless)} {verb} no tags, categories, groups or "
            f"lists, so a contact there cannot be marked '{TRASH_TAG}'.",
        )
    parts = [
        f"a contact deleted in {names[source]} gets the {apps[target].capabilities.tag_noun} "
        f"'{TRASH_TAG}' in {names[target]}"
        for source, target in _flows(direction)
    ]
    sentence = "; ".join(parts)
    return OptionAvailability(
        True, f"{sentence[0].upper()}{sentence[1:]}, for you to review. Nothing is deleted for you."
    )


def unsubscribes_availability(
    a: AppInfo,
    b: AppInfo,
    direction: Direction,
    a_label: str | None = None,
    b_label: str | None = None,
) -> OptionAvailability:
    """Sync Unsubscribes needs a source that records who unsubscribed from email and a target
    that can tag them 'PieSync Unsubscribes', along at least one way changes travel."""
    apps = {Side.A: a, Side.B: b}
    names = _labels(a, b, a_label, b_label)
    flows = _flows(direction)
    reporting = [(s, t) for s, t in flows if apps[s].capabilities.unsubscribes]
    if not reporting:
        sources = sorted({apps[s].name for s, _ in flows})
        verb = "does" if len(sources) == 1 else "do"
        return OptionAvailability(
            False,
            f"Not available: {' and '.join(sources)} {verb} not record who unsubscribed from "
            "email, so there is nothing to sync.",
        )
    working = [(s, t) for s, t in reporting if apps[t].capabilities.tags]
    if not working:
        _, target = reporting[0]
        return OptionAvailability(
            False,
            f"Not available: {names[target]} has no tags, categories, groups or lists to mark "
            f"'{UNSUBSCRIBES_TAG}'.",
        )
    parts = [
        f"a contact who unsubscribed in {names[s]} gets the {apps[t].capabilities.tag_noun} "
        f"'{UNSUBSCRIBES_TAG}' in {names[t]}"
        for s, t in working
    ]
    sentence = "; ".join(parts)
    return OptionAvailability(True, f"{sentence[0].upper()}{sentence[1:]}.")


def check_options(
    a: AppInfo,
    b: AppInfo,
    direction: Direction,
    sync_deletions: bool,
    sync_unsubscribes: bool,
) -> None:
    """Refuse an option the two apps cannot honour in this direction, saying why."""
    if sync_deletions:
        deletions = deletions_availability(a, b, direction)
        if not deletions.available:
            raise ConfigError(f"Sync Deletions: {deletions.explanation}")
    if sync_unsubscribes:
        unsubscribes = unsubscribes_availability(a, b, direction)
        if not unsubscribes.available:
            raise ConfigError(f"Sync Unsubscribes: {unsubscribes.explanation}")


def name_problem(name: str, taken: Iterable[str]) -> str | None:
    """Why ``name`` cannot name a new connection, or None."""
    cleaned = name.strip()
    if not cleaned:
        return "Give the connection a name."
    if cleaned in set(taken):
        return f"A connection named '{cleaned}' already exists; pick another name."
    if any(ch in cleaned for ch in "\r\n\t"):
        return "A connection's name fits on one line."
    return None


def suggest_name(a: SideChoice, b: SideChoice, taken: Iterable[str]) -> str:
    """A free name made of the two locations' short names, e.g. 'work and phone'."""
    used = set(taken)
    left, right = short_location(a.location), short_location(b.location)
    base = f"{left} and {right}" if left != right else f"{a.app.name} and {b.app.name}"
    base = re.sub(r"\s+", " ", base).strip()
    name, number = base, 2
    while name in used:
        name, number = f"{base} ({number})", number + 1
    return name


def default_setup(a: Connector, b: Connector) -> tuple[list[MappingSpec], list[Rule]]:
    """The default mapping and the all-contacts rules for two opened connectors."""
    mappings = default_mappings(
        a.schema(), b.schema(), a.app.capabilities.tags, b.app.capabilities.tags
    )
    return mappings, default_rules()


def mapped_fields(mappings: Sequence[MappingSpec], side: Side) -> set[str]:
    """The fields of ``side`` an enabled mapping already reads or writes."""
    used: set[str] = set()
    for spec in mappings:
        if not spec.enabled or spec.kind is MappingKind.TAGS:
            continue
        name = spec.a_field if side is Side.A else spec.b_field
        used |= set(NAME_PART_FIELDS) if name == NAME_PARTS else {name}
    return used


def check_new_mapping(
    mappings: Sequence[MappingSpec],
    a_schema: AppSchema,
    b_schema: AppSchema,
    a_field: str,
    b_field: str,
    a_app: str = "A",
    b_app: str = "B",
) -> MappingSpec:
    """A custom mapping to add to ``mappings``, or a ConfigError saying why it is refused:
    incompatible fields (the article's message), or a field another mapping already uses."""
    spec = check_custom(a_schema, b_schema, a_field, b_field, a_app, b_app)
    if any(existing.key == spec.key for existing in mappings):
        raise ConfigError("This mapping is already in the table; turn it on there instead.")
    for side, name, schema, app in (
        (Side.A, a_field, a_schema, a_app),
        (Side.B, b_field, b_schema, b_app),
    ):
        if name in mapped_fields(mappings, side):
            raise ConfigError(
                f"{schema[name].label} in {app} is already mapped; turn that mapping off first, "
                "so one field is never fed from two places."
            )
    return spec


def build_settings(
    name: str,
    a: SideChoice,
    b: SideChoice,
    *,
    direction: Direction = Direction.TWO_WAY,
    winner: Side = Side.A,
    avoid_duplicates: bool = True,
    sync_deletions: bool = False,
    sync_unsubscribes: bool = False,
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES,
    mappings: Sequence[MappingSpec] = (),
    rules: Sequence[Rule] = (),
) -> ConnectionSettings:
    """The settings of a new connection, after the checks every front end must make."""
    check_distinct(a, b)
    check_options(a.app, b.app, direction, sync_deletions, sync_unsubscribes)
    if not name.strip():
        raise ConfigError("Give the connection a name.")
    if interval_minutes < 1:
        raise ConfigError("A connection syncs at most once a minute.")
    return ConnectionSettings(
        name=name.strip(),
        a_spec=a.spec,
        b_spec=b.spec,
        direction=direction,
        winner=winner,
        avoid_duplicates=avoid_duplicates,
        sync_deletions=sync_deletions,
        sync_unsubscribes=sync_unsubscribes,
        interval_minutes=interval_minutes,
        mappings=list(mappings),
        rules=list(rules) or default_rules(),
    )


def save_new_connection(
    store: Store, settings: ConnectionSettings, a: SideChoice, b: SideChoice
) -> int:
    """Remember both accounts and add the connection; a taken name is a ConfigError."""
    a_account = store.ensure_account(a.app.key, a.account_key, a.account_label or a.location)
    b_account = store.ensure_account(b.app.key, b.account_key, b.account_label or b.location)
    return store.add_connection(settings, a_account, b_account)


def connected_accounts(store: Store) -> list[ConnectedAccount]:
    """Every account the store knows, with the locations its connections sync."""
    used: dict[int, list[UsedLocation]] = {}
    rows = store.db.execute(
        "SELECT name, a_spec, b_spec, a_account, b_account FROM connections ORDER BY name"
    )
    for name, a_spec, b_spec, a_account, b_account in rows:
        for account, spec in ((a_account, a_spec), (b_account, b_spec)):
            if account is not None:
                used.setdefault(account, []).append(UsedLocation(spec, name))
    return [
        ConnectedAccount(app, key, label, tuple(used.get(account_id, ())))
        for account_id, app, key, label in store.db.execute(
            "SELECT id, app, key, label FROM accounts ORDER BY app, label"
        )
    ]
