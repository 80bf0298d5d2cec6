"""The share job wizard on real vCard folders: source, group, destinations, name, Finish; then
the engine runs the job it saved, to prove the wizard saved a working job."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from helpers.wizard_driver import WizardDriver
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from piesync_desktop.engine import share
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.connectors.vcard_codec import new_card
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.model import Item
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.share import ShareJobWizard
from piesync_desktop.ui.share.destination_dialog import DestinationDialog
from piesync_desktop.ui.share.job_wizard import PageId
from piesync_desktop.ui.tasks import StoreTasks

SHOTS = Path("/tmp/shots")


def said(notice) -> str:
    """A notice line's words as the person reads them (its title, then its sentence)."""
    return html.unescape(notice.message()).replace("<b>", "").replace("</b><br>", ": ")


def write_card(
    folder: Path, uid: str, given: str, family: str, email: str = "", tags: Iterable[str] = ()
) -> Path:
    fields: dict = {"given_name": given, "family_name": family}
    if email:
        fields["emails"] = (Item("work", email),)
    path = folder / f"{uid}.vcf"
    path.write_text(new_card(uid, fields, frozenset(tags)), encoding="utf-8", newline="")
    return path


@pytest.fixture
def books(tmp_path: Path) -> dict[str, Path]:
    """'team' (the source: two in Team, one of them also in Friends, one in none), 'alice'
    (empty) and 'bob' (his own Zed, whom he put in Team himself)."""
    folders = {name: tmp_path / name for name in ("team", "alice", "bob")}
    for folder in folders.values():
        folder.mkdir()
    write_card(folders["team"], "ann", "Ann", "Lee", "ann@example.org", ["Team"])
    write_card(folders["team"], "ben", "Ben", "Ray", "ben@example.org", ["Team", "Friends"])
    write_card(folders["team"], "cy", "Cy", "Doe", "cy@example.org")
    write_card(folders["bob"], "zed", "Zed", "Ox", "zed@example.org", ["Team"])
    return folders


@pytest.fixture
def store_path(profile: Path) -> Path:
    path = profile / "piesync.sqlite3"
    Store(path).close()
    return path


class ShareDriver(WizardDriver):
    """The connection wizard's driver, with the share job wizard's own pages."""

    wizard: ShareJobWizard

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.wizard.grab().save(str(SHOTS / f"share_{name}.png"))

    def wait_groups(self) -> list[str]:
        page = self.wizard.group_page
        self.qtbot.waitUntil(lambda: self.wizard.draft.groups is not None, timeout=10_000)
        return [page.model.index(row, 0).data() for row in range(page.model.rowCount())]

    def choose_group(self, text: str) -> None:
        view = self.wizard.group_page.groups_view
        model = view.model()
        [index] = [
            model.index(row, 0)
            for row in range(model.rowCount())
            if model.index(row, 0).data() == text
        ]
        self.qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
        )

    def open_destination(self) -> DestinationDialog:
        page = self.wizard.destinations_page
        self.click(page.add_button)
        dialog = page.dialog
        assert dialog is not None
        self.qtbot.waitUntil(lambda: dialog.isVisible() and dialog._loaded, timeout=10_000)
        return dialog

    def add_destination(self, folder: Path, shot: str = "") -> None:
        dialog = self.open_destination()
        driver = WizardDriver(self.qtbot, dialog)
        driver.choose_app()
        driver.type_folder(folder)
        if shot:
            SHOTS.mkdir(exist_ok=True)
            dialog.grab().save(str(SHOTS / f"share_{shot}.png"))
        self.click(dialog.button(QWizard.WizardButton.FinishButton))
        self.qtbot.waitUntil(lambda: self.wizard.destinations_page.dialog is None, timeout=5_000)

    def to_destinations(self, source: Path, group: str = "Team (2 contacts)") -> None:
        self.wait_loaded()
        self.choose_app()
        self.type_folder(source)
        self.next()
        self.wait_groups()
        self.choose_group(group)
        self.next()

    def finish_button(self):
        return self.wizard.button(QWizard.WizardButton.FinishButton)


@pytest.fixture
def open_share_wizard(qtbot, store_tasks: StoreTasks, store_path: Path) -> Iterator[Callable]:
    opened: list[ShareJobWizard] = []

    def opening() -> ShareDriver:
        wizard = ShareJobWizard(store_tasks)
        qtbot.addWidget(wizard)
        with qtbot.waitExposed(wizard):
            wizard.show()
        opened.append(wizard)
        driver = ShareDriver(qtbot, wizard)
        driver.wait_loaded()
        return driver

    yield opening
    for wizard in opened:
        wizard.close()


def categories(folder: Path) -> dict[str, frozenset[str]]:
    """Each card's name and tags, as the vCard connector reads them."""
    connector = open_connector(f"vcard:{folder}")
    connector.open()
    return {
        str(record.fields.get("given_name")): frozenset(record.tags)
        for record in connector.changes(None).records
    }


def test_a_share_job_from_source_to_finish_then_a_real_run(
    qtbot, open_share_wizard, books, store_path, profile
):
    driver = open_share_wizard()
    wizard = driver.wizard
    assert wizard.currentId() == PageId.SOURCE
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    driver.choose_app()
    driver.type_folder(books["team"])
    driver.shot("1_source")
    driver.next()

    assert wizard.currentId() == PageId.GROUP
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # no group yet
    assert driver.wait_groups() == ["Friends (1 contact)", "Team (2 contacts)"]
    assert wizard.group_page.status.text() == (
        "2 categories among the 3 contacts of vCard folder 'team'."
    )
    driver.choose_group("Team (2 contacts)")
    assert wizard.group_page.group_edit.text() == "Team"
    assert (
        wizard.group_page.group_note.text()
        == "2 contacts of vCard folder 'team' are in 'Team' now."
    )
    driver.shot("2_group")
    driver.next()

    assert wizard.currentId() == PageId.DESTINATIONS
    page = wizard.destinations_page
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    driver.shot("3_destinations_empty")
    driver.add_destination(books["alice"], shot="5_destination_dialog")
    driver.add_destination(books["bob"])
    assert [page.model.index(r, 0).data(Qt.ItemDataRole.AccessibleTextRole) for r in (0, 1)] == [
        "vCard folder 'alice'",
        "vCard folder 'bob'",
    ]
    driver.shot("3_destinations")
    driver.next()

    assert wizard.currentId() == PageId.NAME
    names = wizard.name_page
    assert names.name_edit.text() == "Team for 2 accounts"
    assert names.daily.isChecked()
    summary = names.summary.text()
    assert "The contacts in the category 'Team' of vCard folder 'team' (2 contacts now)" in summary
    assert "vCard folder 'alice'; vCard folder 'bob'" in summary
    assert "carries the tag 'gSync1'. Leave that tag alone" in summary
    assert "Edits made to a copy in a destination are overwritten" in summary
    assert "own contacts are never touched" in summary
    assert "runs at once after Finish, then once a day" in summary
    driver.shot("4_name")
    assert driver.finish() == "Team for 2 accounts"
    assert not wizard.isVisible()

    with Store(store_path) as store:
        job = store.share_job("Team for 2 accounts")
        assert (job.source_spec, job.group, job.interval_minutes) == (
            f"vcard:{books['team']}",
            "Team",
            1440,
        )
        destinations = store.job_destinations(job.id or 0)
        assert [d.b_spec for d in destinations] == [
            f"vcard:{books['alice']}",
            f"vcard:{books['bob']}",
        ]
        outcomes = share.run_destinations(store, destinations, AccountLocks(profile / "locks"))
    assert all(outcome.error is None for outcome in outcomes)
    tag = f"gSync{job.id}"
    assert categories(books["alice"]) == {
        "Ann": frozenset({"Team", tag}),
        "Ben": frozenset({"Team", tag}),
    }
    bob = categories(books["bob"])
    assert bob["Ann"] == bob["Ben"] == frozenset({"Team", tag})
    assert bob["Zed"] == frozenset({"Team"})  # Bob's own contact is left alone


def test_a_group_typed_by_hand_and_an_hourly_schedule(qtbot, open_share_wizard, books, store_path):
    driver = open_share_wizard()
    wizard = driver.wizard
    driver.choose_app()
    driver.type_folder(books["team"])
    driver.next()
    driver.wait_groups()
    group = wizard.group_page
    qtbot.keyClicks(group.group_edit, "Neighbours")
    assert not group.groups_view.selectionModel().hasSelection()
    assert group.group_note.text() == (
        "No contact is in 'Neighbours' yet: the job copies the contacts you put in it."
    )
    qtbot.keyClicks(group.group_edit, "\b" * len("Neighbours") + "friends")
    assert group.groups_view.selectionModel().currentIndex().row() == 0  # Friends, any case
    driver.next()
    driver.add_destination(books["alice"])
    driver.next()

    names = wizard.name_page
    assert names.name_edit.text() == "friends for 1 account"
    driver.click(names.every)
    assert names.every_count.isEnabled()
    names.every_count.setValue(6)
    assert wizard.draft.interval_minutes == 360
    assert "then every 6 hours" in names.summary.text()
    names.every_unit.setCurrentIndex(1)  # minutes
    assert names.every_count.value() == 360
    names.every_count.setValue(90)
    assert wizard.draft.interval_minutes == 90
    driver.click(names.daily)
    assert not names.every_count.isEnabled()
    assert wizard.draft.interval_minutes == 1440
    driver.click(names.every)
    assert driver.finish() == "friends for 1 account"
    with Store(store_path) as store:
        job = store.share_job("friends for 1 account")
        assert (job.group, job.interval_minutes) == ("friends", 90)
        assert [d.interval_minutes for d in store.job_destinations(job.id or 0)] == [90]


def test_the_source_and_a_destination_already_chosen_are_refused(qtbot, open_share_wizard, books):
    driver = open_share_wizard()
    driver.to_destinations(books["team"])
    driver.add_destination(books["alice"])

    for folder in (books["team"], books["alice"]):
        dialog = driver.open_destination()
        dialog_driver = WizardDriver(qtbot, dialog)
        dialog_driver.choose_app()
        page = dialog.address_page
        qtbot.keyClicks(page.authorization().path_edit, str(folder))
        qtbot.waitUntil(lambda page=page: page.problem.isVisibleTo(page), timeout=10_000)
        name = folder.name
        assert said(page.problem) == (
            f"Already in this job: vCard folder '{name}' is already in this job (its "
            "source or one of its destinations): choose another address book."
        )
        assert not page.isComplete()
        assert not dialog.button(QWizard.WizardButton.FinishButton).isEnabled()
        if folder == books["team"]:
            SHOTS.mkdir(exist_ok=True)
            dialog.grab().save(str(SHOTS / "share_6_destination_refused.png"))
        driver.click(dialog.button(QWizard.WizardButton.CancelButton))
        qtbot.waitUntil(lambda: driver.wizard.destinations_page.dialog is None, timeout=5_000)
        assert dialog.spec == ""
    assert driver.wizard.destinations.rowCount() == 1


def test_no_destination_means_no_next(qtbot, open_share_wizard, books):
    driver = open_share_wizard()
    driver.to_destinations(books["team"])
    wizard = driver.wizard
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    page = wizard.destinations_page
    assert not next_button.isEnabled()
    assert page.empty.isVisibleTo(page)
    assert not page.remove_button.isEnabled()
    driver.add_destination(books["alice"])
    assert next_button.isEnabled()
    assert not page.empty.isVisibleTo(page)
    assert page.remove_button.isEnabled()  # the one added is selected
    driver.click(page.remove_button)
    assert wizard.destinations.rowCount() == 0
    assert not next_button.isEnabled()
    assert page.empty.isVisibleTo(page)


def test_a_source_chosen_again_after_its_destination_is_refused(qtbot, open_share_wizard, books):
    driver = open_share_wizard()
    driver.to_destinations(books["team"])
    driver.add_destination(books["alice"])
    wizard = driver.wizard
    driver.click(wizard.button(QWizard.WizardButton.BackButton))
    driver.click(wizard.button(QWizard.WizardButton.BackButton))
    driver.type_folder(books["alice"])  # alice is now the source
    driver.next()
    driver.wait_groups()
    qtbot.keyClicks(wizard.group_page.group_edit, "Team")
    driver.next()
    page = wizard.destinations_page
    assert "vCard folder 'alice' is now the job's source" in said(page.problem)
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    page.view.setCurrentIndex(wizard.destinations.index(0, 0))
    driver.click(page.remove_button)
    assert not page.problem.isVisibleTo(page)


def test_a_taken_name_is_refused_in_the_stores_words(qtbot, open_share_wizard, books, store_path):
    with Store(store_path) as store:
        share.create_job(store, "Team for 1 account", f"vcard:{books['bob']}", "Team")
        share.create_job(store, "Family", f"vcard:{books['bob']}", "Family")
    driver = open_share_wizard()
    driver.to_destinations(books["team"])
    driver.add_destination(books["alice"])
    driver.next()
    wizard = driver.wizard
    names = wizard.name_page
    assert names.name_edit.text() == "Team for 1 account (2)"  # the suggestion is free
    assert "gSync3" in names.summary.text()
    names.name_edit.clear()
    qtbot.keyClicks(names.name_edit, "Family")
    assert (
        names.name_status.text() == "A share job named 'Family' already exists; pick another name."
    )
    assert not driver.finish_button().isEnabled()
    driver.shot("7_name_taken")
    names.name_edit.clear()
    assert names.name_status.text() == "Give the share job a name."
    assert not driver.finish_button().isEnabled()


def test_a_name_taken_meanwhile_is_refused_on_the_page_and_nothing_is_kept(
    qtbot, open_share_wizard, books, store_path
):
    driver = open_share_wizard()
    driver.to_destinations(books["team"])
    driver.add_destination(books["alice"])
    driver.next()
    wizard = driver.wizard
    with Store(store_path) as store:  # another window, or the CLI, takes the name now
        share.create_job(store, "Team for 1 account", f"vcard:{books['bob']}", "Team")
    driver.click(driver.finish_button())
    page = wizard.name_page
    qtbot.waitUntil(lambda: page.problem.isVisibleTo(page), timeout=10_000)
    assert said(page.problem) == (
        "Invalid settings: A share job named 'Team for 1 account' already exists; "
        "pick another name."
    )
    assert wizard.isVisible()
    qtbot.waitUntil(lambda: not driver.finish_button().isEnabled(), timeout=5_000)
    assert page.name_status.text().startswith("A share job named 'Team for 1 account'")
    qtbot.keyClicks(page.name_edit, " at work")
    assert not page.problem.isVisibleTo(page)
    assert driver.finish() == "Team for 1 account at work"
    with Store(store_path) as store:
        assert [job.name for job in store.share_jobs()] == [
            "Team for 1 account",
            "Team for 1 account at work",
        ]


def test_a_destination_that_fails_at_finish_keeps_nothing(
    qtbot, open_share_wizard, books, store_path
):
    driver = open_share_wizard()
    driver.to_destinations(books["team"])
    driver.add_destination(books["alice"])
    driver.add_destination(books["bob"])
    driver.next()
    books["bob"].rename(books["bob"].with_name("bob-gone"))  # gone before Finish
    driver.click(driver.finish_button())
    page = driver.wizard.name_page
    qtbot.waitUntil(lambda: page.problem.isVisibleTo(page), timeout=10_000)
    assert "bob" in said(page.problem)
    assert driver.wizard.isVisible()
    with Store(store_path) as store:
        assert store.share_jobs() == []
        assert store.connection_names() == []
