"""Signing in to Microsoft (Outlook 365 through Microsoft Graph) as a public desktop client, with
msal: the authorization code flow with PKCE through the system browser and a loopback redirect,
or the device code flow where no browser can reach this computer.

msal's ``acquire_token_interactive`` is not used: it blocks without a way to cancel it and its
loopback server only takes ``form_post`` answers. :class:`BrowserSignIn` instead listens on
127.0.0.1 and a free port itself (``http://localhost:PORT`` is the redirect, as Microsoft wants
for public clients: any port matches a registered ``http://localhost``), lets msal build the
address (``initiate_auth_code_flow`` adds PKCE, a state and a nonce) and hands msal what comes
back (``acquire_token_by_auth_code_flow``). :class:`DeviceSignIn` polls msal's device flow one
step at a time so that Cancel is heard within ``POLL_INTERVAL``.

:class:`MicrosoftAccounts` keeps msal's token cache of each account (its refresh token among
them) in the keyring only, through ``piesync_desktop.secrets``: one ``SerializableTokenCache``
per account, written back after every change, never to a file. msal's ``PublicClientApplication``
reads the authority's OpenID configuration in its constructor, so one is made only when first
needed (on the caller's worker thread), and a network failure there is a
:class:`TransientError` like any other. Nothing in this module logs or prints a token, a code or
the contents of a token cache; msal's own DEBUG records (which show the authorization code and
the PKCE verifier) are turned off below.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets as randomness
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from piesync_desktop.engine.connectors.http import (
    HttpSettings,
    host_of,
    make_client,
    transport_error,
)
from piesync_desktop.engine.connectors.loopback import LoopbackRedirect, Provider
from piesync_desktop.engine.errors import (
    AuthExpired,
    Cancelled,
    ConfigError,
    ConnectorError,
    TransientError,
)

if TYPE_CHECKING:  # msal takes 50 to 150 ms to import: only where it is used
    import msal

AUTHORITY = "https://login.microsoftonline.com/common"
GRAPH_URL = "https://graph.microsoft.com/v1.0"
# Microsoft Graph's delegated permissions. msal adds "offline_access" (for a refresh token),
# "openid" and "profile" (for the ID token that names the account) to every request itself, and
# refuses them with a ValueError when they are passed here.
SCOPES = ("User.Read", "Contacts.ReadWrite")
CONTACTS_SCOPE = "Contacts.ReadWrite"

MICROSOFT = Provider("Microsoft", "your Outlook contacts")
TOKEN_CACHE = "token_cache"  # the name of the keyring entry, under account_key(username)
EXPIRY_MARGIN = 60.0  # an access token with less than this many seconds left is renewed first
POLL_INTERVAL = 0.2  # how often a wait looks at its cancel callback
# The device flow is never polled faster than this, whatever interval Microsoft gives (msal turns
# the interval into whole seconds, and polls without a pause when it is 0).
DEVICE_POLL_FLOOR = 1.0
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TITLE_NOT_SET_UP = "Outlook sign-in not set up"

CLIENT_HELP = (
    "Outlook sign-in needs an app registration of your own for now: in the Microsoft Entra "
    "admin center (entra.microsoft.com) open App registrations > New registration, choose who "
    'may sign in ("Accounts in any organizational directory and personal Microsoft accounts" '
    'serves both work and Outlook.com accounts), and add the platform "Mobile and desktop '
    'applications" with the redirect URI http://localhost. Under Authentication set "Allow '
    'public client flows" to Yes (for signing in with a code on another device); under API '
    "permissions add the Microsoft Graph delegated permissions User.Read and Contacts.ReadWrite "
    "(with offline_access and openid). Then copy the Application (client) ID from the "
    "registration's Overview into PIESYNC_MS_CLIENT_ID or the Settings dialog."
)


def _quiet_msal() -> None:
    """Keep msal from saying what it should not, or need not (idempotent, and done again
    before each use, since a test framework may reset warning filters between tests)."""
    # msal's DEBUG records show the authorization code and the PKCE verifier (its token cache
    # masks tokens in them, but not those): this module's rule is that neither reaches a log.
    logging.getLogger("msal").setLevel(logging.INFO)
    # The browser's answer comes back in the query string to our own loopback server, which
    # keeps it out of any log and out of the Referer; msal warns about that on every sign-in.
    warnings.filterwarnings(
        "ignore",
        message="response_mode='form_post' is recommended",
        category=UserWarning,
        module=r"msal\.",
    )


_quiet_msal()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OutlookSettings:
    """The app registration and the endpoints (Microsoft's own unless a test, a national cloud
    or a single tenant says else)."""

    client_id: str
    authority: str = AUTHORITY
    graph_url: str = GRAPH_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> OutlookSettings:
        def read(name: str) -> str:
            return env.get(name, "").strip()

        client_id = read("PIESYNC_MS_CLIENT_ID")
        if not client_id:
            raise ConfigError(
                "PIESYNC_MS_CLIENT_ID is not set. " + CLIENT_HELP, title=TITLE_NOT_SET_UP
            )
        if not GUID.fullmatch(client_id):
            raise ConfigError(
                f"PIESYNC_MS_CLIENT_ID={client_id} is not an Application (client) ID: Microsoft "
                "Entra writes those as a GUID, like 4b0db8c2-9f26-4417-8bde-3f0a3656ae97. Copy "
                "it from the Overview page of your app registration.",
                title=TITLE_NOT_SET_UP,
            )
        authority = read("PIESYNC_MS_AUTHORITY").rstrip("/") or AUTHORITY
        problem = authority_problem(authority)
        if problem is not None:
            raise ConfigError(f"PIESYNC_MS_AUTHORITY={authority} {problem}", title=TITLE_NOT_SET_UP)
        return cls(
            client_id=client_id,
            authority=authority,
            graph_url=read("PIESYNC_GRAPH_URL").rstrip("/") or GRAPH_URL,
        )


def authority_problem(authority: str) -> str | None:
    """What stops msal from using ``authority`` (the end of a sentence), or None."""
    parts = urlsplit(authority)
    if parts.scheme != "https":
        return (
            "is not an https address: msal signs in over https only. Write https://, or leave "
            f"it unset for Microsoft's own ({AUTHORITY})."
        )
    if not parts.hostname or not parts.path.strip("/"):
        return (
            "names no tenant: write it as https://login.microsoftonline.com/<tenant>, where the "
            "tenant is common, organizations, consumers, or your directory's ID or domain."
        )
    return None


def account_key(username: str) -> str:
    """The key of a Microsoft account in the keyring and the store."""
    return "outlook:" + username.strip().lower()


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a finished sign-in gives (its tokens stay in the keyring): the account's username
    (``preferred_username``, e.g. ada@contoso.com) in lower case, and its display name."""

    username: str
    name: str = ""


# -- the accounts ---------------------------------------------------------------------------------

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _account_lock(key: str) -> threading.RLock:
    """One lock per keyring entry for the whole process: two connections' runs on one account
    (two MicrosoftAccounts, or two threads on one) take turns to read, refresh and write back
    the cache, so neither writes over a refresh token the other just received."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.RLock())


@dataclass(eq=False, slots=True)
class _App:
    """An msal application over one token cache, and the keyring text that cache was last read
    from or written to (to know when another instance changed it)."""

    app: msal.PublicClientApplication
    cache: msal.SerializableTokenCache
    text: str | None = field(default=None, repr=False)

    def load(self, text: str) -> None:
        if text != self.text:
            self.cache.deserialize(text)
            self.text = text

    def save(self, key: str) -> None:
        from piesync_desktop import secrets

        if self.cache.has_state_changed:
            text = json.dumps(json.loads(self.cache.serialize()), separators=(",", ":"))
            secrets.store_secret(key, TOKEN_CACHE, text)
            self.text = text


class MicrosoftAccounts:
    """msal's PublicClientApplication for one :class:`OutlookSettings`, over token caches kept
    in the keyring (one per account: entry ``token_cache`` under :func:`account_key`).

    Each account gets its own application and cache, made on first use (the constructor fetches
    the OpenID configuration: call this from a worker thread). Before every silent acquisition
    the cache is read again from the keyring if it changed there, under a per-account lock, and
    written back after, so several instances and threads on one account never lose a refreshed
    token. :meth:`close` ends the HTTP client; the instance makes a new one if used again.
    """

    def __init__(self, settings: OutlookSettings, http: HttpSettings | None = None) -> None:
        problem = authority_problem(settings.authority)
        if problem is not None:
            raise ConfigError(
                f"The Microsoft sign-in address {settings.authority} {problem}",
                title=TITLE_NOT_SET_UP,
            )
        self.settings = settings
        self.http = http or HttpSettings.from_env()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._apps: dict[str, _App] = {}

    # -- signing in -------------------------------------------------------------------------------

    def start_browser_sign_in(self, *, login_hint: str | None = None) -> BrowserSignIn:
        """A sign-in through the system browser: open its ``url``, then ``wait()``."""
        return BrowserSignIn(self, self._new_app(), login_hint=login_hint)

    def start_device_sign_in(self) -> DeviceSignIn:
        """A sign-in with a code entered on another device: show its ``message``, then
        ``wait()``."""
        entry = self._new_app()
        flow = self._call(lambda: entry.app.initiate_device_flow(scopes=list(SCOPES)))
        if "user_code" not in flow:
            raise _refusal(flow, during="device")
        return DeviceSignIn(self, entry, flow)

    # -- using a sign-in ------------------------------------------------------------------------

    def access_token(self, username: str, *, force_refresh: bool = False) -> str:
        """A valid access token for ``username``, from the cache or renewed with its refresh
        token (``force_refresh``: renewed whatever the cache says, after a 401)."""
        return self._acquire(username, force_refresh=force_refresh)[0]

    def sign_out(self, username: str) -> bool:
        """Remove the account from msal's cache and forget its keyring entry; True when there
        was a sign-in to forget.

        Microsoft gives a public client no way to revoke one refresh token: to end
        piesync-desktop's access at Microsoft too, remove it at https://myapps.microsoft.com
        (work or school) or https://account.live.com/consent/Manage (personal accounts).
        """
        from piesync_desktop import secrets

        key = account_key(username)
        with _account_lock(key):
            with self._lock:
                entry = self._apps.pop(key, None)
            if entry is not None:
                try:
                    for account in entry.app.get_accounts(username=username):
                        entry.app.remove_account(account)
                except (httpx.TransportError, ValueError, RuntimeError):
                    pass  # looking up aliases failed: the cache goes with the entry anyway
            had = secrets.load_secret(key, TOKEN_CACHE) is not None
            secrets.forget_secret(key, TOKEN_CACHE)
        return had or entry is not None

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            self._apps.clear()
        if client is not None:
            client.close()

    def __enter__(self) -> MicrosoftAccounts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside -----------------------------------------------------------------------------------

    def _acquire(self, username: str, *, force_refresh: bool) -> tuple[str, float]:
        """An access token and when it expires (``time.time()`` seconds)."""
        from piesync_desktop import secrets

        key = account_key(username)
        with _account_lock(key):
            text = secrets.load_secret(key, TOKEN_CACHE)
            if not text:
                with self._lock:
                    self._apps.pop(key, None)
                raise _not_signed_in(username)
            with self._lock:
                entry = self._apps.get(key)
            if entry is None:
                entry = self._new_app()
                with self._lock:
                    self._apps[key] = entry
            entry.load(text)
            try:
                accounts = self._call(lambda: entry.app.get_accounts(username=username))
                if not accounts:
                    raise _not_signed_in(username)
                result = self._call(
                    lambda: entry.app.acquire_token_silent_with_error(
                        list(SCOPES),
                        accounts[0],
                        force_refresh=force_refresh,
                        # So msal falls back on a cached token still good when a refresh it
                        # tried early meets a network failure (its default is requests').
                        http_exceptions=(httpx.TransportError,),
                    )
                )
            finally:
                entry.save(key)
        if not result:
            raise _not_signed_in(username)
        if "error" in result:
            raise _refusal(result, during="refresh", username=username)
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise ConnectorError(
                f"{host_of(self.settings.authority)} answered with something that is not a "
                f"token. {self.http.then}"
            )
        return token, time.time() + _seconds(result.get("expires_in"))

    def _signed_in(self, entry: _App, result: dict[str, Any]) -> SignedIn:
        """Keep a finished sign-in's cache in the keyring and say whose it is."""
        if "error" in result:
            raise _refusal(result, during="sign-in")
        claims = result.get("id_token_claims")
        claims = claims if isinstance(claims, dict) else {}
        username = claims.get("preferred_username") or claims.get("upn") or claims.get("email")
        if not isinstance(username, str) or not username.strip():
            raise ConnectorError(
                "Microsoft signed you in but did not say which account it was (no username in "
                "its answer). Sign in again.",
                title="Microsoft sign-in failed",
            )
        username = username.strip().lower()
        granted = result.get("scope")
        if isinstance(granted, str) and granted and not _allows_contacts(granted):
            raise AuthExpired(
                f"You signed in to Microsoft as {username} but piesync-desktop was not allowed "
                "to read and edit your contacts. Sign in again and accept the permissions it "
                "asks for; a work or school account may need its administrator to allow them.",
                title="Contacts not allowed",
            )
        if not result.get("refresh_token"):
            raise ConnectorError(
                f"Microsoft signed you in as {username} but gave piesync-desktop no refresh "
                "token, so it could not sync while you are away. Sign in again.",
                title="Microsoft sign-in failed",
            )
        key = account_key(username)
        with _account_lock(key):
            entry.save(key)
            with self._lock:
                self._apps[key] = entry
        name = claims.get("name")
        return SignedIn(username=username, name=name if isinstance(name, str) else "")

    def _new_app(self) -> _App:
        import msal
        from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS
        from msal.exceptions import MsalServiceError

        _quiet_msal()
        with self._lock:
            if self._client is None:
                self._client = make_client(self.http)
            client = self._client
        authority = self.settings.authority
        host = (urlsplit(authority).hostname or "").lower()
        cache = msal.SerializableTokenCache()
        try:
            app = msal.PublicClientApplication(
                self.settings.client_id,
                authority=authority,
                http_client=client,
                token_cache=cache,
                # msal validates any other host at login.microsoftonline.com (and looks for
                # aliases there): a national cloud it lists needs no such call, and a test
                # server or a proxy must not make one.
                instance_discovery=None if host in WELL_KNOWN_AUTHORITY_HOSTS else False,
                app_name="piesync-desktop",
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, _url_of(exc, authority), self.http) from exc
        except MsalServiceError as exc:
            raise TransientError(
                f"{host} answered {_status(exc)} when asked for its sign-in configuration. "
                f"{self.http.then}",
                title="Server error",
            ) from exc
        except (ValueError, KeyError) as exc:
            raise ConfigError(
                f"{authority} gave piesync-desktop no usable sign-in configuration (from "
                f"{authority}/v2.0/.well-known/openid-configuration). Check the tenant in "
                "PIESYNC_MS_AUTHORITY, or leave it unset for Microsoft's own.",
                title=TITLE_NOT_SET_UP,
            ) from exc
        return _App(app, cache)

    def _call(self, step: Callable[[], T]) -> T:
        """Run one msal call, its failures said for a person (never with msal's own message,
        which can hold a response's text or a state)."""
        from msal.exceptions import MsalServiceError

        host = host_of(self.settings.authority)
        try:
            return step()
        except httpx.TransportError as exc:
            raise transport_error(exc, _url_of(exc, self.settings.authority), self.http) from exc
        except MsalServiceError as exc:
            raise TransientError(
                f"{host} answered {_status(exc)} to the sign-in. {self.http.then}",
                title="Server error",
            ) from exc
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ConnectorError(
                f"{host} answered the sign-in with something piesync-desktop could not use "
                f"({exc.__class__.__name__}). Sign in again; if it keeps happening, check "
                "PIESYNC_MS_AUTHORITY.",
                title="Microsoft sign-in failed",
            ) from exc


# -- the browser sign-in --------------------------------------------------------------------------


class BrowserSignIn:
    """One sign-in through the system browser.

    Creating it starts a one-shot HTTP server on 127.0.0.1 and a free port; open :attr:`url` in
    the browser, then call :meth:`wait` (on a worker thread: it blocks). The server stops when
    :meth:`wait` returns or raises, or on :meth:`close`.
    """

    def __init__(
        self, accounts: MicrosoftAccounts, entry: _App, *, login_hint: str | None = None
    ) -> None:
        self._accounts = accounts
        self._entry = entry
        state = randomness.token_urlsafe(32)
        self._redirect = LoopbackRedirect(state, MICROSOFT)
        self.redirect_uri = f"http://localhost:{self._redirect.port}"
        self._flow: dict[str, Any] = entry.app.initiate_auth_code_flow(
            list(SCOPES),
            redirect_uri=self.redirect_uri,
            state=state,
            prompt="select_account",  # several accounts can be connected: let the person choose
            login_hint=login_hint,
        )
        self.url: str = self._flow["auth_uri"]

    def wait(
        self, timeout: float | None = None, cancelled: Callable[[], bool] | None = None
    ) -> SignedIn:
        """Block until the browser comes back, then let msal exchange its code for tokens (kept
        in the keyring).

        Raises :class:`Cancelled` soon (within ``POLL_INTERVAL``) after ``cancelled()`` turns
        true, and :class:`AuthExpired` when the person refused, the answer belongs to another
        sign-in, or ``timeout`` seconds pass without one.
        """
        flow, query = self._flow, self._redirect.wait(timeout, cancelled)
        result = self._accounts._call(
            lambda: self._entry.app.acquire_token_by_auth_code_flow(flow, query)
        )
        return self._accounts._signed_in(self._entry, result)

    def close(self) -> None:
        """Stop listening (wait() does it itself); safe to call twice."""
        self._redirect.close()

    def __enter__(self) -> BrowserSignIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the device code sign-in ----------------------------------------------------------------------


class DeviceSignIn:
    """One sign-in with a code: the person opens :attr:`verification_uri` on any device and
    enters :attr:`user_code` (:attr:`message` is Microsoft's own sentence saying so) before
    :attr:`expires_at` (``time.time()`` seconds); :meth:`wait` polls until they did."""

    def __init__(self, accounts: MicrosoftAccounts, entry: _App, flow: dict[str, Any]) -> None:
        self._accounts = accounts
        self._entry = entry
        self._flow = flow
        self.user_code: str = str(flow["user_code"])
        self.verification_uri: str = str(
            flow.get("verification_uri") or flow.get("verification_url") or ""
        )
        self.message: str = str(
            flow.get("message")
            or f"To sign in, open {self.verification_uri} and enter the code {self.user_code}."
        )
        self.expires_at: float = float(flow.get("expires_at") or time.time() + 900)
        self._interval = float(flow.get("interval", 5))
        # msal's polling loop only stops to ask its exit condition once a second, and not at all
        # when the interval is 0: with 1 it makes one request a call and returns.
        flow["interval"] = max(1, int(flow.get("interval", 5)))
        self._stop = threading.Event()

    def wait(self, cancelled: Callable[[], bool] | None = None) -> SignedIn:
        """Poll Microsoft until the code was entered and the sign-in accepted, then keep it in
        the keyring. Raises :class:`Cancelled` within ``POLL_INTERVAL`` of ``cancelled()``
        turning true (or :meth:`close`), :class:`AuthExpired` when the code expires or the
        person declines, :class:`TransientError` when Microsoft cannot be reached meanwhile."""
        flow = self._flow

        def check() -> None:
            if self._stop.is_set() or (cancelled is not None and cancelled()):
                raise Cancelled("The Microsoft sign-in was cancelled; nothing was changed.")

        try:
            while True:
                check()
                if time.time() >= self.expires_at:
                    raise _code_expired(self.user_code)
                result = self._accounts._call(
                    lambda: self._entry.app.acquire_token_by_device_flow(
                        flow, exit_condition=lambda flow: True
                    )
                )
                error = result.get("error")
                if not error:
                    return self._accounts._signed_in(self._entry, result)
                if error == "slow_down":  # RFC 8628 §3.5: five seconds more from now on
                    self._interval += 5
                elif error != "authorization_pending":
                    if error in ("expired_token", "bad_verification_code"):
                        raise _code_expired(self.user_code)
                    raise _refusal(result, during="device")
                pause_until = time.monotonic() + max(self._interval, DEVICE_POLL_FLOOR)
                while (left := pause_until - time.monotonic()) > 0:
                    check()
                    self._stop.wait(min(POLL_INTERVAL, left))
        finally:
            self._stop.set()

    def close(self) -> None:
        """Stop waiting: a wait() on another thread raises Cancelled soon after."""
        self._stop.set()

    def __enter__(self) -> DeviceSignIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- access tokens --------------------------------------------------------------------------------


class TokenSource:
    """Access tokens for one signed-in account during a run, renewed by msal with the refresh
    token in the keyring. Safe to share between threads; ``accounts`` (shared with others)
    spares a second msal application, else the source makes and closes its own."""

    def __init__(
        self,
        username: str,
        settings: OutlookSettings,
        http: HttpSettings | None = None,
        *,
        accounts: MicrosoftAccounts | None = None,
    ) -> None:
        self.username = username
        self._accounts = accounts or MicrosoftAccounts(settings, http)
        self._owns_accounts = accounts is None
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None
        self._force_refresh = False

    def access_token(self) -> str:
        """A valid access token, renewed first when there is none or it is about to expire."""
        with self._lock:
            if self._token is None or self._token[1] - time.time() < EXPIRY_MARGIN:
                self._token = self._accounts._acquire(
                    self.username, force_refresh=self._force_refresh
                )
                self._force_refresh = False
            return self._token[0]

    def invalidate(self) -> None:
        """Forget the access token (Graph answered 401): the next call gets a new one from
        Microsoft, whatever msal's cache says of the old one."""
        with self._lock:
            self._token = None
            self._force_refresh = True

    def close(self) -> None:
        if self._owns_accounts:
            self._accounts.close()

    def __enter__(self) -> TokenSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- Microsoft's errors, for a person -------------------------------------------------------------


def _not_signed_in(username: str) -> AuthExpired:
    return AuthExpired(
        f"piesync-desktop is not signed in to Microsoft as {username} on this computer. "
        "Sign in again to go on syncing."
    )


def _code_expired(user_code: str) -> AuthExpired:
    return AuthExpired(
        f"The code {user_code} expired before the sign-in was finished with it. Start the "
        "sign-in again, and enter the new code within its time.",
        title="Sign-in not finished",
    )


def _refusal(
    result: Mapping[str, Any], *, during: str, username: str | None = None
) -> ConnectorError:
    """Microsoft's refusal (``during`` is "sign-in", "device" or "refresh"), said with its own
    words: the error and the first line of its description (an AADSTS code and sentence)."""
    error = str(result.get("error") or "")
    said = _said(error or "no answer", str(result.get("error_description") or ""))
    if during == "refresh" and error in (
        "invalid_grant",
        "interaction_required",
        "consent_required",
        "login_required",
    ):
        return AuthExpired(
            f"Microsoft no longer accepts the sign-in of {username} ({said}). Sign in again."
        )
    if error in ("access_denied", "authorization_declined"):
        return AuthExpired(
            f"You did not allow piesync-desktop to use your Outlook contacts ({said}), so "
            "nothing was connected. Sign in again and accept to connect them.",
            title="Microsoft sign-in cancelled",
        )
    if error in ("invalid_client", "unauthorized_client", "invalid_tenant"):
        return ConnectorError(
            f"Microsoft does not accept the app registration in PIESYNC_MS_CLIENT_ID ({said}). "
            "Check its Application (client) ID in Microsoft Entra (App registrations), who may "
            'sign in to it, and, for sign-in with a code, that "Allow public client flows" is '
            "Yes.",
            title=TITLE_NOT_SET_UP,
        )
    if error in ("temporarily_unavailable", "server_error"):
        return TransientError(
            f"Microsoft could not finish the sign-in just now ({said}). Try again in a while.",
            title="Server error",
        )
    if error == "invalid_grant":
        return AuthExpired(
            f"Microsoft refused the sign-in ({said}): the code expired, was already used, or "
            "does not belong to this sign-in. Sign in again.",
            title="Microsoft sign-in failed",
        )
    if during == "refresh":
        return AuthExpired(
            f"Microsoft no longer accepts the sign-in of {username} ({said}). Sign in again."
        )
    return ConnectorError(
        f"Microsoft did not finish the sign-in ({said}). Sign in again; if it keeps happening, "
        "check the app registration in PIESYNC_MS_CLIENT_ID.",
        title="Microsoft sign-in failed",
    )


def _allows_contacts(scope: str) -> bool:
    """Whether a granted scope (short names, or Graph's full ``https://graph.microsoft.com/...``
    ones) includes Contacts.ReadWrite."""
    wanted = CONTACTS_SCOPE.lower()
    return any(name.rsplit("/", 1)[-1].lower() == wanted for name in scope.split())


def _said(error: str, description: str) -> str:
    """Microsoft's error code and the first line of its words (the rest are trace ids), as a
    short clause (never more than a line)."""
    first = description.strip().splitlines()[0].strip() if description.strip() else ""
    text = f"{error}: {first}" if first else error
    text = "".join(character for character in text if character.isprintable())
    return text if len(text) <= 200 else text[:199] + "…"


def _status(exc: Exception) -> str:
    """``HTTP 503`` from msal's "HTTP Error: 503" (all it keeps of a 5xx answer)."""
    found = re.search(r"\b[1-5]\d\d\b", str(exc))
    return f"HTTP {found.group()}" if found else "with a server error"


def _url_of(exc: httpx.TransportError, fallback: str) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # httpx raises when the exception carries no request
        return fallback


def _seconds(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
