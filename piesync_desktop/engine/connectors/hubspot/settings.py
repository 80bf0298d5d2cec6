"""Where HubSpot is, which portal a connection means, and where its access token is kept.

Why it exists: the CLI, the wizard and the connector all need to name a HubSpot account the same
way (``hubspot:LIST@PORTAL``, the account key ``hubspot:<portal>``, the keyring entry of its
private-app token) without importing the HTTP stack.

A portal (HubSpot's "Hub ID") is one HubSpot account; a private app's access token belongs to
exactly one portal, so the token is kept in the keyring under the portal's account key, as
``secrets.load_secret("hubspot:<portal>", TOKEN)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from piesync_desktop.engine.errors import ConfigError

DEFAULT_URL = "https://api.hubapi.com"
TOKEN = "token"  # the keyring name of a portal's private-app access token
SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.lists.read",
    "crm.lists.write",
    "crm.schemas.contacts.read",
    "crm.schemas.contacts.write",
)
TOKEN_HELP = (
    "Make a new private-app token in HubSpot (Settings > Integrations > Private apps, scopes "
    "crm.objects.contacts.read/write, crm.lists.read/write, crm.schemas.contacts.read/write) "
    "and give it again."
)


def account_key(portal: int | str) -> str:
    """The store's and the keyring's key of a HubSpot portal."""
    return f"hubspot:{portal}"


@dataclass(frozen=True, slots=True)
class HubSpotSettings:
    """The API's base address (``PIESYNC_HUBSPOT_URL``: HubSpot's own unless a proxy or a test
    server stands in)."""

    api_url: str = DEFAULT_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> HubSpotSettings:
        url = env.get("PIESYNC_HUBSPOT_URL", "").strip() or DEFAULT_URL
        return cls(api_url=url.rstrip("/"))


@dataclass(frozen=True, slots=True)
class HubSpotLocation:
    """``LIST@PORTAL``: a static list of a portal by its name, or all contacts when empty."""

    list_name: str
    portal: int

    @classmethod
    def parse(cls, location: str) -> HubSpotLocation:
        # The portal is what follows the last "@", so a list's name may hold an "@" of its own.
        head, sep, portal = location.rpartition("@")
        portal = portal.strip()
        if not sep or not portal.isdigit():
            raise ConfigError(
                f"'hubspot:{location}' does not say which HubSpot portal: write hubspot:@PORTAL "
                "for all contacts, or hubspot:LIST@PORTAL for one static list (PORTAL is the "
                "account's number, its Hub ID)."
            )
        return cls(head.strip(), int(portal))

    def __str__(self) -> str:
        return f"{self.list_name}@{self.portal}"
