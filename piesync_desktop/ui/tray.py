"""The tray icon: it keeps the program syncing in the background with the window closed.

Its look says idle, syncing, paused or error; its menu (rebuilt each time it opens, so it always
tells the truth) has Open, Sync all now, Pause/Resume syncing and Quit; its tooltip says when the
last sync ran; a notification appears when a run leaves more contacts failing than before.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.workers import Outcome, RunResult


class Tray(QObject):
    """The system tray icon with its menu and notifications."""

    open_requested = Signal()
    quit_requested = Signal()

    def __init__(
        self, manager: SyncManager, scheduler: SyncScheduler, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.manager = manager
        self.scheduler = scheduler
        self.last_sync: float | None = None
        self.icon = QSystemTrayIcon(icon("tray-idle"), self)
        self.menu = QMenu()
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.icon.messageClicked.connect(self.open_requested)
        manager.status_changed.connect(lambda _name: self.update_look())
        manager.busy_changed.connect(lambda _busy: self.update_look())
        manager.run_finished.connect(self._on_run_finished)
        scheduler.paused_changed.connect(lambda _paused: self.update_look())
        self.rebuild_menu()
        self.update_look()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    @property
    def look(self) -> str:
        """The icon shown now: tray-syncing, tray-error, tray-paused or tray-idle."""
        if self.manager.running:
            return "tray-syncing"
        if any(self.manager.status(name).state.needs_attention for name in self.scheduler.names):
            return "tray-error"
        if self.scheduler.paused:
            return "tray-paused"
        return "tray-idle"

    @Slot()
    def update_look(self) -> None:
        look = self.look
        self.icon.setIcon(icon(look))
        self.icon.setToolTip(self.tooltip())

    def tooltip(self) -> str:
        lines = ["PieSync Desktop"]
        running = len(self.manager.running)
        if running:
            lines.append(f"Syncing {running} connection{'s' if running > 1 else ''}…")
        elif self.scheduler.paused:
            lines.append("Syncing is paused")
        attention = [
            name for name in self.scheduler.names if self.manager.status(name).state.needs_attention
        ]
        if attention:
            lines.append("Needs attention: " + ", ".join(attention))
        if self.last_sync is not None:
            lines.append("Last sync " + time.strftime("%H:%M", time.localtime(self.last_sync)))
        else:
            lines.append("Not synced yet")
        return "\n".join(lines)

    @Slot()
    def rebuild_menu(self) -> None:
        self.menu.clear()
        self.menu.addAction(
            icon("piesync-desktop"), "Open PieSync Desktop", self.open_requested.emit
        )
        sync_all = self.menu.addAction(icon("action-sync"), "Sync all now")
        sync_all.triggered.connect(self.scheduler.run_all_now)
        sync_all.setEnabled(bool(self.scheduler.names))
        if self.scheduler.paused:
            pause = self.menu.addAction(icon("action-resume"), "Resume syncing")
            pause.triggered.connect(lambda: self.scheduler.set_paused(False))
        else:
            pause = self.menu.addAction(icon("action-pause"), "Pause syncing")
            pause.triggered.connect(lambda: self.scheduler.set_paused(True))
        self.menu.addSeparator()
        self.menu.addAction("Quit", self.quit_requested.emit)

    @Slot(QSystemTrayIcon.ActivationReason)
    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_requested.emit()

    @Slot(object)
    def _on_run_finished(self, result: RunResult) -> None:
        if result.outcome is Outcome.COMPLETED:
            self.last_sync = time.time()
            new = self.manager.status(result.connection).new_failures
            if new:
                self.icon.showMessage(
                    "New sync failures",
                    f"{new} contact{'s' if new > 1 else ''} of '{result.connection}' could not "
                    "be synced. Open Health to see why and what to do.",
                    QSystemTrayIcon.MessageIcon.Warning,
                )
        elif result.outcome is not Outcome.CANCELLED:
            self.icon.showMessage(
                f"'{result.connection}' needs attention",
                f"{result.title}: {result.message}",
                QSystemTrayIcon.MessageIcon.Critical,
            )
        self.update_look()
