"""Microsoft Graph over HTTP for the Outlook connector: one request, one JSON batch, paging.

Why it exists: the connector speaks in contacts and folders; the rules of talking to Graph live
here once. Every request carries the account's access token (renewed once after a 401). Graph's
throttling guidance is followed: a 429 or 503 waits out its ``Retry-After``, other 5xx back off
exponentially, and a run gives up with :class:`Throttled` or :class:`TransientError` (nothing
half-done: the engine's journal and the next delta pick up where it stopped). JSON batches hold at
most 20 requests and are sequenced with ``dependsOn``: Graph hands up to four requests of a batch
to Outlook at once, and Outlook allows four concurrent requests per mailbox and app, so an
unsequenced batch of 20 would throttle itself; a chained batch is one request in flight.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from piesync_desktop.engine.connectors.http import (
    HttpSettings,
    host_of,
    make_client,
    retry_after,
    transport_error,
)
from piesync_desktop.engine.errors import AuthExpired, ConnectorError, Throttled, TransientError

BATCH_LIMIT = 20  # Graph's limit of requests in one JSON batch
BACKOFF_SECONDS = 1.0  # the first wait after a 5xx without Retry-After; doubled each time
BACKOFF_TRIES = 4
RETRIED = frozenset({429, 500, 502, 503, 504, 424})  # 424: a request it depended on failed
# Ids that stay the same when a contact moves to another folder of the mailbox, so a contact
# dragged elsewhere and back is still the one the engine linked.
IMMUTABLE_IDS = 'IdType="ImmutableId"'


class GraphError(ConnectorError):
    """A refusal of Microsoft Graph, with its own message, status and error code."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message, title="Outlook refused")
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One request of a JSON batch; ``url`` is relative to the Graph base (``/me/...``)."""

    id: str
    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchResponse:
    """Graph's answer to one request of a batch."""

    id: str
    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def message(self) -> str:
        """Graph's own words for a refusal."""
        return error_message(self.body, f"HTTP {self.status}")

    @property
    def code(self) -> str:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code", "")) if isinstance(error, dict) else ""


class GraphClient:
    """Requests to one Graph base URL on behalf of one account.

    ``token(refresh)`` gives an access token, a fresh one when ``refresh`` is true (after a 401).
    ``requests`` counts the HTTP requests sent (a batch is one).
    """

    def __init__(
        self,
        base_url: str,
        token: Callable[[bool], str],
        http: HttpSettings,
        account: str,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._settings = http
        self._account = account
        self._client: httpx.Client | None = None
        self.requests = 0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def url(self, path: str) -> str:
        return (
            path
            if path.startswith("https://") or path.startswith("http://")
            else (self.base_url + path)
        )

    # ------------------------------------------------------------------ single requests

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        repeatable: bool = True,
    ) -> dict[str, Any]:
        """One request (an absolute ``@odata.nextLink`` or a path under the base); a refusal
        raises :class:`GraphError`, :class:`AuthExpired`, :class:`Throttled` or
        :class:`TransientError` with the person's words. A request that is not
        ``repeatable`` (it may create something) is sent again only after a 429, which Graph
        answers without carrying the request out."""
        response = self._send(method, self.url(path), params, body, headers or {}, repeatable)
        if response.status_code >= 400:
            raise self._error(response.status_code, _json(response), what, response)
        return _json(response)

    def pages(
        self,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink`` (whose query already holds
        the first request's parameters)."""
        page = self.call("GET", path, what=what, params=params, headers=headers)
        while True:
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            page = self.call("GET", link, what=what, headers=headers)

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
        headers: Mapping[str, str],
        repeatable: bool = True,
    ) -> httpx.Response:
        refresh = False
        delay = BACKOFF_SECONDS
        attempt = 0
        while True:
            token = self._token(refresh)
            self.requests += 1
            try:
                response = self._http().request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={
                        **headers,
                        "Prefer": _prefer(headers.get("Prefer", "")),
                        "Authorization": f"Bearer {token}",
                    },
                )
            except httpx.TransportError as exc:
                raise transport_error(exc, url, self._settings) from exc
            status = response.status_code
            if status == 401 and not refresh:
                refresh = True
                continue
            if status not in RETRIED or status == 424 or (status != 429 and not repeatable):
                return response
            wait = retry_after(response) if status in (429, 503) else None
            if wait is None:
                wait, delay = delay, delay * 2
            attempt += 1
            if wait > self._settings.max_wait or attempt >= BACKOFF_TRIES:
                return response
            time.sleep(wait)

    # ------------------------------------------------------------------ batches

    def batch(self, requests: Sequence[BatchRequest], *, what: str) -> dict[str, BatchResponse]:
        """Carry out ``requests`` (any number: 20 a batch) and give each one's final answer.

        Requests Graph answers with 429, 503 or another 5xx (and those that failed because one
        they depended on did) are sent again after the wait Graph asks for, or an exponential
        backoff; when that does not settle them, the run stops with :class:`Throttled` or
        :class:`TransientError`. Other refusals (400, 404, 412) are answers, for the caller.
        """
        answers: dict[str, BatchResponse] = {}
        todo = list(requests)
        while todo:
            chunk, todo = todo[:BATCH_LIMIT], todo[BATCH_LIMIT:]
            answers.update(self._settle(chunk, what))
        return answers

    def _settle(self, chunk: Sequence[BatchRequest], what: str) -> dict[str, BatchResponse]:
        answers: dict[str, BatchResponse] = {}
        pending = list(chunk)
        unsure: list[BatchResponse] = []  # creates whose outcome Graph did not say
        delay = BACKOFF_SECONDS
        tries = 0
        while pending:
            for response in self._send_batch(pending, what):
                answers[response.id] = response
            again = []
            for request in pending:
                status = answers[request.id].status
                if status in (429, 424) or (status in RETRIED and _repeatable(request)):
                    again.append(request)
                elif status in RETRIED or status == 0:
                    unsure.append(answers[request.id])  # a create Graph may have carried out
            pending = again
            if not pending:
                break
            if all(answers[r.id].status == 424 for r in pending):
                continue  # only those after a refusal: the first of them gets a real answer now
            tries += 1
            waits = [
                _retry_after(answers[r.id].headers)
                for r in pending
                if answers[r.id].status in (429, 503)
            ]
            known = [w for w in waits if w is not None]
            if known:
                wait = max(known)
            else:
                wait, delay = delay, delay * 2
            if wait > self._settings.max_wait or tries >= BACKOFF_TRIES:
                break
            time.sleep(wait)
        if pending:
            self._give_up([answers[r.id] for r in pending], what)
        if unsure:
            first = unsure[0]
            raise TransientError(
                f"Outlook answered {first.status or 'nothing'} while {what}: "
                f"{first.message().rstrip('.')}. Some may be saved all the same; the next run "
                "finds them, and makes none twice.",
                title="Outlook unavailable",
            )
        return answers

    def _give_up(self, worst: Sequence[BatchResponse], what: str) -> None:
        throttled = [a for a in worst if a.status == 429]
        host = host_of(self.base_url)
        if throttled:
            wait = _retry_after(throttled[0].headers)
            raise Throttled(
                f"{host} asked us to slow down (HTTP 429: {throttled[0].message()})"
                + (f" for {wait:.0f} seconds" if wait else "")
                + "; the next run goes on where this one stopped.",
                retry_after=wait,
            )
        first = next((a for a in worst if a.status != 424), worst[0])
        raise TransientError(
            f"Outlook answered {first.status} to {what}: {first.message().rstrip('.')}. Nothing "
            "was lost; the next run tries again.",
            title="Outlook unavailable",
        )

    def _send_batch(self, chunk: Sequence[BatchRequest], what: str) -> list[BatchResponse]:
        body = {"requests": [_batch_entry(r, previous) for r, previous in _chained(chunk)]}
        repeatable = all(_repeatable(r) for r in chunk)
        answer = self.call("POST", "/$batch", what=what, body=body, repeatable=repeatable)
        by_id: dict[str, BatchResponse] = {}
        for entry in answer.get("responses", ()):
            if not isinstance(entry, dict):
                continue
            response = BatchResponse(
                str(entry.get("id", "")),
                int(entry.get("status", 0) or 0),
                {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()},
                entry.get("body"),
            )
            by_id[response.id] = response
        missing = {"error": {"message": "Graph did not answer it"}}
        # Graph answers in any order: match by id, never by position. No answer: status 0.
        return [by_id.get(r.id, BatchResponse(r.id, 0, {}, missing)) for r in chunk]

    # ------------------------------------------------------------------ errors

    def _error(
        self, status: int, body: Any, what: str, response: httpx.Response | None = None
    ) -> ConnectorError:
        message = error_message(body, response.reason_phrase if response else f"HTTP {status}")
        code = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = str(body["error"].get("code", ""))
        if status == 401:
            return AuthExpired(
                f"Microsoft no longer accepts the sign-in of {self._account} ({message}). "
                "Sign in again."
            )
        if status == 403:
            return ConnectorError(
                f"Outlook refused {what} for {self._account}: {message.rstrip('.')}. "
                "The sign-in must allow reading and writing contacts (Contacts.ReadWrite): "
                "sign in again and accept it.",
                title="Outlook refused access",
            )
        if status == 429:
            wait = retry_after(response) if response is not None else None
            return Throttled(
                f"{host_of(self.base_url)} asked us to slow down (HTTP 429: {message})"
                + (f" for {wait:.0f} seconds" if wait else "")
                + "; the next run goes on where this one stopped.",
                retry_after=wait,
            )
        if status >= 500:
            return TransientError(
                f"Outlook answered {status} to {what}: {message.rstrip('.')}. "
                "Nothing was lost; the next run tries again.",
                title="Outlook unavailable",
            )
        return GraphError(f"Outlook refused {what}: {message}", status, code)


def error_message(body: Any, fallback: str) -> str:
    """Graph's ``error.message``, or ``fallback``."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = str(body["error"].get("message") or "").strip()
        if message:
            return message
    return fallback or "no message"


def _prefer(asked: str) -> str:
    """The Prefer header: what the caller asked for, and immutable ids."""
    return f"{asked}, {IMMUTABLE_IDS}" if asked else IMMUTABLE_IDS


def _repeatable(request: BatchRequest) -> bool:
    """Whether sending ``request`` twice does no harm (a POST makes a contact each time)."""
    return request.method.upper() != "POST"


def _chained(chunk: Sequence[BatchRequest]) -> Iterator[tuple[BatchRequest, str | None]]:
    previous: str | None = None
    for request in chunk:
        yield request, previous
        previous = request.id


def _batch_entry(request: BatchRequest, depends_on: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": request.id, "method": request.method, "url": request.url}
    headers = {**request.headers, "Prefer": _prefer(request.headers.get("Prefer", ""))}
    if request.body is not None:
        entry["body"] = request.body
        headers.setdefault("Content-Type", "application/json")
    if headers:
        entry["headers"] = headers
    if depends_on is not None:
        entry["dependsOn"] = [depends_on]
    return entry


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = str(headers.get("retry-after", "")).strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json(response: httpx.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"error": {"message": response.text[:200].strip()}}
    return data if isinstance(data, dict) else {}
