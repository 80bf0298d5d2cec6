"""Removing a destination from the job page: read, confirm with the list of what goes, then
delete the job's copies there; Cancel changes nothing; what the app refuses is shown, and the
destination stays in the job, paused, for Remove to finish later."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.share_profile import GROUP, JOB, ShareProfile, build_share_profile, cards, shoot
from helpers.share_window import main_window, open_job_page, wait_for_runs

from piesync_desktop.engine.connectors.base import Connector, open_connector
from piesync_desktop.engine.model import WriteResult
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.main_window import MainWindow
from piesync_desktop.ui.share.job_view import JobView
from piesync_desktop.ui.share.jobs_model import EventColumn
from piesync_desktop.ui.sync_manager import RunState


class Refusing:
    """Opens connectors; while ``refuse`` is set, the first destination's refuses to delete."""

    def __init__(self, shared: ShareProfile) -> None:
        self.spec = shared.spec(shared.first)
        self.refuse = False

    def __call__(self, spec: str) -> Connector:
        connector = open_connector(spec)
        if spec == self.spec and self.refuse:
            connector.delete = lambda ids: [  # type: ignore[method-assign]
                WriteResult(rid, error="the folder is read-only") for rid in ids
            ]
        return connector


@pytest.fixture
def shared(profile: Path) -> ShareProfile:
    return build_share_profile(profile)


@pytest.fixture
def factory(shared: ShareProfile) -> Refusing:
    return Refusing(shared)


@pytest.fixture
def window(qtbot, shared: ShareProfile, factory: Refusing, monkeypatch) -> Iterator[MainWindow]:
    with main_window(qtbot, shared.profile, monkeypatch, factory) as shown:
        yield shown


@pytest.fixture
def page(qtbot, window: MainWindow, shared: ShareProfile) -> JobView:
    """The job page once both destinations ran, the first one chosen."""
    view = open_job_page(qtbot, window, JOB)
    qtbot.addWidget(view)
    wait_for_runs(qtbot, window.manager, shared.destinations, view.run_button.click)
    qtbot.waitUntil(lambda: [d.copies for d in view.destinations_model.rows] == [2, 2])
    view.select(shared.destinations[0])
    return view


def confirm_shown(qtbot, view: JobView):
    view.remove_button.click()
    qtbot.waitUntil(lambda: view.confirmation is not None, timeout=30_000)
    dialog = view.confirmation
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def test_remove_lists_what_goes_then_deletes_the_copies_and_keeps_the_owners_contact(
    qtbot, window: MainWindow, page: JobView, shared: ShareProfile, tmp_path: Path
) -> None:
    removed = shared.destinations[0]
    health = window.open_health_of(removed)
    qtbot.addWidget(health)
    dialog = confirm_shown(qtbot, page)
    assert dialog.copy_names == ["Ann Lee", "Bob Ray"]
    assert dialog.kept_names == ["Olga Own"]
    assert dialog.remove_button.text() == "Remove and delete 2 contacts"
    assert "leaves the group and stays in the account" in dialog.kept_label.text()
    assert dialog.cancel_button.isDefault()
    assert not page.remove_button.isEnabled()  # one removal at a time
    shoot(dialog, "share_confirmation.png", tmp_path)

    dialog.remove_button.click()
    qtbot.waitUntil(
        lambda: page.destinations_model.names == [shared.destinations[1]], timeout=30_000
    )
    assert cards(shared.first).keys() == {"olga.vcf"}  # the copies are gone
    olga = cards(shared.first)["olga.vcf"]
    assert GROUP not in olga and "gSync" not in olga  # out of the group, still there
    assert len(cards(shared.second)) == 2  # the other destination is untouched
    assert page.notice.kind == "done"
    assert "2 copies deleted" in page.notice.text() and "left 'Team' and stayed" in (
        page.notice.text()
    )
    events = page.events_model
    assert events.index(0, EventColumn.WHAT).data() == "Destination removed"
    deleted = {
        events.index(r, EventColumn.CONTACT).data()
        for r in range(events.rowCount())
        if events.index(r, EventColumn.WHAT).data() == "Copy deleted"
    }
    assert deleted == {"Ann Lee", "Bob Ray"}
    assert any(
        events.index(r, EventColumn.CONTACT).data() == "Olga Own"
        and events.index(r, EventColumn.WHAT).data() == "Left the group, kept"
        for r in range(events.rowCount())
    )
    with Store(shared.store_path) as store:
        assert removed not in store.connection_names()
    assert not window.manager.is_held(removed)
    assert removed not in window.health_views  # its Health closed with it
    qtbot.waitUntil(lambda: removed not in window.scheduler.names)
    shoot(page, "share_page_after_removal.png", tmp_path)


def test_cancel_changes_nothing(qtbot, page: JobView, shared: ShareProfile) -> None:
    before = cards(shared.first)
    with Store(shared.store_path) as store:
        events = len(store.share_events(store.share_job(JOB).id or 0))
    dialog = confirm_shown(qtbot, page)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: page.removal is None)
    assert cards(shared.first) == before
    assert page.destinations_model.names == list(shared.destinations)
    assert page.remove_button.isEnabled()
    with Store(shared.store_path) as store:
        assert not store.connection(shared.destinations[0]).paused
        assert len(store.share_events(store.share_job(JOB).id or 0)) == events


def test_what_the_app_refuses_is_shown_and_remove_can_finish_later(
    qtbot, window: MainWindow, page: JobView, shared: ShareProfile, factory: Refusing
) -> None:
    name = shared.destinations[0]
    factory.refuse = True
    confirm_shown(qtbot, page).remove_button.click()
    qtbot.waitUntil(lambda: page.notice.kind == "problem", timeout=30_000)
    text = page.notice.text()
    assert "did not finish" in text and "the folder is read-only" in text
    assert "stays in the job, paused" in text and "Remove… tries again" in text
    qtbot.waitUntil(lambda: page.destinations_model.rows[0].connection.paused)
    assert page.destinations_model.names == list(shared.destinations)
    assert page.destinations_model.state(page.destinations_model.rows[0])[0] is RunState.PAUSED
    assert page.events_model.index(0, EventColumn.WHAT).data() == "Removal not finished"
    assert len(cards(shared.first)) == 3  # the copies are still there
    assert not window.manager.is_held(name)
    # A paused destination is left out of Run now.
    assert page.run_now() == [shared.destinations[1]]
    qtbot.waitUntil(lambda: not window.manager.is_running(shared.destinations[1]), timeout=30_000)

    factory.refuse = False
    page.select(name)
    dialog = confirm_shown(qtbot, page)
    assert dialog.copy_names == ["Ann Lee", "Bob Ray"]
    assert dialog.kept_names == []  # Olga left the group the first time
    dialog.remove_button.click()
    qtbot.waitUntil(
        lambda: page.destinations_model.names == [shared.destinations[1]], timeout=30_000
    )
    assert cards(shared.first).keys() == {"olga.vcf"}


def test_a_destination_that_cannot_be_read_is_not_removed(
    qtbot, page: JobView, shared: ShareProfile
) -> None:
    shared.first.rename(shared.first.with_name("unplugged"))
    page.remove_button.click()
    qtbot.waitUntil(lambda: page.notice.kind == "problem", timeout=30_000)
    assert page.confirmation is None and page.removal is None
    assert "ann-phone" in page.notice.text()
    assert page.destinations_model.names == list(shared.destinations)
    with Store(shared.store_path) as store:
        assert not store.connection(shared.destinations[0]).paused
