"""When each connection syncs: when it is due, then every ``interval_minutes`` after its last run.

The window feeds it every connection, the destinations of share jobs included
(:func:`scheduled_connections`). A share destination is due by the store's memory of its last run
(``engine.schedule.next_run``), so a daily job is not run again at every start of the program; one
that never ran is due at once. The person's own connections sync at start-up, as they always did
(they poll every few minutes, and the demo shows its second sync at once).

One single-shot QTimer wakes the scheduler at the earliest due time (clamped below Qt's 2^31 ms
limit); a one-minute heartbeat catches up after the machine slept, since timers do not count
suspended time. Due times come from an injectable clock, so tests drive the schedule without
waiting. Paused connections, and everything while syncing is paused from the tray, are skipped;
"Sync now" and "Sync all now" still run on the person's word.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from piesync_desktop.engine.schedule import next_run
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.workers import RunResult

MAX_TIMER_MS = 2**31 - 1
HEARTBEAT_MS = 60_000


@dataclass(frozen=True, slots=True)
class Scheduled:
    """What the scheduler needs to know of one connection."""

    name: str
    interval_minutes: int
    paused: bool = False
    due_at: float = 0.0  # when it is first due (clock seconds); 0: at once


def scheduled_connections(store: Store) -> list[Scheduled]:
    """Every connection as the scheduler needs it, share destinations included (on the tasks
    thread): a destination is due by its last run in the store, an own connection at once."""
    last = store.last_run_times()
    return [
        Scheduled(
            settings.name,
            settings.interval_minutes,
            settings.paused,
            next_run(settings, last.get(settings.id or 0)) if settings.share else 0.0,
        )
        for settings in store.connections()
    ]


class SyncScheduler(QObject):
    """Starts connections' syncs when they are due, through the :class:`SyncManager`."""

    paused_changed = Signal(bool)

    def __init__(
        self,
        manager: SyncManager,
        clock: Callable[[], float] = time.time,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.clock = clock
        self._connections: dict[str, Scheduled] = {}
        self._due: dict[str, float] = {}
        self._paused = False
        self._started = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check_due)
        self._heartbeat = QTimer(self)
        self._heartbeat.setInterval(HEARTBEAT_MS)
        self._heartbeat.timeout.connect(self.check_due)
        manager.run_finished.connect(self._on_run_finished)

    @property
    def names(self) -> list[str]:
        """The connections the scheduler knows, paused ones included."""
        return list(self._connections)

    @property
    def paused(self) -> bool:
        return self._paused

    def due(self, name: str) -> float | None:
        """When ``name`` syncs next (clock seconds), None while it is paused or unknown."""
        scheduled = self._connections.get(name)
        if scheduled is None or scheduled.paused:
            return None
        return self._due.get(name)

    def start(self) -> None:
        """Begin scheduling: whatever is due starts now."""
        self._started = True
        self._heartbeat.start()
        self.check_due()

    def stop(self) -> None:
        self._started = False
        self._timer.stop()
        self._heartbeat.stop()

    def set_connections(self, connections: Iterable[Scheduled]) -> None:
        """The connections as the store holds them now; one seen for the first time is due at
        its ``due_at`` (at once if that has passed)."""
        fresh = {c.name: c for c in connections}
        now = self.clock()
        for name in list(self._due):
            if name not in fresh:
                del self._due[name]
        for name, scheduled in fresh.items():
            old = self._connections.get(name)
            if name not in self._due:
                self._due[name] = max(now, scheduled.due_at)
            elif old is not None and old.interval_minutes != scheduled.interval_minutes:
                last = self._due[name] - old.interval_minutes * 60
                self._due[name] = last + scheduled.interval_minutes * 60
        self._connections = fresh
        self._arm()

    def set_paused(self, paused: bool) -> None:
        """Pause or resume all scheduled syncing (the tray's Pause/Resume syncing)."""
        if paused == self._paused:
            return
        self._paused = paused
        self.paused_changed.emit(paused)
        if not paused:
            self.check_due()

    def run_now(self, name: str, confirm: bool = False) -> bool:
        """Sync ``name`` now on the person's word (even while paused)."""
        return self.manager.start(name, confirm)

    def run_all_now(self) -> list[str]:
        """Sync every connection that is not paused on its own; returns those started."""
        return [
            name
            for name, scheduled in self._connections.items()
            if not scheduled.paused and self.manager.start(name)
        ]

    @Slot()
    def check_due(self) -> None:
        """Start every connection whose time has come."""
        now = self.clock()
        if not self._paused:
            for name, scheduled in self._connections.items():
                if scheduled.paused or self.manager.is_running(name):
                    continue
                if self._due.get(name, now) <= now:
                    self.manager.start(name)
                    self._due[name] = now + scheduled.interval_minutes * 60
        self._arm()

    def _arm(self) -> None:
        waiting = [
            self._due[name]
            for name, scheduled in self._connections.items()
            if not scheduled.paused and name in self._due
        ]
        if not waiting or self._paused or not self._started:
            self._timer.stop()
            return
        delay_ms = max(0, int((min(waiting) - self.clock()) * 1000))
        self._timer.start(min(delay_ms, MAX_TIMER_MS))

    @Slot(object)
    def _on_run_finished(self, result: RunResult) -> None:
        scheduled = self._connections.get(result.connection)
        if scheduled is not None:
            self._due[result.connection] = self.clock() + scheduled.interval_minutes * 60
            self._arm()
