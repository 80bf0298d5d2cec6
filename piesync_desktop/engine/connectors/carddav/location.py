"""Where a CardDAV address book is, as the person writes it after ``carddav:``, and whose it is.

``https://USER@HOST/PATH/`` names the address book and the user (a user name that is an email
address is written with ``%40``, or as it is: the last ``@`` ends it). The password is never part
of it: it lives in the keyring under the account's key, ``carddav:USER@HOST:PORT``, so every
address book of one account shares it and two connections on one account never sync at once.
An optional ``#groups`` or ``#categories`` says how tags are kept (see ``groups.py``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from piesync_desktop.engine.errors import ConfigError

APP_KEY = "carddav"
PASSWORD = "password"


class TagStyle(StrEnum):
    """How tags are kept in the address book."""

    AUTO = "auto"  # group vCards where the book already has them or the server is Apple's
    CATEGORIES = "categories"  # the CATEGORIES property of each card
    GROUPS = "groups"  # Apple's group vCards (X-ADDRESSBOOKSERVER-KIND:group), as iCloud shows


@dataclass(frozen=True, slots=True)
class CardDavLocation:
    """One address book URL and the user who reads it."""

    url: str  # without the user, ending in "/"
    username: str
    tag_style: TagStyle = TagStyle.AUTO

    @classmethod
    def parse(cls, location: str) -> CardDavLocation:
        text = location.strip()
        if "://" not in text:
            text = "https://" + text
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"'{location}' is not an address book URL ({exc}).") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"'{location}' is not an address book URL; write it as "
                "https://USER@HOST/PATH/ (for example https://me@dav.example.com/me/contacts/)."
            )
        style = TagStyle.AUTO
        if parts.fragment:
            try:
                style = TagStyle(parts.fragment.lower())
            except ValueError as exc:
                raise ConfigError(
                    f"'#{parts.fragment}' in '{location}': write #groups or #categories, or "
                    "leave it out."
                ) from exc
        netloc = parts.netloc.rpartition("@")[2]
        username = unquote(parts.netloc.rpartition("@")[0].partition(":")[0])
        path = parts.path or "/"
        if not path.endswith("/"):
            path += "/"
        del port  # checked above: a bad port is refused before anything is saved
        return cls(urlunsplit((parts.scheme, netloc, path, "", "")), username, style)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def account_key(self) -> str:
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{APP_KEY}:{self.username}@{parts.hostname}:{port}"

    @property
    def spec_location(self) -> str:
        """The location again, as ``https://USER@HOST/PATH/`` (what ``carddav:`` is followed by)."""
        parts = urlsplit(self.url)
        netloc = (
            f"{quote(self.username, safe='')}@{parts.netloc}" if self.username else parts.netloc
        )
        fragment = "" if self.tag_style is TagStyle.AUTO else self.tag_style.value
        return urlunsplit((parts.scheme, netloc, parts.path, "", fragment))

    @property
    def spec(self) -> str:
        return f"{APP_KEY}:{self.spec_location}"

    def with_url(self, url: str) -> CardDavLocation:
        return CardDavLocation(CardDavLocation.parse(url).url, self.username, self.tag_style)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
