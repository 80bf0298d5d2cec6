"""A Google account on the two loopback emulators (OAuth and People API), signed in through the
real loopback flow with the test playing the browser, and connectors on it."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from emulators.google_oauth import GoogleOAuthEmulator
from emulators.people import PeopleEmulator

from piesync_desktop.engine.connectors.google.connector import GoogleContacts
from piesync_desktop.engine.connectors.google.oauth import (
    GoogleSettings,
    LoopbackSignIn,
    save_sign_in,
)
from piesync_desktop.engine.connectors.http import HttpSettings

EMAIL = "ada@example.com"


class GoogleAccount:
    """Both emulators, the settings that point the real code at them, and a signed-in account."""

    def __init__(self, tmp: Path, email: str = EMAIL) -> None:
        self.email = email
        self.oauth = GoogleOAuthEmulator(email=email)
        self.api = PeopleEmulator(self.oauth.token_valid, account_email=email)
        tmp.mkdir(parents=True, exist_ok=True)
        self.ca_file = tmp / "google-cas.pem"
        pems = [
            self.oauth.ca_file(tmp / "oauth-ca.pem").read_text(),
            self.api.ca_file(tmp / "people-ca.pem").read_text(),
        ]
        self.ca_file.write_text("".join(pems))
        self.env = {
            "PIESYNC_GOOGLE_CLIENT_ID": self.oauth.client_id,
            "PIESYNC_GOOGLE_CLIENT_SECRET": self.oauth.client_secret,
            "PIESYNC_PEOPLE_URL": self.api.url,
            "PIESYNC_CA_BUNDLE": str(self.ca_file),
            "PIESYNC_HTTP_TIMEOUT": "5",
            **self.oauth.urls(),
        }
        self.settings = GoogleSettings.from_env(self.env)
        self.http = HttpSettings.from_env(self.env)

    def sign_in(self) -> None:
        """The loopback sign-in, the test agreeing in place of the person's browser."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with LoopbackSignIn(self.settings, self.http) as flow:
            with httpx.Client(verify=context) as browser:
                consent = browser.get(flow.url, follow_redirects=False)
            assert consent.status_code == 302, consent.text
            assert httpx.get(consent.headers["location"]).status_code == 200
            save_sign_in(flow.wait(timeout=5))

    def connector(self, group: str = "") -> GoogleContacts:
        return GoogleContacts(f"{group}@{self.email}", settings=self.settings, http=self.http)

    @property
    def spec(self) -> str:
        return f"google:@{self.email}"

    def close(self) -> None:
        self.api.close()
        self.oauth.close()
