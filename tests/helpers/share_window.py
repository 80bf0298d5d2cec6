"""The real main window on a profile with a share job, and its job page, for the share tests."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from piesync_desktop import paths
from piesync_desktop.engine.connectors.base import ConnectorFactory, open_connector
from piesync_desktop.ui.main_window import JOBS_TAB, MainWindow
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.share.job_view import JobView
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.tasks import StoreTasks
from piesync_desktop.ui.workers import RunResult

DESTINATION_DIALOG = "piesync_desktop.ui.share.destination_dialog"


@contextmanager
def main_window(
    qtbot, profile: Path, monkeypatch, factory: ConnectorFactory = open_connector
) -> Iterator[MainWindow]:
    """The window on ``profile``, closed (its question answered Yes) and shut down after."""
    tasks = StoreTasks(paths.store_path(profile))
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile), factory)
    scheduler = SyncScheduler(manager)
    window = MainWindow(tasks, manager, scheduler)
    window.show()
    qtbot.waitUntil(lambda: window.jobs_model.rowCount() >= 1)
    try:
        yield window
    finally:
        monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Yes)
        for view in list(window.job_views.values()):
            if view.confirmation is not None:
                view.confirmation.reject()
            qtbot.waitUntil(lambda view=view: not view.busy, timeout=30_000)
        window.close()
        window.deleteLater()
        scheduler.stop()
        manager.shutdown()
        tasks.shutdown()


def open_job_page(qtbot, window: MainWindow, job: str) -> JobView:
    """The job's page, once it shows what the store holds."""
    window.sections.setCurrentIndex(JOBS_TAB)
    window.select_job(job)
    view = window.open_job()
    assert view is not None
    qtbot.waitUntil(lambda: view.page is not None)
    return view


def wait_for_runs(
    qtbot, manager: SyncManager, names, start: Callable[[], object]
) -> list[RunResult]:
    """Call ``start`` and wait until a run of each of ``names`` has finished."""
    finished: list[RunResult] = []
    manager.run_finished.connect(finished.append)
    try:
        start()
        qtbot.waitUntil(
            lambda: set(names) <= {result.connection for result in finished}, timeout=30_000
        )
    finally:
        manager.run_finished.disconnect(finished.append)
    return finished


class FakeDestinationDialog(QObject):
    """Stands in for the destination dialog: it picks ``spec`` as soon as it opens."""

    accepted = Signal()
    rejected = Signal()
    finished = Signal(int)
    spec_to_pick = ""
    made: list[tuple[str, tuple[str, ...]]] = []  # noqa: RUF012 (what each dialog was asked)

    def __init__(self, tasks, title: str = "Add a destination", exclude=(), parent=None) -> None:
        super().__init__(parent)
        self.spec = type(self).spec_to_pick
        type(self).made.append((title, tuple(exclude)))

    def open(self) -> None:
        QTimer.singleShot(0, self._pick)

    def _pick(self) -> None:
        self.accepted.emit()
        self.finished.emit(1)


def fake_destination_dialog(monkeypatch, spec: str) -> type[FakeDestinationDialog]:
    """Put the fake in place of ``ui/share/destination_dialog.py`` (there or not yet)."""
    monkeypatch.setattr(FakeDestinationDialog, "spec_to_pick", spec)
    monkeypatch.setattr(FakeDestinationDialog, "made", [])
    module = types.ModuleType(DESTINATION_DIALOG)
    module.DestinationDialog = FakeDestinationDialog  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, DESTINATION_DIALOG, module)
    return FakeDestinationDialog
