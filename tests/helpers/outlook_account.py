"""An Outlook 365 mailbox on the two loopback emulators (Microsoft identity and Graph), signed in
through real msal with the test playing the browser, and connectors on it."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from emulators.graph import GraphEmulator
from emulators.ms_identity import MicrosoftIdentityEmulator

from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.outlook.connector import OutlookContacts
from piesync_desktop.engine.connectors.outlook.signin import MicrosoftAccounts, OutlookSettings

USERNAME = "ada@contoso.com"


class OutlookAccount:
    """Both emulators, the settings that point the real code at them, and a signed-in mailbox."""

    def __init__(self, tmp: Path, username: str = USERNAME) -> None:
        self.username = username
        self.identity = MicrosoftIdentityEmulator(username=username)
        self.graph = GraphEmulator(self.identity.token_valid, account=username)
        tmp.mkdir(parents=True, exist_ok=True)
        self.ca_file = tmp / "microsoft-cas.pem"
        pems = [
            self.identity.ca_file(tmp / "identity-ca.pem").read_text(),
            self.graph.ca_file(tmp / "graph-ca.pem").read_text(),
        ]
        self.ca_file.write_text("".join(pems))
        self.env = {
            "PIESYNC_MS_CLIENT_ID": self.identity.client_id,
            "PIESYNC_MS_AUTHORITY": self.identity.authority,
            "PIESYNC_GRAPH_URL": self.graph.url,
            "PIESYNC_CA_BUNDLE": str(self.ca_file),
            "PIESYNC_HTTP_TIMEOUT": "5",
        }
        self.settings = OutlookSettings.from_env(self.env)
        self.http = HttpSettings.from_env(self.env)

    def sign_in(self) -> None:
        """The browser sign-in, the test agreeing in place of the person's browser."""
        accounts = MicrosoftAccounts(self.settings, self.http)
        try:
            with accounts.start_browser_sign_in() as flow:
                self.play_browser(flow.url)
                signed_in = flow.wait(timeout=10)
            assert signed_in.username == self.username
        finally:
            accounts.close()

    def play_browser(self, url: str) -> None:
        """What the person's browser does with the sign-in address: consent, then follow the
        redirect to the program's loopback server."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with httpx.Client(verify=context) as browser:
            consent = browser.get(url, follow_redirects=False)
        assert consent.status_code == 302, consent.text
        assert httpx.get(consent.headers["location"]).status_code == 200

    def connector(self, folder: str = "") -> OutlookContacts:
        return OutlookContacts(f"{folder}@{self.username}", settings=self.settings, http=self.http)

    def spec(self, folder: str = "") -> str:
        return f"outlook:{folder}@{self.username}"

    def close(self) -> None:
        self.graph.close()
        self.identity.close()
