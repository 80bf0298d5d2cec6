"""The contract every app connector follows, and the catalogue of the apps the program knows.

A connector talks to one location of one app (a folder, an address book, a contact folder) and
never touches the store: a sync run hands it the cursor it returned last time and takes back what
it returns. Per-record problems come back as values (:class:`ReadFailure`,
:class:`WriteResult` with an error); problems that stop the whole side are
:class:`~piesync_desktop.engine.errors.ConnectorError` subclasses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.model import (
    AppSchema,
    Capabilities,
    Changes,
    NewRecord,
    ReadFailure,
    Record,
    RecordUpdate,
    WriteResult,
)

Cursor = Any  # JSON-compatible, owned by the connector


@dataclass(frozen=True, slots=True)
class AppInfo:
    """What the catalogue shows of an app: its key in ``APP:LOCATION``, its name, its abilities."""

    key: str
    name: str
    description: str
    capabilities: Capabilities


class Connector(Protocol):
    """One location of one app, as the engine uses it during a sync run."""

    app: ClassVar[AppInfo]

    @property
    def location(self) -> str:
        """The location as the person wrote it after ``APP:``."""
        ...

    @property
    def account_key(self) -> str:
        """Identifies the account: two connections with the same key never sync at once."""
        ...

    def open(self, cursor: Cursor | None = None) -> None:
        """Check the location can be used; raise ConnectorError with a clear message if not.

        A run passes the cursor it saved last time: a connector whose first request of the
        run (a delta since that cursor) proves the location anyway may leave its check to that
        request, which then raises the same errors.
        """

    def schema(self) -> AppSchema: ...

    def changes(self, cursor: Cursor | None) -> Changes:
        """Records new or changed since ``cursor`` (all of them when it is None), and deletions.

        The engine asks both sides at once, each from its own thread; every other call comes
        from the thread that runs the sync.
        """
        ...

    def get(self, ids: Sequence[str]) -> list[Record | ReadFailure]:
        """Read the named records again (a missing one comes back as a ReadFailure)."""
        ...

    def create(self, records: Sequence[NewRecord]) -> list[WriteResult]: ...

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]: ...

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        """Only ever called for the person's explicit choice in the Trash review."""
        ...

    def cursor(self) -> Cursor:
        """The cursor to hand to the next ``changes``, covering our own writes of this run."""
        ...


@runtime_checkable
class TagRemover(Protocol):
    """A connector that can remove the group object it keeps for a tag, not only untag cards.

    Removing a destination of a share job needs it: the job made a group there (a label, a
    group card) that must go, while the contacts in it stay in the account. Optional, so
    callers ask ``isinstance(connector, TagRemover)``; apps whose tags are a property of each
    contact (CATEGORIES) have nothing to remove.
    """

    def remove_tag(self, name: str) -> bool:
        """Remove the group object the app keeps for tag ``name`` (a Google label, an Apple group
        card); its members stay in the account, untouched. False when there is no such object.
        Raises ConnectorError (piesync_desktop.engine.errors) with a message a person can act
        on."""
        ...


ConnectorFactory = Callable[[str], Connector]


# The apps this build knows: key -> (module, class). A module is imported only when its app is
# used, so a sync of two folders never pays for an HTTP stack it does not use.
BUILTIN_APPS: dict[str, tuple[str, str]] = {
    "vcard": ("piesync_desktop.engine.connectors.vcard_dir", "VCardDir"),
    "carddav": ("piesync_desktop.engine.connectors.carddav.connector", "CardDav"),
    "google": ("piesync_desktop.engine.connectors.google.connector", "GoogleContacts"),
    "outlook": ("piesync_desktop.engine.connectors.outlook.connector", "OutlookContacts"),
    "hubspot": ("piesync_desktop.engine.connectors.hubspot.connector", "HubSpotContacts"),
}


def connector_class(app: str) -> Any:
    module, name = BUILTIN_APPS[app]
    return getattr(importlib.import_module(module), name)


def catalogue() -> list[AppInfo]:
    """Every app this build can connect, by name (what the wizard's app choice lists)."""
    infos = [connector_class(app).app for app in BUILTIN_APPS]
    return sorted(infos, key=lambda info: info.name)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``APP:LOCATION`` and check the app exists."""
    app, sep, location = spec.partition(":")
    if not sep or not app:
        raise ConfigError(f"'{spec}' is not APP:LOCATION (for example vcard:/home/me/contacts).")
    if app not in BUILTIN_APPS:
        raise ConfigError(
            f"Unknown app '{app}' in '{spec}'. Known apps: {', '.join(sorted(BUILTIN_APPS))}."
        )
    return app, location


def open_connector(spec: str) -> Connector:
    """The connector for ``APP:LOCATION`` (not yet opened)."""
    app, location = parse_spec(spec)
    factory: ConnectorFactory = connector_class(app)
    return factory(location)


def batched(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]
