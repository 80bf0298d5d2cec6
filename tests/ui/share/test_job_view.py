"""The Share jobs section of the main window and a job's page, over a real store: a demo
connection of the person's own and a share job from one vCard folder to two others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.share_profile import GROUP, JOB, ShareProfile, build_share_profile, cards, shoot
from helpers.share_window import (
    fake_destination_dialog,
    main_window,
    open_job_page,
    wait_for_runs,
)

from piesync_desktop.demo import DemoProfile
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.main_window import CONNECTIONS_TAB, JOBS_TAB, MainWindow
from piesync_desktop.ui.share.jobs_model import DestinationColumn, EventColumn, JobColumn


@pytest.fixture
def shared(demo_profile: DemoProfile) -> ShareProfile:
    return build_share_profile(demo_profile.profile)


@pytest.fixture
def window(qtbot, shared: ShareProfile, monkeypatch) -> Iterator[MainWindow]:
    with main_window(qtbot, shared.profile, monkeypatch) as shown:
        yield shown


def copies(folder: Path) -> list[str]:
    """The job's copies in a destination folder (the cards that carry a gSync tag)."""
    return sorted(name for name, text in cards(folder).items() if "gSync" in text)


def test_the_job_is_listed_under_share_jobs_and_not_as_connections(
    qtbot, window: MainWindow, shared: ShareProfile, demo_profile: DemoProfile, tmp_path: Path
) -> None:
    assert window.model.names == [demo_profile.connection]
    assert window.jobs_model.names == [JOB]
    assert window.sections.tabText(CONNECTIONS_TAB) == "Connections (1)"
    assert window.sections.tabText(JOBS_TAB) == "Share jobs (1)"
    assert window.jobs_model.index(0, JobColumn.DESTINATIONS).data() == "2"
    assert (
        window.jobs_model.index(0, JobColumn.SHARES).data()
        == f"'{GROUP}' of vCard folder · team-source"
    )
    # The scheduler runs the destinations too, though no list of connections shows them.
    assert sorted(window.scheduler.names) == sorted([demo_profile.connection, *shared.destinations])
    window.sections.setCurrentIndex(JOBS_TAB)
    assert window.new_share_action.isVisible()
    assert window.open_job_action.isVisible() and window.open_job_action.isEnabled()
    assert not window.sync_action.isVisible() and not window.remove_action.isVisible()
    wait_for_runs(qtbot, window.manager, shared.destinations, window.run_job_action.trigger)
    qtbot.waitUntil(lambda: window.jobs_model.index(0, JobColumn.STATE).data() == "All in sync")
    shoot(window, "share_jobs.png", tmp_path)
    window.sections.setCurrentIndex(CONNECTIONS_TAB)
    assert window.sync_action.isVisible() and not window.open_job_action.isVisible()


def test_the_job_page_lists_both_destinations_and_run_now_syncs_them(
    qtbot, window: MainWindow, shared: ShareProfile, tmp_path: Path
) -> None:
    view = open_job_page(qtbot, window, JOB)
    qtbot.addWidget(view)
    model = view.destinations_model
    assert model.names == list(shared.destinations)
    assert [model.index(r, DestinationColumn.DESTINATION).data() for r in range(2)] == [
        "vCard folder · ann-phone",
        "vCard folder · bob-laptop",
    ]
    assert model.index(0, DestinationColumn.STATUS).data() == "Not synced yet"
    tag = view.page.row.reference_tag
    assert f"carries the tag '{tag}'" in view.tag_note.text().replace("&#x27;", "'")
    assert view.tag_note.isVisible()
    assert view.interval.value() == 24

    wait_for_runs(qtbot, window.manager, shared.destinations, view.run_button.click)
    assert len(copies(shared.first)) == 2 and len(copies(shared.second)) == 2
    assert "olga.vcf" in cards(shared.first)  # the destination's own contact stays
    qtbot.waitUntil(lambda: [d.copies for d in model.rows] == [2, 2])  # each run's refresh
    assert model.index(1, DestinationColumn.COPIES).data() == "2"
    assert model.index(0, DestinationColumn.STATUS).data() == "Active and listening for changes"
    assert model.index(0, DestinationColumn.NEXT_RUN).data().startswith("Tomorrow")
    shoot(view, "share_page.png", tmp_path)


def test_add_picks_a_destination_adds_it_and_syncs_it_at_once(
    qtbot, window: MainWindow, shared: ShareProfile, monkeypatch
) -> None:
    tablet = shared.profile.parent / "cy-tablet"
    tablet.mkdir()
    dialog = fake_destination_dialog(monkeypatch, shared.spec(tablet))
    view = open_job_page(qtbot, window, JOB)
    qtbot.addWidget(view)
    finished = []
    window.manager.run_finished.connect(finished.append)
    view.add_button.click()
    qtbot.waitUntil(lambda: len(view.destinations_model.names) == 3, timeout=30_000)
    [(title, exclude)] = dialog.made
    assert title == "Add a destination"
    assert set(exclude) == {
        shared.spec(shared.source),
        shared.spec(shared.first),
        shared.spec(shared.second),
    }
    added = view.destinations_model.names[2]
    qtbot.waitUntil(lambda: added in [r.connection for r in finished], timeout=30_000)
    assert len(copies(tablet)) == 2
    assert view.selected() is not None and view.selected().name == added
    qtbot.waitUntil(lambda: view.events_model.rowCount() == 3)
    assert view.events_model.index(0, EventColumn.WHAT).data() == "Destination added"
    assert view.events_model.index(0, EventColumn.DESTINATION).data() == "vCard folder 'cy-tablet'"
    qtbot.waitUntil(lambda: added in window.scheduler.names)
    assert window.jobs_model.index(0, JobColumn.DESTINATIONS).data() == "3"


def test_adding_the_source_says_why_it_cannot_be(
    qtbot, window: MainWindow, shared: ShareProfile, monkeypatch
) -> None:
    fake_destination_dialog(monkeypatch, shared.spec(shared.source))
    view = open_job_page(qtbot, window, JOB)
    qtbot.addWidget(view)
    view.add_button.click()
    qtbot.waitUntil(lambda: view.notice.kind == "problem", timeout=30_000)
    assert "is the job's source" in view.notice.text()
    assert len(view.destinations_model.names) == 2
    assert view.add_button.isEnabled()


def test_health_of_a_destination_names_the_job_and_the_reference_tag(
    qtbot, window: MainWindow, shared: ShareProfile, tmp_path: Path
) -> None:
    view = open_job_page(qtbot, window, JOB)
    qtbot.addWidget(view)
    view.select(shared.destinations[1])
    view.health_button.click()
    health = window.health_views[shared.destinations[1]]
    qtbot.addWidget(health)
    qtbot.waitUntil(lambda: health.overview is not None)
    assert health.share_banner.isVisible()
    text = health.share_label.text()
    assert f"share job '{JOB}'" in text
    # In the destination's own word for a tag (a vCard folder's: category).
    assert f"Every contact share job '{JOB}' puts in a destination carries the category 'gSync" in (
        text
    )
    assert "Leave it on them" in text
    shoot(health, "share_health.png", tmp_path)


def test_health_of_an_own_connection_has_no_share_note(
    qtbot, window: MainWindow, demo_profile: DemoProfile
) -> None:
    window.health_action.trigger()
    health = window.health_views[demo_profile.connection]
    qtbot.addWidget(health)
    qtbot.waitUntil(lambda: health.overview is not None)
    assert not health.share_banner.isVisible()


def test_the_schedule_is_saved_for_the_job_and_its_destinations(
    qtbot, window: MainWindow, shared: ShareProfile
) -> None:
    view = open_job_page(qtbot, window, JOB)
    qtbot.addWidget(view)
    view.interval.setValue(12)
    assert view.interval.suffix() == " hours"

    def saved() -> bool:
        with Store(shared.store_path) as store:
            job = store.share_job(JOB)
            destinations = store.job_destinations(job.id or 0)
        return job.interval_minutes == 720 and all(d.interval_minutes == 720 for d in destinations)

    qtbot.waitUntil(saved, timeout=5000)
    qtbot.waitUntil(lambda: "every 12 hours" in view.notice.text())
    view.interval.setValue(1)
    assert view.interval.suffix() == " hour"


def test_a_job_page_opens_once_per_job(qtbot, window: MainWindow) -> None:
    view = open_job_page(qtbot, window, JOB)
    qtbot.addWidget(view)
    assert window.open_job() is view
    assert list(window.job_views) == [JOB]
    view.close()
    qtbot.waitUntil(lambda: window.job_views == {})
