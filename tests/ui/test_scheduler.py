"""The scheduler on a controllable clock: start-up syncs, intervals, pause, catch-up after sleep."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from piesync_desktop import paths
from piesync_desktop.demo import DemoProfile
from piesync_desktop.ui.scheduler import MAX_TIMER_MS, Scheduled, SyncScheduler
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.workers import Outcome, RunResult


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class RecordingManager(QObject):
    """Stands in for the SyncManager: records which runs were asked for, finishes on demand."""

    run_finished = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.started: list[str] = []
        self.running: set[str] = set()

    def start(self, name: str, confirm: bool = False) -> bool:
        if name in self.running:
            return False
        self.started.append(name)
        self.running.add(name)
        return True

    def is_running(self, name: str) -> bool:
        return name in self.running

    def finish(self, name: str) -> None:
        self.running.discard(name)
        self.run_finished.emit(RunResult(name, Outcome.COMPLETED))


def make(qtbot):
    clock, manager = Clock(), RecordingManager()
    scheduler = SyncScheduler(manager, clock)  # type: ignore[arg-type]
    return clock, manager, scheduler


def test_every_connection_syncs_at_start_up_except_paused_ones(qtbot) -> None:
    _clock, manager, scheduler = make(qtbot)
    scheduler.set_connections(
        [Scheduled("work", 5), Scheduled("home", 10), Scheduled("old", 5, paused=True)]
    )
    scheduler.check_due()
    assert sorted(manager.started) == ["home", "work"]
    assert scheduler.due("old") is None


def test_a_connection_syncs_again_after_its_interval(qtbot) -> None:
    clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("work", 5)])
    scheduler.check_due()
    manager.finish("work")
    assert scheduler.due("work") == clock.now + 300
    clock.now += 299
    scheduler.check_due()
    assert manager.started == ["work"]
    clock.now += 1
    scheduler.check_due()
    assert manager.started == ["work", "work"]


def test_a_run_still_going_is_not_started_twice(qtbot) -> None:
    clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("work", 5)])
    scheduler.check_due()
    clock.now += 3600
    scheduler.check_due()
    assert manager.started == ["work"]


def test_pausing_all_syncing_stops_the_schedule_and_resuming_catches_up(qtbot) -> None:
    clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("work", 5)])
    with qtbot.waitSignal(scheduler.paused_changed) as signal:
        scheduler.set_paused(True)
    assert signal.args == [True]
    scheduler.check_due()
    assert manager.started == []
    clock.now += 3600
    scheduler.set_paused(False)
    assert manager.started == ["work"]


def test_sync_now_and_sync_all_run_on_the_persons_word(qtbot) -> None:
    _clock, manager, scheduler = make(qtbot)
    scheduler.set_connections(
        [Scheduled("work", 5), Scheduled("home", 5), Scheduled("old", 5, paused=True)]
    )
    scheduler.set_paused(True)
    assert scheduler.run_now("old")
    manager.finish("old")
    assert sorted(scheduler.run_all_now()) == ["home", "work"]


def test_a_changed_interval_counts_from_the_last_run(qtbot) -> None:
    clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("work", 5)])
    scheduler.check_due()
    manager.finish("work")
    finished_at = clock.now
    scheduler.set_connections([Scheduled("work", 60)])
    assert scheduler.due("work") == finished_at + 3600


def test_after_sleep_the_heartbeat_catches_up(qtbot) -> None:
    clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("work", 5)])
    scheduler.check_due()
    manager.finish("work")
    clock.now += 8 * 3600  # the laptop slept; its timers did not count that time
    scheduler._heartbeat.timeout.emit()
    assert manager.started == ["work", "work"]


def test_a_removed_connection_is_forgotten(qtbot) -> None:
    clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("work", 5), Scheduled("home", 5)])
    scheduler.set_connections([Scheduled("home", 5)])
    clock.now += 1
    scheduler.check_due()
    assert manager.started == ["home"]
    assert scheduler.names == ["home"]


def test_the_timer_is_armed_for_the_earliest_due_time_within_qts_limit(qtbot) -> None:
    _clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("work", 5), Scheduled("year", 60 * 24 * 365)])
    assert not scheduler._timer.isActive()  # nothing runs before the program starts it
    scheduler.start()
    manager.finish("work")
    manager.finish("year")
    assert scheduler._timer.isActive()
    assert scheduler._timer.interval() == 300_000  # the fake clock stands still
    scheduler.set_connections([Scheduled("year", 60 * 24 * 365 * 100)])
    manager.finish("year")
    assert scheduler._timer.interval() == MAX_TIMER_MS


def test_the_timer_starts_a_real_sync(qtbot, demo_profile: DemoProfile) -> None:
    profile = demo_profile.profile
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
    scheduler = SyncScheduler(manager)
    try:
        with qtbot.waitSignal(manager.run_finished, timeout=30_000) as signal:
            scheduler.set_connections([Scheduled(demo_profile.connection, 5)])
            scheduler.start()
        assert signal.args[0].outcome is Outcome.COMPLETED
        assert "PieSync Trash" in (demo_profile.folder_a / "work-4.vcf").read_text()
    finally:
        scheduler.stop()
        manager.shutdown()


def test_share_destinations_are_due_by_their_last_run_and_own_connections_at_start_up(
    qtbot, demo_profile: DemoProfile
) -> None:
    from helpers.share_profile import build_share_profile

    from piesync_desktop.engine.locks import AccountLocks
    from piesync_desktop.engine.share import run_destinations
    from piesync_desktop.engine.store import Store
    from piesync_desktop.ui.scheduler import scheduled_connections

    shared = build_share_profile(demo_profile.profile)
    ran, never = shared.destinations
    with Store(shared.store_path) as store:
        run_destinations(
            store, [store.connection(ran)], AccountLocks(paths.locks_dir(shared.profile))
        )
        last = store.last_run_times()[store.connection(ran).id or 0]
        scheduled = {s.name: s for s in scheduled_connections(store)}
    assert set(scheduled) == {demo_profile.connection, ran, never}
    assert scheduled[ran].interval_minutes == 24 * 60
    assert scheduled[ran].due_at == last + 24 * 3600
    assert scheduled[never].due_at == 0.0
    assert scheduled[demo_profile.connection].due_at == 0.0  # it ran too, but syncs at start

    clock, manager, scheduler = make(qtbot)
    clock.now = last + 3600  # the program starts an hour after the daily run
    scheduler.set_connections(scheduled.values())
    scheduler.check_due()
    assert sorted(manager.started) == sorted([demo_profile.connection, never])
    assert scheduler.due(ran) == last + 24 * 3600
    manager.finish(never)
    manager.finish(demo_profile.connection)
    clock.now = last + 24 * 3600 - 1
    scheduler.check_due()
    assert ran not in manager.started
    clock.now = last + 24 * 3600
    scheduler.check_due()
    assert ran in manager.started


def test_a_connection_seen_again_keeps_its_due_time(qtbot) -> None:
    clock, manager, scheduler = make(qtbot)
    scheduler.set_connections([Scheduled("job → a", 1440, due_at=clock.now + 600)])
    scheduler.check_due()
    assert manager.started == []
    scheduler.set_connections([Scheduled("job → a", 1440, due_at=0.0)])  # a later reading
    assert scheduler.due("job → a") == clock.now + 600
