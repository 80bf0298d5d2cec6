"""The share jobs' lists over a real store: the jobs, a job's destinations and its timeline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers.share_profile import GROUP, JOB, ShareProfile, build_share_profile

from piesync_desktop import paths
from piesync_desktop.engine import share
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import ShareEvent, Store
from piesync_desktop.ui.connections_model import load_rows
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.share.jobs_model import (
    DestinationColumn,
    DestinationsModel,
    EventColumn,
    EventsModel,
    JobColumn,
    JobsModel,
    job_state,
    load_job_page,
    load_jobs,
    when_next,
)
from piesync_desktop.ui.sync_manager import RunState, SyncManager


@pytest.fixture
def shared(profile: Path) -> ShareProfile:
    return build_share_profile(profile)


@pytest.fixture
def manager(qtbot, shared: ShareProfile) -> SyncManager:
    return SyncManager(shared.store_path, paths.locks_dir(shared.profile))


def run_all(shared: ShareProfile) -> None:
    with Store(shared.store_path) as store:
        job = store.share_job(shared.job)
        share.run_destinations(
            store,
            store.job_destinations(job.id or 0),
            AccountLocks(paths.locks_dir(shared.profile)),
        )


def test_the_destinations_are_not_own_connections(shared: ShareProfile) -> None:
    with Store(shared.store_path) as store:
        assert load_rows(store) == []
        [row] = load_jobs(store)
    assert row.name == JOB
    assert row.names == list(shared.destinations)
    assert row.shares == f"'{GROUP}' of vCard folder · team-source"
    assert row.reference_tag.startswith("gSync")
    assert [d.label.short_location for d in row.destinations] == ["ann-phone", "bob-laptop"]
    assert all(d.connection.share is not None for d in row.destinations)


def test_the_jobs_list_says_not_synced_yet_then_all_in_sync(qtbot, shared, manager) -> None:
    model = JobsModel(manager, SyncScheduler(manager))
    with Store(shared.store_path) as store:
        model.set_rows(load_jobs(store))
    assert model.index(0, JobColumn.NAME).data() == JOB
    assert model.index(0, JobColumn.DESTINATIONS).data() == "2"
    assert model.index(0, JobColumn.LAST_RUN).data() == "Never"
    assert model.index(0, JobColumn.STATE).data() == "Not synced yet"
    run_all(shared)
    with Store(shared.store_path) as store:
        rows = load_jobs(store)
    model.set_rows(rows)
    assert model.index(0, JobColumn.STATE).data() == "All in sync"
    assert model.index(0, JobColumn.LAST_RUN).data().startswith("Today")
    assert [d.copies for d in rows[0].destinations] == [2, 2]


def test_a_destination_that_failed_makes_the_job_failing(qtbot, shared, manager) -> None:
    run_all(shared)
    shared.second.rename(shared.second.with_name("gone"))
    run_all(shared)
    with Store(shared.store_path) as store:
        [row] = load_jobs(store)
    state = job_state(manager, row)
    assert state.state is RunState.FAILED
    assert state.text == "1 destination failing"
    assert "bob-laptop" in state.detail


def test_paused_destinations_make_a_paused_job(qtbot, shared, manager) -> None:
    with Store(shared.store_path) as store:
        for name in shared.destinations:
            store.set_paused(name, True)
        [row] = load_jobs(store)
    assert job_state(manager, row).text == "Paused"


def test_the_destinations_model_shows_copies_and_live_status(qtbot, shared, manager) -> None:
    run_all(shared)
    model = DestinationsModel(manager, SyncScheduler(manager))
    with Store(shared.store_path) as store:
        page = load_job_page(store, shared.job)
    model.set_rows(page.row.destinations)
    assert model.index(0, DestinationColumn.DESTINATION).data() == "vCard folder · ann-phone"
    assert model.index(0, DestinationColumn.COPIES).data() == "2"
    assert model.index(0, DestinationColumn.FAILING).data() == "0"
    assert model.index(0, DestinationColumn.STATUS).data() == "Active and listening for changes"


def test_the_timeline_reads_newest_first(qtbot, shared) -> None:
    with Store(shared.store_path) as store:
        job = store.share_job(shared.job)
        store.add_share_events(
            job.id or 0,
            [ShareEvent("vCard folder 'ann-phone'", share.DELETED, "as confirmed", "x", "Ann Lee")],
        )
        page = load_job_page(store, shared.job)
    model = EventsModel()
    model.set_events(page.events)
    assert model.rowCount() == 3
    assert model.index(0, EventColumn.WHAT).data() == "Copy deleted"
    assert model.index(0, EventColumn.CONTACT).data() == "Ann Lee"
    assert model.index(2, EventColumn.WHAT).data() == "Destination added"
    assert model.index(2, EventColumn.DESTINATION).data() == "vCard folder 'ann-phone'"


def test_when_next_reads_as_a_person_would() -> None:
    now = time.mktime((2030, 5, 6, 9, 0, 0, 0, 0, -1))
    assert when_next(None, now) == "—"
    assert when_next(now + 10, now) == "Now"
    assert when_next(now + 3600, now) == "Today 10:00"
    assert when_next(now + 86400, now) == "Tomorrow 09:00"
    assert when_next(now + 3 * 86400, now) == "2030-05-09 09:00"
