"""Fixtures for the window's tests: a profile whose store was filled by a real sync of two real
vCard folders (the demo's address books), and the store-tasks thread the views read through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from piesync_desktop.demo import DemoProfile, build_demo
from piesync_desktop.ui.tasks import StoreTasks


@pytest.fixture
def demo_profile(profile: Path) -> DemoProfile:
    """The demo's profile after its set-up sync (a conflict and a deletion wait for the next)."""
    return build_demo(profile, people=60)


@pytest.fixture
def store_tasks(qtbot, profile: Path) -> Iterator[StoreTasks]:
    tasks = StoreTasks(profile / "piesync.sqlite3")
    yield tasks
    tasks.shutdown()


@pytest.fixture(scope="session")
def system_tray():
    """A real system tray (Debian's trayer) on the test's X display, for the tray icon to dock in.

    Tray tests need an X server: scripts/test runs the suite under Xvfb. Without a display (a
    developer's plain ``pytest`` offscreen) they are skipped, saying why.
    """
    import os
    import shutil
    import subprocess
    import time

    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    if not os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        pytest.skip("no X display: run the suite with scripts/test (it starts Xvfb)")
    if shutil.which("trayer") is None:
        pytest.skip("trayer is not installed (scripts/test installs it)")
    app = QApplication.instance() or QApplication([])
    process = subprocess.Popen(
        [
            "trayer",
            "--edge",
            "top",
            "--align",
            "right",
            "--widthtype",
            "pixel",
            "--width",
            "120",
            "--height",
            "24",
            "--transparent",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not QSystemTrayIcon.isSystemTrayAvailable() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.05)
    assert QSystemTrayIcon.isSystemTrayAvailable(), "trayer started but no tray appeared"
    yield process
    process.terminate()
    process.wait(5)


@pytest.fixture(autouse=True)
def no_unexpected_dialogs(monkeypatch):
    """A modal dialog nobody answers would hang the suite (its event loop keeps Python's timeout
    from firing): any the test did not arrange for fails the test at once, naming the dialog."""
    from PySide6.QtWidgets import QDialog, QMessageBox

    def refuse(*args, **_kwargs):
        words = [a for a in args if isinstance(a, str)]
        raise AssertionError(f"an unexpected dialog would wait for a person: {words}")

    def refuse_exec(dialog):
        raise AssertionError(
            f"an unexpected dialog would wait for a person: {dialog.windowTitle()}"
        )

    for name in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, refuse)
    monkeypatch.setattr(QMessageBox, "exec", refuse_exec)
    monkeypatch.setattr(QDialog, "exec", refuse_exec)
