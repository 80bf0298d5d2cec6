"""The app choice (catalogue, search as you type, what each app supports) and the vCard folder's
authorization (checked and counted off the GUI thread, folders already connected offered)."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from piesync_desktop.engine.connectors import base
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.model import Capabilities
from piesync_desktop.ui.wizard import vcard_folder
from piesync_desktop.ui.wizard.authorization import AUTHORIZATIONS
from piesync_desktop.ui.wizard.catalogue import capability_summary, supported_apps
from piesync_desktop.ui.wizard.wizard import PageId

ADDRESS_BOOK = dataclasses.replace(
    VCardDir.app,
    key="book",
    name="Address Book Server",
    description="Contacts on a shared server.",
    capabilities=Capabilities(tags=False, unsubscribes=True, custom_fields=True),
)
NOT_YET = dataclasses.replace(VCardDir.app, key="fax", name="Fax machine", description="Faxes.")


@pytest.fixture
def bigger_catalogue(monkeypatch):
    """The catalogue with a second app the wizard can authorize, and one it cannot."""
    monkeypatch.setattr(base, "catalogue", lambda: [ADDRESS_BOOK, NOT_YET, VCardDir.app])
    monkeypatch.setitem(AUTHORIZATIONS, "book", AUTHORIZATIONS["vcard"])


def visible_names(page) -> list[str]:
    proxy = page.proxy
    return [proxy.index(row, 0).data() for row in range(proxy.rowCount())]


def test_each_app_says_what_it_supports():
    assert capability_summary(VCardDir.app) == (
        "Supports categories (tags), deletions. No unsubscribes, no custom fields."
    )
    assert capability_summary(ADDRESS_BOOK) == (
        "Supports deletions, unsubscribes, custom fields. No tags."
    )


def test_apps_without_an_authorization_page_are_not_listed(bigger_catalogue):
    assert [app.key for app in supported_apps()] == ["book", "vcard"]


def test_the_search_bar_filters_as_you_type(qtbot, bigger_catalogue, open_wizard):
    driver = open_wizard()
    page = driver.page()
    assert visible_names(page) == ["Address Book Server", "vCard folder"]
    qtbot.keyClicks(page.search, "vc")
    assert visible_names(page) == ["vCard folder"]
    page.search.clear()
    qtbot.keyClicks(page.search, "shared server")  # words of the description count too
    assert visible_names(page) == ["Address Book Server"]
    assert not page.no_match.isVisibleTo(page)
    page.search.clear()
    qtbot.keyClicks(page.search, "fax")
    assert visible_names(page) == []
    assert page.no_match.isVisibleTo(page) and page.no_match.text() == "No app matches 'fax'."
    driver.shot("first-app-no-match")
    page.search.clear()
    assert len(visible_names(page)) == 2 and not page.no_match.isVisibleTo(page)


def test_a_chosen_app_stays_chosen_while_a_search_hides_it(qtbot, bigger_catalogue, open_wizard):
    driver = open_wizard()
    page = driver.page()
    driver.choose_app("vCard folder")
    qtbot.keyClicks(page.search, "address")
    assert page.chosen_app().key == "vcard"
    assert page.where.title() == "vCard folder: where are the contacts?"


def test_a_missing_folder_is_refused_with_the_connectors_sentence(qtbot, open_wizard, tmp_path):
    driver = open_wizard()
    driver.choose_app()
    page = driver.page()
    widget = page.authorization()
    qtbot.keyClicks(widget.path_edit, str(tmp_path / "nowhere"))
    assert widget.status.text() == "Counting…"
    qtbot.waitUntil(lambda: "does not exist" in widget.status.text(), timeout=10_000)
    assert not page.isComplete()
    assert widget.status.text() == (
        f"vCard folder {tmp_path / 'nowhere'} does not exist: create it or pick another folder."
    )
    driver.shot("first-app-missing-folder")


def test_an_empty_folder_is_fine_and_said_so(open_wizard, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    driver = open_wizard()
    driver.choose_app()
    driver.type_folder(empty)
    assert driver.page().authorization().status.text() == (
        "No .vcf files in this folder yet: the contacts of the other app will be written here."
    )


def test_the_folder_is_counted_off_the_gui_thread(qtbot, open_wizard, folders, monkeypatch):
    threads: list[int] = []
    counted = vcard_folder.inspect_folder

    def recording(path, ctx):
        threads.append(threading.get_ident())
        return counted(path, ctx)

    monkeypatch.setattr(vcard_folder, "inspect_folder", recording)
    driver = open_wizard()
    driver.choose_app()
    driver.type_folder(folders[0])
    assert threads and threading.get_ident() not in threads


def test_folders_other_connections_sync_are_offered(
    qtbot, open_wizard, folders, connection_adder, tmp_path
):
    work, phone = folders
    connection_adder("Old", work, phone)
    driver = open_wizard()
    driver.choose_app()
    widget = driver.page().authorization()
    assert widget.used_combo.isVisibleTo(widget)
    items = [widget.used_combo.itemText(i) for i in range(widget.used_combo.count())]
    assert items[1:] == [f"{phone}  (in 'Old')", f"{work}  (in 'Old')"]
    widget.used_combo.activated.emit(2)  # what choosing the item in the list does
    assert widget.path_edit.text() == str(work)
    qtbot.waitUntil(driver.page().isComplete, timeout=10_000)
    driver.shot("first-app-connected-folders")


def test_edit_shows_the_apps_read_only_and_says_why(open_wizard, folders, connection_adder):
    work, phone = folders
    connection_adder("Old", work, phone)
    driver = open_wizard("Old")
    page = driver.page()
    assert driver.wizard.currentId() == PageId.FIRST_APP
    driver.wait_complete()
    widget = page.authorization()
    assert widget.path_edit.text() == str(work) and widget.path_edit.isReadOnly()
    assert not widget.choose_button.isVisibleTo(widget)
    assert not page.apps_view.isEnabled() and not page.search.isEnabled()
    assert page.edit_note.message().startswith("A connection's two address books never change.")
    driver.shot("edit-first-app")
    driver.next()
    assert driver.page().authorization().path_edit.text() == str(phone)
