"""Authorization of a HubSpot portal: a private app's access token pasted in, checked with HubSpot
off the GUI thread (which says the portal, its Hub ID, the token belongs to) and kept in the
keyring only once it worked; then the portal's static lists listed, and all contacts or one list
chosen, since a connection covers one of them. Portals other connections already use are
offered, and listed with the token the keyring keeps for them; Edit takes a new token of the same
portal, for the day HubSpot stops taking the saved one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from piesync_desktop import secrets
from piesync_desktop.engine.connection_setup import ConnectedAccount
from piesync_desktop.engine.connectors.base import parse_spec
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.hubspot.connector import HubSpotContacts, portal_of
from piesync_desktop.engine.connectors.hubspot.settings import (
    SCOPES,
    TOKEN,
    HubSpotLocation,
    HubSpotSettings,
    account_key,
)
from piesync_desktop.engine.errors import AuthExpired, ConfigError
from piesync_desktop.engine.model import UNSUBSCRIBES_TAG
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.authorization import AuthorizationContext
from piesync_desktop.ui.wizard.background import JobContext
from piesync_desktop.ui.wizard.common import account_form, explanation
from piesync_desktop.ui.wizard.form_authorization import FormAuthorization

APP_KEY = "hubspot"
CHANNEL = "token"
CHECK = "Check"
CHECK_AGAIN = "Check and save it"
SHOW, HIDE = "Show", "Hide"
NEW_TOKEN_HINT = "Give a new token only if HubSpot no longer takes the saved one."
TOKEN_PLACEHOLDER = "pat-…"
SAVED_TOKEN_HINT = "The one saved in your keyring"
ALL_CONTACTS = "All contacts"
ALL_NOTE = "Every contact of the portal is synced; its static lists are kept as tags."


def scope_words(scopes: Sequence[str]) -> str:
    """The scopes as HubSpot's private-app page groups them: ``crm.lists.read/write`` for a
    read and a write scope of the same thing."""
    grouped: dict[str, list[str]] = {}
    for scope in scopes:
        head, _dot, access = scope.rpartition(".")
        grouped.setdefault(head, []).append(access)
    return ", ".join(f"{head}.{'/'.join(access)}" for head, access in grouped.items())


PROMPT = "Paste the access token of a HubSpot private app, then check it."
TOKEN_HINT = (
    "Make a private app in HubSpot (Settings > Integrations > Private apps) with the scopes "
    f"{scope_words(SCOPES)}, and copy its access token."
)
NOTES = (
    "HubSpot's custom properties can be mapped on the mappings page. HubSpot creates a contact "
    "only if it has an email address. Contacts who opted out of email can be synced as the tag "
    f"'{UNSUBSCRIBES_TAG}'."
)


@dataclass(frozen=True, slots=True)
class Check:
    """What one job asks: the portal of a token pasted in (``token``), or the lists of a portal
    whose token the keyring keeps (``saved``). ``expected`` is Edit's new token: it must be that
    portal's."""

    token: str = ""
    saved: int | None = None
    expected: int | None = None


@dataclass(frozen=True, slots=True)
class Checked:
    """The answer of a job: the portal, and its static lists by name."""

    request: Check
    portal: int
    lists: tuple[str, ...]


def check_token(request: Check, ctx: JobContext) -> Checked:
    """On the worker thread: learn the token's portal from HubSpot, then list the portal's
    lists with it; the token is kept in the keyring, under the portal's account key where the
    connector looks, only if both worked (a refused one never replaces the one kept before)."""
    settings = HubSpotSettings.from_env()
    http = HttpSettings.for_setup()
    if request.saved is not None:
        token = secrets.load_secret(account_key(request.saved), TOKEN) or ""
        if not token:
            raise AuthExpired(
                f"The keyring no longer holds the access token of HubSpot portal "
                f"{request.saved} on this computer. Paste a token of the portal to use it again."
            )
        lists = list_lists(request.saved, token, settings, http, ctx)
        return Checked(request, request.saved, lists)
    token = request.token.strip()
    portal = portal_of(token, settings, http)
    ctx.check()
    if request.expected is not None and portal != request.expected:
        raise AuthExpired(
            f"This access token belongs to HubSpot portal {portal}, but this connection syncs "
            f"portal {request.expected}. Give a token of portal {request.expected}; nothing was "
            "changed.",
            title="Another HubSpot portal",
        )
    with secrets.trial_secret(account_key(portal), TOKEN, token):
        lists = list_lists(portal, token, settings, http, ctx)
    return Checked(request, portal, lists)


def list_lists(
    portal: int, token: str, settings: HubSpotSettings, http: HttpSettings, ctx: JobContext
) -> tuple[str, ...]:
    """The portal's static contact lists by name (one request, not the reads open() makes)."""
    connector = HubSpotContacts(f"@{portal}", settings=settings, http=http, token=token)
    try:
        names = connector.list_names()
    finally:
        connector.close()
    ctx.check()
    return tuple(name for name in names if name)


class HubSpotAuthorization(FormAuthorization):
    """A private app's access token, checked; then all the portal's contacts, or one list."""

    def __init__(self, context: AuthorizationContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self._request: Check | None = None
        self._portal: int | None = None
        self._lists: tuple[str, ...] = ()
        self._read_only = False
        self._filling = False  # the token field set by the widget itself, not typed

        self.form, self.used_label, self.used_combo = account_form(
            self,
            "The contacts of a HubSpot CRM portal, or one static list of them. You give the "
            "access token of a private app; it is kept in your system keyring.",
        )
        form = self.form

        token_row = QWidget(self)
        row = QHBoxLayout(token_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.token_edit = QLineEdit(token_row)
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText(TOKEN_PLACEHOLDER)
        self.token_edit.setAccessibleName("Access token")
        self.show_button = QPushButton(SHOW, token_row)
        self.show_button.setCheckable(True)
        self.show_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.show_button.setToolTip("Show or hide the token as typed")
        self.check_button = QPushButton(CHECK, token_row)
        self.check_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.check_button.setToolTip("Ask HubSpot which portal the token opens, and its lists")
        self.check_button.setEnabled(False)
        row.addWidget(self.token_edit, 1)
        row.addWidget(self.show_button)
        row.addWidget(self.check_button)
        self.token_label = QLabel("Access token:", self)
        form.addRow(self.token_label, token_row)
        self.token_hint = explanation(TOKEN_HINT, self)
        self.token_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._note_row(self.token_hint)

        self.status = QLabel(PROMPT, self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._note_row(self.status)

        self.portal_label = QLabel(self)
        self.portal_label.setTextFormat(Qt.TextFormat.PlainText)
        self.portal_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.portal_label.setAccessibleName("HubSpot portal (Hub ID)")
        self.portal_label.setToolTip("The portal's Hub ID, as HubSpot shows it in its account menu")
        font = QFont(self.portal_label.font())
        font.setBold(True)
        self.portal_label.setFont(font)
        form.addRow("Portal:", self.portal_label)

        self.contacts_combo = QComboBox(self)
        self.contacts_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.contacts_combo.setAccessibleName("Contacts to sync")
        self.contacts_note = explanation("", self)
        form.addRow("Contacts:", self.contacts_combo)
        self._note_row(self.contacts_note)
        self.notes = explanation(NOTES, self)
        self._note_row(self.notes)

        self._show_portal()
        self._show_used(False)
        self.token_edit.textChanged.connect(self._on_text_changed)
        self.token_edit.returnPressed.connect(self._check)
        self.show_button.toggled.connect(self._show_token)
        self.check_button.clicked.connect(self._check)
        self.used_combo.activated.connect(self._use_connected)
        self.contacts_combo.currentIndexChanged.connect(self._on_contacts_chosen)

    def spec(self) -> str:
        if self._portal is None:
            return ""
        return f"{APP_KEY}:{HubSpotLocation(self.chosen_list(), self._portal)}"

    def isComplete(self) -> bool:
        return self._portal is not None

    def load(self, spec: str) -> None:
        _app, location = parse_spec(spec)
        try:
            where = HubSpotLocation.parse(location)
        except ConfigError as exc:
            self._show_problem(exc.message)
            return
        self._portal = where.portal
        self._lists = (where.list_name,) if where.list_name else ()
        self._show_portal()
        index = self.contacts_combo.findData(where.list_name)
        self.contacts_combo.setCurrentIndex(max(index, 0))
        self._say("")
        self.changed.emit()

    def set_read_only(self, read_only: bool) -> None:
        """Edit keeps the portal and the list; only a new token can be given (and must be the
        same portal's), for the day HubSpot stops taking the saved one."""
        self._read_only = read_only
        self.token_label.setText("New token:" if read_only else "Access token:")
        self.token_edit.setPlaceholderText(TOKEN_PLACEHOLDER)
        self.check_button.setText(CHECK_AGAIN if read_only else CHECK)
        if read_only and not self.status.text():
            self._say(NEW_TOKEN_HINT)
        self._enable_check()
        self.contacts_combo.setEnabled(not read_only and self._portal is not None)
        self._show_used(not read_only and self.used_combo.count() > 1)

    def set_connected_accounts(self, accounts: Sequence[ConnectedAccount]) -> None:
        self._offer_accounts(
            accounts,
            APP_KEY,
            "Choose a portal another connection uses…",
            str.isdigit,
            label=lambda portal: f"Portal {portal}",
            data=int,
        )

    # -- state ------------------------------------------------------------------------------

    def portal(self) -> int | None:
        """The checked portal's Hub ID, or None while there is none."""
        return self._portal

    def chosen_list(self) -> str:
        """The chosen static list's name; "" for all contacts."""
        data = self.contacts_combo.currentData()
        return data if isinstance(data, str) else ""

    def waiting(self) -> bool:
        """Whether a check of a token (or a listing of lists) is running."""
        return self._request is not None

    # -- behaviour --------------------------------------------------------------------------

    def _show_token(self, shown: bool) -> None:
        self.token_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        )
        self.show_button.setText(HIDE if shown else SHOW)

    def _set_token(self, text: str, placeholder: str) -> None:
        """Set the token field without it counting as typed (the portal stays)."""
        self._filling = True
        try:
            self.token_edit.setText(text)
            self.token_edit.setPlaceholderText(placeholder)
        finally:
            self._filling = False
        self._enable_check()

    def _enable_check(self) -> None:
        self.check_button.setEnabled(bool(self.token_edit.text().strip()) and not self.waiting())
        self.used_combo.setEnabled(not self.waiting())

    def _on_text_changed(self, _text: str) -> None:
        if self._filling:
            return
        if not self._read_only:  # a new token: the portal checked no longer holds
            self._forget()
        self._enable_check()

    def _forget(self) -> None:
        """What was checked no longer matches the token typed: drop it, and any check running."""
        self.context.runner.cancel(CHANNEL)
        self._request = None
        self._portal = None
        self._lists = ()
        self.token_edit.setPlaceholderText(TOKEN_PLACEHOLDER)
        self._show_portal()
        self._say(PROMPT)
        self.changed.emit()

    def _use_connected(self, index: int) -> None:
        portal = self.used_combo.itemData(index)
        self.used_combo.setCurrentIndex(0)
        if not isinstance(portal, int):
            return
        self._set_token("", SAVED_TOKEN_HINT)
        self._submit(Check(saved=portal), f"Listing the lists of HubSpot portal {portal}…")

    def _check(self) -> None:
        token = self.token_edit.text().strip()
        if not token or self.waiting():
            return
        if self._read_only:
            self._submit(Check(token, expected=self._portal), "Checking the new token…")
        else:
            self._submit(Check(token), "Checking the token with HubSpot…")

    def _submit(self, request: Check, text: str) -> None:
        """Start a job on the side's worker thread; it replaces a running one."""
        self._request = request
        if request.expected is None:  # a new token or portal: what was chosen no longer holds
            self._portal = None
            self._lists = ()
            self._show_portal()
        self._say(text)
        self._enable_check()
        self.changed.emit()
        self.context.runner.submit(
            CHANNEL,
            lambda ctx: check_token(request, ctx),
            self._on_checked,
            lambda problem: self._on_failed(request, problem),
        )

    def _on_checked(self, checked: Checked) -> None:
        if checked.request is not self._request:
            return
        self._request = None
        if checked.request.expected is not None:
            self._set_token("", TOKEN_PLACEHOLDER)
            self._say(
                f"The new token works for portal {checked.portal}; it is kept in your keyring."
            )
            return
        self._portal = checked.portal
        self._lists = checked.lists
        self._set_token("", SAVED_TOKEN_HINT)
        self._show_portal()
        count = len(self._lists)
        lists = (
            "The portal has no static lists yet: all its contacts are synced."
            if count == 0
            else "The portal has 1 static list: sync all its contacts, or only that list."
            if count == 1
            else f"The portal has {count} static lists: sync all its contacts, or one list."
        )
        if checked.request.saved is None:
            lists = (
                f"The token opens HubSpot portal {checked.portal}; it is kept in your keyring. "
                + lists
            )
        self._say(lists)
        self.changed.emit()

    def _on_failed(self, request: Check, problem: TaskError) -> None:
        if request is not self._request:
            return
        self._request = None
        self._enable_check()
        if request.expected is None:
            self._show_problem(problem.message)
        else:  # Edit: the saved portal stays; only the new token was refused
            self._say(problem.message, problem=True)
        if request.saved is not None:
            self.token_edit.setPlaceholderText(TOKEN_PLACEHOLDER)
            self.token_edit.setFocus()
        self.changed.emit()

    def _show_problem(self, message: str) -> None:
        self._portal = None
        self._lists = ()
        self._show_portal()
        self._say(message, problem=True)

    def _show_portal(self) -> None:
        """The portal and its lists, as they are now (all contacts chosen)."""
        known = self._portal is not None
        self.portal_label.setText(str(self._portal) if known else "")
        self._show_row(self.portal_label, known)
        combo = self.contacts_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            if known:
                combo.addItem(ALL_CONTACTS, "")
                for name in self._lists:
                    combo.addItem(name, name)
            combo.setPlaceholderText("" if known else "Check a token first")
            combo.setCurrentIndex(0 if known else -1)
        finally:
            combo.blockSignals(False)
        combo.setEnabled(known and not self._read_only)
        self._show_contacts_note()

    def _show_contacts_note(self) -> None:
        name = self.chosen_list()
        if self._portal is None:
            text = ""
        elif name:
            text = (
                f"Only the members of the static list '{name}' are synced; contacts the other "
                "app adds join it. The portal's other static lists are kept as tags."
            )
        else:
            text = ALL_NOTE
        self.contacts_note.setText(text)
        self._show_row(self.contacts_note, bool(text))

    def _on_contacts_chosen(self, _index: int) -> None:
        self._show_contacts_note()
        self.changed.emit()
