"""The Microsoft identity platform (v2.0 endpoints) as a public desktop client meets it, on
loopback over https, for real msal to sign in against.

Written from Microsoft's "OAuth 2.0 authorization code flow", "OAuth 2.0 device authorization
grant" and "Refresh tokens" pages, and from what msal 1.39 reads (its source, not guesses):

- ``/{tenant}/v2.0/.well-known/openid-configuration``: msal's constructor reads
  ``authorization_endpoint``, ``token_endpoint``, ``device_authorization_endpoint`` and
  ``issuer`` here, and takes the tenant from the token endpoint's first path segment. (With an
  authority host it does not know and ``instance_discovery=False`` it asks nothing else, so the
  emulator never sees ``/common/discovery/instance``.)
- ``/{tenant}/oauth2/v2.0/authorize`` (GET, the browser): checks the client, a ``http://localhost``
  redirect on any port (Microsoft's rule for public clients), ``response_type=code``, an S256
  code challenge and a scope, then "approves" at once with a 302 back to the app carrying
  ``code`` and ``state`` (or ``error=access_denied`` after :meth:`deny_next`). msal sends the
  SHA-256 of its nonce as ``nonce``; the ID token carries it back unchanged, which is the one
  thing msal checks in an ID token (1.39 decodes ID tokens without checking signature, issuer,
  audience or expiry), so the emulator's are signed with random bytes.
- ``/{tenant}/oauth2/v2.0/token`` (POST): the ``authorization_code`` grant (same redirect URI,
  the PKCE verifier against the challenge, a code works once), ``refresh_token`` (a new refresh
  token every time, as Microsoft rotates them; the old one stays good unless
  ``single_use_refresh_tokens``) and ``urn:ietf:params:oauth:grant-type:device_code``
  (``authorization_pending`` until :meth:`approve_device`, ``authorization_declined`` after
  :meth:`deny_device`, ``expired_token`` once the code's lifetime is over). Answers hold
  ``access_token``, ``refresh_token`` (with the ``offline_access`` scope), ``id_token`` (with
  ``openid``), ``client_info`` (when the request says ``client_info=1``, as msal's do: base64url
  JSON ``{"uid": oid, "utid": tid}``, from which msal makes the account's
  ``home_account_id`` ``uid.utid``), ``expires_in``, ``ext_expires_in``, ``scope`` and
  ``token_type``.
- ``/{tenant}/oauth2/v2.0/devicecode`` (POST): ``device_code``, ``user_code``,
  ``verification_uri``, ``expires_in``, ``interval`` and ``message``. msal turns ``interval``
  into an ``int`` and sleeps whole seconds, so tests set ``device_interval=0`` and let the app's
  own polling floor decide.

Errors come in Microsoft's shape: ``error``, an ``error_description`` that starts with an AADSTS
code and goes on with Trace ID / Correlation ID / Timestamp lines, ``error_codes``. The
certificate comes from a throwaway ``trustme`` authority (pass ``ca=`` to keep one across a
restart on the same ``port=``): write its PEM with :meth:`ca_file` and trust it through
``PIESYNC_CA_BUNDLE``. A Graph emulator asks :meth:`token_valid` and :meth:`token_username`
about the bearer tokens it is shown.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
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
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import trustme

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
USER_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Microsoft's own: an Entra ID tenant of the "common" endpoint is written as a placeholder.
MULTI_TENANT = ("common", "organizations", "consumers")
NAMESPACE = uuid.UUID("6f1c5c1e-3b8e-4a51-9d7c-0b3e2f6a9e41")

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class _Code:
    redirect_uri: str
    challenge: str
    scope: tuple[str, ...]
    username: str
    nonce: str | None
    expires_at: float
    used: bool = False


@dataclass
class _Grant:
    username: str
    scope: tuple[str, ...]
    revoked: bool = False


@dataclass
class _Access:
    username: str
    scope: tuple[str, ...]
    expires_at: float


@dataclass
class _Device:
    user_code: str
    scope: tuple[str, ...]
    expires_at: float
    state: str = "pending"  # pending, approved, declined, redeemed
    username: str = ""


@dataclass
class _User:
    username: str
    name: str
    oid: str = field(init=False)
    tid: str = field(init=False)

    def __post_init__(self) -> None:
        self.oid = str(uuid.uuid5(NAMESPACE, "oid:" + self.username.lower()))
        domain = self.username.rpartition("@")[2].lower()
        self.tid = str(uuid.uuid5(NAMESPACE, "tid:" + domain))


class MicrosoftIdentityEmulator:
    """A threaded https server on 127.0.0.1 playing login.microsoftonline.com for one public
    client.

    ``username`` and ``name`` are the account the next sign-in (or device approval) gives
    (change them between sign-ins at will); ``requests`` lists what was asked, e.g.
    ``"openid-configuration"``, ``"authorize"``, ``"token authorization_code"``,
    ``"token refresh_token"``, ``"devicecode"``, ``"token device_code"``.
    """

    def __init__(
        self,
        *,
        username: str = "ada@contoso.com",
        name: str = "Ada Lovelace",
        tenant: str = "common",
        client_id: str = "4b0db8c2-9f26-4417-8bde-3f0a3656ae97",
        access_token_lifetime: int = 3599,
        code_lifetime: float = 600.0,
        device_code_lifetime: int = 900,
        device_interval: int = 5,
        single_use_refresh_tokens: bool = False,
        public_client_flows: bool = True,
        port: int = 0,
        ca: trustme.CA | None = None,
    ) -> None:
        self.username = username
        self.name = name
        self.tenant = tenant
        self.client_id = client_id
        self.access_token_lifetime = access_token_lifetime
        self.code_lifetime = code_lifetime
        self.device_code_lifetime = device_code_lifetime
        self.device_interval = device_interval
        self.single_use_refresh_tokens = single_use_refresh_tokens
        self.public_client_flows = public_client_flows  # "Allow public client flows" (device code)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, _Access] = {}
        self._devices: dict[str, _Device] = {}  # by device_code
        self._names: dict[str, str] = {}  # display names, by lower-case username
        self._deny_next = False
        self._token_failures: list[tuple[int, dict[str, str]]] = []
        self._connections: set[socket.socket] = set()

        self.ca = ca or trustme.CA()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        # The handshake happens on the handler's thread, so a stuck client holds up nobody.
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port: int = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ms-identity-emulator",
            daemon=True,
        )
        self._thread.start()

    # -- for tests ------------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        """The value of PIESYNC_MS_AUTHORITY that points at this emulator."""
        return f"{self.url}/{self.tenant}"

    def ca_file(self, path: str | Path) -> Path:
        """Write the certificate authority's PEM to ``path`` (for PIESYNC_CA_BUNDLE)."""
        self.ca.cert_pem.write_to_path(str(path))
        return Path(path)

    def deny_next(self) -> None:
        """The person refuses the next authorization: ``error=access_denied`` comes back."""
        with self._lock:
            self._deny_next = True

    def fail_next_token_request(self, status: int = 500, retry_after: int | None = None) -> None:
        """The next call to the token endpoint answers ``status`` (with Retry-After if given)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._lock:
            self._token_failures.append((status, headers))

    def approve_device(self, user_code: str, username: str | None = None) -> None:
        """The person entered ``user_code`` at the verification page and signed in (as
        ``username``, else the emulator's current one)."""
        with self._lock:
            device = self._device_by_user_code(user_code)
            device.username = username or self.username
            self._names.setdefault(device.username.lower(), self.name)
            device.state = "approved"

    def pending_user_codes(self) -> list[str]:
        """The user codes of device sign-ins nobody has approved or declined yet."""
        with self._lock:
            return [d.user_code for d in self._devices.values() if d.state == "pending"]

    def deny_device(self, user_code: str) -> None:
        """The person entered ``user_code`` and then declined the sign-in."""
        with self._lock:
            self._device_by_user_code(user_code).state = "declined"

    def expire_device_codes(self) -> None:
        """Every device code given out so far expires now: polling it answers expired_token."""
        with self._lock:
            for device in self._devices.values():
                device.expires_at = 0.0

    def token_valid(self, access_token: str) -> bool:
        """Whether Graph should accept ``access_token`` now (issued here and not expired)."""
        with self._lock:
            access = self._access.get(access_token)
            return access is not None and access.expires_at > time.time()

    def token_username(self, access_token: str) -> str | None:
        """Whose ``access_token`` is (issued here, expired or not), or None."""
        with self._lock:
            access = self._access.get(access_token)
            return None if access is None else access.username

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens stay good)."""
        with self._lock:
            for access in self._access.values():
                access.expires_at = 0.0

    def revoke_refresh_tokens(self) -> None:
        """The person's sessions were revoked (or their password changed): every refresh token
        issued so far is refused with invalid_grant. Access tokens live out their hour, as at
        Microsoft."""
        with self._lock:
            for grant in self._grants.values():
                grant.revoked = True

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

    def __enter__(self) -> MicrosoftIdentityEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the endpoints --------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, str], form: dict[str, str]) -> Answer:
        tenant, _, rest = path.lstrip("/").partition("/")
        known = {
            ("GET", "v2.0/.well-known/openid-configuration"): "openid-configuration",
            ("GET", "oauth2/v2.0/authorize"): "authorize",
            ("POST", "oauth2/v2.0/token"): "token",
            ("POST", "oauth2/v2.0/devicecode"): "devicecode",
            ("GET", "devicelogin"): "devicelogin",
        }
        endpoint = known.get((method, rest))
        if endpoint is None:
            self.requests.append(f"{method} {path}")
            return _json(404, {"error": "not_found"})
        if endpoint == "token":
            grant_type = form.get("grant_type", "")
            self.requests.append(f"token {grant_type.rpartition(':')[2]}".rstrip())
        else:
            self.requests.append(endpoint)
        if tenant != self.tenant:
            return _aad_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )
        if endpoint == "openid-configuration":
            return _json(200, self._openid_configuration())
        if endpoint == "authorize":
            return self._authorize(query)
        if endpoint == "devicecode":
            return self._devicecode(form)
        if endpoint == "devicelogin":
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, b"Enter code\n"
        return self._token(form)

    def _openid_configuration(self) -> dict[str, Any]:
        base = self.authority
        issuer_tenant = "{tenantid}" if self.tenant in MULTI_TENANT else self.tenant
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.url}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "oid",
            ],
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    def _authorize(self, query: dict[str, str]) -> Answer:
        """GET .../oauth2/v2.0/authorize: an error page, or a 302 back to the app."""
        if query.get("client_id") != self.client_id:
            return _error_page(
                400,
                f"AADSTS700016: Application with identifier '{query.get('client_id', '')}' was "
                "not found in the directory. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in "
                "the tenant.",
            )
        redirect_uri = query.get("redirect_uri", "")
        if not _is_localhost(redirect_uri):
            return _error_page(
                400,
                f"AADSTS50011: The redirect URI '{redirect_uri}' specified in the request does "
                "not match the redirect URIs configured for the application. (This emulator's "
                "application has http://localhost registered, which matches any port.)",
            )
        if query.get("response_type") != "code":
            return _error_page(
                400,
                "AADSTS900144: The request body must contain the following parameter: "
                "'response_type' (code).",
            )
        if query.get("response_mode", "query") != "query":
            return _error_page(400, "This emulator answers with response_mode=query only.")
        scope = tuple(query.get("scope", "").split())
        if not scope:
            return _error_page(
                400, "AADSTS900144: The request body must contain the following parameter: 'scope'."
            )
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or not S256_CHALLENGE.fullmatch(challenge):
            return _error_page(
                400,
                "AADSTS501491: Invalid size of Code_Challenge parameter, or the "
                "code_challenge_method is not S256. (This emulator insists on PKCE with S256.)",
            )

        back: dict[str, str] = {}
        with self._lock:
            denied, self._deny_next = self._deny_next, False
            if denied:
                back["error"] = "access_denied"
                back["error_subcode"] = "cancel"
                back["error_description"] = (
                    "AADSTS65004: User declined to consent to access the app."
                )
            else:
                code = "M.C5xx_emu." + secrets.token_urlsafe(48)
                self._names[self.username.lower()] = self.name
                self._codes[code] = _Code(
                    redirect_uri=redirect_uri,
                    challenge=challenge,
                    scope=scope,
                    username=self.username,
                    nonce=query.get("nonce"),
                    expires_at=time.time() + self.code_lifetime,
                )
                back["code"] = code
                back["session_state"] = str(uuid.uuid4())
        if "state" in query:
            back["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": redirect_uri + separator + urlencode(back)}, b""

    def _devicecode(self, form: dict[str, str]) -> Answer:
        """POST .../oauth2/v2.0/devicecode: a new device code and its user code."""
        refused = self._client_refused(form)
        if refused is not None:
            return refused
        scope = tuple(form.get("scope", "").split())
        if not scope:
            return _aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        device_code = "DAQABAAEAAAD_emu" + secrets.token_urlsafe(48)
        user_code = "".join(secrets.choice(USER_CODE_LETTERS) for _ in range(9))
        verification_uri = f"{self.url}/{self.tenant}/devicelogin"
        with self._lock:
            self._devices[device_code] = _Device(
                user_code, scope, time.time() + self.device_code_lifetime
            )
        return _json(
            200,
            {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": verification_uri,
                "expires_in": self.device_code_lifetime,
                "interval": self.device_interval,
                "message": f"To sign in, use a web browser to open the page {verification_uri} "
                f"and enter the code {user_code} to authenticate.",
            },
        )

    def _token(self, form: dict[str, str]) -> Answer:
        """POST .../oauth2/v2.0/token: the three grants a public desktop client uses."""
        grant_type = form.get("grant_type", "")
        with self._lock:
            if self._token_failures:
                status, headers = self._token_failures.pop(0)
                return _aad_error(
                    status,
                    "server_error" if status >= 500 else "temporarily_unavailable",
                    50000 if status >= 500 else 50196,
                    "There was an error issuing a token or an issue with our sign-in service.",
                    headers,
                )
            refused = self._client_refused(form)
            if refused is not None:
                return refused
            if grant_type == "authorization_code":
                return self._code_grant(form)
            if grant_type == "refresh_token":
                return self._refresh_grant(form)
            if grant_type == DEVICE_GRANT:
                return self._device_grant(form)
            if not grant_type:
                return _aad_error(
                    400,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'grant_type'.",
                )
            return _aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )

    def _client_refused(self, form: dict[str, str]) -> Answer | None:
        if form.get("client_id") != self.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id', '')}' was not found in "
                "the directory. This can happen if the application has not been installed by "
                "the administrator of the tenant or consented to by any user in the tenant. You "
                "may have sent your authentication request to the wrong tenant.",
            )
        return None

    def _code_grant(self, form: dict[str, str]) -> Answer:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.expires_at < time.time():
            return _aad_error(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to "
                "inactivity. Send a new interactive authorization request for this user and "
                "resource.",
            )
        if code.used:
            return _aad_error(
                400,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid "
                "code or use an existing refresh token.",
            )
        if form.get("redirect_uri") != code.redirect_uri:
            return _aad_error(
                400,
                "invalid_grant",
                500112,
                f"The reply address '{form.get('redirect_uri', '')}' does not match the reply "
                f"address '{code.redirect_uri}' provided when requesting Authorization code.",
            )
        verifier = form.get("code_verifier", "")
        if not hmac.compare_digest(_s256(verifier), code.challenge):
            return _aad_error(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        code.used = True
        return self._issue(code.username, code.scope, form, nonce=code.nonce)

    def _refresh_grant(self, form: dict[str, str]) -> Answer:
        refresh_token = form.get("refresh_token", "")
        grant = self._grants.get(refresh_token)
        if grant is None or grant.revoked:
            return _aad_error(
                400,
                "invalid_grant",
                700082,
                "The refresh token has expired due to inactivity. The token was issued on "
                "an earlier date and was inactive for 90.00:00:00.",
                suberror="bad_token",
            )
        asked = tuple(form.get("scope", "").split()) or grant.scope
        missing = set(asked) - set(grant.scope) - {"openid", "profile", "offline_access"}
        if missing:
            return _aad_error(
                400,
                "invalid_grant",
                65001,
                "The user or administrator has not consented to use the application for "
                f"{' '.join(sorted(missing))}. Send an interactive authorization request for "
                "this user and resource.",
                suberror="consent_required",
            )
        if self.single_use_refresh_tokens:
            grant.revoked = True
        return self._issue(grant.username, grant.scope, form)

    def _device_grant(self, form: dict[str, str]) -> Answer:
        if not self.public_client_flows:
            return _aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        device = self._devices.get(form.get("device_code", ""))
        if device is None or device.state == "redeemed":
            return _aad_error(
                400,
                "invalid_grant",
                70019,
                "Verification code expired or was already used.",
            )
        if device.expires_at < time.time():
            return _aad_error(
                400,
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This "
                "device code has expired.",
            )
        if device.state == "declined":
            return _aad_error(
                400,
                "authorization_declined",
                70000,
                "The request was denied because one or more permissions requested were declined.",
            )
        if device.state == "pending":
            return _aad_error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        device.state = "redeemed"
        return self._issue(device.username, device.scope, form)

    def _issue(
        self, username: str, scope: tuple[str, ...], form: dict[str, str], nonce: str | None = None
    ) -> Answer:
        """A token answer (the lock is held)."""
        user = _User(username, self._names.get(username.lower(), self.name))
        access_token = "EwB4A8l6BAAU_emu" + secrets.token_urlsafe(48)
        resource = tuple(name for name in scope if name not in OIDC_SCOPES)
        self._access[access_token] = _Access(
            username, resource, time.time() + self.access_token_lifetime
        )
        granted = [*resource, *(name for name in ("openid", "profile") if name in scope)]
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(granted),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": access_token,
        }
        if "offline_access" in scope:
            refresh_token = "M.C5xx_emu_rt." + secrets.token_urlsafe(64)
            self._grants[refresh_token] = _Grant(username, scope)
            answer["refresh_token"] = refresh_token
        if "openid" in scope:
            answer["id_token"] = self._id_token(user, nonce, "profile" in scope)
        if form.get("client_info") == "1":
            client_info = {"uid": user.oid, "utid": user.tid}
            answer["client_info"] = _b64url(json.dumps(client_info).encode())
        return _json(200, answer)

    def _id_token(self, user: _User, nonce: str | None, profile: bool) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.client_id,
            "iss": f"{self.url}/{user.tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "oid": user.oid,
            "sub": _b64url(hashlib.sha256(f"{user.oid}:{self.client_id}".encode()).digest()),
            "tid": user.tid,
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0",
        }
        if profile:
            claims["name"] = user.name
            claims["preferred_username"] = user.username
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"typ": "JWT", "alg": "RS256", "kid": "emulator"}
        signature = secrets.token_bytes(32)  # not a real signature: msal does not check one
        return ".".join(
            _b64url(part)
            for part in (json.dumps(header).encode(), json.dumps(claims).encode(), signature)
        )

    def _device_by_user_code(self, user_code: str) -> _Device:
        """The lock is held."""
        for device in self._devices.values():
            if device.user_code == user_code:
                return device
        raise KeyError(f"no device code was given out with the user code {user_code!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # without HTTPServer's reverse DNS lookup
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refuses the certificate or hangs up is the test's business


def _handler_for(emulator: MicrosoftIdentityEmulator) -> type[BaseHTTPRequestHandler]:
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
            self._answer(*emulator._route("GET", parts.path, _single(parts.query), {}))

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            query = _single(parts.query)
            self._answer(*emulator._route("POST", parts.path, query, {**query, **_single(body)}))

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


def _is_localhost(uri: str) -> bool:
    """Microsoft's loopback rule for public clients: ``http://localhost`` is registered, and any
    port matches it at sign-in time."""
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname == "localhost"
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    )


def _s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    return (
        status,
        {
            "Content-Type": "application/json; charset=utf-8",
            "Cache-Control": "no-store, no-cache",
            "Pragma": "no-cache",
            **(headers or {}),
        },
        json.dumps(body).encode(),
    )


def _aad_error(
    status: int,
    error: str,
    number: int,
    text: str,
    headers: dict[str, str] | None = None,
    suberror: str | None = None,
) -> Answer:
    """An error answer the way Microsoft writes them: the AADSTS code first, then the ids a
    support call would ask for, on their own lines."""
    now = datetime.datetime.now(datetime.UTC)
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{number}: {text}\r\nTrace ID: {trace_id}\r\n"
        f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
        "error_codes": [number],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={number}",
    }
    if suberror is not None:
        body["suberror"] = suberror
    return _json(status, body, headers)


def _error_page(status: int, text: str) -> Answer:
    """What Microsoft shows in the browser for a request it will not redirect back."""
    body = f"Sorry, but we're having trouble signing you in.\n\n{text}\n"
    return status, {"Content-Type": "text/plain; charset=utf-8"}, body.encode()
