"""What the account forms of the wizard's authorization step share (Google, Outlook, HubSpot):
notes under fields, rows shown and hidden, the status sentence, and, for a sign-in in the
browser, the address to copy and the wait stopped when the page is left.

Why it exists: each app asks for its account in its own way, but these few helpers were the same
in every form; they live here once, on top of the protocol in :mod:`.authorization`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QHideEvent
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QWidget

from piesync_desktop.engine.connection_setup import ConnectedAccount
from piesync_desktop.ui.wizard.authorization import AuthorizationWidget
from piesync_desktop.ui.wizard.common import FormLayout, problem_palette


class FormAuthorization(AuthorizationWidget):
    """An authorization laid out as a form (``form``) with a status sentence (``status``) and
    the accounts other connections use (``used_combo``, hidden while read-only)."""

    form: FormLayout
    status: QLabel
    used_combo: QComboBox
    _read_only: bool

    def _offer_accounts(
        self,
        accounts: Sequence[ConnectedAccount],
        app_key: str,
        prompt: str,
        accepts: Callable[[str], bool],
        label: Callable[[str], str] = str,
        data: Callable[[str], object] = str,
    ) -> list[str]:
        """Offer the accounts of ``app_key`` (the part of their key after ``app_key:`` that
        ``accepts``), each with the connections that use it; the ones offered."""
        self.used_combo.clear()
        self.used_combo.addItem(prompt, None)
        offered: list[str] = []
        for account in accounts:
            app, _sep, ident = account.key.partition(":")
            if account.app != app_key or app != app_key or not accepts(ident):
                continue
            offered.append(ident)
            text = label(ident)
            connections = sorted({used.connection for used in account.used_by})
            if connections:
                text += "  (in " + ", ".join(f"'{name}'" for name in connections) + ")"
            self.used_combo.addItem(text, data(ident))
        self._show_used(not self._read_only and self.used_combo.count() > 1)
        return offered

    def _show_used(self, visible: bool) -> None:
        self._show_row(self.used_combo, visible)

    def _note_row(self, note: QWidget) -> None:
        """A wrapped sentence under the field above it. Its row gets an empty QLabel, not "":
        QFormLayout sizes a wrapped field without a label for a narrower page."""
        self.form.addRow(QLabel(self), note)

    def _show_row(self, field: QWidget, visible: bool) -> None:
        self.form.setRowVisible(field, visible)

    def _say(self, text: str, problem: bool = False) -> None:
        """The status sentence under the account (hidden while there is none)."""
        self.status.setText(text)
        self.status.setPalette(problem_palette(self.status) if problem else self.palette())
        self._show_row(self.status, bool(text))


class BrowserSignInAuthorization(FormAuthorization):
    """A form whose sign-in waits for the browser on the side's worker thread: ``_request`` is
    the sign-in under way (None when there is none), ``_url`` its address, shown with
    ``copy_button``; :meth:`_cancel` stops it."""

    copy_button: QPushButton
    _request: object | None
    _url: str

    def _cancel(self) -> None:
        raise NotImplementedError

    def _copy_address(self) -> None:
        if self._url:
            QGuiApplication.clipboard().setText(self._url)
            self.copy_button.setText("Copied")

    def hideEvent(self, event: QHideEvent) -> None:
        """Another app chosen on this side, or the page left: stop a sign-in, which would hold
        the side's worker thread. Looked at once the event loop is back, since the wizard hides
        and shows its page again as its buttons change, and a minimised window stays visible."""
        super().hideEvent(event)
        if self._request is not None:
            QTimer.singleShot(0, self, self._stop_if_hidden)

    def _stop_if_hidden(self) -> None:
        if not self.isVisible():
            self._cancel()
