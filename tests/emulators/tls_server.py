"""The HTTPS plumbing the cloud emulators share: a threaded server on loopback that does each
TLS handshake in the connection's own thread, keeps count of its connections and can hang up
on all of them, and a request handler base that hands every method to ``_serve``.

Why it exists: the People API, Graph and HubSpot emulators each need exactly this, and a fault
in it (a blocked accept loop, a connection left open at close) would be one fault to fix, not
three. Each emulator adds only what its API answers.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import ssl
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, Protocol, Self

import trustme

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 120.0


class Emulator(Protocol):
    """What the server needs of its emulator: a list for its own tracebacks."""

    internal_errors: list[str]


class TlsService:
    """An emulator's life cycle on loopback over TLS: served from a thread with a certificate of
    its throwaway authority ``ca``, closed (every connection hung up) by :meth:`close`."""

    ca: trustme.CA
    internal_errors: list[str]
    _server: TlsServer
    _thread: threading.Thread

    def _serve_tls(
        self, host: str, handler: type[http.server.BaseHTTPRequestHandler], name: str
    ) -> int:
        """Start serving ``handler`` on ``host`` and a free port; the port."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = TlsServer((host, 0), self, context, handler)
        port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{name}-{port}",
            daemon=True,
        )
        self._thread.start()
        return port

    def close(self) -> None:
        """Stop serving and hang up every open connection."""
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ca_file(self, path: str | Path) -> Path:
        """Write the certificate authority's PEM to ``path`` (for PIESYNC_CA_BUNDLE)."""
        target = Path(path)
        self.ca.cert_pem.write_to_path(str(target))
        return target

    @property
    def connections(self) -> int:
        """How many TCP connections the server has accepted (keep-alive reuses them)."""
        return self._server.accepted


class TlsServer(http.server.ThreadingHTTPServer):
    """Serves ``handler`` over TLS (``context``) for ``emulator``; ``accepted`` counts the TCP
    connections taken (keep-alive reuses them)."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        emulator: Any,
        context: ssl.SSLContext,
        handler: type[http.server.BaseHTTPRequestHandler],
    ) -> None:
        self.emulator = emulator
        self.context = context
        self.accepted = 0
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # The handshake happens in the connection's own thread (finish_request), so a slow or
        # broken client never holds up the accept loop.
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._open_lock:
            self._open.add(tls)
            self.accepted += 1
        return tls, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(HANDSHAKE_TIMEOUT)
            request.do_handshake()
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every connection still open."""
        with self._open_lock:
            open_now = list(self._open)
            self._open.clear()
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (and the drop switch) are part of the job; anything else is a bug
        # of the emulator's, kept for the tests to see.
        if not isinstance(sys.exc_info()[1], OSError):
            self.emulator.internal_errors.append(traceback.format_exc())


class Handler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, quiet, every method handed to :meth:`_serve`."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms stalls
    timeout = IDLE_TIMEOUT
    server: TlsServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        raise NotImplementedError

    def _hang_up(self) -> None:
        """Close the connection without an answer (the drop fault)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
