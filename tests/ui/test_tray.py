"""The tray icon on a real tray (trayer on Xvfb): its look, menu, tooltip and notifications."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QSystemTrayIcon

from piesync_desktop import paths
from piesync_desktop.demo import DemoProfile
from piesync_desktop.ui.scheduler import Scheduled, SyncScheduler
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.tray import Tray


@pytest.fixture
def tray_parts(qtbot, system_tray, demo_profile: DemoProfile):
    profile = demo_profile.profile
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
    scheduler = SyncScheduler(manager)
    scheduler.set_connections([Scheduled(demo_profile.connection, 5)])
    tray = Tray(manager, scheduler)
    tray.show()
    messages: list[tuple[str, str]] = []
    tray.icon.showMessage = lambda title, text, *_rest: messages.append((title, text))
    yield tray, manager, scheduler, messages
    tray.hide()
    scheduler.stop()
    manager.shutdown()


def action(tray: Tray, text: str):
    tray.menu.aboutToShow.emit()
    return next(a for a in tray.menu.actions() if a.text() == text)


def test_the_icon_docks_in_the_tray(qtbot, tray_parts) -> None:
    tray, *_ = tray_parts
    assert QSystemTrayIcon.isSystemTrayAvailable()
    qtbot.waitUntil(lambda: tray.icon.geometry().isValid(), timeout=5000)
    assert tray.icon.isVisible()
    assert tray.look == "tray-idle"
    assert "Not synced yet" in tray.icon.toolTip()


def test_sync_all_now_syncs_and_the_icon_follows(qtbot, tray_parts, demo_profile) -> None:
    tray, manager, _scheduler, _messages = tray_parts
    looks: list[str] = []
    manager.status_changed.connect(lambda _name: looks.append(tray.look))
    with qtbot.waitSignal(manager.run_finished, timeout=30_000):
        action(tray, "Sync all now").trigger()
    assert "tray-syncing" in looks
    assert tray.look == "tray-idle"
    assert "Last sync" in tray.icon.toolTip()
    assert "PieSync Trash" in (demo_profile.folder_a / "work-4.vcf").read_text()


def test_pause_and_resume_syncing_from_the_menu(qtbot, tray_parts) -> None:
    tray, _manager, scheduler, _messages = tray_parts
    action(tray, "Pause syncing").trigger()
    assert scheduler.paused
    assert tray.look == "tray-paused"
    assert "paused" in tray.icon.toolTip()
    action(tray, "Resume syncing").trigger()
    assert not scheduler.paused


def test_open_and_quit_are_asked_of_the_program(qtbot, tray_parts) -> None:
    tray, *_ = tray_parts
    with qtbot.waitSignal(tray.open_requested):
        action(tray, "Open PieSync Desktop").trigger()
    with qtbot.waitSignal(tray.quit_requested):
        action(tray, "Quit").trigger()
    with qtbot.waitSignal(tray.open_requested):
        tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)


def test_new_failures_are_notified(qtbot, tray_parts, demo_profile) -> None:
    _tray, manager, _scheduler, messages = tray_parts
    (demo_profile.folder_b / "broken.vcf").write_text("BEGIN:VCARD\nVERSION:3.0\nFN:Broken\n")
    with qtbot.waitSignal(manager.run_finished, timeout=30_000):
        manager.start(demo_profile.connection)
    assert messages and messages[0][0] == "New sync failures"
    assert "1 contact of" in messages[0][1]
    messages.clear()
    with qtbot.waitSignal(manager.run_finished, timeout=30_000):
        manager.start(demo_profile.connection)
    assert messages == []  # still failing, but not new


def test_a_failed_run_turns_the_icon_to_error(qtbot, tray_parts, demo_profile) -> None:
    tray, manager, _scheduler, messages = tray_parts
    demo_profile.folder_a.rename(demo_profile.folder_a.with_name("gone"))
    with qtbot.waitSignal(manager.run_finished, timeout=30_000):
        manager.start(demo_profile.connection)
    assert tray.look == "tray-error"
    assert demo_profile.connection in tray.icon.toolTip()
    assert messages and "needs attention" in messages[0][0]


def test_sync_all_now_runs_the_share_destinations_too(qtbot, tray_parts, demo_profile) -> None:
    from helpers.share_profile import build_share_profile

    from piesync_desktop.engine.store import Store
    from piesync_desktop.ui.scheduler import scheduled_connections

    tray, manager, scheduler, _messages = tray_parts
    shared = build_share_profile(demo_profile.profile)
    with Store(shared.store_path) as store:
        scheduler.set_connections(scheduled_connections(store))  # as the window feeds it
    finished: list[str] = []
    manager.run_finished.connect(lambda result: finished.append(result.connection))
    action(tray, "Sync all now").trigger()
    wanted = {demo_profile.connection, *shared.destinations}
    qtbot.waitUntil(lambda: set(finished) == wanted, timeout=30_000)
    for folder in (shared.first, shared.second):
        assert sum("gSync" in p.read_text() for p in folder.glob("*.vcf")) == 2
    assert tray.look == "tray-idle"
