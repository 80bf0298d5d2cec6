"""The desktop program: QApplication set-up, one instance per profile, window, tray, scheduler.

``piesync-desktop`` opens the window on the person's profile; ``--demo`` on a throwaway profile
with two sample address books. A second start on the same profile raises the open window instead
(a local socket named after the profile). With a system tray, closing the window keeps syncing in
the background; without one, closing asks whether to quit.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication, QMessageBox

from piesync_desktop import paths
from piesync_desktop.demo import build_demo
from piesync_desktop.engine.app_settings import apply_saved_settings
from piesync_desktop.engine.errors import SyncError
from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.main_window import MainWindow
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.tasks import StoreTasks, TaskError
from piesync_desktop.ui.tray import Tray

APP_NAME = "PieSync Desktop"
log = logging.getLogger(__name__)


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="piesync-desktop", add_help=False)
    parser.add_argument("--profile", metavar="DIR")
    parser.add_argument("--demo", action="store_true")
    return parser


def instance_name(profile: Path) -> str:
    digest = hashlib.sha1(str(profile).encode()).hexdigest()[:12]
    return f"piesync-desktop-{digest}"


def raise_running_instance(name: str) -> bool:
    """Ask a program already running on this profile to show its window; True if one answered."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(500):
        return False
    socket.write(b"raise\n")
    socket.waitForBytesWritten(500)
    socket.disconnectFromServer()
    return True


class Program:
    """Everything one running program owns, wired together; ``close`` stops it cleanly."""

    def __init__(self, app: QApplication, profile: Path) -> None:
        self.app = app
        self.profile = profile
        self.tasks = StoreTasks(paths.store_path(profile))
        # Before anything else on the tasks thread, so the first syncs (started once the window
        # has read its connections, on the same thread) see the Settings dialog's values.
        self.tasks.submit(apply_saved_settings, on_error=self._settings_not_applied)
        self.manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
        self.scheduler = SyncScheduler(self.manager)
        self.window = MainWindow(self.tasks, self.manager, self.scheduler)
        self.tray: Tray | None = None
        self.server = QLocalServer()
        self.window.close_requested.connect(self._on_window_closed)
        app.aboutToQuit.connect(self.close)

    def _settings_not_applied(self, problem: TaskError) -> None:
        log.warning("the saved settings were not applied: %s", problem.message)

    def listen(self) -> None:
        name = instance_name(self.profile)
        QLocalServer.removeServer(name)  # a stale socket of a program that crashed
        self.server.listen(name)
        self.server.newConnection.connect(self._on_second_start)

    def show(self) -> None:
        if Tray.available():
            self.tray = Tray(self.manager, self.scheduler)
            self.tray.open_requested.connect(self.window.show_and_raise)
            self.tray.quit_requested.connect(self.app.quit)
            self.tray.show()
            self.window.keep_running_in_tray = True
            self.app.setQuitOnLastWindowClosed(False)
        self.window.show()
        self.scheduler.start()

    def _on_second_start(self) -> None:
        connection = self.server.nextPendingConnection()
        if connection is not None:
            connection.disconnectFromServer()
        self.window.show_and_raise()

    def _on_window_closed(self) -> None:
        if self.tray is None or not self.window.keep_running_in_tray:
            self.app.quit()
        elif not getattr(self, "_told_about_tray", False):
            self._told_about_tray = True
            self.tray.icon.showMessage(
                APP_NAME, "Still syncing in the background. Open it again from this icon."
            )

    def close(self) -> None:
        self.scheduler.stop()
        self.manager.shutdown()
        self.tasks.shutdown()
        self.server.close()
        if self.tray is not None:
            self.tray.hide()


def has_screen() -> bool:
    """Whether Qt can open a window here (it aborts the process when it cannot)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    )


def run(argv: Sequence[str]) -> int:
    """Start the window; returns the exit status."""
    args = gui_parser().parse_args(list(argv))
    if not has_screen():
        print(
            "piesync-desktop: no screen to open the window on (DISPLAY is not set). "
            "The command line works without one: piesync-desktop --help",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName("piesync-desktop")
    app.setDesktopFileName("piesync-desktop")
    app.setWindowIcon(icon("piesync-desktop"))
    demo_dir: Path | None = None
    try:
        if args.demo:
            demo_dir = Path(tempfile.mkdtemp(prefix="piesync-demo-"))
            build_demo(demo_dir)
            profile = demo_dir
        else:
            profile = paths.profile_dir(args.profile)
        if raise_running_instance(instance_name(profile)):
            print("PieSync Desktop is already running; its window was brought to the front.")
            return 0
        program = Program(app, profile)
    except SyncError as exc:
        QMessageBox.critical(None, exc.title, exc.message)
        return 1
    program.listen()
    program.show()
    if args.demo:
        program.window.setWindowTitle(f"{APP_NAME} (demo)")
        QTimer.singleShot(
            0,
            lambda: program.window.statusBar().showMessage(
                "Demo: two sample address books in " + str(demo_dir), 10000
            ),
        )
    try:
        return app.exec()
    finally:
        if demo_dir is not None:
            shutil.rmtree(demo_dir, ignore_errors=True)
