"""The main window over a real store: rows, states, actions, and closing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from piesync_desktop import paths
from piesync_desktop.demo import DemoProfile
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.connections_model import Column
from piesync_desktop.ui.main_window import MainWindow
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.sync_manager import RunState, SyncManager
from piesync_desktop.ui.tasks import StoreTasks


class Questions:
    """Answers QMessageBox.question in place of the person, keeping what was asked."""

    def __init__(self, answer: QMessageBox.StandardButton) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str]] = []

    def __call__(self, _parent, title, text, *_rest):
        self.asked.append((title, text))
        return self.answer


@pytest.fixture
def window(qtbot, demo_profile: DemoProfile, monkeypatch) -> Iterator[MainWindow]:
    profile = demo_profile.profile
    tasks = StoreTasks(paths.store_path(profile))
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
    scheduler = SyncScheduler(manager)
    shown = MainWindow(tasks, manager, scheduler)
    shown.show()
    qtbot.waitUntil(lambda: shown.model.rowCount() == 1)
    yield shown
    monkeypatch.setattr(QMessageBox, "question", Questions(QMessageBox.StandardButton.Yes))
    shown.close()
    shown.deleteLater()
    scheduler.stop()
    manager.shutdown()
    tasks.shutdown()


def cell(window: MainWindow, column: Column) -> str:
    return window.model.index(0, column).data()


def sync_now(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.manager.run_finished, timeout=30_000):
        window.sync_action.trigger()
    qtbot.waitUntil(lambda: window.tasks.pending == 0)


def test_the_title_and_the_connection_row(qtbot, window: MainWindow, demo_profile) -> None:
    assert "PieSync" in window.windowTitle()
    assert cell(window, Column.NAME) == demo_profile.connection
    apps = cell(window, Column.APPS)
    assert "vCard folder" in apps and "demo-work" in apps and "demo-phone" in apps and "⇄" in apps
    with Store(paths.store_path(demo_profile.profile)) as store:
        from piesync_desktop.engine import health

        counts = health.counts(store, store.connection(demo_profile.connection).id or 0)
    assert cell(window, Column.IN_SYNC) == f"{counts['in_sync']:,}"
    assert cell(window, Column.EXCLUDED) == str(counts["excluded"])
    assert cell(window, Column.DUPLICATES) == str(counts["duplicates"])
    assert cell(window, Column.LAST_SYNC).startswith(("Today", "20"))
    assert cell(window, Column.STATUS) == "Active and listening for changes"
    assert window.stack.currentIndex() == 1


def test_sync_now_runs_and_the_row_follows(qtbot, window: MainWindow, demo_profile) -> None:
    texts: list[str] = []
    window.manager.status_changed.connect(lambda _n: texts.append(cell(window, Column.STATUS)))
    sync_now(qtbot, window)
    assert any(text.startswith("Scanning") for text in texts)
    assert "PieSync Trash" in (demo_profile.folder_a / "work-4.vcf").read_text()
    assert cell(window, Column.STATUS) == "Active and listening for changes"


def test_a_failure_shows_in_the_row_with_what_to_do(qtbot, window, demo_profile) -> None:
    demo_profile.folder_b.rename(demo_profile.folder_b.with_name("elsewhere"))
    sync_now(qtbot, window)
    assert "demo-phone" in cell(window, Column.STATUS)
    assert window.model.state(window.model.connection(0))[0] is RunState.FAILED


def test_the_safety_brake_offers_confirm_and_sync(qtbot, window, demo_profile, monkeypatch):
    for card in demo_profile.folder_b.glob("*.vcf"):
        card.rename(card.with_suffix(".moved"))
    sync_now(qtbot, window)
    assert window.confirm_action.isVisible()
    questions = Questions(QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "question", questions)
    with qtbot.waitSignal(window.manager.run_finished, timeout=30_000) as signal:
        window.confirm_action.trigger()
    assert signal.args[0].outcome.value == "completed"
    assert "anyway" in questions.asked[0][1]


def test_pause_and_resume_are_saved(qtbot, window: MainWindow, demo_profile) -> None:
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: cell(window, Column.STATUS) == "Paused")
    with Store(paths.store_path(demo_profile.profile)) as store:
        assert store.connection(demo_profile.connection).paused
    assert window.pause_action.text() == "Resume"
    assert window.scheduler.due(demo_profile.connection) is None
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: cell(window, Column.STATUS) != "Paused")
    with Store(paths.store_path(demo_profile.profile)) as store:
        assert not store.connection(demo_profile.connection).paused


def test_remove_says_no_contact_is_deleted_and_keeps_the_files(
    qtbot, window: MainWindow, demo_profile, monkeypatch
) -> None:
    files = sorted(p.name for p in demo_profile.folder_a.iterdir()) + sorted(
        p.name for p in demo_profile.folder_b.iterdir()
    )
    questions = Questions(QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "question", questions)
    window.remove_action.trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 0)
    assert "No contact is deleted" in questions.asked[0][1]
    assert window.stack.currentIndex() == 0  # the empty state with "New connection"
    with Store(paths.store_path(demo_profile.profile)) as store:
        assert store.connection_names() == []
    after = sorted(p.name for p in demo_profile.folder_a.iterdir()) + sorted(
        p.name for p in demo_profile.folder_b.iterdir()
    )
    assert after == files


def test_remove_cancelled_changes_nothing(qtbot, window: MainWindow, monkeypatch) -> None:
    monkeypatch.setattr(QMessageBox, "question", Questions(QMessageBox.StandardButton.Cancel))
    window.remove_action.trigger()
    qtbot.wait(100)
    qtbot.waitUntil(lambda: window.tasks.pending == 0)
    assert window.model.rowCount() == 1


def test_health_and_trash_review_open_for_the_connection(qtbot, window, demo_profile) -> None:
    window.health_action.trigger()
    view = window.health_views[demo_profile.connection]
    qtbot.addWidget(view)
    assert view.isVisible()
    window.health_action.trigger()
    assert list(window.health_views) == [demo_profile.connection]  # one view per connection
    window.trash_action.trigger()
    assert window.trash_review is not None and window.trash_review.isVisible()
    qtbot.addWidget(window.trash_review)


def test_edit_opens_the_wizard_on_the_connection(qtbot, window, demo_profile) -> None:
    window.edit_action.trigger()
    from piesync_desktop.ui.wizard import ConnectionWizard

    wizards = window.findChildren(ConnectionWizard)
    assert len(wizards) == 1 and wizards[0].isVisible()
    wizards[0].reject()


def test_without_a_tray_closing_asks_whether_to_quit(qtbot, window, monkeypatch) -> None:
    window.keep_running_in_tray = False
    questions = Questions(QMessageBox.StandardButton.Cancel)
    monkeypatch.setattr(QMessageBox, "question", questions)
    window.close()
    assert window.isVisible()
    assert questions.asked[0][0] == "Quit PieSync Desktop?"
    questions.answer = QMessageBox.StandardButton.Yes
    with qtbot.waitSignal(window.close_requested):
        window.close()
    assert not window.isVisible()


def test_with_a_tray_closing_keeps_it_running(qtbot, window, monkeypatch) -> None:
    window.keep_running_in_tray = True
    questions = Questions(QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "question", questions)
    window.close()
    assert not window.isVisible()
    assert questions.asked == []


def test_the_empty_profile_invites_a_first_connection(qtbot, profile: Path) -> None:
    tasks = StoreTasks(paths.store_path(profile))
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
    window = MainWindow(tasks, manager, SyncScheduler(manager))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: tasks.pending == 0)
    assert window.stack.currentIndex() == 0
    assert not window.sync_action.isEnabled()
    window.grab().save(str(profile / "empty.png"))
    tasks.shutdown()


def test_a_connection_made_in_the_wizard_starts_its_first_sync(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    from helpers.wizard_driver import WizardDriver

    from piesync_desktop.engine.connectors.vcard_codec import new_card
    from piesync_desktop.engine.model import Item
    from piesync_desktop.ui.wizard import ConnectionWizard

    office, laptop = tmp_path / "office", tmp_path / "laptop"
    office.mkdir()
    laptop.mkdir()
    fields = {"given_name": "Ann", "family_name": "Lee", "emails": (Item("work", "ann@lee.org"),)}
    (office / "ann.vcf").write_text(new_card("ann", fields, frozenset()), newline="")
    window.new_action.trigger()
    [wizard] = window.findChildren(ConnectionWizard)
    driver = WizardDriver(qtbot, wizard)
    driver.through_apps(office, laptop)
    while wizard.currentId() < len(wizard.pageIds()) - 1:
        driver.wait_complete()
        driver.next()
    driver.wait_complete()
    with qtbot.waitSignal(window.manager.run_finished, timeout=30_000) as finished:
        name = driver.finish()
    assert finished.args[0].connection == name
    assert [p.name for p in laptop.glob("*.vcf")] != []
    assert "ann@lee.org" in next(laptop.glob("*.vcf")).read_text()
    qtbot.waitUntil(lambda: window.model.rowCount() == 2)


def test_a_share_job_made_in_its_wizard_runs_every_destination_at_once(
    qtbot, window: MainWindow, demo_profile, tmp_path: Path, monkeypatch
) -> None:
    import sys
    import types

    from helpers.share_profile import write_card
    from PySide6.QtCore import QObject, QTimer, Signal

    from piesync_desktop.engine import share
    from piesync_desktop.ui.main_window import JOBS_TAB

    source, first, second = tmp_path / "team", tmp_path / "ann", tmp_path / "bob"
    for folder in (source, first, second):
        folder.mkdir()
    write_card(source, "lee", "Lee", "Chan", {"Team"})
    store_path = paths.store_path(demo_profile.profile)

    class SavingWizard(QObject):
        """Stands in for the share job wizard: saves a job with two destinations, says so."""

        saved = Signal(str)
        finished = Signal(int)

        def __init__(self, tasks, parent=None) -> None:
            super().__init__(parent)

        def open(self) -> None:
            QTimer.singleShot(0, self._save)

        def _save(self) -> None:
            with Store(store_path) as store:
                job = share.create_job(store, "Team", f"vcard:{source}", "Team")
                for folder in (first, second):
                    share.add_destination(store, job, f"vcard:{folder}")
            self.saved.emit("Team")
            self.finished.emit(1)

    module = types.ModuleType("piesync_desktop.ui.share.job_wizard")
    module.ShareJobWizard = SavingWizard  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "piesync_desktop.ui.share.job_wizard", module)
    finished: list[str] = []
    window.manager.run_finished.connect(lambda result: finished.append(result.connection))
    window.new_share_action.trigger()
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=30_000)
    assert all("Team → " in name for name in finished)
    assert len(list(first.glob("*.vcf"))) == 1 and len(list(second.glob("*.vcf"))) == 1
    assert "gSync" in next(first.glob("*.vcf")).read_text()
    qtbot.waitUntil(lambda: window.jobs_model.names == ["Team"])
    assert window.sections.currentIndex() == JOBS_TAB
    assert window.selected_job() is not None and window.selected_job().name == "Team"
    assert window.model.names == [demo_profile.connection]  # destinations are not listed there
    assert set(finished) <= set(window.scheduler.names)
