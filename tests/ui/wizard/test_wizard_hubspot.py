"""The HubSpot authorization against the HubSpot emulator on loopback: a private app's token
checked off the GUI thread (the portal learnt from it) and kept in the keyring only once it
worked, the portal's static lists listed and one chosen, refusals said in HubSpot's words, stale
answers dropped, portals already connected listed with their saved token, Edit and its new token
(refused if it is another portal's), and a whole wizard to a real sync into the emulator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.connections import save_connection
from helpers.hubspot_account import PORTAL, HubSpotAccount
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton

from piesync_desktop import paths, secrets
from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connection_setup import ConnectedAccount
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.connectors.hubspot.settings import SCOPES, TOKEN, TOKEN_HELP
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.wizard import hubspot_account
from piesync_desktop.ui.wizard.authorization import AuthorizationContext
from piesync_desktop.ui.wizard.background import Background
from piesync_desktop.ui.wizard.common import PROBLEM_COLOUR
from piesync_desktop.ui.wizard.hubspot_account import (
    NOTES,
    PROMPT,
    TOKEN_HINT,
    HubSpotAuthorization,
)
from piesync_desktop.ui.wizard.wizard import PageId

WAIT_MS = 10_000
OTHER_PORTAL = 654321
KEY = (f"{secrets.SERVICE}:hubspot:{PORTAL}", TOKEN)  # where the keyring holds the token
LISTS = ["All contacts", "Customers", "VIP"]  # as the combo lists them
REFUSED = "HubSpot refused the access token (Authentication credentials not found). " + TOKEN_HELP


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotAccount]:
    """A portal with two static lists, the real code pointed at it by PIESYNC_*; its token is
    the person's to paste (nothing in the keyring yet)."""
    portal = HubSpotAccount(tmp_path / "hubspot")
    portal.wait_on_emulator_clock(monkeypatch)
    for name, value in portal.env.items():
        monkeypatch.setenv(name, value)
    portal.api.add_list("VIP")
    portal.api.add_list("Customers")
    yield portal
    portal.close()
    assert portal.api.internal_errors == []


@pytest.fixture
def other(tmp_path: Path, account: HubSpotAccount, monkeypatch: pytest.MonkeyPatch):
    """Another portal, whose token the person may paste by mistake. One address answers for
    every portal at HubSpot; here ``reach(portal)`` points the real code at either emulator
    (both trusted)."""
    second = HubSpotAccount(tmp_path / "other", portal=OTHER_PORTAL)
    both = tmp_path / "both-cas.pem"
    both.write_text(account.ca_file.read_text() + second.ca_file.read_text())
    monkeypatch.setenv("PIESYNC_CA_BUNDLE", str(both))

    def reach(portal: HubSpotAccount) -> None:
        monkeypatch.setenv("PIESYNC_HUBSPOT_URL", portal.api.url)

    yield second, reach
    second.close()


@pytest.fixture
def widget(qtbot, account: HubSpotAccount) -> Iterator[HubSpotAuthorization]:
    """The widget alone, on its own worker thread as an app page gives it one."""
    runner = Background("hubspot-test")
    authorization = HubSpotAuthorization(AuthorizationContext(runner, "first"))
    qtbot.addWidget(authorization)
    yield authorization
    runner.shutdown()


def paste(qtbot, widget: HubSpotAuthorization, token: str) -> None:
    """Paste a token into the field and press Check; wait for HubSpot's answer."""
    widget.token_edit.clear()
    widget.token_edit.insert(token)  # what a paste does
    qtbot.mouseClick(widget.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)


def items(widget: HubSpotAuthorization) -> list[str]:
    combo = widget.contacts_combo
    return [combo.itemText(i) for i in range(combo.count())]


def in_problem_colour(widget: HubSpotAuthorization) -> bool:
    return widget.status.palette().color(QPalette.ColorRole.WindowText) == PROBLEM_COLOUR


def squeezed(widget: HubSpotAuthorization) -> list[str]:
    """The shown sentences of the widget that have less height than their text needs."""
    return [
        label.text()
        for label in widget.findChildren(QLabel)
        if label.isVisible() and label.wordWrap() and label.text()
        if label.height() < label.heightForWidth(label.width())
    ]


def cut_off(widget: HubSpotAuthorization) -> list[str]:
    """The shown one-line labels and buttons of the widget narrower than their text."""
    found = []
    for child in [*widget.findChildren(QLabel), *widget.findChildren(QPushButton)]:
        if not child.isVisible() or not child.text():
            continue
        if isinstance(child, QLabel) and child.wordWrap():
            continue
        if child.width() < child.sizeHint().width():
            found.append(child.text())
    for edit in widget.findChildren(QLineEdit):  # a placeholder shown whole, not elided
        hint = edit.placeholderText()
        shown = edit.isVisible() and bool(hint) and not edit.text()
        if shown and edit.fontMetrics().horizontalAdvance(hint) > edit.width() - 12:
            found.append(hint)
    return found


def laid_out(qtbot, widget: HubSpotAuthorization) -> None:
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    assert cut_off(widget) == []
    assert widget.token_edit.width() >= 200, widget.token_edit.width()


def test_the_hint_says_where_to_make_a_token_with_the_connectors_scopes():
    assert TOKEN_HINT == (
        "Make a private app in HubSpot (Settings > Integrations > Private apps) with the scopes "
        "crm.objects.contacts.read/write, crm.lists.read/write, crm.schemas.contacts.read/write, "
        "and copy its access token."
    )
    assert hubspot_account.scope_words(SCOPES) in TOKEN_HELP  # the connector's own words


def test_a_good_token_is_checked_off_the_gui_thread_kept_and_its_lists_offered(
    qtbot, widget, account, memory_keyring, monkeypatch
):
    threads: list[int] = []
    checked = hubspot_account.portal_of

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return checked(*args, **kwargs)

    monkeypatch.setattr(hubspot_account, "portal_of", recording)
    assert widget.status.text() == PROMPT and widget.spec() == "" and not widget.isComplete()
    assert widget.token_edit.echoMode() == QLineEdit.EchoMode.Password
    assert not widget.check_button.isEnabled() and not widget.contacts_combo.isEnabled()
    assert not widget.portal_label.isVisibleTo(widget)
    assert widget.token_hint.text() == TOKEN_HINT and widget.notes.text() == NOTES
    assert not widget.used_combo.isVisibleTo(widget)  # no portal connected yet

    widget.token_edit.insert(account.token)
    assert widget.check_button.isEnabled()
    qtbot.mouseClick(widget.show_button, Qt.MouseButton.LeftButton)
    assert widget.token_edit.echoMode() == QLineEdit.EchoMode.Normal
    assert widget.show_button.text() == "Hide"
    qtbot.mouseClick(widget.show_button, Qt.MouseButton.LeftButton)
    assert widget.token_edit.echoMode() == QLineEdit.EchoMode.Password
    assert widget.show_button.text() == "Show"

    qtbot.keyClick(widget.token_edit, Qt.Key.Key_Return)
    assert widget.status.text() == "Checking the token with HubSpot…"
    assert widget.waiting() and not widget.check_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert threads and threading.get_ident() not in threads
    assert widget.status.text() == (
        "The token opens HubSpot portal 123456; it is kept in your keyring. The portal has 2 "
        "static lists: sync all its contacts, or one list."
    )
    assert not in_problem_colour(widget)
    assert widget.portal_label.text() == "123456" and widget.portal_label.isVisibleTo(widget)
    assert items(widget) == LISTS and widget.contacts_combo.isEnabled()
    assert widget.isComplete() and widget.spec() == account.spec()
    assert widget.contacts_note.text() == hubspot_account.ALL_NOTE
    assert widget.token_edit.text() == ""  # the token lives in the keyring only
    assert widget.token_edit.placeholderText() == "The one saved in your keyring"
    assert memory_keyring.secrets == {KEY: account.token}
    assert account.api.requests == [
        ("GET", "/account-info/v3/details"),
        ("POST", "/crm/v3/lists/search"),
    ]

    with qtbot.waitSignal(widget.changed):
        widget.contacts_combo.setCurrentIndex(widget.contacts_combo.findText("VIP"))
    assert widget.spec() == account.spec("VIP") == "hubspot:VIP@123456"
    assert widget.contacts_note.text() == (
        "Only the members of the static list 'VIP' are synced; contacts the other app adds "
        "join it. The portal's other static lists are kept as tags."
    )
    assert account.token not in widget.spec()


def test_a_refused_token_is_hubspots_sentence_and_nothing_is_kept(
    qtbot, widget, account, memory_keyring
):
    paste(qtbot, widget, "pat-na1-not-it")
    assert widget.status.text() == REFUSED
    assert "Traceback" not in widget.status.text()
    assert in_problem_colour(widget)
    assert not widget.isComplete() and widget.spec() == "" and widget.contacts_combo.count() == 0
    assert not widget.portal_label.isVisibleTo(widget)
    assert widget.check_button.isEnabled()  # the person may try it again
    assert memory_keyring.secrets == {}

    account.api.revoke_token()  # the private app's token was rotated in HubSpot
    paste(qtbot, widget, account.token)
    assert widget.status.text() == REFUSED and memory_keyring.secrets == {}

    qtbot.keyClicks(widget.token_edit, "x")  # typing again clears the problem
    assert widget.status.text() == PROMPT and not in_problem_colour(widget)


def test_a_token_without_the_lists_scopes_is_refused_and_not_kept(
    qtbot, widget, account, memory_keyring
):
    account.api.scopes(*(scope for scope in SCOPES if not scope.startswith("crm.lists")))
    paste(qtbot, widget, account.token)
    assert widget.status.text().startswith(
        "HubSpot portal 123456 does not let this access token do listing the portal's lists ("
    )
    assert "it needs the scope crm.lists.read" in widget.status.text()
    assert in_problem_colour(widget) and not widget.isComplete()
    assert memory_keyring.secrets == {}  # it proved its portal, but cannot sync: not kept


def test_a_new_token_typed_forgets_the_portal_checked(qtbot, widget, account):
    paste(qtbot, widget, account.token)
    assert widget.isComplete()
    with qtbot.waitSignal(widget.changed):
        qtbot.keyClicks(widget.token_edit, "p")
    assert not widget.isComplete() and widget.spec() == "" and widget.contacts_combo.count() == 0
    assert widget.status.text() == PROMPT and not widget.portal_label.isVisibleTo(widget)


def test_the_answer_for_a_token_typed_before_is_ignored(
    qtbot, widget, account, memory_keyring, monkeypatch
):
    started, release, done = threading.Event(), threading.Event(), threading.Event()
    checked = hubspot_account.portal_of

    def held_once(*args, **kwargs):
        if done.is_set():
            return checked(*args, **kwargs)
        started.set()
        release.wait(WAIT_MS / 1000)
        try:
            return checked(*args, **kwargs)
        finally:
            done.set()

    monkeypatch.setattr(hubspot_account, "portal_of", held_once)
    widget.token_edit.insert(account.token)
    qtbot.keyClick(widget.token_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)  # the first check is with HubSpot
    qtbot.keyClicks(widget.token_edit, "x")  # the person types on meanwhile
    assert widget.status.text() == PROMPT and not widget.waiting()
    release.set()
    qtbot.waitUntil(done.is_set, timeout=WAIT_MS)
    qtbot.wait(100)  # time for the stale answer to reach the GUI thread, were it delivered
    assert widget.status.text() == PROMPT and not widget.isComplete()
    assert memory_keyring.secrets == {}  # the stale job stopped before keeping anything

    paste(qtbot, widget, account.token)
    assert widget.isComplete() and memory_keyring.secrets == {KEY: account.token}


def test_a_portal_already_connected_is_listed_with_its_saved_token(
    qtbot, open_wizard, account, store_path, tmp_path, memory_keyring
):
    account.save_token()  # as the first wizard (or the CLI's signin) did
    folder = tmp_path / "folder"
    folder.mkdir()
    save_connection(store_path, "Old", account.spec("VIP"), f"vcard:{folder}")
    account.api.clear_requests()

    driver = open_wizard()
    driver.wizard.resize(1280, 800)
    driver.choose_app("HubSpot")
    widget = driver.page().authorization()
    assert isinstance(widget, HubSpotAuthorization)
    assert widget.used_combo.isVisibleTo(widget)
    used = [widget.used_combo.itemText(i) for i in range(widget.used_combo.count())]
    assert used[1:] == ["Portal 123456  (in 'Old')"]
    widget.used_combo.activated.emit(1)  # what choosing the item in the list does
    assert widget.status.text() == "Listing the lists of HubSpot portal 123456…"
    assert widget.token_edit.text() == ""
    assert widget.token_edit.placeholderText() == "The one saved in your keyring"
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        "The portal has 2 static lists: sync all its contacts, or one list."
    )
    assert driver.page().isComplete() and widget.spec() == account.spec()
    assert items(widget) == LISTS
    assert account.api.requests == [("POST", "/crm/v3/lists/search")]  # no token pasted
    widget.contacts_combo.setCurrentIndex(widget.contacts_combo.findText("Customers"))
    assert widget.spec() == account.spec("Customers")
    assert memory_keyring.secrets == {KEY: account.token}
    laid_out(qtbot, widget)
    driver.shot("first-app-hubspot-connected")


def test_a_portal_whose_token_is_gone_asks_for_one(qtbot, widget, account):
    widget.set_connected_accounts([ConnectedAccount("hubspot", "hubspot:123456", "123456")])
    widget.used_combo.activated.emit(1)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        "The keyring no longer holds the access token of HubSpot portal 123456 on this "
        "computer. Paste a token of the portal to use it again."
    )
    assert in_problem_colour(widget) and not widget.isComplete()
    assert widget.token_edit.hasFocus() or not widget.isVisible()
    assert account.api.requests == []


def test_a_portal_whose_saved_token_hubspot_refuses_says_so(qtbot, widget, account, memory_keyring):
    account.save_token()
    account.api.revoke_token()
    widget.set_connected_accounts([ConnectedAccount("hubspot", "hubspot:123456", "123456")])
    widget.used_combo.activated.emit(1)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        "HubSpot refused the access token of portal 123456 (Authentication credentials not "
        "found). " + TOKEN_HELP
    )
    assert in_problem_colour(widget) and not widget.isComplete()
    assert memory_keyring.secrets == {KEY: account.token}  # the CLI's signout forgets it


def test_edit_shows_the_saved_portal_and_list_and_takes_a_new_token_of_that_portal(
    qtbot, open_wizard, account, other, store_path, tmp_path, memory_keyring
):
    second, reach = other
    account.save_token()
    folder = tmp_path / "folder"
    folder.mkdir()
    spec = account.spec("VIP")
    save_connection(store_path, "Old", spec, f"vcard:{folder}")

    driver = open_wizard("Old")
    driver.wizard.resize(1280, 800)
    driver.wait_complete()
    widget = driver.page().authorization()
    assert isinstance(widget, HubSpotAuthorization)
    assert widget.spec() == spec and widget.isComplete()
    assert widget.portal_label.text() == "123456"
    assert items(widget) == ["All contacts", "VIP"] and widget.contacts_combo.currentText() == "VIP"
    assert not widget.contacts_combo.isEnabled()
    assert not widget.used_combo.isVisibleTo(widget)  # the portal is its own
    assert widget.token_label.text() == "New token:"
    assert widget.token_edit.placeholderText() == "pat-…"
    assert widget.status.text() == hubspot_account.NEW_TOKEN_HINT
    assert not in_problem_colour(widget)
    assert widget.check_button.text() == "Check and save it"
    assert not widget.check_button.isEnabled()  # nothing pasted: nothing to check
    for size, suffix in (((1000, 720), "-small"), ((1280, 800), "")):
        driver.wizard.resize(*size)
        laid_out(qtbot, widget)
        driver.shot(f"edit-hubspot{suffix}")

    # The wizard reads the saved side in the background (its lists' memberships too): let it
    # finish, so what the pasted token costs is all that is counted below.
    reads = driver.wizard.reads
    qtbot.waitUntil(
        lambda: reads.snapshot(Side.A) is not None or reads.error(Side.A) is not None,
        timeout=15_000,
    )
    account.api.clear_requests()
    reach(second)  # the person pastes the token of their other portal
    paste(qtbot, widget, second.token)
    assert widget.status.text() == (
        f"This access token belongs to HubSpot portal {OTHER_PORTAL}, but this connection "
        f"syncs portal 123456. Give a token of portal 123456; nothing was changed."
    )
    assert in_problem_colour(widget)
    assert memory_keyring.secrets == {KEY: account.token}  # nothing kept for either portal
    assert widget.spec() == spec and widget.isComplete()
    assert second.api.requests == [("GET", "/account-info/v3/details")]
    assert account.api.requests == []
    laid_out(qtbot, widget)
    driver.shot("edit-hubspot-other-portal")

    reach(account)
    paste(qtbot, widget, "pat-na1-not-it")
    assert widget.status.text() == REFUSED and in_problem_colour(widget)
    assert memory_keyring.secrets == {KEY: account.token}

    old = account.token
    account.api.token = "pat-na1-rotated"  # the person rotated the private app's token
    paste(qtbot, widget, "pat-na1-rotated")
    assert (
        widget.status.text() == "The new token works for portal 123456; it is kept in your keyring."
    )
    assert not in_problem_colour(widget)
    assert memory_keyring.secrets == {KEY: "pat-na1-rotated"} != {KEY: old}
    assert widget.token_edit.text() == "" and widget.spec() == spec
    assert items(widget) == ["All contacts", "VIP"]


def test_loading_a_saved_side_asks_nothing_of_hubspot(widget, account):
    widget.load("hubspot:Customers@123456")
    widget.set_read_only(True)
    assert widget.spec() == "hubspot:Customers@123456" and widget.isComplete()
    assert widget.contacts_combo.currentText() == "Customers"
    assert account.api.requests == []


def test_loading_a_spec_without_a_portal_is_a_sentence(widget):
    widget.load("hubspot:Customers")
    assert not widget.isComplete() and in_problem_colour(widget)
    assert widget.status.text().startswith("'hubspot:Customers' does not say which HubSpot portal")


def test_hubspot_and_a_folder_from_app_choice_to_finish_then_a_real_sync(
    qtbot, open_wizard, account, folders, card_writer, store_path, profile
):
    work, _phone = folders
    newsletter = account.api.add_list("Newsletter")
    driver = open_wizard()
    driver.wizard.resize(1280, 800)
    driver.choose_app("HubSpot")
    widget = driver.page().authorization()
    assert not driver.page().isComplete()
    paste(qtbot, widget, account.token)
    assert items(widget) == ["All contacts", "Customers", "Newsletter", "VIP"]
    widget.contacts_combo.setCurrentIndex(widget.contacts_combo.findText("Newsletter"))
    driver.wait_complete()
    for size, suffix in (((1000, 720), "-small"), ((1280, 800), "")):  # its own size, and bigger
        driver.wizard.resize(*size)
        laid_out(qtbot, widget)
        driver.shot(f"first-app-hubspot{suffix}")
    driver.next()

    driver.choose_app()
    driver.type_folder(work)
    driver.next()
    assert driver.page().buttons[Direction.TWO_WAY].isChecked()
    while driver.wizard.currentId() < PageId.SUMMARY:
        driver.wait_complete()
        driver.next()
    name = driver.page().name_edit.text()
    assert driver.finish() == name

    with Store(store_path) as store:
        settings = store.connection(name)
        known = store.db.execute("SELECT app, key FROM accounts WHERE app = 'hubspot'").fetchall()
    assert settings.a_spec == "hubspot:Newsletter@123456" and settings.b_spec == f"vcard:{work}"
    assert known == [("hubspot", "hubspot:123456")]
    card_writer(work, "dee", "Dee", "Ash", "dee@example.org")  # one more since the wizard
    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    with Store(store_path) as store:  # the connectors read PIESYNC_* and the keyring
        summary = run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(profile)))
    assert summary.created == {"a": 4, "b": 0}

    contacts = account.api.contacts()
    emails = {c["properties"]["email"] for c in contacts}
    assert emails == {"ann@example.org", "bob@example.org", "cy@example.org", "dee@example.org"}
    assert sorted(account.api.members(newsletter)) == sorted(c["id"] for c in contacts)
    lists = {lst["name"]: lst["listId"] for lst in account.api.lists()}
    [ann] = [c["id"] for c in contacts if c["properties"]["email"] == "ann@example.org"]
    assert account.api.members(lists["Customers"]) == [ann]  # Ann's tag, as a static list
