"""A HubSpot portal on the loopback emulator, its private-app token, and connectors on it.

The portal's rate limiter runs on the emulator's clock and waits by moving that clock, so a test
that waits out HubSpot's 10 second window (or a 429, or a 5xx backoff) costs no real time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytest
from emulators.hubspot import HubSpotEmulator

from piesync_desktop import secrets
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.hubspot import connector as hubspot_connector
from piesync_desktop.engine.connectors.hubspot.api import RateLimiter
from piesync_desktop.engine.connectors.hubspot.connector import HubSpotContacts
from piesync_desktop.engine.connectors.hubspot.settings import (
    TOKEN,
    HubSpotSettings,
    account_key,
)

PORTAL = 123456


class HubSpotAccount:
    """The emulator, the settings that point the real code at it, and the portal's token."""

    def __init__(
        self,
        tmp: Path,
        portal: int = PORTAL,
        tier: Literal["free", "starter", "professional", "enterprise"] = "starter",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.portal = portal
        self.api = HubSpotEmulator(portal_id=portal, tier=tier, clock=clock)
        tmp.mkdir(parents=True, exist_ok=True)
        self.ca_file = self.api.ca_file(tmp / "hubspot-ca.pem")
        self.env = {
            "PIESYNC_HUBSPOT_URL": self.api.url,
            "PIESYNC_CA_BUNDLE": str(self.ca_file),
            "PIESYNC_HTTP_TIMEOUT": "5",
            "PIESYNC_HUBSPOT_TOKEN": self.api.token,
        }
        self.env_file = tmp / ".env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in self.env.items()))
        self.settings = HubSpotSettings.from_env(self.env)
        self.http = HttpSettings.from_env(self.env)
        self.limiter = RateLimiter(clock=lambda: self.api.now_ms() / 1000, sleep=self.api.advance)

    @property
    def account_key(self) -> str:
        return account_key(self.portal)

    @property
    def token(self) -> str:
        return self.api.token

    def wait_on_emulator_clock(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every connector made from now on (those the engine opens by their spec too) waits
        on the emulator's clock, through this account's limiter."""
        monkeypatch.setattr(hubspot_connector, "RateLimiter", lambda: self.limiter)

    def save_token(self) -> None:
        """Keep the token in the keyring under the portal's account key, as the CLI does."""
        secrets.store_secret(self.account_key, TOKEN, self.api.token)

    def connector(self, list_name: str = "", token: str | None = None) -> HubSpotContacts:
        """A connector on the portal (or one of its lists), with the token given directly."""
        return HubSpotContacts(
            f"{list_name}@{self.portal}",
            settings=self.settings,
            http=self.http,
            token=token or self.api.token,
            limiter=self.limiter,
        )

    def spec(self, list_name: str = "") -> str:
        return f"hubspot:{list_name}@{self.portal}"

    def close(self) -> None:
        self.api.close()
