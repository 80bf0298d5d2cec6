"""Authorization of an Outlook 365 mailbox: a sign-in with Microsoft in the system browser (off the
GUI thread, with the address also shown to copy where no browser opens), or with a code on another
device for a computer without a browser; then the mailbox's contact folders listed and one chosen,
since a connection covers one folder. Accounts other connections already use are offered, and
listed with the sign-in this computer keeps for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop import secrets
from piesync_desktop.engine.connection_setup import ConnectedAccount
from piesync_desktop.engine.connectors.base import parse_spec
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.outlook.connector import (
    ContactFolder,
    OutlookContacts,
    OutlookLocation,
)
from piesync_desktop.engine.connectors.outlook.signin import (
    TOKEN_CACHE,
    MicrosoftAccounts,
    OutlookSettings,
    account_key,
)
from piesync_desktop.engine.errors import AuthExpired, ConfigError
from piesync_desktop.ui.icons import app_icon
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.authorization import AuthorizationContext
from piesync_desktop.ui.wizard.background import JobContext
from piesync_desktop.ui.wizard.common import account_form, explanation
from piesync_desktop.ui.wizard.form_authorization import BrowserSignInAuthorization

APP_KEY = "outlook"
CHANNEL = "sign-in"
SIGN_IN_TIMEOUT = 600.0  # seconds the browser's answer is awaited; then the sign-in is over
PROMPT = "Sign in with Microsoft in your browser, then choose which contact folder to sync."
WAITING = (
    "Finish signing in in your browser. This page goes on by itself once Microsoft lets "
    "piesync-desktop in."
)
NO_BROWSER = (
    "No browser opened. Open the address below in one (on this computer), and sign in there; "
    "or sign in with a code instead."
)
CODE_WAITING = (
    "Open the address below on any device with a browser (a phone will do), enter the code, "
    "and sign in there. This page goes on by itself once Microsoft lets piesync-desktop in."
)
SIGN_IN = "Sign in with Microsoft"
WITH_CODE = "Sign in with a code instead"
CODE_HINT = "for a computer without a browser: you sign in on another device."
CANCELLED = "The Microsoft sign-in was cancelled; nothing was changed."
SIGN_IN_AGAIN_HINT = "Sign in again only if Microsoft no longer takes the saved sign-in."
DEFAULT_FOLDER = "Contacts"
DEFAULT_NOTE = (
    "The contacts of the mailbox's default Contacts folder are synced, not those of its "
    "other folders."
)
FIELDS_NOTE = (
    "Outlook has no custom fields: only its standard fields are synced. Its categories are the "
    "tags."
)


@dataclass(frozen=True, slots=True)
class SignIn:
    """What one job asks: a sign-in in the browser (or, ``device``, with a code on another
    device), or (``saved``) the folders of an account already signed in on this computer.
    ``expected`` is Edit's sign-in again: it must be that account, and nothing is listed; the
    sign-in of another account is then forgotten again unless it is one of ``known`` (the
    accounts the store knows), whose sign-in other connections use."""

    saved: str = ""
    expected: str = ""
    device: bool = False
    known: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class BrowserAddress:
    """Reported by a browser sign-in once it listens for Microsoft's answer: the address."""

    url: str


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """Reported by a sign-in with a code: where to go, and the code to enter there."""

    user_code: str
    verification_uri: str
    message: str


@dataclass(frozen=True, slots=True)
class SignedInAccount:
    """The answer of a job: the account's username and its contact folders (the default one
    first; none for a sign-in again)."""

    request: SignIn
    account: str
    folders: tuple[ContactFolder, ...]


def sign_in(request: SignIn, ctx: JobContext) -> SignedInAccount:
    """On the worker thread: sign in with Microsoft (msal keeps the sign-in in the keyring), or
    take the keyring's sign-in, then list the mailbox's contact folders."""
    settings = OutlookSettings.from_env()
    http = HttpSettings.for_setup()
    if request.saved:
        if not secrets.load_secret(account_key(request.saved), TOKEN_CACHE):
            raise AuthExpired(
                f"The keyring no longer holds the Microsoft sign-in of {request.saved} on this "
                "computer. Sign in with Microsoft to use the account again."
            )
        return SignedInAccount(
            request, request.saved, list_folders(request.saved, settings, http, ctx)
        )
    accounts = MicrosoftAccounts(settings, http)
    try:
        if request.device:
            with accounts.start_device_sign_in() as device:
                ctx.report(DeviceCode(device.user_code, device.verification_uri, device.message))
                signed_in = device.wait(cancelled=ctx.cancelled)
        else:
            hint = request.expected or None
            with accounts.start_browser_sign_in(login_hint=hint) as flow:
                ctx.report(BrowserAddress(flow.url))
                signed_in = flow.wait(timeout=SIGN_IN_TIMEOUT, cancelled=ctx.cancelled)
        username = signed_in.username
        if request.expected:
            if account_key(username) != account_key(request.expected):
                if account_key(username) not in {account_key(k) for k in request.known}:
                    accounts.sign_out(username)  # not wanted here, and no connection's
                raise AuthExpired(
                    f"You signed in to Microsoft as {username}, but this connection syncs "
                    f"{request.expected}. Sign in again as {request.expected}; nothing was "
                    "changed.",
                    title="Another Microsoft account",
                )
            return SignedInAccount(request, username, ())
        ctx.check()
        return SignedInAccount(request, username, list_folders(username, settings, http, ctx))
    finally:
        accounts.close()


def list_folders(
    username: str, settings: OutlookSettings, http: HttpSettings, ctx: JobContext
) -> tuple[ContactFolder, ...]:
    """The mailbox's contact folders, the default Contacts folder first (a few requests, not
    the listing open() makes). The connector takes its tokens from the keyring's sign-in, as a
    run does, renewing a token Graph refuses once."""
    connector = OutlookContacts(f"@{username}", settings=settings, http=http)
    try:
        folders = connector.folders()
    finally:
        connector.close()
    ctx.check()
    return tuple(folders)


class OutlookAuthorization(BrowserSignInAuthorization):
    """Sign in with Microsoft (in the browser, or with a code); then one contact folder."""

    def __init__(self, context: AuthorizationContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self._request: SignIn | None = None
        self._account = ""
        self._folders: tuple[ContactFolder, ...] = ()
        self._url = ""
        self._code: DeviceCode | None = None
        self._read_only = False
        self._known: frozenset[str] = frozenset()  # the usernames of the accounts the store knows

        self.form, self.used_label, self.used_combo = account_form(
            self,
            "One contact folder of an Outlook 365 (Microsoft 365) mailbox. You sign in with "
            "Microsoft; only the sign-in is kept, in your system keyring, never your password.",
        )
        form = self.form

        account_row = QWidget(self)
        row = QHBoxLayout(account_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.account_label = QLabel(account_row)
        self.account_label.setTextFormat(Qt.TextFormat.PlainText)
        self.account_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.account_label.setAccessibleName("Microsoft account")
        font = QFont(self.account_label.font())
        font.setBold(True)
        self.account_label.setFont(font)
        self.sign_in_button = QPushButton(app_icon(APP_KEY), SIGN_IN, account_row)
        self.sign_in_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.cancel_button = QPushButton("Cancel", account_row)
        self.cancel_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.cancel_button.setToolTip("Stop waiting for the sign-in")
        row.addWidget(self.account_label)
        row.addWidget(self.sign_in_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        form.addRow("Account:", account_row)

        self.code_row = QWidget(self)
        code_line = QHBoxLayout(self.code_row)
        code_line.setContentsMargins(0, 0, 0, 0)
        self.code_button = QPushButton(WITH_CODE, self.code_row)
        self.code_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.code_button.setToolTip(
            "Sign in on another device (a phone will do) with a code this page shows"
        )
        self.code_hint = explanation(CODE_HINT, self.code_row)
        code_line.addWidget(self.code_button)
        code_line.addWidget(self.code_hint, 1)
        self._note_row(self.code_row)

        self.status = QLabel(PROMPT, self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._note_row(self.status)

        self.address_box = QWidget(self)
        box = QVBoxLayout(self.address_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(explanation("If no browser opened, open this address in one:", self))
        line = QHBoxLayout()
        self.address_edit = QLineEdit(self.address_box)
        self.address_edit.setReadOnly(True)
        self.address_edit.setAccessibleName("Sign-in address")
        self.copy_button = QPushButton("Copy", self.address_box)
        self.copy_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.copy_button.setToolTip("Copy the address, to paste it in a browser")
        line.addWidget(self.address_edit, 1)
        line.addWidget(self.copy_button)
        box.addLayout(line)
        self._note_row(self.address_box)

        self.code_box = QWidget(self)
        codes = QVBoxLayout(self.code_box)
        codes.setContentsMargins(0, 0, 0, 0)
        codes.addWidget(explanation("Open this address:", self.code_box))
        line = QHBoxLayout()
        self.verification_edit = QLineEdit(self.code_box)
        self.verification_edit.setReadOnly(True)
        self.verification_edit.setAccessibleName("Microsoft's sign-in address")
        self.copy_uri_button = QPushButton("Copy", self.code_box)
        self.copy_uri_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.copy_uri_button.setToolTip("Copy the address, to paste it in a browser")
        line.addWidget(self.verification_edit, 1)
        line.addWidget(self.copy_uri_button)
        codes.addLayout(line)
        codes.addWidget(explanation("and enter this code there:", self.code_box))
        line = QHBoxLayout()
        self.code_label = QLabel(self.code_box)
        self.code_label.setTextFormat(Qt.TextFormat.PlainText)
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.code_label.setAccessibleName("Sign-in code")
        big = QFont(self.code_label.font())
        big.setStyleHint(QFont.StyleHint.Monospace)
        big.setFamilies(["monospace"])
        big.setPointSizeF(big.pointSizeF() * 2 if big.pointSizeF() > 0 else 20)
        big.setBold(True)
        big.setLetterSpacing(QFont.SpacingType.PercentageSpacing, 110)
        self.code_label.setFont(big)
        self.copy_code_button = QPushButton("Copy code", self.code_box)
        self.copy_code_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.copy_code_button.setToolTip("Copy the code, to paste it on Microsoft's page")
        line.addWidget(self.code_label)
        line.addSpacing(12)
        line.addWidget(self.copy_code_button, 0, Qt.AlignmentFlag.AlignVCenter)
        line.addStretch(1)
        codes.addLayout(line)
        self._note_row(self.code_box)

        self.folder_combo = QComboBox(self)
        self.folder_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.folder_combo.setAccessibleName("Contact folder to sync")
        self.folder_note = explanation("", self)
        form.addRow("Folder:", self.folder_combo)
        self._note_row(self.folder_note)
        self.fields_note = explanation(FIELDS_NOTE, self)
        self._note_row(self.fields_note)

        self._show_account()
        self._show_waiting()
        self._show_used(False)
        self.sign_in_button.clicked.connect(self._start_sign_in)
        self.code_button.clicked.connect(self._start_device_sign_in)
        self.cancel_button.clicked.connect(self._cancel)
        self.copy_button.clicked.connect(self._copy_address)
        self.copy_uri_button.clicked.connect(self._copy_verification_uri)
        self.copy_code_button.clicked.connect(self._copy_code)
        self.used_combo.activated.connect(self._use_connected)
        self.folder_combo.currentIndexChanged.connect(self._on_folder_chosen)

    def spec(self) -> str:
        if not self._account:
            return ""
        return f"{APP_KEY}:{self.chosen_folder()}@{self._account}"

    def isComplete(self) -> bool:
        return bool(self._account)

    def load(self, spec: str) -> None:
        _app, location = parse_spec(spec)
        try:
            where = OutlookLocation.parse(location)
        except ConfigError as exc:
            self._show_problem(exc.message)
            return
        self._account = where.account
        default = ContactFolder("", DEFAULT_FOLDER, "", True)
        saved = ContactFolder("", where.folder.rsplit("/", 1)[-1], where.folder)
        self._folders = (default, saved) if where.folder else (default,)
        self._show_account()
        index = self.folder_combo.findData(where.folder)
        self.folder_combo.setCurrentIndex(max(index, 0))
        self._say("")
        self.changed.emit()

    def set_read_only(self, read_only: bool) -> None:
        """Edit keeps the account and the folder; only a sign-in again can be made (and must be
        the same account), for the day Microsoft stops taking the saved one."""
        self._read_only = read_only
        self._show_account_row()
        if read_only and not self.status.text():
            self._say(SIGN_IN_AGAIN_HINT)
        self.folder_combo.setEnabled(not read_only and bool(self._account))
        self._show_used(not read_only and self.used_combo.count() > 1)

    def set_connected_accounts(self, accounts: Sequence[ConnectedAccount]) -> None:
        offered = self._offer_accounts(
            accounts, APP_KEY, "Choose an account another connection uses…", lambda u: "@" in u
        )
        self._known = frozenset(offered)

    # -- state ------------------------------------------------------------------------------

    def account(self) -> str:
        """The signed-in account's username, or "" while there is none."""
        return self._account

    def chosen_folder(self) -> str:
        """The chosen folder's path; "" for the default Contacts folder."""
        data = self.folder_combo.currentData()
        return data if isinstance(data, str) else ""

    def waiting(self) -> bool:
        """Whether a sign-in (or a listing of folders) is running."""
        return self._request is not None

    def device_code(self) -> DeviceCode | None:
        """The code a running sign-in with a code waits for, once Microsoft gave it."""
        return self._code if self._request is not None else None

    # -- behaviour --------------------------------------------------------------------------

    def _use_connected(self, index: int) -> None:
        username = self.used_combo.itemData(index)
        self.used_combo.setCurrentIndex(0)
        if not username:
            return
        self._submit(SignIn(saved=username), f"Listing the contact folders of {username}…")

    def _start_sign_in(self) -> None:
        self._submit(self._new_sign_in(device=False), "Starting the sign-in…")

    def _start_device_sign_in(self) -> None:
        self._submit(self._new_sign_in(device=True), "Asking Microsoft for a code…")

    def _new_sign_in(self, device: bool) -> SignIn:
        """A new account's sign-in, or in Edit the same account's sign-in again."""
        if self._read_only:
            return SignIn(expected=self._account, device=device, known=self._known)
        return SignIn(device=device)

    def _submit(self, request: SignIn, text: str) -> None:
        """Start a job on the side's worker thread; it replaces a running one (whose wait
        notices within moments)."""
        self._request = request
        self._url = ""
        self._code = None
        if not request.expected:  # a new sign-in or account: what was chosen no longer holds
            self._account = ""
            self._folders = ()
            self._show_account()
        self._say(text)
        self._show_waiting()
        self.changed.emit()
        self.context.runner.submit(
            CHANNEL,
            lambda ctx: sign_in(request, ctx),
            self._on_signed_in,
            lambda problem: self._on_failed(request, problem),
            self._on_progress,
        )

    def _on_progress(self, value: object) -> None:
        """The sign-in waits: open its address in the browser, or show the code (on the GUI
        thread)."""
        if self._request is None:
            return
        if isinstance(value, BrowserAddress):
            self._url = value.url
            self.address_edit.setText(value.url)
            self.address_edit.setCursorPosition(0)
            self.copy_button.setText("Copy")
            opened = QDesktopServices.openUrl(QUrl(value.url))
            self._say(WAITING if opened else NO_BROWSER)
        elif isinstance(value, DeviceCode):
            self._code = value
            self.verification_edit.setText(value.verification_uri)
            self.verification_edit.setCursorPosition(0)
            self.code_label.setText(value.user_code)
            self.code_box.setToolTip(value.message)
            self.copy_uri_button.setText("Copy")
            self.copy_code_button.setText("Copy code")
            self._say(CODE_WAITING)
        self._show_waiting()

    def _on_signed_in(self, signed_in: SignedInAccount) -> None:
        if signed_in.request is not self._request:
            return
        self._request = None
        self._show_waiting()
        if signed_in.request.expected:
            self._say(
                f"Signed in again as {signed_in.account}; the new sign-in is kept in your keyring."
            )
            return
        self._account = signed_in.account
        self._folders = signed_in.folders
        self._show_account()
        count = len(self._folders)
        self._say(
            f"{count} contact folders found: a connection syncs one of them; choose which."
            if count > 1
            else "Only the Contacts folder in this mailbox: its contacts are synced."
        )
        self.changed.emit()

    def _on_failed(self, request: SignIn, problem: TaskError) -> None:
        if request is not self._request:
            return
        self._request = None
        self._show_waiting()
        self._say(problem.message, problem=True)
        self.changed.emit()

    def _cancel(self) -> None:
        """Stop the running sign-in: its wait notices within moments."""
        if self._request is None:
            return
        self.context.runner.cancel(CHANNEL)
        self._request = None
        self._say(CANCELLED)
        self._show_waiting()
        self.changed.emit()

    def _copy_verification_uri(self) -> None:
        if self._code is not None:
            QGuiApplication.clipboard().setText(self._code.verification_uri)
            self.copy_uri_button.setText("Copied")

    def _copy_code(self) -> None:
        if self._code is not None:
            QGuiApplication.clipboard().setText(self._code.user_code)
            self.copy_code_button.setText("Copied")

    def _show_problem(self, message: str) -> None:
        self._account = ""
        self._folders = ()
        self._show_account()
        self._say(message, problem=True)

    def _show_waiting(self) -> None:
        waiting = self._request is not None
        device = waiting and self._request is not None and self._request.device
        self.sign_in_button.setEnabled(not waiting)
        self.used_combo.setEnabled(not waiting)
        self.cancel_button.setVisible(waiting)
        # While the browser's answer is awaited a code can still be asked for (the browser may
        # never have opened): it replaces that wait. While a code is shown, it is the way.
        self._show_row(self.code_row, not device)
        self._show_row(self.address_box, waiting and not device and bool(self._url))
        self._show_row(self.code_box, device and self._code is not None)

    def _show_account(self) -> None:
        """The account and its folders, as they are now (the default folder chosen)."""
        self._show_account_row()
        signed_in = bool(self._account)
        combo = self.folder_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            for folder in self._folders:
                if folder.default:
                    combo.addItem(folder.name or DEFAULT_FOLDER, "")
                else:
                    combo.addItem(folder.path, folder.path)
            combo.setPlaceholderText("" if signed_in else "Sign in first")
            combo.setCurrentIndex(0 if signed_in and self._folders else -1)
        finally:
            combo.blockSignals(False)
        combo.setEnabled(signed_in and not self._read_only)
        self._show_folder_note()

    def _show_account_row(self) -> None:
        signed_in = bool(self._account)
        self.account_label.setText(self._account)
        self.account_label.setVisible(signed_in)
        if self._read_only:
            self.sign_in_button.setText("Sign in again")
            self.code_button.setText("Sign in again with a code")
        else:
            self.sign_in_button.setText("Use another account" if signed_in else SIGN_IN)
            self.code_button.setText("Use another account with a code" if signed_in else WITH_CODE)

    def _show_folder_note(self) -> None:
        folder = self.chosen_folder()
        if not self._account:
            text = ""
        elif folder:
            text = (
                f"Only the contacts of the folder '{folder}' are synced; contacts the other "
                "app adds go into it."
            )
        else:
            text = DEFAULT_NOTE
        self.folder_note.setText(text)
        self._show_row(self.folder_note, bool(text))

    def _on_folder_chosen(self, _index: int) -> None:
        self._show_folder_note()
        self.changed.emit()

    # -- Qt ---------------------------------------------------------------------------------
