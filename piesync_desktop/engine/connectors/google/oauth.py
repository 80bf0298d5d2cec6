"""Signing in to Google as an installed app: OAuth 2.0 with the system browser, a loopback
redirect and PKCE, as Google's "OAuth 2.0 for Mobile & Desktop Apps" describes (RFC 8252 for
native apps, RFC 7636 for PKCE).

:class:`LoopbackSignIn` listens on 127.0.0.1 and a free port, gives the address to open in the
browser, and exchanges the code that comes back for tokens. The refresh token is kept in the
keyring only (:func:`save_sign_in`, through ``piesync_desktop.secrets``); access tokens live in
memory for their hour, in a :class:`TokenSource` that renews them. :func:`sign_out` revokes the
sign-in at Google and forgets it here. Nothing in this module logs or prints a token, a code or
the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as randomness
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from piesync_desktop.engine.connectors.http import (
    HttpSettings,
    host_of,
    make_client,
    send_with_throttling,
    transport_error,
)
from piesync_desktop.engine.connectors.loopback import LoopbackRedirect, Provider
from piesync_desktop.engine.errors import (
    AuthExpired,
    ConfigError,
    ConnectorError,
    TransientError,
)

AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.googleapis.com/token"
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
PEOPLE_URL = "https://people.googleapis.com/"

CONTACTS_SCOPE = "https://www.googleapis.com/auth/contacts"
SCOPES = (CONTACTS_SCOPE, "openid", "email")

GOOGLE = Provider("Google", "your Google contacts")
REFRESH_TOKEN = "refresh_token"  # the name of the keyring entry, under account_key(email)
EXPIRY_MARGIN = 60.0  # an access token with less than this many seconds left is renewed first
PERMISSIONS_PAGE = "https://myaccount.google.com/permissions"

CLIENT_HELP = (
    "Google sign-in needs an OAuth client of your own for now: in the Google Cloud console "
    "(console.cloud.google.com) create a project, enable the People API, set up its OAuth "
    "consent screen, then under APIs & Services > Credentials create an OAuth client ID of type "
    '"Desktop app", and set PIESYNC_GOOGLE_CLIENT_ID and PIESYNC_GOOGLE_CLIENT_SECRET to its '
    "client ID and client secret."
)


@dataclass(frozen=True, slots=True)
class GoogleSettings:
    """The OAuth client and the endpoints (Google's own unless a test or a proxy says else)."""

    client_id: str
    client_secret: str = field(repr=False)
    auth_url: str = AUTH_URL
    token_url: str = TOKEN_URL
    revoke_url: str = REVOKE_URL
    people_url: str = PEOPLE_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GoogleSettings:
        def read(name: str) -> str:
            return env.get(name, "").strip()

        client_id = read("PIESYNC_GOOGLE_CLIENT_ID")
        client_secret = read("PIESYNC_GOOGLE_CLIENT_SECRET")
        # A desktop client always has a secret, and Google's token endpoint wants it.
        missing = [
            name
            for name, value in (
                ("PIESYNC_GOOGLE_CLIENT_ID", client_id),
                ("PIESYNC_GOOGLE_CLIENT_SECRET", client_secret),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. "
                + CLIENT_HELP,
                title="Google sign-in not set up",
            )
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            auth_url=read("PIESYNC_GOOGLE_AUTH_URL") or AUTH_URL,
            token_url=read("PIESYNC_GOOGLE_TOKEN_URL") or TOKEN_URL,
            revoke_url=read("PIESYNC_GOOGLE_REVOKE_URL") or REVOKE_URL,
            people_url=read("PIESYNC_PEOPLE_URL") or PEOPLE_URL,
        )


@dataclass(slots=True)
class Tokens:
    """What a sign-in (or a refresh) gave: ``expires_at`` is in ``time.time()`` seconds and
    ``account`` the Google account's email address."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float
    account: str
    scope: str

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at - time.time() < seconds


@dataclass(frozen=True, slots=True)
class SignOutResult:
    """What :func:`sign_out` did: ``forgotten`` when this computer held a sign-in (it no longer
    does), ``revoked`` when Google confirmed the access is gone; ``message`` says it to a person."""

    account: str
    forgotten: bool
    revoked: bool
    message: str


def account_key(email: str) -> str:
    """The key of a Google account in the keyring and the store."""
    return "google:" + email.strip().lower()


def save_sign_in(tokens: Tokens) -> None:
    """Keep the refresh token in the keyring (the access token stays in memory only)."""
    from piesync_desktop import secrets  # keyring costs 60 ms to import: only here

    secrets.store_secret(account_key(tokens.account), REFRESH_TOKEN, tokens.refresh_token)


# -- the sign-in ----------------------------------------------------------------------------------


class LoopbackSignIn:
    """One sign-in through the system browser.

    Creating it starts a one-shot HTTP server on 127.0.0.1 and a free port; open :attr:`url` in
    the browser, then call :meth:`wait` (on a worker thread: it blocks) for the tokens. The
    server stops when :meth:`wait` returns or raises, or on :meth:`close`.
    """

    def __init__(
        self,
        settings: GoogleSettings,
        http: HttpSettings | None = None,
        *,
        login_hint: str | None = None,
    ) -> None:
        self.settings = settings
        self.http = http or HttpSettings.for_setup()
        self._state = randomness.token_urlsafe(32)
        # RFC 7636 §4.1: 43 to 128 characters of [A-Za-z0-9-._~]; 64 bytes make 86 of them.
        self._verifier = randomness.token_urlsafe(64)
        self._redirect = LoopbackRedirect(self._state, GOOGLE)
        self.redirect_uri = f"http://127.0.0.1:{self._redirect.port}/"
        params = {
            "client_id": settings.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "state": self._state,
            "code_challenge": _challenge(self._verifier),
            "code_challenge_method": "S256",
            "access_type": "offline",
            "prompt": "consent",  # Google gives a refresh token only with consent given now
        }
        if login_hint:
            params["login_hint"] = login_hint
        separator = "&" if urlsplit(settings.auth_url).query else "?"
        self.url = settings.auth_url + separator + urlencode(params, quote_via=quote)

    def wait(
        self, timeout: float | None = None, cancelled: Callable[[], bool] | None = None
    ) -> Tokens:
        """Block until the browser comes back, then exchange its code for :class:`Tokens`.

        Raises :class:`Cancelled` soon (within ``POLL_INTERVAL``) after ``cancelled()`` turns
        true, and :class:`AuthExpired` when Google was refused access, the answer belongs to
        another sign-in, or ``timeout`` seconds pass without one.
        """
        query = self._redirect.wait(timeout, cancelled)
        if "error" in query:
            error, description = query["error"], query.get("error_description", "")
            if error == "access_denied":
                raise AuthExpired(
                    "You did not allow piesync-desktop to use your Google contacts, so nothing "
                    "was connected. Sign in to Google again and choose Allow to connect them.",
                    title="Google sign-in cancelled",
                )
            raise AuthExpired(
                f"Google did not finish the sign-in ({_said(error, description)})."
                " Sign in to Google again; if it keeps happening, check the OAuth client in "
                "PIESYNC_GOOGLE_CLIENT_ID.",
                title="Google sign-in failed",
            )
        form = {
            "grant_type": "authorization_code",
            "code": query.get("code", ""),
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self._verifier,
        }
        with make_client(self.http) as client:
            answer = _token_request(client, self.settings, self.http, form, account=None)
            tokens = _tokens_from(answer)
            if CONTACTS_SCOPE not in tokens.scope.split():
                _revoke(client, self.settings, self.http, tokens.refresh_token)
                raise AuthExpired(
                    f"You signed in to Google as {tokens.account} but did not let piesync-desktop "
                    "see and edit your contacts. Sign in again and tick the box for Google "
                    "Contacts.",
                    title="Contacts not allowed",
                )
        return tokens

    def close(self) -> None:
        """Stop listening (wait() does it itself); safe to call twice."""
        self._redirect.close()

    def __enter__(self) -> LoopbackSignIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- access tokens --------------------------------------------------------------------------------


class TokenSource:
    """Access tokens for one signed-in account, renewed with the keyring's refresh token.

    Safe to share between threads. ``tokens`` (from the sign-in just made) spares the first
    refresh.
    """

    def __init__(
        self,
        account_email: str,
        settings: GoogleSettings,
        http: HttpSettings | None = None,
        *,
        tokens: Tokens | None = None,
    ) -> None:
        self.account = account_email
        self.settings = settings
        self.http = http or HttpSettings.from_env()
        same = tokens is not None and account_key(tokens.account) == account_key(account_email)
        self._tokens = tokens if same else None
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def access_token(self) -> str:
        """A valid access token, refreshed first when there is none or it is about to expire."""
        with self._lock:
            if self._tokens is None or self._tokens.expires_within(EXPIRY_MARGIN):
                self._tokens = self._refresh()
            return self._tokens.access_token

    def invalidate(self) -> None:
        """Forget the access token (the API answered 401): the next call refreshes."""
        with self._lock:
            self._tokens = None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> TokenSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _refresh(self) -> Tokens:
        from piesync_desktop import secrets

        key = account_key(self.account)
        refresh_token = secrets.load_secret(key, REFRESH_TOKEN)
        if not refresh_token:
            raise AuthExpired(
                f"piesync-desktop is not signed in to Google as {self.account} on this computer. "
                "Sign in to Google again to go on syncing."
            )
        if self._client is None:
            self._client = make_client(self.http)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
        }
        answer = _token_request(self._client, self.settings, self.http, form, account=self.account)
        tokens = _tokens_from(answer, refresh_token=refresh_token, account=self.account)
        if tokens.refresh_token != refresh_token:  # Google may hand out a new one
            secrets.store_secret(key, REFRESH_TOKEN, tokens.refresh_token)
        return tokens


# -- signing out ----------------------------------------------------------------------------------


def sign_out(
    account_email: str, settings: GoogleSettings, http: HttpSettings | None = None
) -> SignOutResult:
    """Revoke the account's refresh token at Google (its access tokens go with it), then forget
    it here, even when Google cannot be reached (the result says so)."""
    from piesync_desktop import secrets

    http = http or HttpSettings.for_setup()
    key = account_key(account_email)
    refresh_token = secrets.load_secret(key, REFRESH_TOKEN)
    if not refresh_token:
        return SignOutResult(
            account_email,
            forgotten=False,
            revoked=False,
            message=f"piesync-desktop was not signed in to Google as {account_email} on this "
            "computer: there was nothing to sign out of.",
        )
    problem: str | None = "it was not asked"
    try:
        with make_client(http) as client:
            problem = _revoke(client, settings, http, refresh_token)
    except ConnectorError as exc:  # the CA bundle cannot be read
        problem = exc.message
    finally:
        secrets.forget_secret(key, REFRESH_TOKEN)
    if problem is None:
        message = (
            f"Signed out of Google as {account_email}: Google revoked piesync-desktop's access "
            "and this computer no longer holds the sign-in."
        )
    else:
        message = (
            f"Signed out of Google as {account_email} on this computer, but Google could not be "
            f"told ({problem}). To end piesync-desktop's access there too, remove it from "
            f"{PERMISSIONS_PAGE}."
        )
    return SignOutResult(account_email, forgotten=True, revoked=problem is None, message=message)


# -- talking to the token and revoke endpoints ----------------------------------------------------


def _post(
    client: httpx.Client, url: str, http: HttpSettings, form: dict[str, str]
) -> httpx.Response:
    def attempt() -> httpx.Response:
        try:
            return client.post(url, data=form, headers={"Accept": "application/json"})
        except httpx.TransportError as exc:
            raise transport_error(exc, url, http) from exc

    return send_with_throttling(attempt, http, host_of(url))


def _token_request(
    client: httpx.Client,
    settings: GoogleSettings,
    http: HttpSettings,
    form: dict[str, str],
    account: str | None,
) -> dict[str, Any]:
    url = settings.token_url
    host = host_of(url)
    response = _post(client, url, http, form)
    answer = _json(response)
    if response.status_code == 200:
        if isinstance(answer.get("access_token"), str) and answer["access_token"]:
            return answer
        raise ConnectorError(
            f"{host} answered the sign-in with something that is not a token. {http.then}"
        )
    if response.status_code >= 500:
        raise TransientError(
            f"{host} answered {response.status_code} {response.reason_phrase} to the sign-in. "
            f"{http.then}",
            title="Server error",
        )
    error = str(answer.get("error") or "")
    said = _said(error or str(response.status_code), str(answer.get("error_description") or ""))
    if error == "invalid_grant" and account is not None:
        raise AuthExpired(
            f"Google no longer accepts piesync-desktop's sign-in for {account} ({said}): it was "
            "revoked, or it expired (Google ends the sign-ins of an OAuth client whose consent "
            "screen is still in Testing after 7 days). Sign in to Google again to go on syncing."
        )
    if error == "invalid_grant":
        raise AuthExpired(
            f"Google refused the sign-in code ({said}): it expired, was already used, or does not "
            "belong to this sign-in. Sign in to Google again."
        )
    if error in ("invalid_client", "unauthorized_client") or response.status_code == 401:
        raise ConnectorError(
            f"Google does not accept the OAuth client in PIESYNC_GOOGLE_CLIENT_ID and "
            f"PIESYNC_GOOGLE_CLIENT_SECRET ({said}). Check both against your Desktop app client "
            "in the Google Cloud console (APIs & Services > Credentials).",
            title="Google sign-in not set up",
        )
    raise ConnectorError(
        f"{host} refused the sign-in ({said}). Sign in to Google again; if it keeps happening, "
        "check the OAuth client in PIESYNC_GOOGLE_CLIENT_ID.",
        title="Google sign-in failed",
    )


def _revoke(
    client: httpx.Client, settings: GoogleSettings, http: HttpSettings, token: str
) -> str | None:
    """Revoke ``token`` at Google; None when done, else why not (a few words)."""
    url = settings.revoke_url
    host = host_of(url)
    try:
        response = _post(client, url, http, {"token": token})
    except ConnectorError as exc:
        return f"{host}: {exc.title.lower()}"
    if response.status_code == 200:
        return None
    if response.status_code == 400 and _json(response).get("error") == "invalid_token":
        return None  # already revoked or expired: nothing is left to end
    return f"{host} answered {response.status_code} {response.reason_phrase}"


def _tokens_from(
    answer: dict[str, Any], *, refresh_token: str | None = None, account: str | None = None
) -> Tokens:
    refresh = answer.get("refresh_token") or refresh_token
    if not isinstance(refresh, str) or not refresh:
        raise ConnectorError(
            "Google signed you in but gave piesync-desktop no refresh token, so it could not "
            "sync while you are away. Sign in to Google again.",
            title="Google sign-in failed",
        )
    if account is None:
        account = _email_from_id_token(answer.get("id_token"))
        if account is None:
            raise ConnectorError(
                "Google signed you in but did not say which account it was (no email address in "
                "its answer). Sign in to Google again.",
                title="Google sign-in failed",
            )
    try:
        lifetime = float(answer.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    scope = answer.get("scope")
    return Tokens(
        access_token=answer["access_token"],
        refresh_token=refresh,
        expires_at=time.time() + lifetime,
        account=account,
        # RFC 6749 §5.1: no scope in the answer means the one asked for.
        scope=scope if isinstance(scope, str) and scope else " ".join(SCOPES),
    )


def _email_from_id_token(id_token: object) -> str | None:
    """The ``email`` claim of an ID token. Its signature is not checked: it came straight from
    Google's token endpoint over TLS, which Google's OpenID Connect guide says is enough."""
    if not isinstance(id_token, str):
        return None
    parts = id_token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:  # bad base64, bad UTF-8 and bad JSON all are ValueErrors
        return None
    email = payload.get("email") if isinstance(payload, dict) else None
    return email if isinstance(email, str) and "@" in email else None


def _challenge(verifier: str) -> str:
    """RFC 7636 §4.2, S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _said(error: str, description: str) -> str:
    """Google's error code and words, as a short clause (never more than a line)."""
    text = f"{error}: {description}" if description else error
    text = "".join(character for character in text if character.isprintable())
    return text if len(text) <= 200 else text[:199] + "…"
