"""The mapping page: the default mapping with toggles, custom mappings checked live, and the
name join/split shown as such."""

from __future__ import annotations

from PySide6.QtCore import Qt

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA
from piesync_desktop.engine.mapping import MappingKind, default_mappings
from piesync_desktop.engine.model import AppSchema
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.wizard.mapping_model import ARROW, B_FIELD, HOW, SYNC, MappingTableModel
from piesync_desktop.ui.wizard.wizard import PageId


def choose(page, a_field: str, b_field: str) -> None:
    page.a_combo.setCurrentIndex(page.a_combo.findData(a_field))
    page.b_combo.setCurrentIndex(page.b_combo.findData(b_field))


def row_of(model: MappingTableModel, a_field: str) -> int:
    return next(r for r, m in enumerate(model.mappings) if m.a_field == a_field)


def test_a_custom_mapping_is_refused_live_with_the_articles_message(open_wizard, folders):
    driver = open_wizard()
    driver.to_page(PageId.MAPPINGS, *folders)
    page = driver.page()
    choose(page, "phones", "birthday")
    assert page.verdict.text() == (
        "Field Phone is not compatible with field Birthday: a phone field cannot hold a date "
        "value and back."
    )
    assert not page.add_button.isEnabled()
    driver.shot("mappings-refused")
    choose(page, "notes", "nickname")
    assert page.verdict.text().startswith("Notes in vCard folder 'work' is already mapped")
    assert not page.add_button.isEnabled()


def test_toggles_and_a_custom_mapping_reach_the_store(qtbot, open_wizard, folders, store_path):
    driver = open_wizard()
    driver.to_page(PageId.MAPPINGS, *folders)
    page = driver.page()
    model = page.model
    notes = row_of(model, "notes")
    index = model.index(notes, SYNC)
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    page.table.setCurrentIndex(index)
    qtbot.keyClick(page.table, Qt.Key.Key_Space)  # the keyboard's way to flip a toggle
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    nickname = row_of(model, "nickname")
    model.setData(
        model.index(nickname, SYNC), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole
    )
    choose(page, "nickname", "notes")  # both freed by the toggles
    assert page.verdict.text() == "Nickname and Notes can be mapped."
    driver.click(page.add_button)
    added = model.rowCount() - 1
    assert model.index(added, HOW).data() == "Custom mapping"
    assert model.index(added, B_FIELD).data() == "Notes"
    assert page.remove_button.isEnabled()  # the new row is selected
    driver.shot("mappings-custom")
    while driver.wizard.currentId() < PageId.SUMMARY:
        driver.wait_complete()
        driver.next()
    driver.finish()
    with Store(store_path) as store:
        saved = store.connection("work and phone").mappings
    by_key = {m.key: m for m in saved}
    assert not by_key["field:notes=notes"].enabled
    assert not by_key["field:nickname=nickname"].enabled
    assert by_key["field:nickname=notes"].custom and by_key["field:nickname=notes"].enabled


def test_a_custom_mapping_can_be_removed_again(open_wizard, folders):
    driver = open_wizard()
    driver.to_page(PageId.MAPPINGS, *folders)
    page = driver.page()
    model = page.model
    model.set_enabled(row_of(model, "notes"), False)
    count = model.rowCount()
    choose(page, "nickname", "notes")
    assert not page.add_button.isEnabled()  # nickname is still mapped
    model.set_enabled(row_of(model, "nickname"), False)
    assert page.add_button.isEnabled()  # checked again as the toggle flips
    driver.click(page.add_button)
    assert model.rowCount() == count + 1
    driver.click(page.remove_button)
    assert model.rowCount() == count
    assert not any(m.custom for m in model.mappings)


def test_the_name_join_and_split_is_shown_as_such():
    full_name_only = AppSchema.of(VCARD_SCHEMA["full_name"], VCARD_SCHEMA["emails"])
    mappings = default_mappings(VCARD_SCHEMA, full_name_only, True, False)
    model = MappingTableModel(
        mappings,
        {Side.A: VCARD_SCHEMA, Side.B: full_name_only},
        {Side.A: "category", Side.B: "tag"},
        ("work", "server"),
        Direction.A_TO_B,
    )
    [row] = [r for r, m in enumerate(mappings) if m.kind is MappingKind.NAME]
    assert model.label(row, Side.A) == "First name + Last name"
    assert model.label(row, Side.B) == "Full name"
    assert model.index(row, HOW).data() == "Name join/split"
    assert "joined into the one name field" in model.index(row, HOW).data(
        Qt.ItemDataRole.ToolTipRole
    )
    assert model.index(row, ARROW).data() == "→"
    assert model.headerData(1, Qt.Orientation.Horizontal) == "work"
