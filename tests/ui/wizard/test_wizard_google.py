"""The Google account's authorization against the OAuth and People API emulators, the test
playing the person's browser: the sign-in off the GUI thread, the refresh token kept in the
keyring, the labels listed and one chosen, a refusal and a missing OAuth client said as
sentences, Cancel (and the wizard closing, and another app chosen) stopping the wait, Edit,
accounts already connected, and a whole wizard to a real sync into the People API."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers.connections import save_connection
from helpers.dav_servers import free_port
from helpers.google_account import EMAIL, GoogleAccount
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import QLabel

from piesync_desktop import paths, secrets
from piesync_desktop.engine.connection import Direction
from piesync_desktop.engine.connection_setup import (
    ConnectedAccount,
)
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.connectors.google.oauth import CLIENT_HELP, REFRESH_TOKEN
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.wizard import google_account
from piesync_desktop.ui.wizard.authorization import AuthorizationContext
from piesync_desktop.ui.wizard.background import Background
from piesync_desktop.ui.wizard.common import PROBLEM_COLOUR
from piesync_desktop.ui.wizard.google_account import (
    CANCELLED,
    PROMPT,
    WAITING,
    GoogleAuthorization,
)
from piesync_desktop.ui.wizard.wizard import PageId

WAIT_MS = 10_000
KEY = (f"{secrets.SERVICE}:google:{EMAIL}", REFRESH_TOKEN)  # where the keyring holds the sign-in


class Browser(QObject):
    """The person's browser, as QDesktopServices.openUrl reaches it: it records the address
    and, when the person agrees, gets Google's consent and follows the redirect back to the
    program's loopback server on a plain thread (as GoogleAccount.sign_in does)."""

    def __init__(self, account: GoogleAccount) -> None:
        super().__init__()
        self.account = account
        self.agrees = True
        self.opened: list[str] = []
        self.answers: list[int] = []  # the status of the loopback server's page, per sign-in

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        address = url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
        self.opened.append(address)
        if self.agrees:
            threading.Thread(target=self._consent, args=(address,), daemon=True).start()

    def _consent(self, address: str) -> None:
        context = ssl.create_default_context(cafile=str(self.account.ca_file))
        with httpx.Client(verify=context, trust_env=False) as google:
            consent = google.get(address, follow_redirects=False)
        with httpx.Client(trust_env=False) as loopback:
            self.answers.append(loopback.get(consent.headers["location"]).status_code)


@pytest.fixture
def account(tmp_path: Path, monkeypatch) -> Iterator[GoogleAccount]:
    """Ada's Google account with three labels, the real code pointed at it by PIESYNC_*."""
    google = GoogleAccount(tmp_path / "google")
    for name, value in google.env.items():
        monkeypatch.setenv(name, value)
    for name in ("Friends", "Customers", "Family"):
        google.api.add_group(name)
    yield google
    google.close()
    assert google.api.internal_errors == []


@pytest.fixture(autouse=True)
def browser(qtbot, account: GoogleAccount) -> Iterator[Browser]:
    """Every https address the program opens goes to the fake browser, never a real one."""
    fake = Browser(account)
    QDesktopServices.setUrlHandler("https", fake, "open")
    yield fake
    QDesktopServices.unsetUrlHandler("https")


@pytest.fixture
def widget(qtbot) -> Iterator[GoogleAuthorization]:
    """The widget alone, on its own worker thread as an app page gives it one."""
    runner = Background("google-test")
    authorization = GoogleAuthorization(AuthorizationContext(runner, "first"))
    qtbot.addWidget(authorization)
    yield authorization
    runner.shutdown()


@pytest.fixture
def waits(monkeypatch) -> list[str]:
    """How each sign-in's wait for the browser ended: "tokens" or the exception's name."""
    ended: list[str] = []

    class Recorded(google_account.LoopbackSignIn):
        def wait(self, *args, **kwargs):
            try:
                tokens = super().wait(*args, **kwargs)
            except Exception as exc:
                ended.append(type(exc).__name__)
                raise
            ended.append("tokens")
            return tokens

    monkeypatch.setattr(google_account, "LoopbackSignIn", Recorded)
    return ended


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def signed_in(qtbot, widget: GoogleAuthorization) -> None:
    """Press Sign in with Google; the browser agrees; wait for the labels."""
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.isComplete(), widget.status.text()


def items(widget: GoogleAuthorization) -> list[str]:
    combo = widget.contacts_combo
    return [combo.itemText(i) for i in range(combo.count())]


def squeezed(widget: GoogleAuthorization) -> list[str]:
    """The shown sentences of the widget that have less height than their text needs."""
    return [
        label.text()
        for label in widget.findChildren(QLabel)
        if label.isVisible() and label.wordWrap() and label.text()
        if label.height() < label.heightForWidth(label.width())
    ]


def in_problem_colour(widget: GoogleAuthorization) -> bool:
    return widget.status.palette().color(QPalette.ColorRole.WindowText) == PROBLEM_COLOUR


def test_the_sign_in_runs_off_the_gui_thread_and_lists_the_labels_for_all_contacts(
    qtbot, widget, account, browser, memory_keyring, monkeypatch
):
    threads: list[int] = []
    save = google_account.save_sign_in

    def recording(tokens):
        threads.append(threading.get_ident())
        save(tokens)

    monkeypatch.setattr(google_account, "save_sign_in", recording)
    assert widget.status.text() == PROMPT and widget.spec() == "" and not widget.isComplete()
    assert not widget.account_label.isVisibleTo(widget)
    assert widget.sign_in_button.text() == "Sign in with Google"
    assert not widget.contacts_combo.isEnabled()
    assert not widget.cancel_button.isVisibleTo(widget)
    browser.agrees = False  # the person reads the consent screen first
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    [address] = browser.opened
    assert address.startswith(account.settings.auth_url + "?")
    assert widget.status.text() == WAITING
    assert widget.address_edit.text() == address and widget.address_edit.isReadOnly()
    assert widget.address_box.isVisibleTo(widget) and widget.cancel_button.isVisibleTo(widget)
    assert not widget.sign_in_button.isEnabled()
    click(qtbot, widget.copy_button)
    assert QGuiApplication.clipboard().text() == address

    browser._consent(address)  # the person agrees in the browser
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert browser.answers == [200]
    assert threads and threading.get_ident() not in threads
    assert widget.status.text() == (
        "3 labels found: sync all the account's contacts, or only those of one label."
    )
    assert widget.account_label.text() == EMAIL and widget.account_label.isVisibleTo(widget)
    assert widget.sign_in_button.text() == "Use another account"
    assert items(widget) == ["All contacts", "Customers", "Family", "Friends"]
    assert widget.isComplete() and widget.spec() == f"google:@{EMAIL}"
    assert widget.contacts_note.text() == google_account.ALL_NOTE
    assert not widget.address_box.isVisibleTo(widget)
    assert not widget.cancel_button.isVisibleTo(widget)
    assert list(memory_keyring.secrets) == [KEY]  # only the refresh token, in the keyring
    assert account.oauth.refresh_token_valid(memory_keyring.secrets[KEY])


def test_choosing_a_label_makes_it_the_spec(qtbot, widget):
    signed_in(qtbot, widget)
    with qtbot.waitSignal(widget.changed):
        widget.contacts_combo.setCurrentIndex(widget.contacts_combo.findText("Friends"))
    assert widget.spec() == f"google:Friends@{EMAIL}"
    assert "'Friends'" in widget.contacts_note.text()
    with qtbot.waitSignal(widget.changed):
        widget.contacts_combo.setCurrentIndex(0)
    assert widget.spec() == f"google:@{EMAIL}"


def test_access_denied_in_the_browser_is_a_sentence(
    qtbot, widget, account, browser, memory_keyring
):
    account.oauth.deny_next()
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert browser.answers == [200]  # the loopback page said it, the browser got it
    assert widget.status.text() == (
        "You did not allow piesync-desktop to use your Google contacts, so nothing was "
        "connected. Sign in to Google again and choose Allow to connect them."
    )
    assert in_problem_colour(widget)
    assert not widget.isComplete() and widget.spec() == "" and memory_keyring.secrets == {}
    assert widget.sign_in_button.isEnabled() and not widget.cancel_button.isVisibleTo(widget)


def test_without_an_oauth_client_the_sentence_says_how_to_set_one_up(
    qtbot, widget, browser, monkeypatch
):
    monkeypatch.delenv("PIESYNC_GOOGLE_CLIENT_ID")
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == "PIESYNC_GOOGLE_CLIENT_ID is not set. " + CLIENT_HELP
    assert in_problem_colour(widget) and not widget.isComplete()
    assert browser.opened == []


def test_an_unreachable_people_api_after_the_sign_in_is_a_sentence(qtbot, widget, monkeypatch):
    monkeypatch.setenv("PIESYNC_PEOPLE_URL", f"https://127.0.0.1:{free_port()}/")
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text().startswith("Cannot reach 127.0.0.1: ")
    assert widget.status.text().endswith("Check the address and your network.")
    assert in_problem_colour(widget) and not widget.isComplete()


def test_cancel_stops_the_wait_and_a_later_answer_finds_nobody(
    qtbot, widget, browser, waits, memory_keyring
):
    browser.agrees = False
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    click(qtbot, widget.cancel_button)
    assert widget.status.text() == CANCELLED and not in_problem_colour(widget)
    assert not widget.waiting() and widget.sign_in_button.isEnabled()
    qtbot.waitUntil(lambda: waits == ["Cancelled"], timeout=2_000)
    with pytest.raises(httpx.ConnectError):  # the loopback server stopped listening
        browser._consent(browser.opened[0])
    assert memory_keyring.secrets == {} and not widget.isComplete()
    qtbot.wait(100)  # a stale answer would reach the GUI thread by now
    assert widget.status.text() == CANCELLED

    browser.agrees = True  # the worker is free: a new sign-in goes through
    signed_in(qtbot, widget)
    assert waits == ["Cancelled", "tokens"]


def test_closing_the_wizard_stops_the_wait(qtbot, open_wizard, browser, waits):
    browser.agrees = False
    driver = open_wizard()
    driver.choose_app("Google Contacts")
    widget = driver.page().authorization()
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    driver.wizard.resize(1280, 800)
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    driver.shot("first-app-google-waiting")
    driver.wizard.reject()  # returns once the side's worker thread has stopped
    assert waits == ["Cancelled"]


def test_choosing_another_app_stops_the_wait_and_frees_the_sides_worker(
    qtbot, open_wizard, browser, waits, folders
):
    browser.agrees = False
    driver = open_wizard()
    driver.choose_app("Google Contacts")
    widget = driver.page().authorization()
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    driver.choose_app("vCard folder")
    qtbot.waitUntil(lambda: widget.status.text() == CANCELLED, timeout=1_000)
    driver.type_folder(folders[0])  # counted on the same worker thread, at once
    qtbot.waitUntil(lambda: waits == ["Cancelled"], timeout=2_000)


def test_edit_shows_the_saved_side_read_only_and_can_sign_in_again(
    qtbot, open_wizard, account, browser, store_path, tmp_path, memory_keyring
):
    account.sign_in()
    folder = tmp_path / "folder"
    folder.mkdir()
    spec = f"google:Friends@{EMAIL}"
    save_connection(store_path, "Old", spec, f"vcard:{folder}")
    authorizations = account.oauth.requests.count("authorize")

    driver = open_wizard("Old")
    driver.wait_complete()
    widget = driver.page().authorization()
    assert isinstance(widget, GoogleAuthorization)
    assert widget.spec() == spec and widget.isComplete()
    assert widget.account_label.text() == EMAIL
    assert items(widget) == ["All contacts", "Friends"]
    assert widget.contacts_combo.currentText() == "Friends"
    assert not widget.contacts_combo.isEnabled()
    assert not widget.used_combo.isVisibleTo(widget)  # the account is its own
    assert widget.status.text() == google_account.SIGN_IN_AGAIN_HINT
    assert not in_problem_colour(widget) and not widget.cancel_button.isVisibleTo(widget)
    assert widget.sign_in_button.text() == "Sign in again" and widget.sign_in_button.isEnabled()
    assert browser.opened == [] and not widget.context.runner.busy(google_account.CHANNEL)
    driver.wizard.resize(1280, 800)
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    driver.shot("edit-google")

    old = memory_keyring.secrets[KEY]
    account.oauth.email = "bob@example.com"  # the browser is signed in to another account
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        f"You signed in to Google as bob@example.com, but this connection syncs {EMAIL}. "
        f"Sign in again as {EMAIL}; nothing was changed."
    )
    assert in_problem_colour(widget) and memory_keyring.secrets[KEY] == old
    assert widget.spec() == spec and widget.isComplete()

    account.oauth.email = EMAIL
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        f"Signed in again as {EMAIL}; the new sign-in is kept in your keyring."
    )
    assert memory_keyring.secrets[KEY] != old
    assert account.oauth.refresh_token_valid(memory_keyring.secrets[KEY])
    assert widget.spec() == spec
    assert account.oauth.requests.count("authorize") == authorizations + 2


def test_loading_a_saved_side_asks_nothing_of_google(widget, account):
    widget.load(f"google:Family@{EMAIL}")
    widget.set_read_only(True)
    assert widget.spec() == f"google:Family@{EMAIL}" and widget.isComplete()
    assert account.oauth.requests == [] and account.api.requests == []


def test_an_account_already_connected_is_listed_without_signing_in(
    qtbot, open_wizard, account, browser, store_path, tmp_path
):
    account.sign_in()
    folder = tmp_path / "folder"
    folder.mkdir()
    save_connection(store_path, "Old", f"google:Family@{EMAIL}", f"vcard:{folder}")
    before = list(account.oauth.requests)

    driver = open_wizard()
    driver.wizard.resize(1280, 800)
    driver.choose_app("Google Contacts")
    widget = driver.page().authorization()
    assert widget.used_combo.isVisibleTo(widget)
    used = [widget.used_combo.itemText(i) for i in range(widget.used_combo.count())]
    assert used[1:] == [f"{EMAIL}  (in 'Old')"]
    widget.used_combo.activated.emit(1)  # what choosing the item in the list does
    assert widget.status.text() == f"Listing the labels of {EMAIL}…"
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert driver.page().isComplete() and widget.spec() == f"google:@{EMAIL}"
    assert items(widget) == ["All contacts", "Customers", "Family", "Friends"]
    assert browser.opened == []
    assert account.oauth.requests[len(before) :] == ["token refresh_token"]  # no new sign-in
    widget.contacts_combo.setCurrentIndex(widget.contacts_combo.findText("Customers"))
    assert widget.spec() == f"google:Customers@{EMAIL}"
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)  # its note took a line more
    driver.shot("first-app-google-connected")


def test_an_account_whose_sign_in_is_gone_asks_for_a_new_one(qtbot, widget):
    widget.set_connected_accounts([ConnectedAccount("google", f"google:{EMAIL}", f"@{EMAIL}")])
    widget.used_combo.activated.emit(1)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        f"The keyring no longer holds the Google sign-in of {EMAIL} on this computer. Sign in "
        "with Google to use the account again."
    )
    assert in_problem_colour(widget) and not widget.isComplete()


def test_google_and_a_folder_from_app_choice_to_finish_then_a_real_sync(
    qtbot, open_wizard, account, folders, card_writer, store_path, profile
):
    work, _phone = folders
    driver = open_wizard()
    driver.wizard.resize(1280, 800)
    driver.choose_app("Google Contacts")
    widget = driver.page().authorization()
    assert not driver.page().isComplete()
    signed_in(qtbot, widget)
    widget.contacts_combo.setCurrentIndex(widget.contacts_combo.findText("Family"))
    driver.wait_complete()
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    driver.shot("first-app-google")
    driver.next()

    driver.choose_app()
    driver.type_folder(work)
    driver.next()
    assert driver.page().buttons[Direction.TWO_WAY].isChecked()
    while driver.wizard.currentId() < PageId.SUMMARY:
        driver.wait_complete()
        driver.next()
    name = f"Family@{EMAIL} and work"  # the engine's suggestion: the two locations
    assert driver.page().name_edit.text() == name
    assert driver.finish() == name

    with Store(store_path) as store:
        settings = store.connection(name)
    assert settings.a_spec == f"google:Family@{EMAIL}" and settings.b_spec == f"vcard:{work}"
    card_writer(work, "dee", "Dee", "Ash", "dee@example.org")  # one more since the wizard
    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    with Store(store_path) as store:  # the connectors read PIESYNC_* and the keyring
        summary = run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(profile)))
    assert summary.created == {"a": 4, "b": 0}

    persons = account.api.persons()
    emails = {item["value"] for person in persons for item in person.get("emailAddresses", ())}
    assert emails == {"ann@example.org", "bob@example.org", "cy@example.org", "dee@example.org"}
    groups = {group["name"]: group["resourceName"] for group in account.api.groups()}
    family = set(account.api.members(groups["Family"]))
    assert family == {person["resourceName"] for person in persons}
    assert set(account.api.members(groups["Customers"])) < family  # Ann's tag, as a label
