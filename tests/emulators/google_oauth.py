"""Google's OAuth 2.0 server as an installed app meets it, on loopback over https.

Written from Google's "OAuth 2.0 for Mobile & Desktop Apps" and RFC 7636 / RFC 8252: the
authorization endpoint (``/o/oauth2/v2/auth``) checks the client, a loopback ``redirect_uri``,
``response_type=code`` and an S256 code challenge, then "approves" at once, sending the browser
back with a code and the state (or with ``error=access_denied`` after :meth:`deny_next`); the
token endpoint (``/token``) takes the ``authorization_code`` grant (client secret, the same
redirect URI, the PKCE verifier against the challenge; a code works once) and the
``refresh_token`` grant, and answers errors the way Google does
(``{"error": "invalid_grant", "error_description": ...}``); ``/revoke`` ends a refresh token and
its access tokens (or an access token and its refresh token).

A refresh token is issued only with ``access_type=offline``; an ID token (an unsigned JWT whose
payload holds ``email`` and ``sub``) only with the ``openid`` scope. The certificate comes from a
throwaway ``trustme`` authority: write its PEM with :meth:`ca_file` and trust it through
``PIESYNC_CA_BUNDLE``. Another emulator (the People API's) asks :meth:`token_valid` about the
bearer tokens it is shown.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import socket
import socketserver
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import trustme

AUTH_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"
REVOKE_PATH = "/revoke"

# Google writes the short identity scopes out in full in what it grants.
SCOPE_ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: tuple[str, ...]
    email: str
    offline: bool
    expires_at: float
    used: bool = False


@dataclass
class _Grant:
    email: str
    scope: tuple[str, ...]
    revoked: bool = False


@dataclass
class _Access:
    refresh_token: str | None
    expires_at: float
    revoked: bool = False


class GoogleOAuthEmulator:
    """A threaded https server on 127.0.0.1 playing Google's OAuth endpoints for one client.

    ``email`` is the account the next sign-in approves (change it between sign-ins at will);
    ``withheld_scopes`` are scopes the person "unticks" on the consent screen; ``requests``
    lists what was asked, e.g. ``"authorize"``, ``"token authorization_code"``, ``"revoke"``.
    """

    def __init__(
        self,
        *,
        email: str = "person@example.com",
        client_id: str = "1234567890-emulator.apps.googleusercontent.com",
        client_secret: str = "GOCSPX-emulator-secret",
        access_token_lifetime: int = 3599,
        code_lifetime: float = 600.0,
    ) -> None:
        self.email = email
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token_lifetime = access_token_lifetime
        self.code_lifetime = code_lifetime
        self.withheld_scopes: set[str] = set()
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, _Access] = {}
        self._deny_next = False
        self._token_failures: list[tuple[int, dict[str, str]]] = []
        self._connections: set[socket.socket] = set()

        self.ca = trustme.CA()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        # The handshake happens on the handler's thread, so a stuck client holds up nobody.
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port: int = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="google-oauth-emulator",
            daemon=True,
        )
        self._thread.start()

    # -- for tests ------------------------------------------------------------------------------

    def ca_file(self, path: str | Path) -> Path:
        """Write the certificate authority's PEM to ``path`` (for PIESYNC_CA_BUNDLE)."""
        self.ca.cert_pem.write_to_path(str(path))
        return Path(path)

    def urls(self) -> dict[str, str]:
        """The values of PIESYNC_GOOGLE_AUTH_URL, PIESYNC_GOOGLE_TOKEN_URL and
        PIESYNC_GOOGLE_REVOKE_URL that point at this emulator."""
        return {
            "PIESYNC_GOOGLE_AUTH_URL": self.url + AUTH_PATH,
            "PIESYNC_GOOGLE_TOKEN_URL": self.url + TOKEN_PATH,
            "PIESYNC_GOOGLE_REVOKE_URL": self.url + REVOKE_PATH,
        }

    def deny_next(self) -> None:
        """The next authorization is refused by the person: ``error=access_denied``."""
        with self._lock:
            self._deny_next = True

    def fail_next_token_request(self, status: int = 500, retry_after: int | None = None) -> None:
        """The next call to the token endpoint answers ``status`` (with Retry-After if given)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._lock:
            self._token_failures.append((status, headers))

    def token_valid(self, access_token: str) -> bool:
        """Whether an API should accept ``access_token`` now (issued here, not expired or
        revoked)."""
        with self._lock:
            access = self._access.get(access_token)
            return access is not None and not access.revoked and access.expires_at > time.time()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay good)."""
        with self._lock:
            for access in self._access.values():
                access.expires_at = 0.0

    def revoke_all(self) -> None:
        """The person removed the app from their Google account: every token is revoked."""
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True
            for access in self._access.values():
                access.revoked = True

    def refresh_token_valid(self, refresh_token: str) -> bool:
        with self._lock:
            grant = self._grants.get(refresh_token)
            return grant is not None and not grant.revoked

    def close(self) -> None:
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        self._thread.join(timeout=2.0)

    def __enter__(self) -> GoogleOAuthEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the endpoints --------------------------------------------------------------------------

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """GET /o/oauth2/v2/auth: an error page, or a 302 back to the app."""
        self.requests.append("authorize")
        if query.get("client_id") != self.client_id:
            return _error_page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if not _is_loopback(redirect_uri):
            return _error_page(
                400,
                "redirect_uri_mismatch",
                "A desktop client may only redirect to http://127.0.0.1, http://[::1] or "
                "http://localhost on any port.",
            )
        if query.get("response_type") != "code":
            return _error_page(400, "unsupported_response_type", "response_type must be code.")
        scope = tuple(query.get("scope", "").split())
        if not scope:
            return _error_page(400, "invalid_request", "Missing required parameter: scope")
        if query.get("code_challenge_method") != "S256":
            return _error_page(400, "invalid_request", "Invalid code_challenge_method.")
        challenge = query.get("code_challenge", "")
        if not S256_CHALLENGE.fullmatch(challenge):
            return _error_page(400, "invalid_request", "Invalid code_challenge.")

        back: dict[str, str] = {}
        with self._lock:
            denied, self._deny_next = self._deny_next, False
            if denied:
                back["error"] = "access_denied"
            else:
                granted = tuple(
                    SCOPE_ALIASES.get(name, name)
                    for name in scope
                    if name not in self.withheld_scopes
                )
                code = "4/0emu-" + secrets.token_urlsafe(32)
                self._codes[code] = _Code(
                    client_id=self.client_id,
                    redirect_uri=redirect_uri,
                    challenge=challenge,
                    scope=granted,
                    email=self.email,
                    offline=query.get("access_type") == "offline",
                    expires_at=time.time() + self.code_lifetime,
                )
                back["code"] = code
                back["scope"] = " ".join(granted)
        if "state" in query:
            back["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": redirect_uri + separator + urlencode(back)}, b""

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST /token: the authorization_code and refresh_token grants."""
        grant_type = form.get("grant_type", "")
        self.requests.append(f"token {grant_type}".rstrip())
        with self._lock:
            if self._token_failures:
                status, headers = self._token_failures.pop(0)
                return _json(status, {"error": "internal_failure"}, headers)
            refused = self._client_refused(form)
            if refused is not None:
                return refused
            if grant_type == "authorization_code":
                return self._code_grant(form)
            if grant_type == "refresh_token":
                return self._refresh_grant(form)
            if not grant_type:
                return _oauth_error(
                    400, "invalid_request", "Required parameter is missing: grant_type"
                )
            return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _client_refused(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes] | None:
        if form.get("client_id") != self.client_id:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        secret = form.get("client_secret")
        if not secret:
            return _oauth_error(400, "invalid_request", "client_secret is missing.")
        if not hmac.compare_digest(secret, self.client_secret):
            return _oauth_error(401, "invalid_client", "Unauthorized")
        return None

    def _code_grant(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used or code.expires_at < time.time():
            return _oauth_error(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != code.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier")
        if not verifier:
            return _oauth_error(400, "invalid_grant", "Missing code verifier.")
        if not hmac.compare_digest(_s256(verifier), code.challenge):
            return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        code.used = True
        refresh_token = None
        if code.offline:
            refresh_token = "1//emu-" + secrets.token_urlsafe(48)
            self._grants[refresh_token] = _Grant(code.email, code.scope)
        answer = self._issue(code.email, code.scope, refresh_token)
        if refresh_token is not None:
            answer["refresh_token"] = refresh_token
        return _json(200, answer)

    def _refresh_grant(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        refresh_token = form.get("refresh_token", "")
        grant = self._grants.get(refresh_token)
        if grant is None or grant.revoked:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return _json(200, self._issue(grant.email, grant.scope, refresh_token))

    def _issue(
        self, email: str, scope: tuple[str, ...], refresh_token: str | None
    ) -> dict[str, Any]:
        access_token = "ya29.emu-" + secrets.token_urlsafe(48)
        self._access[access_token] = _Access(
            refresh_token, time.time() + self.access_token_lifetime
        )
        answer: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": self.access_token_lifetime,
            "scope": " ".join(scope),
            "token_type": "Bearer",
        }
        if "openid" in scope:
            answer["id_token"] = self._id_token(email, scope)
        return answer

    def _id_token(self, email: str, scope: tuple[str, ...]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://accounts.google.com",
            "azp": self.client_id,
            "aud": self.client_id,
            "sub": str(int(hashlib.sha256(email.lower().encode()).hexdigest()[:15], 16)),
            "iat": now,
            "exp": now + 3600,
        }
        if SCOPE_ALIASES["email"] in scope:
            claims["email"] = email
            claims["email_verified"] = True
        header = {"alg": "RS256", "kid": "emulator", "typ": "JWT"}
        signature = secrets.token_bytes(32)  # not a real signature: nobody can check it
        return ".".join(
            _b64url(part)
            for part in (json.dumps(header).encode(), json.dumps(claims).encode(), signature)
        )

    def _revoke(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST /revoke: a refresh token and its access tokens, or an access token and its
        refresh token (with that one's other access tokens)."""
        self.requests.append("revoke")
        token = form.get("token", "")
        with self._lock:
            grant = self._grants.get(token)
            access = self._access.get(token)
            if grant is not None and not grant.revoked:
                refresh_token: str | None = token
            elif access is not None and not access.revoked and access.expires_at > time.time():
                refresh_token = access.refresh_token
                access.revoked = True
            else:
                return _oauth_error(400, "invalid_token", "Token expired or revoked")
            if refresh_token is not None:
                self._grants[refresh_token].revoked = True
                for other in self._access.values():
                    if other.refresh_token == refresh_token:
                        other.revoked = True
        return _json(200, {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # without HTTPServer's reverse DNS lookup
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refuses the certificate or hangs up is the test's business


def _handler_for(emulator: GoogleOAuthEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        timeout = 10

        def setup(self) -> None:
            super().setup()
            with emulator._lock:
                emulator._connections.add(self.connection)

        def finish(self) -> None:
            with emulator._lock:
                emulator._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def handle_one_request(self) -> None:
            with contextlib.suppress(ConnectionError, TimeoutError, ssl.SSLError):
                super().handle_one_request()

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == AUTH_PATH:
                self._answer(*emulator._authorize(_single(parts.query)))
            else:
                self._answer(*_json(404, {"error": "not_found"}))

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            form = {**_single(parts.query), **_single(body)}
            if parts.path == TOKEN_PATH:
                self._answer(*emulator._token(form))
            elif parts.path == REVOKE_PATH:
                self._answer(*emulator._revoke(form))
            else:
                self._answer(*_json(404, {"error": "not_found"}))

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _single(query: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()}


def _is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS and not parts.fragment


def _s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {
            "Content-Type": "application/json; charset=utf-8",
            "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
            **(headers or {}),
        },
        json.dumps(body).encode(),
    )


def _oauth_error(status: int, error: str, description: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": error, "error_description": description})


def _error_page(status: int, error: str, description: str) -> tuple[int, dict[str, str], bytes]:
    """What Google shows in the browser for a request it will not redirect back."""
    text = f"Error {status}: {error}\n\n{description}\n"
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()
