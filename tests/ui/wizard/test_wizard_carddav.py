"""The CardDAV account's authorization against a real Radicale on loopback: the address books
found off the GUI thread, the password kept in the keyring, refusals and unreachable servers said
as sentences, stale answers dropped, Edit, accounts already connected, and a whole wizard to a
real sync into the server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.connections import save_connection
from helpers.dav_servers import DavServer, free_port, start_radicale
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from piesync_desktop import paths, secrets
from piesync_desktop.engine.connection import Direction
from piesync_desktop.engine.connection_setup import (
    ConnectedAccount,
)
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.connectors.carddav.location import PASSWORD, CardDavLocation
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.wizard import carddav_account
from piesync_desktop.ui.wizard.authorization import AuthorizationContext
from piesync_desktop.ui.wizard.background import Background
from piesync_desktop.ui.wizard.carddav_account import PROMPT, CardDavAuthorization
from piesync_desktop.ui.wizard.common import PROBLEM_COLOUR
from piesync_desktop.ui.wizard.wizard import PageId

USER, SECRET = "alice", "s3cret pass"
WAIT_MS = 10_000


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[DavServer]:
    with start_radicale(tmp_path / "radicale", auth=True) as server:
        yield server


@pytest.fixture
def books(radicale: DavServer) -> dict[str, str]:
    """Two address books of alice: their URLs by display name."""
    return {
        "Work": radicale.make_addressbook("work", "Work"),
        "Family": radicale.make_addressbook("family", "Family"),
    }


@pytest.fixture
def widget(qtbot) -> Iterator[CardDavAuthorization]:
    """The widget alone, on its own worker thread as an app page gives it one."""
    runner = Background("carddav-test")
    authorization = CardDavAuthorization(AuthorizationContext(runner, "first"))
    qtbot.addWidget(authorization)
    yield authorization
    runner.shutdown()


def key_of(url: str) -> tuple[str, str]:
    """Where the in-memory keyring holds the password of alice's account on ``url``'s server."""
    return (f"{secrets.SERVICE}:{CardDavLocation(url, USER).account_key}", PASSWORD)


def sign_in(qtbot, widget: CardDavAuthorization, server: str, password: str = SECRET) -> None:
    """Type the server, user and password, and press Enter in the password field."""
    qtbot.keyClicks(widget.server_edit, server)
    qtbot.keyClicks(widget.user_edit, USER)
    qtbot.keyClicks(widget.password_edit, password)
    qtbot.keyClick(widget.password_edit, Qt.Key.Key_Return)


def book_items(widget: CardDavAuthorization) -> list[tuple[str, str]]:
    combo = widget.book_combo
    return [
        (combo.itemText(i), combo.itemData(i, Qt.ItemDataRole.ToolTipRole))
        for i in range(combo.count())
    ]


def in_problem_colour(widget: CardDavAuthorization) -> bool:
    return widget.status.palette().color(QPalette.ColorRole.WindowText) == PROBLEM_COLOUR


def test_the_books_of_alice_are_found_off_the_gui_thread_and_the_chosen_one_is_the_spec(
    qtbot, widget, radicale, books, memory_keyring, monkeypatch
):
    threads: list[int] = []
    found = carddav_account.discover

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return found(*args, **kwargs)

    monkeypatch.setattr(carddav_account, "discover", recording)
    assert not widget.find_button.isEnabled()
    sign_in(qtbot, widget, radicale.base_url)
    assert widget.status.text() == "Searching…"
    qtbot.waitUntil(lambda: "found" in widget.status.text(), timeout=WAIT_MS)
    assert threads and threading.get_ident() not in threads
    assert widget.status.text() == "2 address books found: choose the one to sync."
    assert book_items(widget) == [("Family", books["Family"]), ("Work", books["Work"])]
    assert not widget.isComplete() and widget.spec() == ""  # two books: the person chooses
    assert memory_keyring.secrets == {key_of(radicale.base_url): SECRET}

    with qtbot.waitSignal(widget.changed):
        widget.book_combo.setCurrentIndex(1)
    assert widget.isComplete()
    port = radicale.base_url.rsplit(":", 1)[1].rstrip("/")
    assert widget.spec() == f"carddav:http://alice@127.0.0.1:{port}/alice/work/"
    assert widget.book_url.text() == books["Work"]
    with qtbot.waitSignal(widget.changed):
        widget.tags_combo.setCurrentIndex(widget.tags_combo.findText("Groups"))
    assert widget.spec() == f"carddav:http://alice@127.0.0.1:{port}/alice/work/#groups"
    where = CardDavLocation.parse(widget.spec().partition(":")[2])
    assert secrets.load_secret(where.account_key, PASSWORD) == SECRET  # where the connector looks
    assert SECRET not in widget.spec()


def test_a_wrong_password_is_the_servers_refusal_in_a_sentence(
    qtbot, widget, radicale, books, memory_keyring
):
    sign_in(qtbot, widget, radicale.base_url, password="not it")
    qtbot.waitUntil(lambda: widget.status.text() != "Searching…", timeout=WAIT_MS)
    assert widget.status.text() == (
        "127.0.0.1 refused the user name or password of alice. Check them; iCloud and "
        "Fastmail want an app password, not your main one."
    )
    assert in_problem_colour(widget)
    assert not widget.isComplete() and widget.book_combo.count() == 0
    assert memory_keyring.secrets == {}  # a refused password is never kept


def test_an_unreachable_server_is_said_so(qtbot, widget):
    sign_in(qtbot, widget, f"http://127.0.0.1:{free_port()}/")
    qtbot.waitUntil(lambda: widget.status.text() != "Searching…", timeout=WAIT_MS)
    assert widget.status.text().startswith("Cannot reach 127.0.0.1: ")
    assert "Connection refused" in widget.status.text()
    assert in_problem_colour(widget) and not widget.isComplete()
    qtbot.keyClicks(widget.server_edit, "x")  # typing again clears the problem
    assert widget.status.text() == PROMPT and not in_problem_colour(widget)


def test_the_answer_for_a_server_typed_before_is_ignored(
    qtbot, widget, radicale, books, monkeypatch
):
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    found = carddav_account.discover

    def held_once(*args, **kwargs):
        if done.is_set():
            return found(*args, **kwargs)
        started.set()
        release.wait(WAIT_MS / 1000)
        try:
            return found(*args, **kwargs)
        finally:
            done.set()

    monkeypatch.setattr(carddav_account, "discover", held_once)
    sign_in(qtbot, widget, radicale.base_url)
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)  # the first search is on the server
    qtbot.keyClicks(widget.server_edit, "alice/work/")  # the person types on meanwhile
    assert widget.status.text() == PROMPT
    release.set()
    qtbot.waitUntil(done.is_set, timeout=WAIT_MS)
    qtbot.wait(100)  # time for the stale answer to reach the GUI thread, were it delivered
    assert widget.status.text() == PROMPT and widget.book_combo.count() == 0
    assert not widget.isComplete()

    qtbot.keyClick(widget.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "found" in widget.status.text(), timeout=WAIT_MS)
    assert widget.status.text() == "1 address book found."  # the address is the book itself
    assert book_items(widget) == [("Work", books["Work"])]
    assert widget.isComplete()  # a single book is chosen at once


def test_edit_shows_the_saved_book_read_only_and_takes_only_a_new_password(
    qtbot, open_wizard, radicale, books, store_path, tmp_path, memory_keyring
):
    folder = tmp_path / "folder"
    folder.mkdir()
    spec = CardDavLocation(books["Work"], USER).spec + "#groups"
    secrets.store_secret(CardDavLocation(books["Work"], USER).account_key, PASSWORD, SECRET)
    save_connection(store_path, "Old", spec, f"vcard:{folder}")

    driver = open_wizard("Old")
    page = driver.page()
    assert driver.wizard.currentId() == PageId.FIRST_APP
    driver.wait_complete()
    widget = page.authorization()
    assert isinstance(widget, CardDavAuthorization)
    assert widget.spec() == spec
    assert widget.server_edit.text() == f"{radicale.base_url}alice/"
    assert widget.user_edit.text() == USER
    assert widget.server_edit.isReadOnly() and widget.user_edit.isReadOnly()
    assert widget.password_edit.text() == ""
    assert widget.password_label.text() == "New password:"
    assert not widget.find_button.isEnabled()  # nothing typed: nothing to check
    assert not widget.used_combo.isVisibleTo(widget)  # the account is its own, nothing to offer
    assert widget.book_combo.currentText() == "work" and not widget.book_combo.isEnabled()
    assert widget.book_url.text() == books["Work"]
    assert widget.tags_combo.currentText() == "Groups" and not widget.tags_combo.isEnabled()
    driver.shot("edit-carddav")

    key = CardDavLocation(books["Work"], USER).account_key
    qtbot.keyClicks(widget.password_edit, "not it")
    qtbot.mouseClick(widget.find_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "refused" in widget.status.text(), timeout=WAIT_MS)
    assert memory_keyring.secrets[(f"{secrets.SERVICE}:{key}", PASSWORD)] == SECRET  # kept
    assert widget.spec() == spec and widget.isComplete()  # the book is still the saved one

    # The person changed the password on the server; Edit takes the new one.
    radicale_password_changes(radicale, "a newer secret")
    widget.password_edit.clear()
    qtbot.keyClicks(widget.password_edit, "a newer secret")
    qtbot.keyClick(widget.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "works" in widget.status.text(), timeout=WAIT_MS)
    assert memory_keyring.secrets[(f"{secrets.SERVICE}:{key}", PASSWORD)] == "a newer secret"
    assert widget.password_edit.text() == "" and widget.spec() == spec


def radicale_password_changes(server: DavServer, password: str) -> None:
    """What the person does in their provider's settings (Radicale reads htpasswd per request)."""
    (server.storage.parent / "htpasswd").write_text(f"{USER}:{password}\n")


def test_an_account_already_connected_is_searched_with_its_saved_password(
    qtbot, open_wizard, radicale, books, store_path, tmp_path, memory_keyring
):
    folder = tmp_path / "folder"
    folder.mkdir()
    work = CardDavLocation(books["Work"], USER)
    secrets.store_secret(work.account_key, PASSWORD, SECRET)  # as the first wizard did
    save_connection(store_path, "Old", work.spec, f"vcard:{folder}")

    driver = open_wizard()
    driver.choose_app("CardDAV")
    widget = driver.page().authorization()
    assert widget.used_combo.isVisibleTo(widget)
    items = [widget.used_combo.itemText(i) for i in range(widget.used_combo.count())]
    assert items[1:] == ["alice on 127.0.0.1  (in 'Old')"]
    widget.used_combo.activated.emit(1)  # what choosing the item in the list does
    assert widget.server_edit.text() == f"{radicale.base_url}alice/"
    assert widget.user_edit.text() == USER and widget.password_edit.text() == ""
    assert widget.password_edit.placeholderText() == "The one saved in your keyring"
    qtbot.waitUntil(lambda: "found" in widget.status.text(), timeout=WAIT_MS)
    assert book_items(widget) == [("Family", books["Family"]), ("Work", books["Work"])]
    widget.book_combo.setCurrentIndex(0)
    assert driver.page().isComplete()
    assert widget.spec() == CardDavLocation(books["Family"], USER).spec
    driver.shot("first-app-carddav-connected")


def test_an_account_whose_password_is_gone_asks_for_it(qtbot, widget):
    where = CardDavLocation("http://127.0.0.1:9/alice/work/", USER)
    widget.set_connected_accounts(
        [ConnectedAccount("carddav", where.account_key, where.spec_location)]
    )
    widget.used_combo.activated.emit(1)
    qtbot.waitUntil(lambda: widget.status.text() != "Searching…", timeout=WAIT_MS)
    assert widget.status.text().startswith("The keyring holds no password for this account")
    assert in_problem_colour(widget) and not widget.isComplete()


def test_carddav_and_a_folder_from_app_choice_to_finish_then_a_real_sync(
    qtbot,
    open_wizard,
    radicale,
    books,
    folders,
    store_path,
    profile,
):
    work, _phone = folders
    driver = open_wizard()
    driver.choose_app("CardDAV")
    widget = driver.page().authorization()
    sign_in(qtbot, widget, radicale.base_url)
    qtbot.waitUntil(lambda: widget.book_combo.count() == 2, timeout=WAIT_MS)
    assert not driver.page().isComplete()
    widget.book_combo.setCurrentIndex(widget.book_combo.findText("Work"))
    driver.wait_complete()
    driver.shot("first-app-carddav")
    driver.next()

    driver.choose_app()
    driver.type_folder(work)
    driver.next()
    assert driver.page().buttons[Direction.TWO_WAY].isChecked()
    while driver.wizard.currentId() < PageId.SUMMARY:
        driver.wait_complete()
        driver.next()
    assert driver.page().name_edit.text() == "CardDAV and vCard folder"
    assert driver.finish() == "CardDAV and vCard folder"

    with Store(store_path) as store:
        settings = store.connection("CardDAV and vCard folder")
    assert settings.a_spec == CardDavLocation(books["Work"], USER).spec
    assert settings.b_spec == f"vcard:{work}"
    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    with Store(store_path) as store:
        summary = run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(profile)))
    assert summary.created == {"a": 3, "b": 0}

    book = open_connector(settings.a_spec)  # reads the password from the keyring, as a run does
    book.open()
    try:
        records = book.changes(None).records
    finally:
        book.close()
    emails = {item.value for record in records for item in record.fields.get("emails", ())}
    assert emails == {"ann@example.org", "bob@example.org", "cy@example.org"}
    assert {tag for record in records for tag in record.tags} == {"Customers", "Friends"}
    assert len(radicale.hrefs(books["Work"])) == 3 and radicale.hrefs(books["Family"]) == {}
