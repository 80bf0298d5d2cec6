"""The Outlook 365 authorization against the Microsoft identity and Graph emulators, the test
playing the person's browser (and the other device of a sign-in with a code): the sign-in off the
GUI thread, its token cache kept in the keyring, the mailbox's contact folders listed (the
default one first, child folders by path) and one chosen, a refusal and a missing app
registration said as sentences, Cancel (and the wizard closing, and another app chosen) stopping
the wait, Edit and its sign-in again, accounts already connected, and a whole wizard to a real
sync into the Graph emulator."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers.connections import save_connection
from helpers.dav_servers import free_port
from helpers.outlook_account import USERNAME, OutlookAccount
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import QLabel, QPushButton

from piesync_desktop import paths, secrets
from piesync_desktop.engine.connection import Direction
from piesync_desktop.engine.connection_setup import ConnectedAccount
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.connectors.outlook.signin import (
    CLIENT_HELP,
    TOKEN_CACHE,
    OutlookSettings,
)
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.wizard import outlook_account
from piesync_desktop.ui.wizard.authorization import AuthorizationContext
from piesync_desktop.ui.wizard.background import Background
from piesync_desktop.ui.wizard.common import PROBLEM_COLOUR
from piesync_desktop.ui.wizard.outlook_account import (
    CANCELLED,
    CODE_WAITING,
    PROMPT,
    WAITING,
    OutlookAuthorization,
)
from piesync_desktop.ui.wizard.wizard import PageId

WAIT_MS = 10_000
KEY = (f"{secrets.SERVICE}:outlook:{USERNAME}", TOKEN_CACHE)  # where the keyring holds it
FOLDERS = ["Contacts", "Family", "Work", "Work/Clients"]  # as the combo lists them


class Browser(QObject):
    """The person's browser, as QDesktopServices.openUrl reaches it: it records the address
    and, when the person agrees, plays Microsoft's consent and the redirect back to the
    program's loopback server on a plain thread (as OutlookAccount.sign_in does)."""

    def __init__(self, account: OutlookAccount) -> None:
        super().__init__()
        self.account = account
        self.agrees = True
        self.opened: list[str] = []
        self.played: list[str] = []  # "ok", or what went wrong, per sign-in played

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        address = url.toString(QUrl.ComponentFormattingOption.FullyEncoded)
        self.opened.append(address)
        if self.agrees:
            threading.Thread(target=self.play, args=(address,), daemon=True).start()

    def play(self, address: str) -> None:
        try:
            self.account.play_browser(address)
        except Exception as exc:
            self.played.append(f"{type(exc).__name__}: {exc}")
            raise
        self.played.append("ok")


@pytest.fixture
def account(tmp_path: Path, monkeypatch) -> Iterator[OutlookAccount]:
    """Ada's mailbox with a child folder of Contacts, and Work with one of its own; the real
    code pointed at both emulators by PIESYNC_*."""
    outlook = OutlookAccount(tmp_path / "outlook")
    outlook.identity.device_interval = 0  # the program's own polling floor decides
    for name, value in outlook.env.items():
        monkeypatch.setenv(name, value)
    graph = outlook.graph
    graph.add_folder("Family", parent_id=graph.default_folder_id)
    work = graph.add_folder("Work")
    graph.add_folder("Clients", parent_id=work)
    yield outlook
    outlook.close()
    assert outlook.graph.internal_errors == []


@pytest.fixture(autouse=True)
def browser(qtbot, account: OutlookAccount) -> Iterator[Browser]:
    """Every https address the program opens goes to the fake browser, never a real one."""
    fake = Browser(account)
    QDesktopServices.setUrlHandler("https", fake, "open")
    yield fake
    QDesktopServices.unsetUrlHandler("https")


@pytest.fixture
def widget(qtbot) -> Iterator[OutlookAuthorization]:
    """The widget alone, on its own worker thread as an app page gives it one."""
    runner = Background("outlook-test")
    authorization = OutlookAuthorization(AuthorizationContext(runner, "first"))
    qtbot.addWidget(authorization)
    yield authorization
    runner.shutdown()


@pytest.fixture
def waits(monkeypatch) -> list[str]:
    """How each sign-in's wait ended (browser or code): "signed in" or the exception's name."""
    ended: list[str] = []
    accounts_class = outlook_account.MicrosoftAccounts

    def recorded(flow):
        wait = flow.wait

        def waiting(*args, **kwargs):
            try:
                signed_in = wait(*args, **kwargs)
            except Exception as exc:
                ended.append(type(exc).__name__)
                raise
            ended.append("signed in")
            return signed_in

        flow.wait = waiting
        return flow

    class Recorded(accounts_class):
        def start_browser_sign_in(self, **kwargs):
            return recorded(super().start_browser_sign_in(**kwargs))

        def start_device_sign_in(self):
            return recorded(super().start_device_sign_in())

    monkeypatch.setattr(outlook_account, "MicrosoftAccounts", Recorded)
    return ended


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def signed_in(qtbot, widget: OutlookAuthorization) -> None:
    """Press Sign in with Microsoft; the browser agrees; wait for the folders."""
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.isComplete(), widget.status.text()


def shown_code(qtbot, widget: OutlookAuthorization) -> str:
    """Press Sign in with a code instead; wait for Microsoft's code on the page."""
    click(qtbot, widget.code_button)
    qtbot.waitUntil(lambda: widget.device_code() is not None, timeout=WAIT_MS)
    code = widget.device_code()
    assert code is not None
    return code.user_code


def items(widget: OutlookAuthorization) -> list[str]:
    combo = widget.folder_combo
    return [combo.itemText(i) for i in range(combo.count())]


def squeezed(widget: OutlookAuthorization) -> list[str]:
    """The shown sentences of the widget that have less height than their text needs."""
    return [
        label.text()
        for label in widget.findChildren(QLabel)
        if label.isVisible() and label.wordWrap() and label.text()
        if label.height() < label.heightForWidth(label.width())
    ]


def cut_off(widget: OutlookAuthorization) -> list[str]:
    """The shown one-line labels and buttons of the widget narrower than their text."""
    found = []
    for child in [*widget.findChildren(QLabel), *widget.findChildren(QPushButton)]:
        if not child.isVisible() or not child.text():
            continue
        if isinstance(child, QLabel) and child.wordWrap():
            continue
        if child.width() < child.sizeHint().width():
            found.append(child.text())
    return found


def in_problem_colour(widget: OutlookAuthorization) -> bool:
    return widget.status.palette().color(QPalette.ColorRole.WindowText) == PROBLEM_COLOUR


def refresh_token(cache: str) -> str:
    """The refresh token in msal's serialized token cache (one account's)."""
    [entry] = json.loads(cache)["RefreshToken"].values()
    return entry["secret"]


def not_set_up_message() -> str:
    with pytest.raises(ConfigError) as raised:
        OutlookSettings.from_env({})
    return raised.value.message


def test_the_browser_sign_in_runs_off_the_gui_thread_and_lists_the_folders(
    qtbot, widget, account, browser, memory_keyring, monkeypatch
):
    threads: list[int] = []
    listed = outlook_account.list_folders

    def recording(*args, **kwargs):
        threads.append(threading.get_ident())
        return listed(*args, **kwargs)

    monkeypatch.setattr(outlook_account, "list_folders", recording)
    assert widget.status.text() == PROMPT and widget.spec() == "" and not widget.isComplete()
    assert not widget.account_label.isVisibleTo(widget)
    assert widget.sign_in_button.text() == "Sign in with Microsoft"
    assert widget.code_button.text() == "Sign in with a code instead"
    assert not widget.folder_combo.isEnabled()
    assert not widget.cancel_button.isVisibleTo(widget)
    assert widget.fields_note.isVisibleTo(widget)
    assert widget.fields_note.text() == (
        "Outlook has no custom fields: only its standard fields are synced. Its categories are "
        "the tags."
    )
    browser.agrees = False  # the person reads the consent screen first
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    [address] = browser.opened
    assert address.startswith(f"{account.identity.authority}/oauth2/v2.0/authorize?")
    assert "code_challenge_method=S256" in address
    assert widget.status.text() == WAITING
    assert widget.address_edit.text() == address and widget.address_edit.isReadOnly()
    assert widget.address_box.isVisibleTo(widget) and widget.cancel_button.isVisibleTo(widget)
    assert not widget.code_box.isVisibleTo(widget)
    assert not widget.sign_in_button.isEnabled() and widget.code_button.isEnabled()
    click(qtbot, widget.copy_button)
    assert QGuiApplication.clipboard().text() == address
    assert widget.copy_button.text() == "Copied"

    account.play_browser(address)  # the person agrees in the browser
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert threads and threading.get_ident() not in threads
    assert widget.status.text() == (
        "4 contact folders found: a connection syncs one of them; choose which."
    )
    assert widget.account_label.text() == USERNAME and widget.account_label.isVisibleTo(widget)
    assert widget.sign_in_button.text() == "Use another account"
    assert items(widget) == FOLDERS  # the default first, the others by path
    assert widget.folder_combo.currentText() == "Contacts" and widget.folder_combo.isEnabled()
    assert widget.isComplete() and widget.spec() == f"outlook:@{USERNAME}"
    assert widget.folder_note.text() == outlook_account.DEFAULT_NOTE
    assert not widget.address_box.isVisibleTo(widget)
    assert not widget.cancel_button.isVisibleTo(widget)
    assert list(memory_keyring.secrets) == [KEY]  # msal's token cache, in the keyring only
    assert account.identity.refresh_token_valid(refresh_token(memory_keyring.secrets[KEY]))


def test_where_no_browser_opens_the_address_and_the_code_are_offered(
    qtbot, widget, account, monkeypatch
):
    class NoDesktop:
        @staticmethod
        def openUrl(url: QUrl) -> bool:
            return False

    monkeypatch.setattr(outlook_account, "QDesktopServices", NoDesktop)
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(widget.address_edit.text()), timeout=WAIT_MS)
    assert widget.status.text() == outlook_account.NO_BROWSER and not in_problem_colour(widget)
    assert widget.address_box.isVisibleTo(widget) and widget.code_button.isEnabled()
    account.play_browser(widget.address_edit.text())  # pasted into a browser by hand
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.spec() == f"outlook:@{USERNAME}"


def test_choosing_a_folder_makes_it_the_spec(qtbot, widget):
    signed_in(qtbot, widget)
    with qtbot.waitSignal(widget.changed):
        widget.folder_combo.setCurrentIndex(widget.folder_combo.findText("Work/Clients"))
    assert widget.spec() == f"outlook:Work/Clients@{USERNAME}"
    assert widget.folder_note.text() == (
        "Only the contacts of the folder 'Work/Clients' are synced; contacts the other app "
        "adds go into it."
    )
    with qtbot.waitSignal(widget.changed):
        widget.folder_combo.setCurrentIndex(widget.folder_combo.findText("Family"))
    assert widget.spec() == f"outlook:Family@{USERNAME}"
    with qtbot.waitSignal(widget.changed):
        widget.folder_combo.setCurrentIndex(0)
    assert widget.spec() == f"outlook:@{USERNAME}"


def test_the_spec_opens_the_folder_it_names(qtbot, widget, account):
    signed_in(qtbot, widget)
    widget.folder_combo.setCurrentIndex(widget.folder_combo.findText("Work/Clients"))
    connector = open_connector(widget.spec())
    try:
        connector.open(None)
        clients = [f for f in account.graph.folders() if f["displayName"] == "Clients"]
        assert connector._folder_id == clients[0]["id"]
    finally:
        connector.close()


def test_a_mailbox_with_only_its_contacts_folder_says_so(qtbot, tmp_path, monkeypatch):
    bare = OutlookAccount(tmp_path / "bare")
    try:
        for name, value in bare.env.items():
            monkeypatch.setenv(name, value)
        fake = Browser(bare)
        QDesktopServices.setUrlHandler("https", fake, "open")
        runner = Background("outlook-bare")
        widget = OutlookAuthorization(AuthorizationContext(runner, "first"))
        qtbot.addWidget(widget)
        try:
            signed_in(qtbot, widget)
            assert widget.status.text() == (
                "Only the Contacts folder in this mailbox: its contacts are synced."
            )
            assert items(widget) == ["Contacts"] and widget.spec() == f"outlook:@{USERNAME}"
        finally:
            runner.shutdown()
    finally:
        bare.close()


def test_signing_in_with_a_code_shows_it_and_goes_on_once_approved(
    qtbot, widget, account, browser, waits, memory_keyring
):
    code = shown_code(qtbot, widget)
    assert widget.status.text() == CODE_WAITING
    assert widget.code_box.isVisibleTo(widget) and not widget.address_box.isVisibleTo(widget)
    assert widget.code_label.text() == code
    assert widget.code_label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert widget.code_label.font().pointSizeF() > widget.status.font().pointSizeF()
    assert widget.verification_edit.text() == f"{account.identity.url}/common/devicelogin"
    assert widget.cancel_button.isVisibleTo(widget) and not widget.code_row.isVisibleTo(widget)
    click(qtbot, widget.copy_code_button)
    assert QGuiApplication.clipboard().text() == code
    assert widget.copy_code_button.text() == "Copied"
    click(qtbot, widget.copy_uri_button)
    assert QGuiApplication.clipboard().text() == widget.verification_edit.text()
    assert browser.opened == []  # nothing opens on this computer

    account.identity.approve_device(code)  # the person enters it on their phone
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert waits == ["signed in"]
    assert widget.isComplete() and widget.account_label.text() == USERNAME
    assert items(widget) == FOLDERS and widget.spec() == f"outlook:@{USERNAME}"
    assert not widget.code_box.isVisibleTo(widget)
    assert list(memory_keyring.secrets) == [KEY]
    assert "authorize" not in account.identity.requests
    assert "token device_code" in account.identity.requests


def test_a_code_can_be_asked_for_while_the_browser_is_awaited(
    qtbot, widget, account, browser, waits
):
    browser.agrees = False  # no browser opened, whatever the desktop said
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    assert widget.code_button.isEnabled()
    code = shown_code(qtbot, widget)  # replaces the wait for the browser
    assert waits == ["Cancelled"]  # the browser's wait ended before the code was asked for
    assert not widget.address_box.isVisibleTo(widget) and widget.code_box.isVisibleTo(widget)
    with pytest.raises(httpx.ConnectError):  # the loopback server stopped listening
        browser.play(browser.opened[0])
    account.identity.approve_device(code)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert waits == ["Cancelled", "signed in"] and widget.spec() == f"outlook:@{USERNAME}"
    assert widget.code_button.text() == "Use another account with a code"


def test_a_declined_code_is_a_sentence(qtbot, widget, account):
    code = shown_code(qtbot, widget)
    account.identity.deny_device(code)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text().startswith(
        "You did not allow piesync-desktop to use your Outlook contacts ("
    )
    assert in_problem_colour(widget) and not widget.isComplete()
    assert not widget.code_box.isVisibleTo(widget) and widget.code_button.isEnabled()


def test_access_denied_in_the_browser_is_a_sentence(
    qtbot, widget, account, browser, memory_keyring
):
    account.identity.deny_next()
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    # The loopback page said it and the browser got it (its thread notes that just after).
    qtbot.waitUntil(lambda: browser.played != [], timeout=WAIT_MS)
    assert browser.played == ["ok"]
    assert widget.status.text() == (
        "You did not allow piesync-desktop to use your Outlook contacts (access_denied: "
        "AADSTS65004: User declined to consent to access the app.), so nothing was connected. "
        "Sign in again and accept to connect them."
    )
    assert in_problem_colour(widget)
    assert not widget.isComplete() and widget.spec() == "" and memory_keyring.secrets == {}
    assert widget.sign_in_button.isEnabled() and not widget.cancel_button.isVisibleTo(widget)


@pytest.mark.parametrize("button", ["sign_in_button", "code_button"])
def test_without_an_app_registration_the_sentence_says_how_to_set_one_up(
    qtbot, widget, account, browser, monkeypatch, button
):
    monkeypatch.delenv("PIESYNC_MS_CLIENT_ID")
    click(qtbot, getattr(widget, button))
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == not_set_up_message()
    assert widget.status.text() == "PIESYNC_MS_CLIENT_ID is not set. " + CLIENT_HELP
    assert "Microsoft Entra" in widget.status.text()
    assert in_problem_colour(widget) and not widget.isComplete()
    assert browser.opened == [] and account.identity.requests == []


def test_an_unreachable_graph_after_the_sign_in_is_a_sentence(qtbot, widget, monkeypatch):
    monkeypatch.setenv("PIESYNC_GRAPH_URL", f"https://127.0.0.1:{free_port()}/v1.0")
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text().startswith("Cannot reach 127.0.0.1: ")
    assert widget.status.text().endswith("Check the address and your network.")
    assert in_problem_colour(widget) and not widget.isComplete()


def test_an_unreachable_microsoft_is_a_sentence(qtbot, widget, monkeypatch, browser):
    monkeypatch.setenv("PIESYNC_MS_AUTHORITY", f"https://127.0.0.1:{free_port()}/common")
    click(qtbot, widget.code_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text().startswith("Cannot reach 127.0.0.1: ")
    assert in_problem_colour(widget) and not widget.isComplete() and browser.opened == []


def test_cancel_stops_the_wait_and_a_later_answer_finds_nobody(
    qtbot, widget, browser, waits, memory_keyring
):
    browser.agrees = False
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    click(qtbot, widget.cancel_button)
    assert widget.status.text() == CANCELLED and not in_problem_colour(widget)
    assert not widget.waiting() and widget.sign_in_button.isEnabled()
    assert not widget.address_box.isVisibleTo(widget)
    qtbot.waitUntil(lambda: waits == ["Cancelled"], timeout=2_000)
    with pytest.raises(httpx.ConnectError):  # the loopback server stopped listening
        browser.play(browser.opened[0])
    assert memory_keyring.secrets == {} and not widget.isComplete()
    qtbot.wait(100)  # a stale answer would reach the GUI thread by now
    assert widget.status.text() == CANCELLED

    browser.agrees = True  # the worker is free: a new sign-in goes through
    signed_in(qtbot, widget)
    assert waits == ["Cancelled", "signed in"]


def test_cancel_stops_the_wait_for_a_code(qtbot, widget, account, waits, memory_keyring):
    code = shown_code(qtbot, widget)
    click(qtbot, widget.cancel_button)
    assert widget.status.text() == CANCELLED and not in_problem_colour(widget)
    assert not widget.code_box.isVisibleTo(widget) and widget.code_row.isVisibleTo(widget)
    qtbot.waitUntil(lambda: waits == ["Cancelled"], timeout=2_000)
    polls = account.identity.requests.count("token device_code")
    account.identity.approve_device(code)  # too late: nobody asks any more
    qtbot.wait(1_500)
    assert account.identity.requests.count("token device_code") == polls
    assert memory_keyring.secrets == {} and not widget.isComplete()
    assert widget.status.text() == CANCELLED


def test_closing_the_wizard_stops_the_wait(qtbot, open_wizard, browser, waits):
    browser.agrees = False
    driver = open_wizard()
    driver.choose_app("Outlook 365")
    widget = driver.page().authorization()
    assert isinstance(widget, OutlookAuthorization)
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: bool(browser.opened), timeout=WAIT_MS)
    driver.wizard.resize(1280, 800)
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    assert cut_off(widget) == []
    driver.shot("first-app-outlook-waiting")
    driver.wizard.reject()  # returns once the side's worker thread has stopped
    assert waits == ["Cancelled"]


def test_the_code_page_in_the_wizard(qtbot, open_wizard, account, waits):
    driver = open_wizard()
    driver.choose_app("Outlook 365")
    widget = driver.page().authorization()
    code = shown_code(qtbot, widget)
    for size, name in (((1000, 720), "-small"), ((1280, 800), "")):  # its own size, and bigger
        driver.wizard.resize(*size)
        qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
        assert cut_off(widget) == []
        assert widget.code_label.text() == code and widget.code_label.isVisible()
        driver.shot(f"first-app-outlook-code{name}")
    driver.wizard.reject()
    assert waits == ["Cancelled"]


def test_choosing_another_app_stops_the_wait_and_frees_the_sides_worker(
    qtbot, open_wizard, browser, waits, folders
):
    browser.agrees = False
    driver = open_wizard()
    driver.choose_app("Outlook 365")
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
    spec = account.spec("Work/Clients")
    save_connection(store_path, "Old", spec, f"vcard:{folder}")
    authorizations = account.identity.requests.count("authorize")

    driver = open_wizard("Old")
    driver.wait_complete()
    widget = driver.page().authorization()
    assert isinstance(widget, OutlookAuthorization)
    assert widget.spec() == spec and widget.isComplete()
    assert widget.account_label.text() == USERNAME
    assert items(widget) == ["Contacts", "Work/Clients"]
    assert widget.folder_combo.currentText() == "Work/Clients"
    assert not widget.folder_combo.isEnabled()
    assert not widget.used_combo.isVisibleTo(widget)  # the account is its own
    assert widget.status.text() == outlook_account.SIGN_IN_AGAIN_HINT
    assert not in_problem_colour(widget) and not widget.cancel_button.isVisibleTo(widget)
    assert widget.sign_in_button.text() == "Sign in again" and widget.sign_in_button.isEnabled()
    assert widget.code_button.text() == "Sign in again with a code"
    assert browser.opened == [] and not widget.context.runner.busy(outlook_account.CHANNEL)
    driver.wizard.resize(1280, 800)
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    assert cut_off(widget) == []
    driver.shot("edit-outlook")

    old = memory_keyring.secrets[KEY]
    account.identity.username = "bob@contoso.com"  # the browser is signed in to another account
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        f"You signed in to Microsoft as bob@contoso.com, but this connection syncs {USERNAME}. "
        f"Sign in again as {USERNAME}; nothing was changed."
    )
    assert in_problem_colour(widget) and memory_keyring.secrets[KEY] == old
    assert list(memory_keyring.secrets) == [KEY]  # Bob's sign-in, wanted nowhere, is gone
    assert widget.spec() == spec and widget.isComplete()
    assert f"login_hint={USERNAME.replace('@', '%40')}" in browser.opened[-1]

    account.identity.username = USERNAME
    click(qtbot, widget.sign_in_button)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        f"Signed in again as {USERNAME}; the new sign-in is kept in your keyring."
    )
    assert not in_problem_colour(widget)
    assert memory_keyring.secrets[KEY] != old
    assert widget.spec() == spec and items(widget) == ["Contacts", "Work/Clients"]
    assert account.identity.requests.count("authorize") == authorizations + 2


def test_edit_can_sign_in_again_with_a_code(qtbot, open_wizard, account, store_path, tmp_path):
    account.sign_in()
    folder = tmp_path / "folder"
    folder.mkdir()
    save_connection(store_path, "Old", account.spec(), f"vcard:{folder}")
    driver = open_wizard("Old")
    driver.wait_complete()
    widget = driver.page().authorization()
    code = shown_code(qtbot, widget)
    account.identity.approve_device(code)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        f"Signed in again as {USERNAME}; the new sign-in is kept in your keyring."
    )
    assert widget.spec() == account.spec() and items(widget) == ["Contacts"]


def test_loading_a_saved_side_asks_nothing_of_microsoft(widget, account):
    widget.load(f"outlook:Family@{USERNAME}")
    widget.set_read_only(True)
    assert widget.spec() == f"outlook:Family@{USERNAME}" and widget.isComplete()
    assert widget.folder_combo.currentText() == "Family"
    assert account.identity.requests == [] and account.graph.requests == []


def test_loading_a_spec_without_an_account_is_a_sentence(widget):
    widget.load("outlook:Family")
    assert not widget.isComplete() and in_problem_colour(widget)
    assert widget.status.text().startswith("'outlook:Family' does not say which account")


def test_an_account_already_connected_is_listed_without_signing_in(
    qtbot, open_wizard, account, browser, store_path, tmp_path
):
    account.sign_in()
    folder = tmp_path / "folder"
    folder.mkdir()
    save_connection(store_path, "Old", account.spec("Family"), f"vcard:{folder}")
    before = list(account.identity.requests)

    driver = open_wizard()
    driver.wizard.resize(1280, 800)
    driver.choose_app("Outlook 365")
    widget = driver.page().authorization()
    assert widget.used_combo.isVisibleTo(widget)
    used = [widget.used_combo.itemText(i) for i in range(widget.used_combo.count())]
    assert used[1:] == [f"{USERNAME}  (in 'Old')"]
    widget.used_combo.activated.emit(1)  # what choosing the item in the list does
    assert widget.status.text() == f"Listing the contact folders of {USERNAME}…"
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert driver.page().isComplete() and widget.spec() == f"outlook:@{USERNAME}"
    assert items(widget) == FOLDERS
    assert browser.opened == []
    new = account.identity.requests[len(before) :]
    assert "authorize" not in new and "token device_code" not in new  # no new sign-in
    widget.folder_combo.setCurrentIndex(widget.folder_combo.findText("Work"))
    assert widget.spec() == f"outlook:Work@{USERNAME}"
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    assert cut_off(widget) == []
    driver.shot("first-app-outlook-connected")


def test_an_account_whose_sign_in_is_gone_asks_for_a_new_one(qtbot, widget, account):
    widget.set_connected_accounts(
        [ConnectedAccount("outlook", f"outlook:{USERNAME}", f"@{USERNAME}")]
    )
    widget.used_combo.activated.emit(1)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text() == (
        f"The keyring no longer holds the Microsoft sign-in of {USERNAME} on this computer. "
        "Sign in with Microsoft to use the account again."
    )
    assert in_problem_colour(widget) and not widget.isComplete()
    assert account.identity.requests == []


def test_an_account_microsoft_no_longer_accepts_asks_for_a_new_sign_in(qtbot, widget, account):
    account.sign_in()
    account.identity.revoke_refresh_tokens()
    account.identity.expire_access_tokens()
    widget.set_connected_accounts(
        [ConnectedAccount("outlook", f"outlook:{USERNAME}", f"@{USERNAME}")]
    )
    widget.used_combo.activated.emit(1)
    qtbot.waitUntil(lambda: not widget.waiting(), timeout=WAIT_MS)
    assert widget.status.text().startswith(
        f"Microsoft no longer accepts the sign-in of {USERNAME} (invalid_grant: AADSTS700082: "
    )
    assert widget.status.text().endswith("Sign in again.")
    assert in_problem_colour(widget) and not widget.isComplete()


def test_outlook_and_a_folder_from_app_choice_to_finish_then_a_real_sync(
    qtbot, open_wizard, account, folders, card_writer, store_path, profile
):
    work, _phone = folders
    driver = open_wizard()
    driver.wizard.resize(1280, 800)
    driver.choose_app("Outlook 365")
    widget = driver.page().authorization()
    assert not driver.page().isComplete()
    signed_in(qtbot, widget)
    widget.folder_combo.setCurrentIndex(widget.folder_combo.findText("Family"))
    driver.wait_complete()
    qtbot.waitUntil(lambda: squeezed(widget) == [], timeout=1_000)
    assert cut_off(widget) == []
    driver.shot("first-app-outlook")
    driver.next()

    driver.choose_app()
    driver.type_folder(work)
    driver.next()
    assert driver.page().buttons[Direction.TWO_WAY].isChecked()
    while driver.wizard.currentId() < PageId.SUMMARY:
        driver.wait_complete()
        driver.next()
    name = driver.page().name_edit.text()
    assert name == f"Family@{USERNAME} and work"  # the engine's suggestion: the two locations
    assert driver.finish() == name

    with Store(store_path) as store:
        settings = store.connection(name)
        known = store.db.execute("SELECT app, key FROM accounts WHERE app = 'outlook'").fetchall()
    assert settings.a_spec == f"outlook:Family@{USERNAME}" and settings.b_spec == f"vcard:{work}"
    assert known == [("outlook", f"outlook:{USERNAME}")]  # the account, as the CLI's signin
    card_writer(work, "dee", "Dee", "Ash", "dee@example.org")  # one more since the wizard
    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    with Store(store_path) as store:  # the connectors read PIESYNC_* and the keyring
        summary = run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(profile)))
    assert summary.created == {"a": 4, "b": 0}

    graph = account.graph
    [family] = [f["id"] for f in graph.folders() if f["displayName"] == "Family"]
    contacts = graph.contacts(family)
    emails = {item["address"] for c in contacts for item in c.get("emailAddresses") or ()}
    assert emails == {"ann@example.org", "bob@example.org", "cy@example.org", "dee@example.org"}
    assert graph.contacts(graph.default_folder_id) == []  # only the chosen folder
    [ann] = [c for c in contacts if c.get("givenName") == "Ann"]
    assert ann["categories"] == ["Customers"]  # Ann's tag, as a category
