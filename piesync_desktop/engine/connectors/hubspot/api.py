"""HubSpot's API over HTTP for the HubSpot connector: one request at a time, kept inside the
portal's rate limits before HubSpot has to say so.

Why it exists: the connector speaks in contacts and lists; the rules of talking to HubSpot live
here once. Every request carries the private app's access token. HubSpot limits an app to a burst
of requests per rolling window (100 per 10 seconds on Free and Starter, 190 on Professional and
Enterprise) and its CRM search to 5 requests a second, and says so only with a 429 that carries
no Retry-After. So a :class:`RateLimiter` (one a connector) spends at most 90% of the burst
limit (learnt from the X-HubSpot-RateLimit-Max and -Interval-Milliseconds headers; 100 per 10 s
until a response says otherwise) and at most four searches a second; every response's
X-HubSpot-RateLimit-Remaining says how much of the window is spent, and what our own requests in
it do not explain (other runs, other clients of the app) is theirs, left to them until it has
surely left the window. A 429 all the same waits the window out (10 seconds, or one for the
search's per-second limit, or a Retry-After if one came) and tries again a few times, then the
run stops with :class:`Throttled`; the daily limit stops it at once. A 5xx backs off
exponentially, then :class:`TransientError`, except for a request that may create something
(HubSpot may have carried it out before answering 5xx): that one is a :class:`TransientError` at
once. A dropped connection is a
:func:`~piesync_desktop.engine.connectors.http.transport_error` at once. Either way nothing is
half-done: the engine's journal and the next run's delta pick up where it stopped.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from piesync_desktop.engine.connectors.http import (
    HttpSettings,
    make_client,
    retry_after,
    transport_error,
)
from piesync_desktop.engine.connectors.hubspot.settings import TOKEN_HELP
from piesync_desktop.engine.errors import AuthExpired, ConnectorError, Throttled, TransientError

START_LIMIT = 100  # requests per window until HubSpot's headers say what the tier allows
WINDOW_SECONDS = 10.0
MARGIN = 0.1  # the share of the burst limit left unused: other clients of the app, clock drift
SEARCH_PER_SECOND = 4  # HubSpot allows 5 (it said 4 until 2024)
BACKOFF_SECONDS = 1.0  # the first wait after a 5xx; doubled each time
BACKOFF_TRIES = 4
INVALID_PREFIX = "Property values were not valid: "
EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RateLimiter:
    """Keeps one portal's requests within HubSpot's burst limit and the search limit.

    ``clock`` (seconds) and ``sleep`` are the limiter's time: the real ones in the program, an
    emulator's clock in tests (so waiting out a window costs no real time). Every wait, the
    limiter's own and those after a 429 or a 5xx, goes through ``sleep``.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.limit = START_LIMIT
        self.interval = WINDOW_SECONDS
        self.waited = 0.0  # seconds spent waiting, all told
        self._hits: deque[float] = deque()
        self._searches: deque[float] = deque()
        self._blocked_until = 0.0
        self._others = 0  # requests of other clients in the window, as the last answer showed
        self._others_until = 0.0  # ... which have all left the window by then
        self._last = 0.0  # when the last request was let through
        self._lock = threading.Lock()

    @property
    def budget(self) -> int:
        """Requests this limiter lets through per window."""
        return max(1, int(self.limit * (1 - MARGIN)))

    def acquire(self, search: bool = False) -> float:
        """Wait until one more request (a search, if ``search``) keeps within the limits; the
        moment it is let through."""
        with self._lock:
            while True:
                now = self.clock()
                while self._hits and self._hits[0] <= now - self.interval:
                    self._hits.popleft()
                while self._searches and self._searches[0] <= now - 1.0:
                    self._searches.popleft()
                others = self._others if now < self._others_until else 0
                wait = self._blocked_until - now
                over = len(self._hits) + others - self.budget
                if over >= 0:
                    # Until enough of ours leave the window, or theirs have surely left it.
                    ours = self._hits[over] + self.interval if over < len(self._hits) else None
                    theirs = self._others_until if others else None
                    wait = max(wait, min(t for t in (ours, theirs) if t is not None) - now)
                if search and len(self._searches) >= SEARCH_PER_SECOND:
                    wait = max(wait, self._searches[0] + 1.0 - now)
                if wait <= 0:
                    self._hits.append(now)
                    if search:
                        self._searches.append(now)
                    self._last = now
                    return now
                self.waited += wait
                self.sleep(wait)

    def learn(self, headers: Mapping[str, str], sent: float | None = None) -> None:
        """Take the tier's limit from a response's X-HubSpot-RateLimit headers (searches carry
        none), and from X-HubSpot-RateLimit-Remaining what other clients of the app (another
        run, another program) spent of the window: what our own requests since ``sent`` minus
        a window (the moment the request was let through) do not explain. That much less is
        ours until their requests have left the window."""
        limit = headers.get("x-hubspot-ratelimit-max", "")
        interval = headers.get("x-hubspot-ratelimit-interval-milliseconds", "")
        remaining = headers.get("x-hubspot-ratelimit-remaining", "").strip()
        with self._lock:
            if limit.isdigit() and int(limit) > 0:
                self.limit = int(limit)
            if interval.isdigit() and int(interval) > 0:
                self.interval = int(interval) / 1000
            if not remaining.isdigit():
                return
            at = self._last if sent is None else sent
            ours = sum(1 for hit in self._hits if at - self.interval < hit <= at)
            self._others = max(0, self.limit - int(remaining) - ours)
            self._others_until = at + self.interval

    def pause(self, seconds: float) -> None:
        """Let no request through for ``seconds`` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)


@dataclass(frozen=True, slots=True)
class Issue:
    """One property HubSpot refused, with its words (``name`` is the property's)."""

    name: str
    message: str


class HubSpotApiError(ConnectorError):
    """A refusal of HubSpot's API, with its status, category and own words."""

    def __init__(self, message: str, status: int, category: str = "", body: Any = None) -> None:
        super().__init__(message, title="HubSpot refused")
        self.status = status
        self.category = category
        self.body = body if isinstance(body, dict) else {}
        self.words = error_words(self.body, f"HTTP {status}")

    @property
    def issues(self) -> list[Issue]:
        return issues_of(self.body)

    @property
    def existing_id(self) -> str | None:
        """The contact a 409 says already has the email address."""
        return existing_id(self.words)

    @property
    def sub_category(self) -> str:
        return str(self.body.get("subCategory") or "")


def error_words(body: Any, fallback: str) -> str:
    """HubSpot's ``message``, or ``fallback``."""
    if isinstance(body, dict):
        message = str(body.get("message") or "").strip()
        if message:
            return message
    return fallback or "no message"


def issues_of(body: Any) -> list[Issue]:
    """The properties a VALIDATION_ERROR refused, parsed out of its message (a JSON list after
    'Property values were not valid: ')."""
    message = error_words(body, "")
    if not message.startswith(INVALID_PREFIX):
        return []
    try:
        found = json.loads(message[len(INVALID_PREFIX) :])
    except ValueError:
        return []
    if not isinstance(found, list):
        return []
    return [
        Issue(str(item.get("name") or ""), str(item.get("message") or "").strip())
        for item in found
        if isinstance(item, dict) and item.get("message")
    ]


def existing_id(message: str) -> str | None:
    found = EXISTING_ID.search(message)
    return found.group(1) if found else None


def instant_ms(value: Any) -> int | None:
    """Epoch milliseconds of a HubSpot timestamp (ISO 8601, or epoch milliseconds)."""
    text = str(value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(milliseconds=1)


class HubSpotApi:
    """Requests to one HubSpot API base on behalf of one portal's access token.

    ``requests`` counts the HTTP requests sent, ``throttled`` the 429 answers among them.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        http: HttpSettings,
        *,
        portal: int | None,
        limiter: RateLimiter,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._settings = http
        self.portal = portal
        self.limiter = limiter
        self._client: httpx.Client | None = None
        self.server_ms: int | None = None  # HubSpot's clock at its last answer (Date)
        self.requests = 0
        self.throttled = 0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        search: bool = False,
        repeatable: bool = True,
    ) -> dict[str, Any]:
        """One request to ``path`` under the base; a refusal raises :class:`HubSpotApiError`,
        :class:`AuthExpired`, :class:`Throttled` or :class:`TransientError` in the person's
        words (``what`` says what we were doing). A request that is not ``repeatable`` (a
        create: HubSpot may have carried it out before its 5xx) is sent again only after a
        429, which HubSpot answers without carrying the request out."""
        url = self.base_url + path
        response = self._send(method, url, params, body, search, repeatable)
        self.server_ms = _server_ms(response) or self.server_ms
        data = _json(response)
        if response.status_code >= 400:
            raise self._error(response, data, what)
        return data

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = make_client(self._settings)
        return self._client

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        search: bool,
        repeatable: bool,
    ) -> httpx.Response:
        delay = BACKOFF_SECONDS
        throttles = failures = 0
        while True:
            sent = self.limiter.acquire(search)
            self.requests += 1
            try:
                response = self._http().request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={"Authorization": f"Bearer {self._token}"},
                )
            except httpx.TransportError as exc:
                raise transport_error(exc, url, self._settings) from exc
            self.limiter.learn(response.headers, sent)
            status = response.status_code
            if status == 429:
                self.throttled += 1
                data = _json(response)
                policy = str(data.get("policyName") or "")
                wait = retry_after(response)
                if wait is None:  # HubSpot sends none: wait for the window its policy names
                    secondly = policy == "SECONDLY" or (search and not policy)
                    wait = 1.0 if secondly else self.limiter.interval
                if (
                    policy == "DAILY"
                    or throttles >= self._settings.throttle_retries
                    or wait > self._settings.max_wait
                ):
                    raise self._throttled(data, policy, wait)
                throttles += 1
                self.limiter.pause(wait)
                continue
            if status >= 500 and repeatable and failures < BACKOFF_TRIES - 1:
                failures += 1
                self.limiter.pause(delay)
                delay *= 2
                continue
            return response

    def _throttled(self, data: dict[str, Any], policy: str, wait: float) -> Throttled:
        words = error_words(data, "rate limit")
        if policy == "DAILY":
            now = datetime.now(UTC)
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            return Throttled(
                f"HubSpot{self._of_portal()} has used up its API requests for today ({words}); "
                "syncing goes on where it stopped once HubSpot's daily limit starts again.",
                retry_after=(midnight - now).total_seconds(),
            )
        return Throttled(
            f"HubSpot asked us to slow down (HTTP 429: {words}); "
            + (
                "try again in a while."
                if self._settings.setup
                else "the next run goes on where this one stopped."
            ),
            retry_after=wait,
        )

    def _of_portal(self) -> str:
        return f" portal {self.portal}" if self.portal is not None else ""

    def _error(self, response: httpx.Response, data: dict[str, Any], what: str) -> ConnectorError:
        status = response.status_code
        words = error_words(data, response.reason_phrase or f"HTTP {status}")
        category = str(data.get("category") or "")
        if status == 401:
            first = words.split(". ")[0].rstrip(".")
            return AuthExpired(
                f"HubSpot refused the access token{' of' if self.portal else ''}"
                f"{self._of_portal()} ({first}). {TOKEN_HELP}"
            )
        if status == 403:
            scopes = _required_scopes(data)
            needs = (
                f": it needs the scope {scopes[0]}"
                if len(scopes) == 1
                else (f": it needs one of the scopes {', '.join(scopes)}" if scopes else "")
            )
            return ConnectorError(
                f"HubSpot{self._of_portal()} does not let this access token do {what} "
                f"({words.split('. ')[0].rstrip('.')}){needs}. Add the missing scopes to the "
                "private app in HubSpot (Settings > Integrations > Private apps), then give "
                "its token again.",
                title="HubSpot refused access",
            )
        if status >= 500:
            return TransientError(
                f"HubSpot answered {status} to {what}: {words}. {self._settings.then}",
                title="HubSpot unavailable",
            )
        return HubSpotApiError(f"HubSpot refused {what}: {words}", status, category, data)


def _required_scopes(data: dict[str, Any]) -> list[str]:
    scopes: list[str] = []
    for error in data.get("errors") or ():
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
                for scope in context.get(key) or ():
                    if isinstance(scope, str) and scope not in scopes:
                        scopes.append(scope)
    return scopes


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"message": response.text[:200].strip()}
    return data if isinstance(data, dict) else {"results": data}


def _server_ms(response: httpx.Response) -> int | None:
    """The time of HubSpot's answer by its own clock (the Date header), in epoch ms."""
    value = response.headers.get("date", "")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return int(when.timestamp() * 1000)
