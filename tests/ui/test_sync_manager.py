"""Sync runs in workers: progress, waiting, outcomes, cancel, and the states the window shows."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from piesync_desktop import paths
from piesync_desktop.demo import DemoProfile
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.sync_manager import IDLE_TEXT, RunState, SyncManager, status_text
from piesync_desktop.ui.workers import Outcome, RunResult


@pytest.fixture
def manager(qtbot, demo_profile: DemoProfile):
    made = SyncManager(
        paths.store_path(demo_profile.profile), paths.locks_dir(demo_profile.profile)
    )
    yield made
    made.shutdown()


def finish(qtbot, manager: SyncManager, name: str, confirm: bool = False) -> RunResult:
    with qtbot.waitSignal(manager.run_finished, timeout=30_000) as signal:
        assert manager.start(name, confirm)
    return signal.args[0]


def test_a_run_syncs_the_files_and_reports_progress(qtbot, manager, demo_profile) -> None:
    phases: list[str] = []
    manager.status_changed.connect(lambda name: phases.append(manager.status(name).text))
    result = finish(qtbot, manager, demo_profile.connection)
    assert result.outcome is Outcome.COMPLETED
    assert result.updated == {"a": 1, "b": 1}  # the conflict settled in B, the trash tag in A
    assert "PieSync Trash" in (demo_profile.folder_a / "work-4.vcf").read_text()
    assert "TITLE:Head of Engineer" in (demo_profile.folder_b / "phone-2.vcf").read_text()
    assert any(text.startswith("Scanning vCard folder") for text in phases)
    assert any(text.startswith("Syncing vCard folder") for text in phases)
    status = manager.status(demo_profile.connection)
    assert (status.state, status.text) == (RunState.IDLE, IDLE_TEXT)
    assert not manager.is_running(demo_profile.connection)


def test_busy_changes_once_around_a_run(qtbot, manager, demo_profile) -> None:
    busy: list[bool] = []
    manager.busy_changed.connect(busy.append)
    finish(qtbot, manager, demo_profile.connection)
    assert busy == [True, False]


def test_a_second_start_while_running_is_refused(qtbot, manager, demo_profile) -> None:
    with qtbot.waitSignal(manager.run_finished, timeout=30_000):
        assert manager.start(demo_profile.connection)
        assert not manager.start(demo_profile.connection)


def test_a_missing_folder_fails_with_a_sentence(qtbot, manager, demo_profile) -> None:
    demo_profile.folder_b.rename(demo_profile.folder_b.with_name("moved"))
    result = finish(qtbot, manager, demo_profile.connection)
    assert result.outcome is Outcome.FAILED
    assert "demo-phone" in result.message
    status = manager.status(demo_profile.connection)
    assert status.state is RunState.FAILED
    assert "demo-phone" in status.text
    assert "Traceback" not in status.text


def test_the_safety_brake_waits_for_confirmation(qtbot, manager, demo_profile) -> None:
    for card in demo_profile.folder_b.glob("*.vcf"):
        card.rename(card.with_suffix(".moved"))
    result = finish(qtbot, manager, demo_profile.connection)
    assert result.outcome is Outcome.BRAKED
    assert manager.status(demo_profile.connection).state is RunState.BRAKED
    assert not list(demo_profile.folder_b.glob("*.vcf"))  # nothing written before confirming
    confirmed = finish(qtbot, manager, demo_profile.connection, confirm=True)
    assert confirmed.outcome is Outcome.COMPLETED


def test_cancel_stops_the_run_and_the_next_goes_on(qtbot, demo_profile: DemoProfile) -> None:
    gate = threading.Event()
    released = threading.Event()

    def slow_factory(spec: str):
        connector = open_connector(spec)
        original = connector.changes

        def changes(cursor):
            gate.set()
            released.wait(10)
            return original(cursor)

        connector.changes = changes
        return connector

    profile = demo_profile.profile
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile), slow_factory)
    try:
        with qtbot.waitSignal(manager.run_finished, timeout=30_000) as signal:
            manager.start(demo_profile.connection)
            qtbot.waitUntil(gate.is_set)
            manager.cancel(demo_profile.connection)
            released.set()
        assert signal.args[0].outcome is Outcome.CANCELLED
        assert "PieSync Trash" not in (demo_profile.folder_a / "work-4.vcf").read_text()
    finally:
        manager.shutdown()
    again = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
    try:
        assert finish(qtbot, again, demo_profile.connection).outcome is Outcome.COMPLETED
    finally:
        again.shutdown()
    assert "PieSync Trash" in (demo_profile.folder_a / "work-4.vcf").read_text()


def test_a_connection_sharing_an_account_waits(qtbot, demo_profile: DemoProfile, tmp_path: Path):
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    from piesync_desktop.engine.connection import ConnectionSettings

    with Store(paths.store_path(demo_profile.profile)) as store:
        a = store.ensure_account(
            "vcard", open_connector(f"vcard:{demo_profile.folder_a}").account_key
        )
        b = store.ensure_account("vcard", open_connector(f"vcard:{other_folder}").account_key)
        store.add_connection(
            ConnectionSettings("Second", f"vcard:{demo_profile.folder_a}", f"vcard:{other_folder}"),
            a,
            b,
        )
    hold = threading.Event()
    first_reading = threading.Event()

    def holding_factory(spec: str):
        connector = open_connector(spec)
        original = connector.changes

        def changes(cursor):
            if "demo-phone" in spec:
                first_reading.set()
                hold.wait(10)
            return original(cursor)

        connector.changes = changes
        return connector

    profile = demo_profile.profile
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile), holding_factory)
    try:
        manager.start(demo_profile.connection)
        qtbot.waitUntil(first_reading.is_set)
        manager.start("Second")
        qtbot.waitUntil(lambda: manager.status("Second").state is RunState.WAITING, timeout=10_000)
        assert manager.status("Second").text == f"Waiting for {demo_profile.connection}"
        with qtbot.waitSignal(manager.busy_changed, timeout=30_000) as idle:
            hold.set()
        assert idle.args == [False]
        assert manager.status("Second").state is RunState.IDLE
    finally:
        hold.set()
        manager.shutdown()


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (
            "Reading vCard folder (/a) and vCard folder (/b)",
            "Scanning vCard folder (/a) and vCard folder (/b)",
        ),
        ("Creating contacts in vCard folder (/b)", "Syncing vCard folder (/b)"),
        ("Updating contacts in Outlook (Contacts)", "Syncing Outlook (Contacts)"),
        ("Comparing contacts", "Comparing contacts"),
    ],
)
def test_phases_read_like_piesync(phase: str, expected: str) -> None:
    assert status_text(phase)[1] == expected


def test_the_cycle_collector_rests_while_any_run_is_under_way() -> None:
    import gc

    from piesync_desktop.ui.workers import CollectorPause

    assert gc.isenabled()
    first, second = CollectorPause(), CollectorPause()
    with first:
        assert not gc.isenabled()
        second.__enter__()
    assert not gc.isenabled()  # the second run still goes on
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_the_collector_comes_back_after_a_real_run(qtbot, manager, demo_profile) -> None:
    import gc

    paused_during: list[bool] = []
    manager.status_changed.connect(lambda _name: paused_during.append(not gc.isenabled()))
    finish(qtbot, manager, demo_profile.connection)
    assert any(paused_during)
    assert gc.isenabled()
