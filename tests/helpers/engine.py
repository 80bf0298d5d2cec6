"""A small harness to run the engine on two in-memory apps (or any two connectors)."""

from __future__ import annotations

from dataclasses import dataclass, field

from helpers.memory_connector import MemoryApp, MemoryConnector
from piesync_desktop.engine import sync as sync_module
from piesync_desktop.engine.connection import ConnectionSettings
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.model import AppSchema
from piesync_desktop.engine.store import RunSummary, Store
from piesync_desktop.engine.sync import RunOptions, run_sync


@dataclass
class Pair:
    """Two apps, their connectors, a connection in a store."""

    store: Store
    locks: AccountLocks
    settings: ConnectionSettings
    a: MemoryApp = field(default_factory=MemoryApp)
    b: MemoryApp = field(default_factory=MemoryApp)
    ca: MemoryConnector | None = None
    cb: MemoryConnector | None = None

    def sync(self, **options: object) -> RunSummary:
        assert self.ca is not None and self.cb is not None
        return run_sync(
            self.store,
            self.settings,
            {"a": self.ca, "b": self.cb},
            self.locks,
            RunOptions(**options),
        )  # type: ignore[arg-type]

    def state(self, side: str, rid: str) -> tuple[str, str]:
        row = self.store.index(self.settings.id or 0, side)[rid]
        return row.state, row.reason


def make_pair(
    store: Store,
    locks: AccountLocks,
    schema_a: AppSchema | None = None,
    schema_b: AppSchema | None = None,
    **settings: object,
) -> Pair:
    conn = ConnectionSettings(
        name=str(settings.pop("name", "test")), a_spec="memory:a", b_spec="memory:b", **settings
    )  # type: ignore[arg-type]
    pair = Pair(store, locks, conn)
    kwargs_a = {"schema": schema_a} if schema_a else {}
    kwargs_b = {"schema": schema_b} if schema_b else {}
    pair.ca = MemoryConnector(pair.a, key="a", **kwargs_a)
    pair.cb = MemoryConnector(pair.b, key="b", **kwargs_b)
    a_acc = store.ensure_account("memory", pair.ca.account_key)
    b_acc = store.ensure_account("memory", pair.cb.account_key)
    store.add_connection(conn, a_acc, b_acc)
    return pair


class LeanLoad:
    """Mixed into a hypothesis state machine: the engine run in the lean way of big address
    books (only the store rows the changes touch, contacts to create read again as they are
    sent), for the machine's life."""

    def __init__(self) -> None:
        super().__init__()
        self._saved = sync_module.FULL_LOAD_SHARE, sync_module.FULL_RECORDS_KEPT
        sync_module.FULL_LOAD_SHARE, sync_module.FULL_RECORDS_KEPT = float("inf"), 0

    def teardown(self) -> None:
        sync_module.FULL_LOAD_SHARE, sync_module.FULL_RECORDS_KEPT = self._saved
        super().teardown()  # type: ignore[misc]
