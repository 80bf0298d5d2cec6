"""A reverse proxy on loopback in front of a real DAV server, to make it misbehave on demand: fail,
stall, hang up, let "another client" edit between our read and our write, or demand HTTP Digest
(which Radicale does not do). Tests steer it from their own thread while a client talks to it.

Paths are the upstream's (only the port differs), so hrefs in bodies stay valid as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

import httpx

from helpers.dav_servers import DavServer

METHODS = (
    "GET",
    "PUT",
    "DELETE",
    "PROPFIND",
    "REPORT",
    "MKCOL",
    "OPTIONS",
    "POST",
    "PROPPATCH",
    "HEAD",
    "MOVE",
    "COPY",
)
# Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy sets itself.
SKIP_REQUEST = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
SKIP_RESPONSE = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
REALM = "FaultProxy"

Kind = Literal["fail", "delay", "drop", "before"]


@dataclass
class Rule:
    """One fault: applies to the requests matching `method` after `after` of them went by, for
    `times` requests (None: until cleared)."""

    kind: Kind
    method: str | None
    after: int
    times: int | None
    status: int = 500
    body: str = ""
    headers: dict[str, str] | None = None
    seconds: float = 0.0
    callback: Callable[[str], object] | None = None
    seen: int = 0
    applied: int = 0

    def fires(self, method: str) -> bool:
        """Counts the request if it matches; True when this rule acts on it."""
        if self.method is not None and self.method != method:
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.applied >= self.times):
            return False
        self.applied += 1
        return True


class FaultProxy:
    """A threaded HTTP/1.1 keep-alive reverse proxy on 127.0.0.1, in front of `upstream`."""

    def __init__(self, upstream: DavServer | str, *, timeout: float = 30.0) -> None:
        self.upstream = upstream if isinstance(upstream, DavServer) else None
        self.upstream_url = upstream.base_url if isinstance(upstream, DavServer) else upstream
        if not self.upstream_url.endswith("/"):
            self.upstream_url += "/"
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._forwarded: list[tuple[str, str]] = []
        self._received: list[tuple[str, str]] = []
        self._digest: tuple[str, str] | None = None
        self._nonces: set[str] = set()
        self._opaque = secrets.token_hex(8)
        self._connections: set[socket.socket] = set()
        self._closing = threading.Event()
        self.errors: list[str] = []  # tracebacks of `before` callbacks that raised
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FaultProxy:{self.port}",
            daemon=True,
        )
        self._thread.start()

    # --- controls, from any thread ---

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request forwarded upstream, in order."""
        with self._lock:
            return list(self._forwarded)

    @property
    def received(self) -> list[tuple[str, str]]:
        """(method, path) of every request that arrived, including those answered by a fault,
        dropped, or refused by Digest."""
        with self._lock:
            return list(self._received)

    def count(self, method: str | None = None, *, received: bool = False) -> int:
        """How many requests (of `method`) were forwarded (or, with received=True, arrived)."""
        seen = self.received if received else self.requests
        return sum(1 for m, _ in seen if method is None or m == method.upper())

    def fail(
        self,
        status: int = 500,
        *,
        method: str | None = None,
        after: int = 0,
        times: int | None = None,
        body: str = "Injected failure",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `status` (with `body`, and `headers` such as Retry-After) instead of
        forwarding."""
        self._add(Rule("fail", _m(method), after, times, status=status, body=body, headers=headers))

    def delay(
        self, seconds: float, *, method: str | None = None, after: int = 0, times: int | None = None
    ) -> None:
        """Sleep before forwarding. The request is still forwarded after the sleep (as a real
        slow server would apply it), even if the client gave up meanwhile."""
        self._add(Rule("delay", _m(method), after, times, seconds=seconds))

    def drop(self, *, method: str | None = None, after: int = 0, times: int | None = None) -> None:
        """Read the request, then close the connection without answering (nothing forwarded)."""
        self._add(Rule("drop", _m(method), after, times))

    def before(
        self, method: str, callback: Callable[[str], object], *, after: int = 0, times: int = 1
    ) -> None:
        """Call `callback(path)` on the proxy thread just before forwarding a matching request."""
        self._add(Rule("before", _m(method), after, times, callback=callback))

    def digest(self, username: str | None, password: str | None = None) -> None:
        """Require HTTP Digest (RFC 7616, MD5, qop=auth) from now on; digest(None) stops it.
        Authorised requests go upstream without the client's Authorization header (with the
        upstream server's own credentials, if it has any)."""
        with self._lock:
            self._digest = None if username is None else (username, password or "")
            self._nonces.clear()

    def clear(self) -> None:
        """Forget every fault and Digest; keep the request log."""
        with self._lock:
            self._rules.clear()
            self._digest = None
            self._nonces.clear()

    def rebase(self, url: str) -> str:
        """The proxy's URL for an upstream URL (e.g. one from make_addressbook)."""
        if not url.startswith(self.upstream_url):
            raise ValueError(f"{url} is not under {self.upstream_url}")
        return self.url + url[len(self.upstream_url) :]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._http.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- used by the handler ---

    def _add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _firing(self, method: str, path: str) -> list[Rule]:
        with self._lock:
            return [rule for rule in self._rules if rule.fires(method)]

    def _record(self, log: list[tuple[str, str]], method: str, path: str) -> None:
        with self._lock:
            log.append((method, path))

    def _challenge(self) -> str:
        nonce = secrets.token_hex(16)
        with self._lock:
            self._nonces.add(nonce)
        return (
            f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{nonce}", '
            f'opaque="{self._opaque}"'
        )

    def _check_digest(self, method: str, path: str, header: str | None) -> tuple[bool, bool]:
        """(whether the request may go on, whether Digest is on)."""
        with self._lock:
            credentials = self._digest
            nonces = set(self._nonces)
        if credentials is None:
            return True, False
        if not header or not header.lower().startswith("digest "):
            return False, True
        fields = _parse_digest(header[7:])
        username, password = credentials
        if (
            fields.get("username") != username
            or fields.get("realm") != REALM
            or fields.get("nonce") not in nonces
            or fields.get("uri") != path
            or fields.get("qop") != "auth"
            or fields.get("algorithm", "MD5").upper() != "MD5"
            or "nc" not in fields
            or "cnonce" not in fields
        ):
            return False, True
        ha1 = _md5(f"{username}:{REALM}:{password}")
        ha2 = _md5(f"{method}:{fields['uri']}")
        expected = _md5(
            f"{ha1}:{fields['nonce']}:{fields['nc']}:{fields['cnonce']}:{fields['qop']}:{ha2}"
        )
        return hmac.compare_digest(expected, fields.get("response", "")), True


def _m(method: str | None) -> str | None:
    return None if method is None else method.upper()


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _parse_digest(text: str) -> dict[str, str]:
    return {
        key.lower(): quoted if quoted or plain == "" else plain
        for key, quoted, plain in re.findall(
            r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))', text
        )
    }


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            with proxy._lock:
                proxy._connections.add(self.connection)

        def finish(self) -> None:
            with proxy._lock:
                proxy._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle_one_request(self) -> None:
            with contextlib.suppress(ConnectionError, TimeoutError):
                super().handle_one_request()

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response_only(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if "content-type" not in {name.lower() for name in headers or {}} and body:
                self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _proxy(self) -> None:
            method = self.command
            path = self.path
            body = self._body()
            proxy._record(proxy._received, method, path)
            if proxy._closing.is_set():
                self.close_connection = True
                return
            allowed, digest = proxy._check_digest(method, path, self.headers.get("Authorization"))
            if not allowed:
                self._answer(
                    401, b"Digest authentication required", {"WWW-Authenticate": proxy._challenge()}
                )
                return

            rules = proxy._firing(method, path)
            for rule in rules:
                if rule.kind == "before" and rule.callback is not None:
                    try:
                        rule.callback(path)
                    except Exception:
                        proxy.errors.append(traceback.format_exc())
                        self._answer(500, b"FaultProxy: the test's callback raised")
                        return
            for rule in rules:
                if rule.kind == "delay" and proxy._closing.wait(rule.seconds):
                    self.close_connection = True
                    return
            for rule in rules:
                if rule.kind == "drop":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if rule.kind == "fail":
                    self._answer(rule.status, rule.body.encode(), rule.headers)
                    return
            self._forward(method, path, body, digest)

        def _forward(self, method: str, path: str, body: bytes, digest: bool) -> None:
            headers = [
                (name, value)
                for name, value in self.headers.items()
                if name.lower() not in SKIP_REQUEST
                and not (digest and name.lower() == "authorization")
            ]
            auth = proxy.upstream.auth if digest and proxy.upstream is not None else None
            upstream = urlsplit(proxy.upstream_url)
            url = f"{upstream.scheme}://{upstream.netloc}{path}"
            proxy._record(proxy._forwarded, method, path)
            started = time.monotonic()
            try:
                request = proxy._http.build_request(method, url, headers=headers, content=body)
                # Not the client's defaults: upstream sees only what the client sent.
                for name in ("accept", "accept-encoding", "user-agent"):
                    if name not in self.headers and name in request.headers:
                        del request.headers[name]
                response = proxy._http.send(
                    request, auth=httpx.BasicAuth(*auth) if auth else None, stream=True
                )
                try:
                    raw = b"".join(response.iter_raw())
                finally:
                    response.close()
            except httpx.HTTPError as error:
                message = f"FaultProxy: upstream failed after {time.monotonic() - started:.1f} s"
                self._answer(502, f"{message}: {error!r}".encode())
                return
            self.send_response_only(response.status_code, response.reason_phrase)
            for name, value in response.headers.multi_items():
                if name.lower() in SKIP_RESPONSE:
                    continue
                if name.lower() == "location" and value.startswith(proxy.upstream_url):
                    value = proxy.url + value[len(proxy.upstream_url) :]
                self.send_header(name, value)
            no_body = response.status_code in (204, 304) or response.status_code < 200
            if method == "HEAD":
                if "content-length" in response.headers:
                    self.send_header("Content-Length", response.headers["content-length"])
            elif not no_body:
                self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if method != "HEAD" and not no_body:
                self.wfile.write(raw)

    for name in METHODS:
        setattr(Handler, f"do_{name}", Handler._proxy)
    return Handler
