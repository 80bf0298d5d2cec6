"""Authorization of a Google account: a sign-in in the system browser (off the GUI thread, with
the address also shown to copy where no browser opens), the account's labels (contact groups)
listed, and all its contacts or one label chosen. Accounts other connections already use are
offered, and listed with the sign-in the keyring keeps for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import (
    QDesktopServices,
    QFont,
    QStandardItemModel,
)
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
from piesync_desktop.engine.connectors.google.connector import GoogleContacts, GoogleLocation
from piesync_desktop.engine.connectors.google.oauth import (
    REFRESH_TOKEN,
    GoogleSettings,
    LoopbackSignIn,
    Tokens,
    TokenSource,
    account_key,
    save_sign_in,
)
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.errors import AuthExpired, ConfigError
from piesync_desktop.ui.icons import app_icon
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.authorization import AuthorizationContext
from piesync_desktop.ui.wizard.background import JobContext
from piesync_desktop.ui.wizard.common import account_form, explanation
from piesync_desktop.ui.wizard.form_authorization import BrowserSignInAuthorization

APP_KEY = "google"
CHANNEL = "sign-in"
SIGN_IN_TIMEOUT = 600.0  # seconds; Google's sign-in codes last ten minutes too
PROMPT = "Sign in with Google in your browser, then choose which contacts to sync."
WAITING = (
    "Finish signing in in your browser. This page goes on by itself once Google lets "
    "piesync-desktop in."
)
NO_BROWSER = (
    "No browser opened. Open the address below in one (on this computer), and sign in there."
)
SIGN_IN = "Sign in with Google"
CANCELLED = "The Google sign-in was cancelled; nothing was changed."
SIGN_IN_AGAIN_HINT = "Sign in again only if Google no longer takes the saved sign-in."
ALL_CONTACTS = "All contacts"
ALL_NOTE = "Every contact of the account is synced; its labels are kept as tags."
AT_IN_NAME = "A label with @ in its name cannot be synced on its own yet."


@dataclass(frozen=True, slots=True)
class SignIn:
    """What one job asks: a sign-in in the browser, or (``saved``) the labels of an account
    already signed in on this computer. ``expected`` is Edit's sign-in again: it must be that
    account, and nothing is listed."""

    saved: str = ""
    expected: str = ""


@dataclass(frozen=True, slots=True)
class BrowserAddress:
    """Reported by a sign-in job once it listens for Google's answer: the address to open."""

    url: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The answer of a job: the account's email and its labels (none for a sign-in again)."""

    request: SignIn
    account: str
    groups: tuple[str, ...]


def sign_in(request: SignIn, ctx: JobContext) -> SignedIn:
    """On the worker thread: sign in through the browser (or take the keyring's sign-in), keep
    the refresh token in the keyring, and list the account's labels."""
    settings = GoogleSettings.from_env()
    http = HttpSettings.for_setup()
    if request.saved:
        if not secrets.load_secret(account_key(request.saved), REFRESH_TOKEN):
            raise AuthExpired(
                f"The keyring no longer holds the Google sign-in of {request.saved} on this "
                "computer. Sign in with Google to use the account again."
            )
        return SignedIn(request, request.saved, list_groups(request.saved, settings, http, ctx))
    flow = LoopbackSignIn(settings, http, login_hint=request.expected or None)
    try:
        ctx.report(BrowserAddress(flow.url))
        tokens = flow.wait(SIGN_IN_TIMEOUT, ctx.cancelled)
    finally:
        flow.close()
    ctx.check()
    if request.expected:
        if account_key(tokens.account) != account_key(request.expected):
            raise AuthExpired(
                f"You signed in to Google as {tokens.account}, but this connection syncs "
                f"{request.expected}. Sign in again as {request.expected}; nothing was changed.",
                title="Another Google account",
            )
        save_sign_in(tokens)
        return SignedIn(request, tokens.account, ())
    save_sign_in(tokens)
    return SignedIn(
        request, tokens.account, list_groups(tokens.account, settings, http, ctx, tokens)
    )


def list_groups(
    email: str,
    settings: GoogleSettings,
    http: HttpSettings,
    ctx: JobContext,
    tokens: Tokens | None = None,
) -> tuple[str, ...]:
    """The names of the account's own labels (one request, not the listing open() makes)."""
    source = TokenSource(email, settings, http, tokens=tokens)
    connector = GoogleContacts(
        f"@{email}", settings=settings, http=http, tokens=source.access_token
    )
    try:
        names = connector.group_names()
    finally:
        connector.close()
        source.close()
    ctx.check()
    return tuple(name for name in names if name)


class GoogleAuthorization(BrowserSignInAuthorization):
    """Sign in with Google in the browser; then all the account's contacts, or one label."""

    def __init__(self, context: AuthorizationContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self._request: SignIn | None = None
        self._account = ""
        self._groups: tuple[str, ...] = ()
        self._url = ""
        self._read_only = False

        self.form, self.used_label, self.used_combo = account_form(
            self,
            "The contacts of a Google account, or of one of its labels (contact groups). "
            "You sign in in your browser; only the sign-in is kept, in your system keyring, "
            "never your password.",
        )
        form = self.form

        account_row = QWidget(self)
        row = QHBoxLayout(account_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.account_label = QLabel(account_row)
        self.account_label.setTextFormat(Qt.TextFormat.PlainText)
        self.account_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.account_label.setAccessibleName("Google account")
        font = QFont(self.account_label.font())
        font.setBold(True)
        self.account_label.setFont(font)
        self.sign_in_button = QPushButton(app_icon(APP_KEY), SIGN_IN, account_row)
        self.sign_in_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.cancel_button = QPushButton("Cancel", account_row)
        self.cancel_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.cancel_button.setToolTip("Stop waiting for the browser")
        row.addWidget(self.account_label)
        row.addWidget(self.sign_in_button)
        row.addWidget(self.cancel_button)
        row.addStretch(1)
        form.addRow("Account:", account_row)

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

        self.contacts_combo = QComboBox(self)
        self.contacts_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.contacts_combo.setAccessibleName("Contacts to sync")
        self.contacts_note = explanation("", self)
        form.addRow("Contacts:", self.contacts_combo)
        self._note_row(self.contacts_note)

        self._show_account()
        self._show_waiting()
        self._show_used(False)
        self.sign_in_button.clicked.connect(self._start_sign_in)
        self.cancel_button.clicked.connect(self._cancel)
        self.copy_button.clicked.connect(self._copy_address)
        self.used_combo.activated.connect(self._use_connected)
        self.contacts_combo.currentIndexChanged.connect(self._on_contacts_chosen)

    def spec(self) -> str:
        if not self._account:
            return ""
        return f"{APP_KEY}:{self.chosen_group()}@{self._account}"

    def isComplete(self) -> bool:
        return bool(self._account)

    def load(self, spec: str) -> None:
        _app, location = parse_spec(spec)
        try:
            where = GoogleLocation.parse(location)
        except ConfigError as exc:
            self._show_problem(exc.message)
            return
        self._account = where.account
        self._groups = (where.group,) if where.group else ()
        self._show_account()
        index = self.contacts_combo.findData(where.group)
        self.contacts_combo.setCurrentIndex(max(index, 0))
        self._say("")
        self.changed.emit()

    def set_read_only(self, read_only: bool) -> None:
        """Edit keeps the account and the label; only a sign-in again can be made (and must be
        the same account), for the day Google stops taking the saved one."""
        self._read_only = read_only
        self._show_account_row()
        if read_only and not self.status.text():
            self._say(SIGN_IN_AGAIN_HINT)
        self.contacts_combo.setEnabled(not read_only and bool(self._account))
        self._show_used(not read_only and self.used_combo.count() > 1)

    def set_connected_accounts(self, accounts: Sequence[ConnectedAccount]) -> None:
        self._offer_accounts(
            accounts, APP_KEY, "Choose an account another connection uses…", lambda e: "@" in e
        )

    # -- state ------------------------------------------------------------------------------

    def account(self) -> str:
        """The signed-in account's email, or "" while there is none."""
        return self._account

    def chosen_group(self) -> str:
        """The chosen label's name; "" for all contacts."""
        data = self.contacts_combo.currentData()
        return data if isinstance(data, str) else ""

    def waiting(self) -> bool:
        """Whether a sign-in (or a listing of labels) is running."""
        return self._request is not None

    # -- behaviour --------------------------------------------------------------------------

    def _use_connected(self, index: int) -> None:
        email = self.used_combo.itemData(index)
        self.used_combo.setCurrentIndex(0)
        if not email:
            return
        self._submit(SignIn(saved=email), f"Listing the labels of {email}…")

    def _start_sign_in(self) -> None:
        if self._read_only:
            self._submit(SignIn(expected=self._account), "Starting the sign-in…")
        else:
            self._submit(SignIn(), "Starting the sign-in…")

    def _submit(self, request: SignIn, text: str) -> None:
        self._request = request
        self._url = ""
        if not request.expected:  # a new sign-in or account: what was chosen no longer holds
            self._account = ""
            self._groups = ()
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
        """The sign-in listens: open its address in the browser (on the GUI thread)."""
        if not isinstance(value, BrowserAddress) or self._request is None:
            return
        self._url = value.url
        self.address_edit.setText(value.url)
        self.address_edit.setCursorPosition(0)
        self.copy_button.setText("Copy")
        opened = QDesktopServices.openUrl(QUrl(value.url))
        self._say(WAITING if opened else NO_BROWSER)
        self._show_waiting()

    def _on_signed_in(self, signed_in: SignedIn) -> None:
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
        self._groups = signed_in.groups
        self._show_account()
        count = len(self._groups)
        found = "1 label found" if count == 1 else f"{count} labels found"
        self._say(
            f"{found}: sync all the account's contacts, or only those of one label."
            if count
            else "No labels in this account: all its contacts are synced."
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
        """Stop the running sign-in: its wait notices within a fifth of a second."""
        if self._request is None:
            return
        self.context.runner.cancel(CHANNEL)
        self._request = None
        self._say(CANCELLED)
        self._show_waiting()
        self.changed.emit()

    def _show_problem(self, message: str) -> None:
        self._account = ""
        self._groups = ()
        self._show_account()
        self._say(message, problem=True)

    def _show_waiting(self) -> None:
        waiting = self._request is not None
        self.sign_in_button.setEnabled(not waiting)
        self.used_combo.setEnabled(not waiting)
        self.cancel_button.setVisible(waiting)
        self._show_row(self.address_box, waiting and bool(self._url))

    def _show_account(self) -> None:
        """The account and its labels, as they are now (all contacts chosen)."""
        self._show_account_row()
        signed_in = bool(self._account)
        combo = self.contacts_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            if signed_in:
                combo.addItem(ALL_CONTACTS, "")
                for name in self._groups:
                    combo.addItem(name, name)
                    if "@" in name:  # GoogleLocation reads up to the first @ as the label
                        item = combo.count() - 1
                        combo.setItemData(item, AT_IN_NAME, Qt.ItemDataRole.ToolTipRole)
                        model = combo.model()
                        if isinstance(model, QStandardItemModel):
                            model.item(item).setEnabled(False)
            combo.setPlaceholderText("" if signed_in else "Sign in first")
            combo.setCurrentIndex(0 if signed_in else -1)
        finally:
            combo.blockSignals(False)
        combo.setEnabled(signed_in and not self._read_only)
        self._show_contacts_note()

    def _show_account_row(self) -> None:
        signed_in = bool(self._account)
        self.account_label.setText(self._account)
        self.account_label.setVisible(signed_in)
        if self._read_only:
            self.sign_in_button.setText("Sign in again")
        else:
            self.sign_in_button.setText("Use another account" if signed_in else SIGN_IN)

    def _show_contacts_note(self) -> None:
        group = self.chosen_group()
        if not self._account:
            text = ""
        elif group:
            text = (
                f"Only the contacts with the label '{group}' are synced; contacts the other "
                "app adds here get it too."
            )
        else:
            text = ALL_NOTE
        self.contacts_note.setText(text)
        self._show_row(self.contacts_note, bool(text))

    def _on_contacts_chosen(self, _index: int) -> None:
        self._show_contacts_note()
        self.changed.emit()

    # -- Qt ---------------------------------------------------------------------------------
