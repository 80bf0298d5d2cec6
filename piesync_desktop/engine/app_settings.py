"""The program's settings: the connectors' ``PIESYNC_*`` environment variables, also saved in the
profile's store by the window's Settings dialog.

Connectors read their settings from the process environment (``GoogleSettings.from_env``,
``HttpSettings.from_env``). :func:`apply_saved_settings` puts the saved values there, at start-up
(the CLI, the window) and after the dialog saves, for every variable the person's environment does
not set: the environment wins, so scripts and tests stay in control. The values live in the store's
``settings`` table, except a secret's (the Google client secret), which is kept in the keyring
through ``piesync_desktop.secrets`` (its row only says so).

The names this module put into an environment are listed in :data:`APPLIED_VARIABLE` of that
environment, so a second apply (after the dialog saved) can tell its own values, which it replaces
or removes, from the person's, which it never touches.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from piesync_desktop.engine.errors import ConfigError, SyncError

if TYPE_CHECKING:
    from piesync_desktop.engine.store import Store

log = logging.getLogger(__name__)

KEYRING_ACCOUNT = "settings"  # secrets.store_secret("settings", NAME, value)
IN_KEYRING = "(in the keyring)"  # the store's row of a saved secret: never the secret itself
APPLIED_VARIABLE = "PIESYNC_SETTINGS_APPLIED"  # names apply_saved_settings put in, comma-separated


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: its environment variable, how the dialog shows it, and what it accepts.

    ``kind`` is ``text``, ``url`` (an http(s) address), ``file`` (an existing file) or
    ``seconds`` (a positive number); ``default`` is what the connectors use when it is not set.
    """

    name: str
    label: str
    help: str
    kind: str = "text"
    default: str = ""
    secret: bool = False

    def normalise(self, value: str) -> str:
        """The value as it is saved: trimmed, a file's ``~`` expanded."""
        value = value.strip()
        if self.kind == "file" and value:
            value = str(Path(value).expanduser())
        return value

    def problem(self, value: str) -> str:
        """Why ``value`` (normalised) cannot be saved, in a sentence; empty when it can."""
        if not value:
            return ""
        if self.kind == "url":
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                return (
                    f"{self.label}: {value} is not a web address; give one that starts with "
                    "https://"
                )
        elif self.kind == "seconds":
            try:
                seconds = float(value)
            except ValueError:
                seconds = 0.0
            if not seconds > 0:
                return f"{self.label}: give a number of seconds, such as 60."
        elif self.kind == "file" and not Path(value).is_file():
            return f"{self.label}: there is no file at {value}."
        return ""


@dataclass(frozen=True, slots=True)
class SettingGroup:
    """Settings shown together, with a sentence on what they are for."""

    title: str
    help: str
    settings: tuple[Setting, ...]


GROUPS: tuple[SettingGroup, ...] = (
    SettingGroup(
        "Google",
        "Your own OAuth client for Google Contacts (a Desktop app client in the Google Cloud "
        "console, with the People API enabled). The addresses are Google's unless you fill "
        "them in, for a proxy or a test server.",
        (
            Setting(
                "PIESYNC_GOOGLE_CLIENT_ID",
                "Client ID",
                "The client ID of your Desktop app OAuth client, ending in "
                ".apps.googleusercontent.com.",
            ),
            Setting(
                "PIESYNC_GOOGLE_CLIENT_SECRET",
                "Client secret",
                "The client secret of the same OAuth client; kept in the system keyring.",
                secret=True,
            ),
            Setting(
                "PIESYNC_GOOGLE_AUTH_URL",
                "Sign-in address",
                "Where the browser signs in (Google's OAuth authorization endpoint).",
                kind="url",
                default="https://accounts.google.com/o/oauth2/v2/auth",
            ),
            Setting(
                "PIESYNC_GOOGLE_TOKEN_URL",
                "Token address",
                "Where sign-in codes and refresh tokens are exchanged for access tokens.",
                kind="url",
                default="https://oauth2.googleapis.com/token",
            ),
            Setting(
                "PIESYNC_GOOGLE_REVOKE_URL",
                "Revoke address",
                "Where signing out revokes the sign-in.",
                kind="url",
                default="https://oauth2.googleapis.com/revoke",
            ),
            Setting(
                "PIESYNC_PEOPLE_URL",
                "People API address",
                "The base address of the People API, which holds the contacts.",
                kind="url",
                default="https://people.googleapis.com/",
            ),
        ),
    ),
    SettingGroup(
        "Microsoft",
        "For Outlook 365: your own public client registered in Microsoft Entra (see the "
        "README), and the sign-in authority and Graph address, which a tenant or a national "
        "cloud changes.",
        (
            Setting(
                "PIESYNC_MS_CLIENT_ID",
                "Application (client) ID",
                "The application ID of your public client registration in Microsoft Entra.",
            ),
            Setting(
                "PIESYNC_MS_AUTHORITY",
                "Authority",
                "Where accounts sign in: the common endpoint, or your organisation's tenant.",
                kind="url",
                default="https://login.microsoftonline.com/common",
            ),
            Setting(
                "PIESYNC_GRAPH_URL",
                "Graph address",
                "The base address of Microsoft Graph, which holds the contacts.",
                kind="url",
                default="https://graph.microsoft.com/v1.0",
            ),
        ),
    ),
    SettingGroup(
        "HubSpot",
        "The address of HubSpot's API: HubSpot's own unless you fill it in, for a proxy or a "
        "test server. Each portal's private-app access token is kept in the system keyring, "
        "never here.",
        (
            Setting(
                "PIESYNC_HUBSPOT_URL",
                "API address",
                "The base address of HubSpot's API, which holds the contacts.",
                kind="url",
                default="https://api.hubapi.com",
            ),
        ),
    ),
    SettingGroup(
        "Network",
        "How every connector talks to its servers: a certificate authority to trust behind a "
        "company TLS proxy, and how long to wait for a slow server.",
        (
            Setting(
                "PIESYNC_CA_BUNDLE",
                "Certificate authorities",
                "A PEM file of the certificate authorities to trust instead of the built-in ones.",
                kind="file",
            ),
            Setting(
                "PIESYNC_HTTP_TIMEOUT",
                "Timeout",
                "Seconds to wait for a server's answer before giving up on this run.",
                kind="seconds",
                default="60",
            ),
        ),
    ),
)

SETTINGS: tuple[Setting, ...] = tuple(s for group in GROUPS for s in group.settings)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


@dataclass(slots=True)
class SavedSettings:
    """The values saved in a profile (secrets read from the keyring), name to value.

    ``problem`` says why a saved secret could not be read (no keyring right now); it is then
    missing from ``values``.
    """

    values: dict[str, str] = field(default_factory=dict)
    problem: str = ""


def saved_settings(store: Store) -> SavedSettings:
    """What the Settings dialog saved in ``store``; the keyring is asked only for a saved secret."""
    rows = store.settings()
    saved = SavedSettings()
    for setting in SETTINGS:
        value = rows.get(setting.name, "")
        if not value:
            continue
        if not setting.secret:
            saved.values[setting.name] = value
            continue
        if value != IN_KEYRING:
            continue  # never read a secret from SQLite
        from piesync_desktop import secrets  # keyring costs 60 ms to import: only here

        try:
            secret = secrets.load_secret(KEYRING_ACCOUNT, setting.name)
        except SyncError as exc:
            saved.problem = exc.message
            continue
        if secret:
            saved.values[setting.name] = secret
    return saved


def save_settings(store: Store, values: Mapping[str, str]) -> None:
    """Save ``values`` (name to value; an empty value forgets the setting, names not given
    stay as saved). Every value is checked first: a :class:`ConfigError` saves nothing. A secret
    goes to the keyring, and its row in the store only says it is there."""
    rows: dict[str, str] = {}
    for name, value in values.items():
        setting = BY_NAME.get(name)
        if setting is None:
            raise ConfigError(f"{name} is not a setting of piesync-desktop.")
        rows[name] = setting.normalise(value)
        problem = setting.problem(rows[name])
        if problem:
            raise ConfigError(problem, title="Cannot save the settings")
    for name, value in rows.items():
        if BY_NAME[name].secret:
            from piesync_desktop import secrets

            if value:
                secrets.store_secret(KEYRING_ACCOUNT, name, value)
                rows[name] = IN_KEYRING
            else:
                secrets.forget_secret(KEYRING_ACCOUNT, name)
    store.save_settings(rows)


def _applied(environ: Mapping[str, str]) -> set[str]:
    return {name for name in environ.get(APPLIED_VARIABLE, "").split(",") if name}


def set_by_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The settings the person's environment sets (even to an empty value), name to value; the
    values :func:`apply_saved_settings` put there are not among them."""
    ours = _applied(environ)
    return {s.name: environ[s.name] for s in SETTINGS if s.name in environ and s.name not in ours}


def apply_saved_settings(store: Store, environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Put the values saved in ``store`` into ``environ`` for every setting the person's
    environment does not set; returns the names now set from the store.

    Calling it again (after the Settings dialog saved) replaces the values it put there before,
    and removes those that are no longer saved. A secret the keyring cannot give right now is left
    as it was, and logged.
    """
    saved = saved_settings(store)
    if saved.problem:
        log.warning("a saved setting could not be read: %s", saved.problem)
    ours = _applied(environ)
    applied: list[str] = []
    for setting in SETTINGS:
        name = setting.name
        if name in environ and name not in ours:
            continue  # the person's environment wins
        value = saved.values.get(name, "")
        if value:
            environ[name] = value
            applied.append(name)
        elif setting.secret and saved.problem and name in ours:
            applied.append(name)  # unreadable now: keep what was read before
        elif name in ours:
            environ.pop(name, None)
    if applied:
        environ[APPLIED_VARIABLE] = ",".join(applied)
    elif APPLIED_VARIABLE in environ:
        del environ[APPLIED_VARIABLE]
    return applied
