"""Starts sync runs in workers and keeps the live state of every connection for the window.

Several connections run side by side, each on its own QThread; two that share an account are kept
apart by the engine's account locks (the later one reports "Waiting for <connection>"). Each
connection's status reads like PieSync's: "Scanning <app>", "Syncing <app>", "Active and listening
for changes", "Waiting for <connection>", or the failure with what to do. A connection can be held
(a share destination while it is being removed): no run of it starts until it is released.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot

from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.ui.workers import ConnectorFactory, Outcome, RunResult, SyncWorker

IDLE_TEXT = "Active and listening for changes"


class RunState(enum.StrEnum):
    """What a connection is doing now."""

    IDLE = "idle"
    SCANNING = "scanning"
    SYNCING = "syncing"
    WAITING = "waiting"
    FAILED = "failed"
    SIGN_IN = "sign-in"
    BRAKED = "braked"
    PAUSED = "paused"

    @property
    def busy(self) -> bool:
        return self in (RunState.SCANNING, RunState.SYNCING, RunState.WAITING)

    @property
    def needs_attention(self) -> bool:
        return self in (RunState.FAILED, RunState.SIGN_IN, RunState.BRAKED)


@dataclass(slots=True)
class LiveStatus:
    """A connection's state as the window shows it."""

    state: RunState = RunState.IDLE
    text: str = IDLE_TEXT
    done: int = 0
    total: int = 0
    last: RunResult | None = None
    new_failures: int = 0  # how many more contacts fail after the last run than before it

    @property
    def percent(self) -> int | None:
        return int(100 * self.done / self.total) if self.total else None


def status_text(phase: str) -> tuple[RunState, str]:
    """The engine's phase as PieSync worded it."""
    if phase.startswith("Reading "):
        return RunState.SCANNING, "Scanning " + phase.removeprefix("Reading ")
    for prefix in ("Creating contacts in ", "Updating contacts in "):
        if phase.startswith(prefix):
            return RunState.SYNCING, "Syncing " + phase.removeprefix(prefix)
    return RunState.SYNCING, phase


def outcome_status(result: RunResult) -> tuple[RunState, str]:
    if result.outcome is Outcome.COMPLETED:
        failing = result.counts.get("failing", 0)
        if failing:
            return RunState.IDLE, f"{IDLE_TEXT} ({failing} failing: see Health)"
        return RunState.IDLE, IDLE_TEXT
    if result.outcome is Outcome.CANCELLED:
        return RunState.IDLE, "Cancelled; the next sync goes on where it stopped"
    state = {
        Outcome.SIGN_IN: RunState.SIGN_IN,
        Outcome.BRAKED: RunState.BRAKED,
    }.get(result.outcome, RunState.FAILED)
    return state, f"{result.title}: {result.message}"


class SyncManager(QObject):
    """Owns the running sync workers and the live status of every connection."""

    status_changed = Signal(str)  # connection name
    run_finished = Signal(object)  # RunResult
    busy_changed = Signal(bool)  # any connection running

    def __init__(
        self,
        store_path: Path,
        locks_dir: Path,
        connector_factory: ConnectorFactory = open_connector,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store_path = store_path
        self.locks_dir = locks_dir
        self.connector_factory = connector_factory
        self._runs: dict[str, tuple[QThread, SyncWorker]] = {}
        self._status: dict[str, LiveStatus] = {}
        self._held: set[str] = set()

    def status(self, name: str) -> LiveStatus:
        return self._status.setdefault(name, LiveStatus())

    def is_running(self, name: str) -> bool:
        return name in self._runs

    @property
    def running(self) -> set[str]:
        return set(self._runs)

    def start(self, name: str, confirm: bool = False) -> bool:
        """Start a run of ``name`` unless one is under way or it is held; True if it started."""
        if name in self._runs or name in self._held:
            return False
        worker = SyncWorker(self.store_path, self.locks_dir, name, confirm, self.connector_factory)
        thread = QThread()
        thread.setObjectName(f"sync:{name}")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_progress)
        worker.waiting.connect(self._on_waiting)
        worker.finished.connect(self._on_finished)
        self._runs[name] = (thread, worker)
        status = self.status(name)
        status.state, status.text, status.done, status.total = (
            RunState.SCANNING,
            "Starting",
            0,
            0,
        )
        was_busy = len(self._runs) > 1
        thread.start()
        self.status_changed.emit(name)
        if not was_busy:
            self.busy_changed.emit(True)
        return True

    def cancel(self, name: str) -> None:
        if name in self._runs:
            self._runs[name][1].cancel()

    def hold(self, name: str) -> None:
        """Start no run of ``name`` until :meth:`release` (and stop the one under way)."""
        self._held.add(name)
        self.cancel(name)

    def release(self, name: str) -> None:
        self._held.discard(name)

    def is_held(self, name: str) -> bool:
        return name in self._held

    def forget(self, name: str) -> None:
        """A removed connection: cancel its run and drop its status."""
        self.cancel(name)
        if name not in self._runs:
            self._status.pop(name, None)

    def mark_paused(self, name: str, paused: bool) -> None:
        status = self.status(name)
        if name in self._runs:
            return  # the running sync finishes; the state follows when it does
        if paused:
            status.state, status.text = RunState.PAUSED, "Paused"
        elif status.state is RunState.PAUSED:
            status.state, status.text = RunState.IDLE, IDLE_TEXT
        self.status_changed.emit(name)

    def shutdown(self) -> None:
        """Cancel every run and wait for the workers (a run stops at its next batch)."""
        for thread, worker in list(self._runs.values()):
            worker.cancel()
            thread.quit()
            thread.wait()
        self._runs.clear()

    @Slot(str, str, int, int)
    def _on_progress(self, name: str, phase: str, done: int, total: int) -> None:
        status = self.status(name)
        status.state, status.text = status_text(phase)
        status.done, status.total = done, total
        self.status_changed.emit(name)

    @Slot(str, str)
    def _on_waiting(self, name: str, other: str) -> None:
        status = self.status(name)
        status.state, status.text = RunState.WAITING, f"Waiting for {other}"
        status.done = status.total = 0
        self.status_changed.emit(name)

    @Slot(object)
    def _on_finished(self, result: RunResult) -> None:
        run = self._runs.pop(result.connection, None)
        if run is None:
            return  # the manager was shut down and has already waited for this run
        thread, _worker = run
        thread.quit()
        thread.wait()
        status = self.status(result.connection)
        status.state, status.text = outcome_status(result)
        status.done = status.total = 0
        if result.outcome is Outcome.COMPLETED:
            failing = result.counts.get("failing", 0)
            before = status.last.counts.get("failing", 0) if status.last else 0
            status.new_failures = max(0, failing - before)
            status.last = result
        self.status_changed.emit(result.connection)
        self.run_finished.emit(result)
        if not self._runs:
            self.busy_changed.emit(False)
