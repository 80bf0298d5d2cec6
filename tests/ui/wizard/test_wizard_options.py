"""The options page: Avoid Duplicates warns when turned off, Sync Deletions and Unsubscribes are
offered or explained according to what the two apps can do, and the choices are saved."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import QWizard

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connectors import base
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.model import Capabilities
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.wizard.options_page import AVOID_DUPLICATES_RISK
from piesync_desktop.ui.wizard.wizard import PageId


def test_turning_avoid_duplicates_off_warns_about_the_risk(open_wizard, folders, store_path):
    driver = open_wizard()
    driver.to_page(PageId.OPTIONS, *folders)
    page = driver.page()
    assert page.avoid_duplicates.isChecked()
    assert not page.duplicates_warning.isVisibleTo(page)
    driver.click(page.avoid_duplicates)
    assert page.duplicates_warning.isVisibleTo(page)
    assert page.duplicates_warning.message() == AVOID_DUPLICATES_RISK
    assert "duplicates" in AVOID_DUPLICATES_RISK
    driver.shot("options-no-avoid-duplicates")
    driver.next()
    driver.finish()
    with Store(store_path) as store:
        assert not store.connection("work and phone").avoid_duplicates


def test_sync_deletions_is_offered_with_how_it_works_when_both_apps_can(
    open_wizard, folders, store_path
):
    driver = open_wizard()
    driver.to_page(PageId.OPTIONS, *folders)
    page = driver.page()
    assert page.deletions.offered
    assert page.deletions.sentence.text().startswith(
        "A contact deleted in vCard folder 'work' gets the category 'PieSync Trash' in vCard "
        "folder 'phone'"
    )
    assert not page.unsubscribes.offered
    assert page.unsubscribes.sentence.text() == (
        "Not available: vCard folder does not record who unsubscribed from email, so there is "
        "nothing to sync."
    )
    driver.click(page.deletions.check)
    page.interval.setCurrentIndex(page.interval.findData(60))
    driver.next()
    assert driver.page().rows["Sync Deletions"].text() == "On"
    assert driver.page().rows["Sync"].text() == "Every hour"
    driver.finish()
    with Store(store_path) as store:
        saved = store.connection("work and phone")
    assert saved.sync_deletions and not saved.sync_unsubscribes
    assert saved.interval_minutes == 60


def test_sync_deletions_is_explained_not_offered_when_an_app_has_no_tags(
    monkeypatch, open_wizard, folders
):
    no_tags = dataclasses.replace(
        VCardDir.app, capabilities=Capabilities(tags=False, deletions=True)
    )
    monkeypatch.setattr(base, "catalogue", lambda: [no_tags])
    driver = open_wizard()
    driver.to_page(PageId.OPTIONS, *folders)
    page = driver.page()
    assert not page.deletions.offered
    assert page.deletions.sentence.text() == (
        "Not available: vCard folder 'phone' and vCard folder 'work' have no tags, categories, "
        "groups or lists, so a contact there cannot be marked 'PieSync Trash'."
    )
    driver.shot("options-deletions-not-available")


def test_one_way_the_source_wins_and_only_the_target_needs_tags(
    monkeypatch, open_wizard, folders, store_path
):
    driver = open_wizard()
    driver.through_apps(*folders)
    direction = driver.page()
    driver.click(direction.buttons[Direction.B_TO_A])
    driver.next()
    while driver.wizard.currentId() < PageId.OPTIONS:
        driver.wait_complete()
        driver.next()
    page = driver.page()
    assert not page.winner.isEnabled()
    assert page.winner.currentText() == "vCard folder 'phone'"
    assert page.winner_sentence.text() == (
        "In a one-way sync the source app, vCard folder 'phone', always wins."
    )
    assert page.deletions.sentence.text() == (
        "A contact deleted in vCard folder 'phone' gets the category 'PieSync Trash' in vCard "
        "folder 'work', for you to review. Nothing is deleted for you."
    )
    driver.next()
    driver.finish()
    with Store(store_path) as store:
        saved = store.connection("work and phone")
    assert saved.direction is Direction.B_TO_A and saved.effective_winner() is Side.B


def test_the_winning_app_of_a_two_way_sync_is_saved(open_wizard, folders, store_path):
    driver = open_wizard()
    driver.to_page(PageId.OPTIONS, *folders)
    page = driver.page()
    page.winner.setCurrentIndex(1)
    driver.next()
    assert driver.page().rows["Winning app"].text() == "vCard folder 'phone'"
    assert driver.wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    driver.finish()
    with Store(store_path) as store:
        assert store.connection("work and phone").winner is Side.B
