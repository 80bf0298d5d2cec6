"""Authorization of a CardDAV account: a server, a user name and a password, the address books
found there (off the GUI thread), one of them chosen, and how its tags are kept. Accounts other
connections already use are offered, and searched with the password the keyring keeps for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from piesync_desktop import secrets
from piesync_desktop.engine.connection_setup import ConnectedAccount
from piesync_desktop.engine.connectors.base import parse_spec
from piesync_desktop.engine.connectors.carddav.discovery import (
    AddressBook,
    discover,
    login_user,
)
from piesync_desktop.engine.connectors.carddav.location import (
    APP_KEY,
    PASSWORD,
    CardDavLocation,
    TagStyle,
)
from piesync_desktop.engine.errors import AuthExpired, ConfigError
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.authorization import AuthorizationContext, AuthorizationWidget
from piesync_desktop.ui.wizard.background import JobContext
from piesync_desktop.ui.wizard.common import account_form, explanation, problem_palette

CHANNEL = "location"
PROMPT = "Type the server's address, your user name and password, then find your address books."
NEW_PASSWORD_HINT = "Only if the server no longer takes the saved one"
TAG_STYLES: tuple[tuple[TagStyle, str, str], ...] = (
    (
        TagStyle.AUTO,
        "Automatic",
        "Tags are kept as groups where the address book has groups already or on iCloud, and "
        "as categories elsewhere.",
    ),
    (
        TagStyle.CATEGORIES,
        "Categories",
        "Tags are kept as the categories of each contact, as Nextcloud, Thunderbird and most "
        "apps show them.",
    ),
    (
        TagStyle.GROUPS,
        "Groups",
        "Tags are kept as contact groups, as iCloud and Apple Contacts show them.",
    ),
)


@dataclass(frozen=True, slots=True)
class Search:
    """What one search asks: the server and user as typed, and the password typed, or the key
    of the account whose saved password to use."""

    server: str
    username: str
    password: str = ""
    saved_key: str = ""


@dataclass(frozen=True, slots=True)
class Found:
    """The answer of a search: the user the books are read as, and the books."""

    search: Search
    username: str
    books: tuple[AddressBook, ...]


def server_of(url: str) -> str:
    """The address to search again for the books of an account that syncs ``url``: the
    collection that holds it (the account's address book home)."""
    return urljoin(url, "..")


def find_address_books(search: Search, ctx: JobContext) -> Found:
    """Discover the books (on the worker thread), then keep the password that opened them in the
    keyring under the account key of each, where the connector looks for it."""
    password = search.password
    if search.saved_key:
        password = secrets.load_secret(search.saved_key, PASSWORD) or ""
        if not password:
            raise AuthExpired(
                "The keyring holds no password for this account any more. Type it in the "
                "Password field, then find the address books."
            )
    books = discover(search.server, search.username, password or None)
    ctx.check()
    username = login_user(search.server, search.username)
    if username and password:
        keys = dict.fromkeys(CardDavLocation(book.url, username).account_key for book in books)
        for key in keys:
            secrets.store_secret(key, PASSWORD, password)
    return Found(search, username, tuple(books))


def book_name(url: str) -> str:
    return url.rstrip("/").rpartition("/")[2] or url


class CardDavAuthorization(AuthorizationWidget):
    """Server, user name and password; a search for the address books; the book and tag style."""

    def __init__(self, context: AuthorizationContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self._search: Search | None = None
        self._username = ""
        self._books: tuple[AddressBook, ...] = ()
        self._read_only = False
        self._filling = False  # fields set by the widget itself, not typed

        self.form, self.used_label, self.used_combo = account_form(
            self,
            "An address book on a CardDAV server: iCloud, Fastmail, Nextcloud, mailbox.org, "
            "Radicale and most others. The password is kept in your system keyring.",
        )
        form = self.form

        self.server_edit = QLineEdit(self)
        self.server_edit.setPlaceholderText("https://dav.example.com or contacts.icloud.com")
        self.server_edit.setClearButtonEnabled(True)
        self.server_edit.setAccessibleName("Server")
        form.addRow("Server:", self.server_edit)
        self.user_edit = QLineEdit(self)
        self.user_edit.setPlaceholderText("you@example.com")
        self.user_edit.setAccessibleName("User name")
        form.addRow("User name:", self.user_edit)
        self.password_label = QLabel("Password:", self)
        self.password_edit = QLineEdit(self)
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("Password")
        self.password_hint = explanation(
            "iCloud and Fastmail need an app password, not the one you sign in with.",
            self,
        )
        form.addRow(self.password_label, self.password_edit)
        self._note_row(self.password_hint)

        self.find_button = QPushButton("Find address books", self)
        self.find_button.setEnabled(False)
        self.find_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.status = QLabel(PROMPT, self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(QLabel(self), self.find_button)
        self._note_row(self.status)

        self.book_combo = QComboBox(self)
        self.book_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.book_combo.setAccessibleName("Address book")
        self.book_url = explanation("", self)
        self.book_url.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Address book:", self.book_combo)
        self._note_row(self.book_url)

        self.tags_combo = QComboBox(self)
        self.tags_combo.setAccessibleName("Tags")
        for style, name, description in TAG_STYLES:
            self.tags_combo.addItem(name, style)
            self.tags_combo.setItemData(
                self.tags_combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole
            )
        self.tags_note = explanation(TAG_STYLES[0][2], self)
        form.addRow("Tags:", self.tags_combo)
        self._note_row(self.tags_note)

        self._show_books()
        self._show_used(False)
        for edit in (self.server_edit, self.user_edit, self.password_edit):
            edit.textChanged.connect(self._on_text_changed)
            edit.returnPressed.connect(self._find)
        self.find_button.clicked.connect(self._find)
        self.used_combo.activated.connect(self._use_connected)
        self.book_combo.currentIndexChanged.connect(self._on_book_chosen)
        self.tags_combo.currentIndexChanged.connect(self._on_tags_chosen)

    def _note_row(self, note: QLabel) -> None:
        """A wrapped sentence under the field above it. Its row gets an empty QLabel, not "":
        QFormLayout sizes a wrapped field without a label for a narrower page."""
        self.form.addRow(QLabel(self), note)

    # -- protocol ---------------------------------------------------------------------------

    def spec(self) -> str:
        book = self.chosen_book()
        if book is None:
            return ""
        return CardDavLocation(book.url, self._username, self.tag_style()).spec

    def isComplete(self) -> bool:
        return self.chosen_book() is not None

    def load(self, spec: str) -> None:
        _app, location = parse_spec(spec)
        try:
            where = CardDavLocation.parse(location)
        except ConfigError as exc:
            self._show_problem(exc.message)
            return
        self._fill(server_of(where.url), where.username)
        self.tags_combo.setCurrentIndex(self.tags_combo.findData(where.tag_style))
        self._username = where.username
        self._books = (AddressBook(where.url, book_name(where.url)),)
        self._show_books()
        self._style_status(False)
        self.status.setText("")
        self.changed.emit()

    def set_read_only(self, read_only: bool) -> None:
        """Edit keeps the address book; only a new password can be given (and is checked), for
        the day the server stops taking the saved one."""
        self._read_only = read_only
        for edit in (self.server_edit, self.user_edit):
            edit.setReadOnly(read_only)
        self.server_edit.setClearButtonEnabled(not read_only)
        self.password_label.setText("New password:" if read_only else "Password:")
        self.password_edit.setPlaceholderText(NEW_PASSWORD_HINT if read_only else "")
        self.find_button.setText("Check and save it" if read_only else "Find address books")
        self.find_button.setEnabled(not read_only)
        self.form.setRowVisible(self.status, not read_only or bool(self.status.text()))
        self.book_combo.setEnabled(not read_only and bool(self._books))
        self.tags_combo.setEnabled(not read_only)
        self._show_used(not read_only and self.used_combo.count() > 1)

    def set_connected_accounts(self, accounts: Sequence[ConnectedAccount]) -> None:
        self.used_combo.clear()
        self.used_combo.addItem("Choose an account another connection uses…", None)
        for account in accounts:
            if account.app != APP_KEY:
                continue
            try:
                where = CardDavLocation.parse(account.label)
            except ConfigError:
                continue
            text = f"{where.username} on {where.host}" if where.username else where.host
            connections = sorted({used.connection for used in account.used_by})
            if connections:
                text += "  (in " + ", ".join(f"'{name}'" for name in connections) + ")"
            self.used_combo.addItem(text, (account.key, server_of(where.url), where.username))
        self._show_used(not self._read_only and self.used_combo.count() > 1)

    # -- state ------------------------------------------------------------------------------

    def chosen_book(self) -> AddressBook | None:
        index = self.book_combo.currentIndex()
        return self._books[index] if 0 <= index < len(self._books) else None

    def tag_style(self) -> TagStyle:
        data = self.tags_combo.currentData()  # Qt hands the StrEnum back as a plain str
        return TagStyle(data) if data else TagStyle.AUTO

    # -- behaviour --------------------------------------------------------------------------

    def _fill(self, server: str, username: str) -> None:
        self._filling = True
        try:
            self.server_edit.setText(server)
            self.user_edit.setText(username)
            self.password_edit.clear()
        finally:
            self._filling = False
        self._forget()

    def _show_used(self, visible: bool) -> None:
        self.form.setRowVisible(self.used_combo, visible)

    def _use_connected(self, index: int) -> None:
        account = self.used_combo.itemData(index)
        self.used_combo.setCurrentIndex(0)
        if not account:
            return
        key, server, username = account
        self._fill(server, username)
        self.password_edit.setPlaceholderText("The one saved in your keyring")
        self._submit(Search(server, username, saved_key=key))

    def _on_text_changed(self, _text: str) -> None:
        if self._read_only:  # only the password can change: the book stays as saved
            self.find_button.setEnabled(bool(self.password_edit.text()))
            return
        if not self._filling:
            self._forget()

    def _forget(self) -> None:
        """Whatever was found no longer matches the fields: drop it, and any search running."""
        self.context.runner.cancel(CHANNEL)
        self._search = None
        self._books = ()
        self._username = ""
        self.password_edit.setPlaceholderText("")
        self._show_books()
        self._style_status(False)
        self.status.setText(PROMPT)
        if self._read_only:
            self.find_button.setEnabled(bool(self.password_edit.text()))
        else:
            self.find_button.setEnabled(bool(self.server_edit.text().strip()))
        self.changed.emit()

    def _find(self) -> None:
        if self._read_only:
            self._check_new_password()
            return
        server = self.server_edit.text().strip()
        if not server:
            return
        self._submit(Search(server, self.user_edit.text().strip(), self.password_edit.text()))

    def _check_new_password(self) -> None:
        """Edit: the saved book, read with the password typed, which is kept if it works."""
        book = self.chosen_book()
        if book is None or not self.password_edit.text():
            return
        search = Search(book.url, self._username, self.password_edit.text())
        self._search = search
        self._style_status(False)
        self.status.setText("Checking the new password…")
        self.form.setRowVisible(self.status, True)
        self.context.runner.submit(
            CHANNEL,
            lambda ctx: find_address_books(search, ctx),
            self._on_password_checked,
            lambda problem: self._on_failed(search, problem),
        )

    def _on_password_checked(self, found: Found) -> None:
        if found.search is not self._search:
            return
        self._search = None
        self.password_edit.clear()
        self.status.setText("The new password works; it is saved in your keyring.")

    def _submit(self, search: Search) -> None:
        self._search = search
        self._books = ()
        self._show_books()
        self._style_status(False)
        self.status.setText("Searching…")
        self.changed.emit()
        self.context.runner.submit(
            CHANNEL,
            lambda ctx: find_address_books(search, ctx),
            self._on_found,
            lambda problem: self._on_failed(search, problem),
        )

    def _on_found(self, found: Found) -> None:
        if found.search is not self._search:
            return
        self._search = None
        self._username = found.username
        self._books = found.books
        self._show_books()
        count = len(found.books)
        self.status.setText(
            "1 address book found."
            if count == 1
            else f"{count} address books found: choose the one to sync."
        )
        self.changed.emit()

    def _on_failed(self, search: Search, problem: TaskError) -> None:
        if search is not self._search:
            return
        self._search = None
        if self._read_only:  # the saved book stays chosen; only the password was refused
            self.status.setText(problem.message)
            self._style_status(True)
            return
        self._show_problem(problem.message)
        if search.saved_key:
            self.password_edit.setFocus()
        self.changed.emit()

    def _show_problem(self, message: str) -> None:
        self._books = ()
        self._show_books()
        self.status.setText(message)
        self._style_status(True)

    def _show_books(self) -> None:
        combo = self.book_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            for book in self._books:
                combo.addItem(book.name, book.url)
                tip = f"{book.description}\n{book.url}" if book.description else book.url
                combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            combo.setPlaceholderText(
                "Choose the address book to sync" if self._books else "None found yet"
            )
            combo.setCurrentIndex(0 if len(self._books) == 1 else -1)
        finally:
            combo.blockSignals(False)
        combo.setEnabled(bool(self._books) and not self._read_only)
        self._show_book_url()

    def _show_book_url(self) -> None:
        book = self.chosen_book()
        self.book_url.setText(book.url if book else "")
        self.form.setRowVisible(self.book_url, book is not None)

    def _on_book_chosen(self, _index: int) -> None:
        self._show_book_url()
        self.changed.emit()

    def _on_tags_chosen(self, index: int) -> None:
        self.tags_note.setText(TAG_STYLES[index][2] if 0 <= index < len(TAG_STYLES) else "")
        self.changed.emit()

    def _style_status(self, problem: bool) -> None:
        self.status.setPalette(problem_palette(self.status) if problem else self.palette())
