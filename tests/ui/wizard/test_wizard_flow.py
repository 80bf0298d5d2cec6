"""The wizard from app choice to Finish on two real vCard folders, then a real sync."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWizard

from piesync_desktop import paths
from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import MappingKind
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.wizard.wizard import PageId


def emails_in(folder: Path) -> set[str]:
    found = set()
    for path in folder.glob("*.vcf"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.upper().startswith("EMAIL"):
                found.add(line.split(":", 1)[1].strip().lower())
    return found


def test_a_new_connection_from_app_choice_to_finish_then_a_real_sync(
    qtbot, open_wizard, folders, store_path, profile
):
    work, phone = folders
    driver = open_wizard()
    wizard = driver.wizard
    assert wizard.currentId() == PageId.FIRST_APP
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    driver.shot("first-app-empty")

    driver.choose_app()
    assert not driver.page().isComplete()  # no folder yet
    driver.type_folder(work)
    assert driver.page().authorization().status.text() == "3 contacts (.vcf files) in this folder."
    driver.shot("first-app")
    driver.next()

    driver.choose_app()
    driver.type_folder(phone)
    assert driver.page().authorization().status.text() == "1 contact (.vcf file) in this folder."
    driver.shot("second-app")
    driver.next()

    assert wizard.currentId() == PageId.DIRECTION
    direction = driver.page()
    assert direction.buttons[Direction.TWO_WAY].isChecked()
    assert "vCard folder 'work' and vCard folder 'phone' keep the same contacts" in (
        direction.sentences[Direction.TWO_WAY].text()
    )
    driver.shot("direction")
    driver.next()

    driver.wait_complete()
    mappings = driver.page()
    labels = [mappings.model.label(row, Side.A) for row in range(mappings.model.rowCount())]
    assert {"Full name", "Email", "Phone", "Categories"} <= set(labels)
    driver.shot("mappings")
    driver.next()

    rules = driver.page()
    qtbot.waitUntil(
        lambda: rules.sections[Side.A].editors[0].count.text() == "Matches 3 of 3 contacts",
        timeout=10_000,
    )
    driver.shot("rules")
    driver.next()

    driver.shot("options")
    driver.next()

    summary = driver.page()
    assert summary.name_edit.text() == "work and phone"
    driver.shot("summary")
    assert driver.finish() == "work and phone"
    assert not wizard.isVisible()

    with Store(store_path) as store:
        settings = store.connection("work and phone")
    assert (settings.a_spec, settings.b_spec) == (f"vcard:{work}", f"vcard:{phone}")
    assert settings.direction is Direction.TWO_WAY and settings.avoid_duplicates
    assert any(m.kind is MappingKind.TAGS for m in settings.mappings)
    assert [(r.side, r.conditions) for r in settings.rules] == [("a", ()), ("b", ())]

    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    with Store(store_path) as store:
        summary_run = run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(profile)))
    assert summary_run.created == {"a": 1, "b": 3}
    assert (
        emails_in(work)
        == emails_in(phone)
        == {
            "ann@example.org",
            "bob@example.org",
            "cy@example.org",
            "zed@example.org",
        }
    )


def test_the_same_folder_twice_is_refused_with_a_sentence(open_wizard, folders):
    work, _ = folders
    driver = open_wizard()
    driver.choose_app()
    driver.type_folder(work)
    driver.next()
    driver.choose_app()
    driver.type_folder(work)
    driver.click(driver.wizard.button(QWizard.WizardButton.NextButton))
    assert driver.wizard.currentId() == PageId.SECOND_APP
    assert "Both sides name the same address book; pick two different ones." in driver.problem()


def test_a_name_already_taken_is_refused_with_a_sentence(
    qtbot, open_wizard, folders, connection_adder, tmp_path
):
    work, phone = folders
    other = tmp_path / "other"
    other.mkdir()
    connection_adder("work and phone", work, other)
    driver = open_wizard()
    driver.to_page(PageId.SUMMARY, work, phone)
    summary = driver.page()
    assert summary.name_edit.text() == "work and phone (2)"  # the suggestion is free
    summary.name_edit.clear()
    qtbot.keyClicks(summary.name_edit, "work and phone")
    assert summary.name_status.text() == (
        "A connection named 'work and phone' already exists; pick another name."
    )
    assert not driver.wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    driver.shot("summary-name-taken")
    summary.name_edit.clear()
    assert summary.name_status.text() == "Give the connection a name."
    qtbot.keyClicks(summary.name_edit, "work and phone, again")
    assert driver.wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    assert driver.finish() == "work and phone, again"


def test_a_name_taken_meanwhile_is_refused_by_the_store_and_said(
    qtbot, open_wizard, folders, connection_adder, tmp_path
):
    work, phone = folders
    driver = open_wizard()
    driver.to_page(PageId.SUMMARY, work, phone)
    other = tmp_path / "other"
    other.mkdir()
    connection_adder("work and phone", work, other)  # another window was quicker
    driver.click(driver.wizard.button(QWizard.WizardButton.FinishButton))
    summary = driver.page()
    qtbot.waitUntil(lambda: "already exists" in driver.problem(), timeout=10_000)
    assert driver.wizard.isVisible()
    qtbot.waitUntil(
        lambda: (
            summary.name_status.text()
            == "A connection named 'work and phone' already exists; pick another name."
        ),
        timeout=10_000,
    )
