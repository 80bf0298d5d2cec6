"""How connectors talk HTTP: one httpx client set up the same way for every app, and the
translation of transport and status errors into errors written for the person.

The settings that differ between a test's loopback server, a company network and the cloud are
read from the environment in one place: ``PIESYNC_CA_BUNDLE`` (a PEM file of certificate
authorities to trust instead of the built-in ones, for a company TLS proxy or a test server) and
``PIESYNC_HTTP_TIMEOUT`` (seconds to wait for an answer).
"""

from __future__ import annotations

import base64
import email.utils
import os
import ssl
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import httpx

from piesync_desktop.engine.errors import ConnectorError, Throttled, TransientError

USER_AGENT = "piesync-desktop/0.1"
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
SETUP_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Timeouts and trust for one client."""

    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    ca_bundle: str | None = None
    max_wait: float = 30.0  # the longest Retry-After a run waits out before giving up
    throttle_retries: int = 3
    # Checking a set-up (the wizard finding address books), not a run: nothing tries again by
    # itself, so messages say what to do now, and a silent server is given up on sooner.
    setup: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> HttpSettings:
        timeout = env.get("PIESYNC_HTTP_TIMEOUT", "").strip()
        try:
            read = float(timeout) if timeout else READ_TIMEOUT
        except ValueError:
            read = READ_TIMEOUT
        return cls(
            connect_timeout=min(CONNECT_TIMEOUT, read),
            read_timeout=read,
            ca_bundle=env.get("PIESYNC_CA_BUNDLE") or None,
        )

    @classmethod
    def for_setup(cls, env: Mapping[str, str] = os.environ) -> HttpSettings:
        run = cls.from_env(env)
        return replace(run, read_timeout=min(run.read_timeout, SETUP_TIMEOUT), setup=True)

    @property
    def then(self) -> str:
        """The sentence that ends a message about a failure that may pass."""
        if self.setup:
            return "Check the address, then try again."
        return "Nothing was lost; the next run tries again."

    def verify(self) -> ssl.SSLContext | bool:
        if not self.ca_bundle:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectorError(
                f"The certificate file PIESYNC_CA_BUNDLE={self.ca_bundle} cannot be used "
                f"({exc}). Point it at a PEM file of certificate authorities, or unset it."
            ) from exc


class ServerAuth(httpx.Auth):
    """Basic or Digest, whichever the server asks for (learnt from its first challenge).

    With ``preemptive`` (TLS, or a server on this machine) Basic is sent with the first request,
    which spares every request a round trip; a Digest challenge still switches to Digest.
    """

    def __init__(self, username: str, password: str, preemptive: bool = False) -> None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._basic = f"Basic {token}"
        self._digest = httpx.DigestAuth(username, password)
        self._scheme: str | None = "basic" if preemptive else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._scheme == "digest":
            yield from self._digest.auth_flow(request)
            return
        if self._scheme == "basic":
            request.headers["Authorization"] = self._basic
        response = yield request
        if response.status_code != 401:
            return
        challenges = response.headers.get_list("www-authenticate")
        schemes = {header.split(" ", 1)[0].lower() for header in challenges}
        if "digest" in schemes:
            self._scheme = "digest"
            request.headers.pop("Authorization", None)
            yield from self._digest.auth_flow(request)
        elif self._scheme is None:
            self._scheme = "basic"
            request.headers["Authorization"] = self._basic
            yield request


def make_client(settings: HttpSettings, auth: httpx.Auth | None = None) -> httpx.Client:
    return httpx.Client(
        auth=auth,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        verify=settings.verify(),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=True,
    )


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url


def _certificate_problem(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def transport_error(exc: httpx.TransportError, url: str, settings: HttpSettings) -> ConnectorError:
    """What a person reads when a request never got an answer."""
    host = host_of(url)
    certificate = _certificate_problem(exc)
    if certificate is not None:
        reason = certificate.verify_message or str(certificate)
        return ConnectorError(
            f"The certificate of {host} cannot be trusted ({reason}). Check the address; if your "
            "organisation uses its own certificate authority, set PIESYNC_CA_BUNDLE to its "
            "certificate file.",
            title="Certificate problem",
        )
    if _speaks_plain_http(exc):
        return ConnectorError(
            f"{host} does not answer https on this port. If it is a server without TLS (on your "
            "own machine or network), write http:// before its address.",
            title="Not an https server",
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(
            f"{host} did not answer within {_seconds(settings.read_timeout)}. {settings.then}",
            title="Server too slow",
        )
    if isinstance(exc, httpx.ConnectError):
        return TransientError(
            f"Cannot reach {host}: {_reason(exc)}. Check the address and your network"
            + ("." if settings.setup else "; the next run tries again."),
            title="Server unreachable",
        )
    return TransientError(
        f"The connection to {host} broke off ({_reason(exc)}). {settings.then}",
        title="Connection lost",
    )


def _speaks_plain_http(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and seen.reason == "WRONG_VERSION_NUMBER":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    cause = exc.__cause__ or exc.__context__
    while not text and cause is not None:
        text = str(cause).strip()
        cause = cause.__cause__ or cause.__context__
    return text or exc.__class__.__name__


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (Retry-After as seconds or as an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def send_with_throttling(
    send: Callable[[], httpx.Response], settings: HttpSettings, host: str
) -> httpx.Response:
    """``send()``, waiting out 429 and 503 answers that say for how long (within reason)."""
    for attempt in range(settings.throttle_retries + 1):
        response = send()
        if response.status_code not in (429, 503):
            return response
        wait = retry_after(response)
        if wait is None and response.status_code == 503:
            return response  # unavailable, not throttling: the caller says so
        if wait is None or wait > settings.max_wait or attempt == settings.throttle_retries:
            break
        time.sleep(wait)
    wait = retry_after(response)
    raise Throttled(
        f"{host} asked us to slow down (HTTP {response.status_code})"
        + (f" for {wait:.0f} seconds" if wait else "")
        + (
            "; try again in a while."
            if settings.setup
            else "; the next run goes on where this one stopped."
        ),
        retry_after=wait,
    )


def _seconds(value: float) -> str:
    return "1 second" if value == 1 else f"{value:g} seconds"
