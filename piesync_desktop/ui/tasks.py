"""Store reads and small writes off the GUI thread.

The window never queries SQLite itself: it hands a function of a :class:`Store` to
:class:`StoreTasks`, which runs it on one worker thread holding its own store connection (SQLite
connections stay on the thread that opened them) and delivers the result, or the error, back on the
GUI thread through a signal. One thread keeps the window's reads and writes in the order they were
asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from piesync_desktop.engine.errors import SyncError
from piesync_desktop.engine.store import Store

log = logging.getLogger(__name__)

StoreFunction = Callable[[Store], Any]


@dataclass(frozen=True, slots=True)
class TaskError:
    """What the person is told when a task fails: a title and a sentence, never a traceback."""

    title: str
    message: str

    @classmethod
    def from_exception(cls, exc: BaseException) -> TaskError:
        if isinstance(exc, SyncError):
            return cls(exc.title, exc.message)
        return cls("Unexpected error", f"{exc.__class__.__name__}: {exc}")


class _Executor(QObject):
    """Lives on the tasks thread; opens the store there on first use."""

    finished = Signal(int, object)
    failed = Signal(int, object)

    def __init__(self, store_path: Path) -> None:
        super().__init__()
        self._path = store_path
        self._store: Store | None = None

    @Slot(int, object)
    def run(self, ticket: int, function: StoreFunction) -> None:
        try:
            if self._store is None:
                self._store = Store(self._path)
            result = function(self._store)
        except Exception as exc:
            if not isinstance(exc, SyncError):
                log.exception("store task failed")
            self.failed.emit(ticket, exc)
        else:
            self.finished.emit(ticket, result)

    @Slot()
    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class StoreTasks(QObject):
    """Runs functions of the store on one worker thread, results back on the GUI thread."""

    _requested = Signal(int, object)
    _close_requested = Signal()
    error = Signal(object)  # TaskError, for tasks submitted without their own error handler

    def __init__(self, store_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store_path = store_path
        self._thread = QThread()
        self._thread.setObjectName("store-tasks")
        self._executor = _Executor(store_path)
        self._executor.moveToThread(self._thread)
        self._requested.connect(self._executor.run)
        self._close_requested.connect(self._executor.close)
        self._executor.finished.connect(self._on_finished)
        self._executor.failed.connect(self._on_failed)
        self._callbacks: dict[
            int, tuple[Callable[[Any], None] | None, Callable[[TaskError], None] | None]
        ] = {}
        self._next_ticket = 0
        self._thread.start()

    @property
    def pending(self) -> int:
        """Tasks asked for whose answer has not come back yet."""
        return len(self._callbacks)

    def submit(
        self,
        function: StoreFunction,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[TaskError], None] | None = None,
    ) -> int:
        """Run ``function(store)`` on the tasks thread; ``on_done(result)`` on the GUI thread."""
        self._next_ticket += 1
        ticket = self._next_ticket
        self._callbacks[ticket] = (on_done, on_error)
        self._requested.emit(ticket, function)
        return ticket

    def forget(self, ticket: int) -> None:
        """Drop the callbacks of a task whose answer is no longer wanted (a closed view)."""
        if ticket in self._callbacks:
            self._callbacks[ticket] = (None, lambda _error: None)

    @Slot(int, object)
    def _on_finished(self, ticket: int, result: Any) -> None:
        on_done, _ = self._callbacks.pop(ticket, (None, None))
        if on_done is not None:
            on_done(result)

    @Slot(int, object)
    def _on_failed(self, ticket: int, exc: BaseException) -> None:
        _, on_error = self._callbacks.pop(ticket, (None, None))
        problem = TaskError.from_exception(exc)
        if on_error is not None:
            on_error(problem)
        else:
            self.error.emit(problem)

    def shutdown(self) -> None:
        """Finish the tasks already asked for, close the store, stop the thread."""
        if not self._thread.isRunning():
            return
        self._close_requested.emit()
        self._thread.quit()
        self._thread.wait()


class TaskGroup:
    """The tasks one view asked for, so that closing the view forgets their answers at once."""

    def __init__(self, tasks: StoreTasks) -> None:
        self.tasks = tasks
        self._tickets: set[int] = set()

    def submit(
        self,
        function: StoreFunction,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[TaskError], None] | None = None,
    ) -> int:
        """As :meth:`StoreTasks.submit`, remembered until it answers or :meth:`forget_all`."""
        ticket = 0

        def done(result: Any) -> None:
            self._tickets.discard(ticket)
            if on_done is not None:
                on_done(result)

        def failed(problem: TaskError) -> None:
            self._tickets.discard(ticket)
            if on_error is not None:
                on_error(problem)
            else:
                self.tasks.error.emit(problem)

        ticket = self.tasks.submit(function, done, failed)
        self._tickets.add(ticket)
        return ticket

    def forget_all(self) -> None:
        """Drop the answers still to come."""
        for ticket in self._tickets:
            self.tasks.forget(ticket)
        self._tickets.clear()
