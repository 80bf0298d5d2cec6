"""Edit: the same pages start from the saved connection, and saving writes what changed."""

from __future__ import annotations

from PySide6.QtWidgets import QWizard

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.wizard.mapping_model import HOW
from piesync_desktop.ui.wizard.wizard import PageId


def test_edit_starts_from_the_saved_settings(open_wizard, folders, connection_adder):
    work, phone = folders
    connection_adder(
        "Old",
        work,
        phone,
        direction=Direction.A_TO_B,
        avoid_duplicates=False,
        interval_minutes=30,
    )
    driver = open_wizard("Old")
    wizard = driver.wizard
    assert wizard.windowTitle() == "Edit 'Old'"
    assert wizard.buttonText(QWizard.WizardButton.FinishButton) == "Save changes"
    driver.wait_complete()
    driver.next()
    driver.wait_complete()
    driver.next()
    assert driver.page().buttons[Direction.A_TO_B].isChecked()
    driver.next()
    driver.wait_complete()
    driver.next()
    driver.wait_complete()
    driver.next()
    options = driver.page()
    assert not options.avoid_duplicates.isChecked()
    assert options.duplicates_warning.isVisibleTo(options)
    assert options.interval.currentText() == "Every 30 minutes"
    driver.shot("edit-options")
    driver.next()
    summary = driver.page()
    assert summary.name_edit.text() == "Old" and summary.name_edit.isReadOnly()
    driver.shot("edit-summary")


def test_edit_saves_changed_options_and_keeps_the_rest(
    qtbot, open_wizard, folders, connection_adder, store_path
):
    work, phone = folders
    connection_adder("Old", work, phone)
    with Store(store_path) as store:
        before = store.connection("Old")
    driver = open_wizard("Old")
    wizard = driver.wizard
    driver.wait_complete()
    assert wizard.button(QWizard.WizardButton.FinishButton).isVisible()  # save from any page
    while wizard.currentId() < PageId.OPTIONS:
        driver.wait_complete()
        driver.next()
    options = driver.page()
    driver.click(options.deletions.check)
    options.interval.setCurrentIndex(options.interval.findData(15))
    assert driver.finish() == "Old"
    assert not wizard.isVisible()
    with Store(store_path) as store:
        after = store.connection("Old")
    assert after.sync_deletions and after.interval_minutes == 15
    assert not before.sync_deletions and before.interval_minutes == 5
    assert (after.a_spec, after.b_spec, after.id) == (before.a_spec, before.b_spec, before.id)
    assert after.mappings == before.mappings and after.rules == before.rules
    assert after.direction is before.direction and after.avoid_duplicates


def test_edit_keeps_a_custom_mapping_and_a_rule(
    qtbot, open_wizard, folders, connection_adder, store_path
):
    work, phone = folders
    connection_adder("Old", work, phone)
    driver = open_wizard("Old")
    while driver.wizard.currentId() < PageId.MAPPINGS:
        driver.wait_complete()
        driver.next()
    driver.wait_complete()
    mappings = driver.page()
    model = mappings.model
    for field in ("notes", "title"):
        model.set_enabled(
            next(r for r, m in enumerate(model.mappings) if m.a_field == field), False
        )
    mappings.a_combo.setCurrentIndex(mappings.a_combo.findData("title"))
    mappings.b_combo.setCurrentIndex(mappings.b_combo.findData("notes"))
    driver.click(mappings.add_button)
    driver.next()
    rules = driver.page()
    driver.wait_complete()
    row = rules.sections[Side.A].editors[0].add_condition()
    qtbot.keyClicks(row.value.lineEdit(), "Customers")
    driver.finish()
    with Store(store_path) as store:
        saved = store.connection("Old")
    assert any(m.custom and (m.a_field, m.b_field) == ("title", "notes") for m in saved.mappings)
    assert [r.describe() for r in saved.rules if r.side == "a"] == ["contact is in 'Customers'"]
    driver2 = open_wizard("Old")
    while driver2.wizard.currentId() < PageId.MAPPINGS:
        driver2.wait_complete()
        driver2.next()
    driver2.wait_complete()
    model = driver2.page().model
    hows = [model.index(row, HOW).data() for row in range(model.rowCount())]
    assert hows.count("Custom mapping") == 1
