"""Authorization, per app: the registry of the widgets that ask where an app's contacts are.

Each app is authorized in its own way (a folder picker, a server address and password, a browser
sign-in with a folder choice), but the wizard only needs one small protocol of each widget:
``spec()`` gives ``APP:LOCATION``, ``isComplete()`` says whether it is usable, ``changed`` fires
when either may have changed, ``load(spec)`` shows a saved side (Edit), ``set_read_only`` freezes
it, and ``set_connected_accounts`` offers the accounts (and locations) other connections already
use, so the person never signs in twice. A widget that takes a secret saves it with
:mod:`piesync_desktop.secrets` under the account key; the spec and the store never hold one.

A later app adds one entry to :data:`AUTHORIZATIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from piesync_desktop.engine.connection_setup import ConnectedAccount
from piesync_desktop.ui.wizard.background import Background


@dataclass(frozen=True, slots=True)
class AuthorizationContext:
    """What an authorization widget may use: its side's worker thread for slow checks, and the
    name of the side it sets up ('first', 'second')."""

    runner: Background
    side_name: str


class AuthorizationWidget(QWidget):
    """The base of every app's authorization widget (the protocol the wizard relies on)."""

    changed = Signal()

    def __init__(self, context: AuthorizationContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context

    def spec(self) -> str:
        """``APP:LOCATION`` of the chosen location, or "" while there is none."""
        raise NotImplementedError

    def isComplete(self) -> bool:
        raise NotImplementedError

    def load(self, spec: str) -> None:
        """Show a saved side, as Edit opens it."""
        raise NotImplementedError

    def set_read_only(self, read_only: bool) -> None:
        raise NotImplementedError

    def set_connected_accounts(self, accounts: Sequence[ConnectedAccount]) -> None:
        """The accounts the store knows (the widget offers those of its app)."""


AuthorizationFactory = Callable[[AuthorizationContext, QWidget | None], AuthorizationWidget]


def _vcard(context: AuthorizationContext, parent: QWidget | None) -> AuthorizationWidget:
    from piesync_desktop.ui.wizard.vcard_folder import VCardFolderAuthorization

    return VCardFolderAuthorization(context, parent)


def _carddav(context: AuthorizationContext, parent: QWidget | None) -> AuthorizationWidget:
    from piesync_desktop.ui.wizard.carddav_account import CardDavAuthorization

    return CardDavAuthorization(context, parent)


def _google(context: AuthorizationContext, parent: QWidget | None) -> AuthorizationWidget:
    from piesync_desktop.ui.wizard.google_account import GoogleAuthorization

    return GoogleAuthorization(context, parent)


def _outlook(context: AuthorizationContext, parent: QWidget | None) -> AuthorizationWidget:
    from piesync_desktop.ui.wizard.outlook_account import OutlookAuthorization

    return OutlookAuthorization(context, parent)


def _hubspot(context: AuthorizationContext, parent: QWidget | None) -> AuthorizationWidget:
    from piesync_desktop.ui.wizard.hubspot_account import HubSpotAuthorization

    return HubSpotAuthorization(context, parent)


AUTHORIZATIONS: dict[str, AuthorizationFactory] = {
    "vcard": _vcard,
    "carddav": _carddav,
    "google": _google,
    "outlook": _outlook,
    "hubspot": _hubspot,
}


def has_authorization(app_key: str) -> bool:
    return app_key in AUTHORIZATIONS


def create_authorization(
    app_key: str, context: AuthorizationContext, parent: QWidget | None = None
) -> AuthorizationWidget:
    return AUTHORIZATIONS[app_key](context, parent)
