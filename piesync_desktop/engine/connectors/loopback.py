"""The local end of a sign-in in the system browser: a one-shot HTTP server on 127.0.0.1 and a
free port that receives the identity provider's answer (RFC 8252's loopback redirect).

Why it exists: Google's and Microsoft's sign-ins both send the browser back to this computer
with a code (or an error) and the ``state`` the sign-in began with. :class:`LoopbackRedirect`
takes the first answer whose state matches, shows the person a page that says what happened, and
hands the answer's query to the sign-in that waits for it (cancellable, with a time limit). What
the answer means (a code to exchange, a refusal) is the sign-in's to say. Nothing here logs a
request: its query holds the authorization code.
"""

from __future__ import annotations

import hmac
import html
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from piesync_desktop.engine.errors import AuthExpired, Cancelled, ConnectorError

POLL_INTERVAL = 0.2  # how often wait() looks at its cancel callback


@dataclass(frozen=True, slots=True)
class Provider:
    """Who answers, in the words of the pages and messages: ``name`` ("Google"), and what the
    person lets piesync-desktop use ("your Google contacts")."""

    name: str
    contacts: str


class LoopbackRedirect:
    """Listens for one sign-in's answer; :meth:`wait` gives its query (``code`` or ``error``,
    ``error_description``, ...). The server stops when :meth:`wait` returns or raises, or on
    :meth:`close`."""

    def __init__(self, state: str, provider: Provider) -> None:
        self.provider = provider
        try:
            self._server = _Server(state, provider)
        except OSError as exc:
            raise ConnectorError(
                f"piesync-desktop could not listen on this computer for {provider.name}'s "
                f"answer ({exc}). Check that nothing blocks connections to 127.0.0.1, then "
                "try again.",
                title="Sign-in could not start",
            ) from exc
        self.port: int = self._server.server_port
        self._closed = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{provider.name.lower()}-sign-in",
            daemon=True,
        )
        self._thread.start()

    def wait(
        self, timeout: float | None = None, cancelled: Callable[[], bool] | None = None
    ) -> dict[str, str]:
        """Block until the browser comes back with this sign-in's answer, and give its query.

        Raises :class:`Cancelled` soon (within ``POLL_INTERVAL``) after ``cancelled()`` turns
        true, and :class:`AuthExpired` when the answer belongs to another sign-in or ``timeout``
        seconds pass without one.
        """
        name = self.provider.name
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._server.arrived.is_set():
                if cancelled is not None and cancelled():
                    raise Cancelled(f"The {name} sign-in was cancelled; nothing was changed.")
                step = POLL_INTERVAL
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise AuthExpired(
                            f"{name}'s answer did not come back from the browser within "
                            f"{duration(timeout or 0)}. Start the sign-in again, and finish it "
                            "in the browser that opens.",
                            title="Sign-in not finished",
                        )
                    step = min(step, left)
                self._server.arrived.wait(step)
        finally:
            self.close()
        outcome = self._server.outcome
        assert outcome is not None
        if outcome.mismatch:
            raise AuthExpired(
                "The answer that came back to piesync-desktop does not belong to the sign-in it "
                "started, so it was refused. Start the sign-in again.",
                title="Sign-in refused",
            )
        return dict(outcome.query)

    def close(self) -> None:
        """Stop listening (wait() does it itself); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=1.0)


def duration(seconds: float) -> str:
    """``seconds`` as a person says it (minutes from two minutes on)."""
    if seconds >= 120:
        return f"{seconds / 60:g} minutes"
    return "1 second" if seconds == 1 else f"{seconds:g} seconds"


@dataclass(frozen=True, slots=True)
class _Outcome:
    mismatch: bool
    query: dict[str, str] = field(default_factory=dict, repr=False)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a browser's idle pre-connection must not hold up close()

    def __init__(self, state: str, provider: Provider) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.provider = provider
        self.outcome: _Outcome | None = None
        self.arrived = threading.Event()
        self._lock = threading.Lock()

    def server_bind(self) -> None:
        # HTTPServer's own looks up the host's name, which can stall where DNS is slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = self.server_address[1]

    def receive(self, query: dict[str, str]) -> tuple[int, str, str]:
        """Take the first answer from the browser; return the page it gets back."""
        name = self.provider.name
        with self._lock:
            if self.outcome is not None:
                return (
                    409,
                    "Already answered",
                    f"piesync-desktop already has {name}'s answer to this sign-in. "
                    "You can close this tab.",
                )
            if not hmac.compare_digest(query.get("state", "").encode(), self.state.encode()):
                outcome = _Outcome(mismatch=True)
                page = (
                    400,
                    "Sign-in refused",
                    "This answer does not belong to the sign-in piesync-desktop started, so it "
                    "was refused. Start the sign-in again from piesync-desktop.",
                )
            elif "error" in query:
                outcome = _Outcome(False, query)
                page = (
                    200,
                    "Not signed in",
                    f"piesync-desktop was not given access to {self.provider.contacts}. "
                    "You can close this tab.",
                )
            else:
                outcome = _Outcome(False, query)
                page = (
                    200,
                    "Signed in",
                    f"piesync-desktop received {name}'s answer. You can close this tab and "
                    "return to piesync-desktop.",
                )
            self.outcome = outcome
            self.arrived.set()
            return page

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hangs up early is no news


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    disable_nagle_algorithm = True
    timeout = 10  # an idle connection (browsers pre-connect) is dropped after this
    server_version = "piesync-desktop"
    sys_version = ""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {
            name: values[0]
            for name, values in parse_qs(parts.query, keep_blank_values=True).items()
        }
        if parts.path not in ("", "/") or not ({"code", "error"} & query.keys()):
            self._page(
                404,
                "Nothing here",
                f"This address only receives {self.server.provider.name}'s answer to a "
                "piesync-desktop sign-in.",
            )
            return
        self._page(*self.server.receive(query))

    def _page(self, status: int, title: str, text: str) -> None:
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>piesync-desktop: {html.escape(title)}</title></head>"
            '<body style="font-family: sans-serif; margin: 3em">'
            f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request line holds the authorization code
