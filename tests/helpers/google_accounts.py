"""Several Google accounts at once, as a share job between people's Google Contacts needs them.

The program knows one People API address for every account (``PIESYNC_PEOPLE_URL``), as it is
with Google; the emulator of ``tests/emulators/people.py`` holds one account's contacts. So here
one OAuth emulator signs every account in, each account has its own People API emulator (its
state, its request log, its fault switches), and a front on one https address hands each request
to the emulator of the account its access token was issued to. A token the OAuth emulator does
not know (or no longer accepts) is refused as Google refuses it.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import trustme
from emulators.google_oauth import GoogleOAuthEmulator
from emulators.people import PeopleEmulator
from emulators.people import _Handler as PeopleHandler
from emulators.tls_server import TlsService

from piesync_desktop.engine.connectors.google.oauth import (
    GoogleSettings,
    LoopbackSignIn,
    Tokens,
    save_sign_in,
)
from piesync_desktop.engine.connectors.http import HttpSettings


class GoogleAccounts:
    """The OAuth emulator, one People emulator per account (``api[email]``) behind one address,
    and the settings (``env``) that point the real code at them."""

    def __init__(self, tmp: Path, emails: list[str]) -> None:
        self.emails = [email.lower() for email in emails]
        self.oauth = GoogleOAuthEmulator(email=self.emails[0])
        self.api: dict[str, PeopleEmulator] = {}
        self._revoked: set[str] = set()
        self._fresh_apis()
        self.front = _Front(self)
        tmp.mkdir(parents=True, exist_ok=True)
        self.ca_file = tmp / "google-cas.pem"
        pems = [
            self.oauth.ca_file(tmp / "oauth-ca.pem").read_text(),
            self.front.ca_file(tmp / "people-ca.pem").read_text(),
        ]
        self.ca_file.write_text("".join(pems))
        self.env = {
            "PIESYNC_GOOGLE_CLIENT_ID": self.oauth.client_id,
            "PIESYNC_GOOGLE_CLIENT_SECRET": self.oauth.client_secret,
            "PIESYNC_PEOPLE_URL": self.front.url,
            "PIESYNC_CA_BUNDLE": str(self.ca_file),
            "PIESYNC_HTTP_TIMEOUT": "5",
            **self.oauth.urls(),
        }
        self.settings = GoogleSettings.from_env(self.env)
        self.http = HttpSettings.from_env(self.env)

    def sign_in(self, email: str, *, save: bool = True) -> Tokens:
        """The loopback sign-in of ``email``, the test agreeing in place of the browser; the
        refresh token goes to the keyring unless ``save`` is false (then
        ``save_sign_in(tokens)`` does it later, e.g. into each test's own keyring)."""
        self.oauth.email = email.lower()
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with LoopbackSignIn(self.settings, self.http) as flow:
            with httpx.Client(verify=context) as browser:
                consent = browser.get(flow.url, follow_redirects=False)
            assert consent.status_code == 302, consent.text
            assert httpx.get(consent.headers["location"]).status_code == 200
            tokens = flow.wait(timeout=5)
        if save:
            save_sign_in(tokens)
        return tokens

    def reset(self) -> None:
        """Every account empty again, with no fault switched on, and no sign-in revoked (the
        sign-ins themselves stay good): one set of accounts serves test after test."""
        with self.oauth._lock:
            for refresh_token in self._revoked:
                self.oauth._grants[refresh_token].revoked = False
            for access in self.oauth._access.values():
                if access.refresh_token in self._revoked:
                    access.revoked = False
        self._revoked.clear()
        for api in self.api.values():
            api.close()
        self._fresh_apis()

    def email_of(self, access_token: str) -> str | None:
        """The account an access token was issued to (whether or not it is still good)."""
        oauth = self.oauth
        with oauth._lock:
            access = oauth._access.get(access_token)
            grant = oauth._grants.get(access.refresh_token or "") if access else None
            return grant.email if grant else None

    def revoke(self, email: str) -> None:
        """The person removed the app from this one account: its tokens are refused."""
        oauth = self.oauth
        with oauth._lock:
            grants = {rt for rt, grant in oauth._grants.items() if grant.email == email.lower()}
            self._revoked |= grants
            for refresh_token in grants:
                oauth._grants[refresh_token].revoked = True
            for access in oauth._access.values():
                if access.refresh_token in grants:
                    access.revoked = True

    def internal_errors(self) -> list[str]:
        return [e for api in self.api.values() for e in api.internal_errors] + list(
            self.front.internal_errors
        )

    def close(self) -> None:
        self.front.close()
        for api in self.api.values():
            api.close()
        self.oauth.close()

    def _fresh_apis(self) -> None:
        self.api = {
            email: PeopleEmulator(self._token_check(email), account_email=email)
            for email in self.emails
        }

    def _token_check(self, email: str) -> Any:
        def valid(token: str) -> bool:
            return self.email_of(token) == email and self.oauth.token_valid(token)

        return valid


class _Front(TlsService):
    """One https address for every account's People API emulator."""

    def __init__(self, accounts: GoogleAccounts) -> None:
        self.accounts = accounts
        self.ca = trustme.CA()
        self.internal_errors: list[str] = []
        self.port = self._serve_tls("127.0.0.1", _FrontHandler, "people-front")
        self.url = f"https://127.0.0.1:{self.port}/"

    def api_for(self, authorization: str | None) -> PeopleEmulator:
        token = (authorization or "").strip().rpartition(" ")[2]
        email = self.accounts.email_of(token) if token else None
        apis = self.accounts.api
        # An unknown token goes to the first account's emulator, which refuses it.
        return apis.get(email or "", next(iter(apis.values())))


class _View:
    """The server as one request's handler sees it: ``emulator`` is its account's."""

    def __init__(self, server: Any, emulator: PeopleEmulator) -> None:
        self._server = server
        self.emulator = emulator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class _FrontHandler(PeopleHandler):
    def _serve(self, method: str) -> None:
        server = self.server
        front: _Front = server.emulator
        self.server = _View(server, front.api_for(self.headers.get("Authorization")))  # type: ignore[assignment]
        try:
            super()._serve(method)
        finally:
            self.server = server
