"""A table model read a page at a time through :class:`StoreTasks`, for lists of any length.

Health's contact lists and timeline and the Trash review hold up to 100,000s of rows in the store:
a model asks for one page, then the next as its view scrolls to the end (Qt's ``fetchMore``), and
drops any answer to a load it no longer shows (a search typed on meanwhile). The read of a load
the person has already left is skipped on the tasks thread before it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Signal

from piesync_desktop.engine.store import Store
from piesync_desktop.ui.tasks import StoreTasks, TaskError, TaskGroup

Reader = Callable[[Store, int, int, Any], list[Any]]  # (store, limit, offset, last row) -> rows


class _Generation:
    """Which load a model shows now. Its tasks read it on the tasks thread (one int, so no lock
    is needed) to skip the work of a load the person has already left."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class PagedTableModel(QAbstractTableModel):
    """Rows read a page at a time through the store tasks; answers of an older load dropped.

    A subclass says how its rows are read (:meth:`_reader`) and how they are shown (``data``,
    ``columnCount``, ``headerData``); ``_rows`` holds what has been read.
    """

    loaded = Signal()  # the first page of a (re)load is in the model
    failed = Signal(object)  # TaskError

    def __init__(
        self, tasks: StoreTasks, page: int, reload_max: int | None = None, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.page = page
        self.reload_max = reload_max
        self._rows: list[Any] = []
        self._more = False
        self._loading = False
        self._current = _Generation()
        self._group = TaskGroup(tasks)

    def _reader(self) -> Reader:
        """What reads this model's rows, as it is now: called on the GUI thread, the function it
        returns runs on the tasks thread (so it holds copies, never the model)."""
        raise NotImplementedError

    @property
    def _generation(self) -> int:
        return self._current.value

    @property
    def loading(self) -> bool:
        return self._loading

    @property
    def has_more(self) -> bool:
        """Whether rows beyond those loaded exist (scrolling to the end reads them)."""
        return self._more

    def _unless_stale(
        self, generation: int, work: Callable[[Store], Any]
    ) -> Callable[[Store], Any]:
        current = self._current
        return lambda store: work(store) if current.value == generation else None

    def _load(self, keep: int = 0) -> None:
        """Read the first page again, or as many rows as ``keep`` (up to ``reload_max``)."""
        self._current.value += 1
        generation, read = self._current.value, self._reader()
        count = max(self.page, keep)
        if self.reload_max is not None:
            count = min(count, self.reload_max)
        self._loading = True
        self._submit(
            self._unless_stale(generation, lambda store: read(store, count + 1, 0, None)),
            lambda rows: self._loaded(generation, rows, count),
        )

    def _loaded(self, generation: int, rows: list[Any], count: int) -> None:
        if generation != self._generation:
            return
        self.beginResetModel()
        self._rows, self._more, self._loading = rows[:count], len(rows) > count, False
        self.endResetModel()
        self.loaded.emit()

    def canFetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> bool:
        return not parent.isValid() and self._more and not self._loading

    def fetchMore(self, parent: QModelIndex | QPersistentModelIndex) -> None:
        if not self.canFetchMore(parent):
            return
        self._loading = True
        generation, offset, read = self._generation, len(self._rows), self._reader()
        last = self._rows[-1] if self._rows else None
        page = self.page
        self._submit(
            self._unless_stale(generation, lambda store: read(store, page + 1, offset, last)),
            lambda rows: self._appended(generation, rows),
        )

    def _appended(self, generation: int, rows: list[Any]) -> None:
        if generation != self._generation:
            return
        page = rows[: self.page]
        self._more, self._loading = len(rows) > self.page, False
        if page:
            self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows) + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()

    def _submit(self, function: Callable[[Store], Any], on_done: Callable[[Any], None]) -> None:
        def failed(problem: TaskError) -> None:
            self._loading = False
            self.failed.emit(problem)

        self._group.submit(function, on_done, failed)

    def forget_pending(self) -> None:
        """Drop the answers still to come (the view is closing)."""
        self._group.forget_all()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)
