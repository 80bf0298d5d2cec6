"""Sync runs off the GUI thread: one worker QObject on its own QThread per running connection.

The worker opens its own store connection (SQLite connections stay on their thread), runs
``engine.sync.run_sync`` and reports through signals: progress (throttled, so a run of 100,000
contacts never floods the event loop), waiting for another connection, and one outcome at the end.
Cancel is a flag the engine checks between batches.
"""

from __future__ import annotations

import enum
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from piesync_desktop.engine.connectors.base import Connector, open_connector
from piesync_desktop.engine.errors import (
    AuthExpired,
    Cancelled,
    ConfigError,
    ConnectorError,
    SafetyBrake,
    SyncError,
)
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import RunOptions, run_sync

log = logging.getLogger(__name__)

ConnectorFactory = Callable[[str], Connector]
PROGRESS_INTERVAL = 0.1  # seconds between two progress signals of one phase


class CollectorPause:
    """Holds Python's cycle collector off while any sync runs.

    A run makes hundreds of thousands of objects; the collector's full passes over them took
    120-240 ms each in the worker thread, and hold the GIL, so the window froze that long (see
    bench/event_loop.py). The run's objects are freed by reference counting; the collector runs
    again once the last run has ended. The collector is one per process, so the pause is counted.
    """

    _lock = threading.Lock()
    _runs = 0

    def __enter__(self) -> None:
        with CollectorPause._lock:
            if CollectorPause._runs == 0:
                gc.disable()
            CollectorPause._runs += 1

    def __exit__(self, *exc: object) -> None:
        with CollectorPause._lock:
            CollectorPause._runs -= 1
            if CollectorPause._runs == 0:
                gc.enable()


class Outcome(enum.StrEnum):
    """How a run ended, as far as the window is concerned."""

    COMPLETED = "completed"
    FAILED = "failed"  # could not run: the message says why and what to do
    SIGN_IN = "sign-in"  # the app refused our credentials
    BRAKED = "braked"  # the safety brake stopped it: the person must confirm
    CANCELLED = "cancelled"


@dataclass(slots=True)
class RunResult:
    """What one run did, handed from the worker to the GUI thread."""

    connection: str
    outcome: Outcome
    title: str = ""
    message: str = ""
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class SyncWorker(QObject):
    """Runs one connection once, on the thread it was moved to."""

    progress = Signal(str, str, int, int)  # connection, phase, done, total
    waiting = Signal(str, str)  # connection, the connection it waits for
    finished = Signal(object)  # RunResult

    def __init__(
        self,
        store_path: Path,
        locks_dir: Path,
        connection: str,
        confirm: bool = False,
        connector_factory: ConnectorFactory = open_connector,
    ) -> None:
        super().__init__()
        self.store_path = store_path
        self.locks_dir = locks_dir
        self.connection = connection
        self.confirm = confirm
        self.connector_factory = connector_factory
        self._cancel = threading.Event()
        self._last_phase = ""
        self._last_emit = 0.0

    def cancel(self) -> None:
        """Ask the run to stop at its next batch (safe from any thread)."""
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        with CollectorPause():
            result = self._run()
        self.finished.emit(result)

    def _run(self) -> RunResult:
        name = self.connection
        try:
            with Store(self.store_path) as store:
                settings = store.connection(name)
                connectors = {
                    "a": self.connector_factory(settings.a_spec),
                    "b": self.connector_factory(settings.b_spec),
                }
                options = RunOptions(
                    confirm=self.confirm,
                    progress=self._progress,
                    on_wait=lambda other: self.waiting.emit(name, other),
                    cancelled=self._cancel.is_set,
                )
                summary = run_sync(
                    store, settings, connectors, AccountLocks(self.locks_dir), options
                )
        except Cancelled as exc:
            return RunResult(name, Outcome.CANCELLED, exc.title, exc.message)
        except SafetyBrake as exc:
            return RunResult(name, Outcome.BRAKED, exc.title, exc.message)
        except AuthExpired as exc:
            return RunResult(name, Outcome.SIGN_IN, exc.title, exc.message)
        except (ConfigError, ConnectorError, SyncError) as exc:
            return RunResult(name, Outcome.FAILED, exc.title, exc.message)
        except Exception as exc:  # a bug: logged with its traceback, shown as a sentence
            log.exception("sync of %s failed", name)
            return RunResult(
                name,
                Outcome.FAILED,
                "Unexpected error",
                f"The sync stopped on an unexpected error ({exc.__class__.__name__}: {exc}). "
                "Nothing was lost; the next run tries again.",
            )
        return RunResult(
            name,
            Outcome.COMPLETED,
            created=dict(summary.created),
            updated=dict(summary.updated),
            failed=summary.failed,
            counts=dict(summary.counts),
        )

    def _progress(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if phase == self._last_phase and now - self._last_emit < PROGRESS_INTERVAL:
            return
        self._last_phase, self._last_emit = phase, now
        self.progress.emit(self.connection, phase, done, total)
