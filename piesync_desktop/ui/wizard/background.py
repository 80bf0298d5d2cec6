"""Reads of an address book off the GUI thread, for the wizard's pages.

Counting a folder's files, reading a side's fields and contacts, counting the contacts a rule
matches: each can take seconds on a big address book, so each runs as a job on a worker thread
(a QThread with a worker QObject). Jobs belong to a *channel*; a newer job on a channel makes
the older ones stale: a stale job stops at its next ``ctx.check()`` and its answer is dropped, so
the person typing a path never waits for the counts of the paths typed before.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from piesync_desktop.engine.errors import SyncError
from piesync_desktop.ui.tasks import TaskError

log = logging.getLogger(__name__)


class Stale(Exception):
    """Raised inside a job that a newer job of its channel has replaced."""


@dataclass(slots=True)
class JobContext:
    """What a running job can do: report progress, and notice it is no longer wanted."""

    ticket: int
    _stale: threading.Event = field(default_factory=threading.Event)
    _report: Callable[[int, Any], None] | None = None

    def cancelled(self) -> bool:
        return self._stale.is_set()

    def make_stale(self) -> None:
        """Called from the GUI thread when a newer job replaces this one."""
        self._stale.set()

    def check(self) -> None:
        """Stop the job here if it is no longer wanted."""
        if self._stale.is_set():
            raise Stale

    def report(self, value: Any) -> None:
        if self._report is not None and not self._stale.is_set():
            self._report(self.ticket, value)


JobFunction = Callable[[JobContext], Any]


@dataclass(slots=True)
class _Callbacks:
    channel: str
    context: JobContext
    on_done: Callable[[Any], None]
    on_error: Callable[[TaskError], None] | None
    on_progress: Callable[[Any], None] | None


class _Worker(QObject):
    """Lives on the worker thread and runs the jobs it is handed, one at a time."""

    finished = Signal(int, object)
    failed = Signal(int, object)
    progressed = Signal(int, object)

    @Slot(int, object, object)
    def run(self, ticket: int, function: JobFunction, context: JobContext) -> None:
        if context.cancelled():
            return
        try:
            result = function(context)
        except Stale:
            return
        except Exception as exc:
            if not isinstance(exc, SyncError):
                log.exception("wizard job failed")
            self.failed.emit(ticket, exc)
        else:
            self.finished.emit(ticket, result)


class Background(QObject):
    """One worker thread; answers come back on the GUI thread, stale ones never do."""

    _requested = Signal(int, object, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._requested.connect(self._worker.run)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._worker.progressed.connect(self._on_progress)
        self._jobs: dict[int, _Callbacks] = {}
        self._current: dict[str, int] = {}
        self._tickets = itertools.count(1)
        self._thread.start()

    def submit(
        self,
        channel: str,
        function: JobFunction,
        on_done: Callable[[Any], None],
        on_error: Callable[[TaskError], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
    ) -> int:
        """Run ``function(ctx)`` on the worker thread, replacing the channel's earlier job."""
        self.cancel(channel)
        ticket = next(self._tickets)
        context = JobContext(ticket, _report=self._worker.progressed.emit)
        self._jobs[ticket] = _Callbacks(channel, context, on_done, on_error, on_progress)
        self._current[channel] = ticket
        self._requested.emit(ticket, function, context)
        return ticket

    def cancel(self, channel: str) -> None:
        """Forget the channel's job: it stops at its next check and never answers."""
        ticket = self._current.pop(channel, None)
        if ticket is not None:
            callbacks = self._jobs.pop(ticket, None)
            if callbacks is not None:
                callbacks.context.make_stale()

    def busy(self, channel: str) -> bool:
        return channel in self._current

    def _take(self, ticket: int) -> _Callbacks | None:
        callbacks = self._jobs.pop(ticket, None)
        if callbacks is not None and self._current.get(callbacks.channel) == ticket:
            del self._current[callbacks.channel]
        return callbacks

    @Slot(int, object)
    def _on_finished(self, ticket: int, result: Any) -> None:
        callbacks = self._take(ticket)
        if callbacks is not None:
            callbacks.on_done(result)

    @Slot(int, object)
    def _on_failed(self, ticket: int, exc: BaseException) -> None:
        callbacks = self._take(ticket)
        if callbacks is not None and callbacks.on_error is not None:
            callbacks.on_error(TaskError.from_exception(exc))

    @Slot(int, object)
    def _on_progress(self, ticket: int, value: Any) -> None:
        callbacks = self._jobs.get(ticket)
        if callbacks is not None and callbacks.on_progress is not None:
            callbacks.on_progress(value)

    def shutdown(self) -> None:
        """Make every job stale, then stop the thread once the running one has stopped."""
        for channel in list(self._current):
            self.cancel(channel)
        if self._thread.isRunning():
            self._thread.quit()
            self._thread.wait()
