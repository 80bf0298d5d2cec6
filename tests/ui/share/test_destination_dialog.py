"""The destination dialog on real vCard folders: the spec of the folder chosen, and refusals."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from helpers.wizard_driver import WizardDriver
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QDialog, QWizard

from piesync_desktop.engine.store import Store
from piesync_desktop.ui.share import DestinationDialog
from piesync_desktop.ui.tasks import StoreTasks


def said(notice) -> str:
    """A notice line's words as the person reads them (its title, then its sentence)."""
    return html.unescape(notice.message()).replace("<b>", "").replace("</b><br>", ": ")


@pytest.fixture
def store_path(profile: Path) -> Path:
    path = profile / "piesync.sqlite3"
    Store(path).close()
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "alice"
    path.mkdir()
    return path


def opened(qtbot, dialog: DestinationDialog) -> WizardDriver:
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.isVisible() and dialog._loaded, timeout=10_000)
    return WizardDriver(qtbot, dialog)


def test_the_dialog_gives_the_spec_of_the_folder_chosen(
    qtbot, store_tasks: StoreTasks, store_path, folder
):
    dialog = DestinationDialog(store_tasks)
    driver = opened(qtbot, dialog)
    assert dialog.windowTitle() == "Add a destination"
    assert dialog.address_page.title() == "Add a destination"
    add = dialog.button(QWizard.WizardButton.FinishButton)
    assert add.text() == "Add"
    assert not add.isEnabled()
    assert dialog.spec == ""
    driver.choose_app()
    driver.type_folder(folder)
    assert add.isEnabled()
    with qtbot.waitSignal(dialog.accepted, timeout=5_000):
        driver.click(add)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.spec == f"vcard:{folder}"


def test_exec_returns_accepted_with_the_spec(
    qtbot, monkeypatch, store_tasks: StoreTasks, store_path, folder
):
    """The interface the job page uses: ``exec()``, then ``spec``."""
    monkeypatch.undo()  # this one dialog is answered, by the timer below
    dialog = DestinationDialog(store_tasks, "Add a destination to 'Team'")
    qtbot.addWidget(dialog)

    def answer() -> None:
        driver = WizardDriver(qtbot, dialog)
        qtbot.waitUntil(lambda: dialog._loaded, timeout=10_000)
        driver.choose_app()
        driver.type_folder(folder)
        driver.click(dialog.button(QWizard.WizardButton.FinishButton))

    QTimer.singleShot(0, answer)
    assert dialog.exec() == QDialog.DialogCode.Accepted
    assert dialog.spec == f"vcard:{folder}"
    assert dialog.windowTitle() == "Add a destination to 'Team'"


def test_an_excluded_folder_is_refused_and_cancel_gives_no_spec(
    qtbot, store_tasks: StoreTasks, store_path, folder
):
    dialog = DestinationDialog(store_tasks, exclude=[f"vcard:{folder}/"])  # the same folder
    driver = opened(qtbot, dialog)
    driver.choose_app()
    page = dialog.address_page
    qtbot.keyClicks(page.authorization().path_edit, str(folder))
    qtbot.waitUntil(lambda: page.problem.isVisibleTo(page), timeout=10_000)
    assert "vCard folder 'alice' is already in this job" in said(page.problem)
    assert not dialog.button(QWizard.WizardButton.FinishButton).isEnabled()
    other = folder.with_name("bob")
    other.mkdir()
    page.authorization().path_edit.clear()
    qtbot.keyClicks(page.authorization().path_edit, str(other))
    qtbot.waitUntil(page.isComplete, timeout=10_000)
    assert not page.problem.isVisibleTo(page)
    with qtbot.waitSignal(dialog.rejected, timeout=5_000):
        driver.click(dialog.button(QWizard.WizardButton.CancelButton))
    assert dialog.spec == ""
