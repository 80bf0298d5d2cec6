"""Time piesync-desktop and vdirsyncer syncing a vCard folder with a real CardDAV server.

Why this exists: issue 4 sets targets for the CardDAV connector against a real server, and the
folder-to-folder benchmark (``bench/run.py``) says nothing about HTTP: how many requests a sync
sends and how long the server takes to answer them. This runner starts its own Radicale on
127.0.0.1 and has both tools do the same jobs side by side, each on its own fresh address book
with the same content, each through its own small counting reverse proxy (so every request a
tool sends is counted, and how long Radicale took to answer it is known):

1. first sync: a folder of ``--n-first`` generated contacts into an empty address book;
2. nothing changed: on an address book of ``--n-book`` contacts (filled in one PUT and primed
   with one sync-collection, see ``prime_history``, then synced into an empty folder, all
   untimed), a sync with nothing changed;
3. 1% edits: 1% of the cards edited on the server by "another client" (a PUT each with a new
   TITLE and If-Match on its etag) and 1% of other contacts edited in the folder, then a sync.

For each timed sync it prints wall time, HTTP requests (by method), peak RSS (``ru_maxrss`` from
``wait4``, as ``bench/run.py`` does) and whether every edit reached the other side, with the
goals beside them: never more requests than vdirsyncer, nothing changed under 0.3 s. It prints
figures only and never fails on a target.

Usage: ``.venv/bin/python bench/carddav.py`` (see ``--help`` for the flags).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urljoin, urlsplit
from xml.etree import ElementTree as ET

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import Edited, edit_fraction, fold, generate, unfold
from run import (
    DEFAULT_OURS,
    Measure,
    bench_env,
    ensure_vdirsyncer,
    measure,
    ours_answers,
    settle,
    tail,
)

BENCH = Path(__file__).resolve().parent
USER = "alice"
EDIT_FRACTION = 0.01
SCENARIOS = ("first sync", "nothing changed", "1% edits")
TARGET_NOTHING_CHANGED_S = 0.3
HTTP_TIMEOUT = "120"  # PIESYNC_HTTP_TIMEOUT for our CLI

DAV = "DAV:"
XML = {"Content-Type": "application/xml; charset=utf-8"}
VCARD = {"Content-Type": "text/vcard; charset=utf-8"}
MKCOL_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>{name}</D:displayname>
  </D:prop></D:set>
</D:mkcol>"""
PROPFIND_ETAGS = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"""
SYNC_COLLECTION_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/></D:prop></D:sync-collection>"""
PROPPATCH_NAME = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:">
  <D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set>
</D:propertyupdate>"""


# ---------------------------------------------------------------------------
# Radicale, started by the runner
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Radicale:
    """Radicale 3 on 127.0.0.1 with its own config file and storage (auth none).

    ``--config FILE`` replaces /etc/radicale/config and ~/.config/radicale/config, so no
    configuration of the machine is read. With auth none, anonymous requests under /alice/ work
    once /alice/ exists (made here with a MKCOL).
    """

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.log_path = root / "radicale.log"
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        for attempt in range(3):  # another process may take the port between probe and bind
            self.port = free_port()
            try:
                self._start()
                break
            except RuntimeError:
                if attempt == 2 or "in use" not in self.log_path.read_text(errors="replace"):
                    raise
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.home_url = f"{self.base_url}{USER}/"
        with httpx.Client(timeout=30) as http:
            answer = http.request("MKCOL", self.home_url)
        if answer.status_code not in (201, 405):
            raise RuntimeError(f"MKCOL {self.home_url}: {answer.status_code} {answer.text}")

    def _start(self) -> None:
        config = self.root / "radicale.conf"
        # delay / delay_on_error: Radicale sleeps 1 s after each 5xx and wrong password.
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\ndelay_on_error = 0\n"
            "[auth]\ntype = none\ndelay = 0\n"
            f"[storage]\nfilesystem_folder = {self.root / 'storage'}\n"
            "[web]\ntype = none\n"
            "[logging]\nlevel = info\n"
        )
        env = {key: value for key, value in os.environ.items() if not key.startswith("RADICALE")}
        self._log = self.log_path.open("ab")
        # Relative: Radicale splits --config on os.pathsep, so an absolute path with ":" breaks.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", config.name],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.root,
        )
        deadline = time.monotonic() + 15
        with httpx.Client(timeout=0.5) as http:
            while time.monotonic() < deadline and self.process.poll() is None:
                with contextlib.suppress(httpx.TransportError):
                    http.get(f"http://127.0.0.1:{self.port}/")
                    return
                time.sleep(0.05)
        self.stop()
        output = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"Radicale did not start; its output:\n{output}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


# ---------------------------------------------------------------------------
# The counting proxy
# ---------------------------------------------------------------------------

METHODS = ("GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "REPORT", "MKCOL", "OPTIONS")
SKIP_REQUEST = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
SKIP_RESPONSE = {"connection", "keep-alive", "trailer", "transfer-encoding", "content-length"}


@dataclass(frozen=True, slots=True)
class Request:
    """One request a tool sent, as forwarded to Radicale."""

    method: str
    path: str
    status: int
    upstream_s: float  # from forwarding it to having Radicale's whole answer
    kind: str = ""  # REPORT: its report (sync-collection, ...); PROPFIND: its depth
    hrefs: int = 0  # hrefs named in the request body (addressbook-multiget)

    @property
    def label(self) -> str:
        return f"{self.method} {self.kind}" if self.kind else self.method


def describe(method: str, headers: HTTPMessage, body: bytes) -> tuple[str, int]:
    """(kind, hrefs) of a request for the logs: which REPORT, which PROPFIND depth."""
    if method == "PROPFIND":
        return f"depth {headers.get('Depth') or 'infinity'}", 0
    if method != "REPORT":
        return "", 0
    text = body.decode("utf-8", errors="replace")
    root = re.search(r"<(?![?!])(?:[\w.-]+:)?([\w.-]+)", text)
    return (root.group(1) if root else "?"), len(re.findall(r"<(?:[\w.-]+:)?href[\s>]", text))


class CountingProxy:
    """An HTTP/1.1 keep-alive reverse proxy on 127.0.0.1 that logs every request it forwards.

    Paths are Radicale's (only the port differs), so hrefs in the bodies stay valid as they are.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/") + "/"
        self._lock = threading.Lock()
        self._log: list[Request] = []
        self._http = httpx.Client(
            timeout=600, follow_redirects=False, limits=httpx.Limits(max_connections=32)
        )
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def rebase(self, url: str) -> str:
        """The proxy's URL for a Radicale URL."""
        return self.url + url[len(self.upstream) :]

    def take(self) -> list[Request]:
        """The requests forwarded since the last call (and forget them)."""
        with self._lock:
            log, self._log = self._log, []
        return log

    def record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._http.close()


def _handler_for(proxy: CountingProxy) -> type[BaseHTTPRequestHandler]:
    upstream = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def handle_one_request(self) -> None:
            with contextlib.suppress(ConnectionError, TimeoutError):
                super().handle_one_request()

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self) -> None:
            method, path, body = self.command, self.path, self._body()
            headers = [
                (name, value)
                for name, value in self.headers.items()
                if name.lower() not in SKIP_REQUEST
            ]
            url = f"{upstream.scheme}://{upstream.netloc}{path}"
            kind, hrefs = describe(method, self.headers, body)
            began = time.perf_counter()
            try:
                request = proxy._http.build_request(method, url, headers=headers, content=body)
                for name in ("accept", "accept-encoding", "user-agent"):  # only the client's
                    if name not in self.headers and name in request.headers:
                        del request.headers[name]
                response = proxy._http.send(request, stream=True)
                try:
                    raw = b"".join(response.iter_raw())
                finally:
                    response.close()
            except httpx.HTTPError as error:
                elapsed = time.perf_counter() - began
                proxy.record(Request(method, path, 502, elapsed, kind, hrefs))
                message = f"counting proxy: upstream failed: {error!r}".encode()
                self.send_response_only(502)
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                self.wfile.write(message)
                return
            elapsed = time.perf_counter() - began
            proxy.record(Request(method, path, response.status_code, elapsed, kind, hrefs))
            self.send_response_only(response.status_code, response.reason_phrase)
            for name, value in response.headers.multi_items():
                if name.lower() in SKIP_RESPONSE:
                    continue
                if name.lower() == "location" and value.startswith(proxy.upstream):
                    value = proxy.rebase(value)
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
        setattr(Handler, f"do_{name}", Handler._forward)
    return Handler


# ---------------------------------------------------------------------------
# The runner's own requests to Radicale (direct, never counted)
# ---------------------------------------------------------------------------


def make_book(http: httpx.Client, url: str) -> None:
    """Create an address book (extended MKCOL)."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    answer = http.request("MKCOL", url, content=MKCOL_BODY.format(name=name).encode(), headers=XML)
    if answer.status_code != 201:
        raise RuntimeError(f"MKCOL {url}: {answer.status_code} {answer.text[:500]}")


def fill_book(http: httpx.Client, url: str, cards: Sequence[str]) -> None:
    """Fill an empty book in one request: Radicale takes a PUT of every vCard concatenated to
    the collection URL (it replaces the collection, so the displayname is set again after)."""
    answer = http.put(url, content="".join(cards).encode(), headers=VCARD)
    if answer.status_code not in (200, 201, 204):
        raise RuntimeError(f"PUT {url}: {answer.status_code} {answer.text[:500]}")
    name = url.rstrip("/").rsplit("/", 1)[-1]
    body = PROPPATCH_NAME.format(name=name).encode()
    http.request("PROPPATCH", url, content=body, headers=XML)


def prime_history(http: httpx.Client, url: str) -> None:
    """One sync-collection REPORT from the start, as any phone syncing the book would send.

    Radicale keeps a history entry per card (``.Radicale.cache/history``) for sync-collection;
    a card PUT on its own gets one, but the one-request fill does not, and the first
    sync-collection writes them all (about 4.5 s at 5,000 cards). Every later PUT scans that
    folder (``_clean_history``): about 5 ms an update with no entries, 26 ms with 5,000. Priming
    both books puts them in the state of a book built card by card, so the tool that happens to
    use sync-collection does not pay alone for the fill's shortcut.
    """
    answer = http.request(
        "REPORT", url, content=SYNC_COLLECTION_BODY.encode(), headers={**XML, "Depth": "0"}
    )
    if answer.status_code != 207:
        raise RuntimeError(f"REPORT {url}: {answer.status_code} {answer.text[:500]}")


def book_etags(http: httpx.Client, url: str) -> dict[str, str]:
    """The members of a book (absolute URLs) and their etags."""
    answer = http.request(
        "PROPFIND", url, content=PROPFIND_ETAGS.encode(), headers={**XML, "Depth": "1"}
    )
    if answer.status_code != 207:
        raise RuntimeError(f"PROPFIND {url}: {answer.status_code} {answer.text[:500]}")
    found: dict[str, str] = {}
    for response in ET.fromstring(answer.content).iter(f"{{{DAV}}}response"):
        href = urljoin(url, response.findtext(f"{{{DAV}}}href") or "")
        etag = response.findtext(f".//{{{DAV}}}getetag")
        if etag and href.rstrip("/") != url.rstrip("/"):
            found[href] = etag
    return found


def book_text(http: httpx.Client, url: str) -> str:
    """Every card of a book, concatenated and unfolded (Radicale answers a GET of the book)."""
    answer = http.get(url)
    answer.raise_for_status()
    return answer.text.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "")


def identity(where: str, lines: Sequence[str]) -> Edited:
    """UID and emails of one card, as ``edit_fraction``'s ``exclude`` wants them."""
    uid, emails = None, set()
    for line in lines:
        head, _, value = line.partition(":")
        name = head.split(";", 1)[0].rsplit(".", 1)[-1].upper()
        if name == "UID":
            uid = value
        elif name == "EMAIL":
            emails.add(value.strip().lower())
    return Edited(Path(unquote(urlsplit(where).path)), uid, frozenset(emails))


def edit_on_server(http: httpx.Client, url: str, fraction: float, seed: int) -> list[Edited]:
    """As another client: change the TITLE of ``fraction`` of the book's cards to
    ``bench edit <seed>-<k>``, each with a GET and a PUT with If-Match on its etag."""
    members = sorted(book_etags(http, url))
    rng = random.Random(f"server edit:{seed}")
    picked = rng.sample(members, round(len(members) * fraction))
    edited = []
    for number, href in enumerate(picked):
        answer = http.get(href)
        answer.raise_for_status()
        etag = answer.headers["etag"]
        lines = unfold(answer.text)
        marker = f"TITLE:bench edit {seed}-{number}"
        title = [i for i, line in enumerate(lines) if re.match(r"(?i)^([^:;]*\.)?TITLE[:;]", line)]
        if title:
            lines[title[0]] = marker
        else:
            lines.insert(next(i for i, x in enumerate(lines) if x.upper() == "END:VCARD"), marker)
        text = "".join(fold(line) for line in lines)
        put = http.put(href, content=text.encode(), headers={**VCARD, "If-Match": etag})
        if put.status_code not in (200, 201, 204):
            raise RuntimeError(f"PUT {href}: {put.status_code} {put.text[:300]}")
        edited.append(identity(href, lines))
    return edited


def count_marker(folder: Path, marker: str) -> int:
    """How many .vcf files of ``folder`` contain ``marker`` (after unfolding)."""
    needle = marker.encode()
    found = 0
    for path in folder.glob("*.vcf"):
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n ", b"")
        found += needle in raw
    return found


def count_vcf(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.vcf"))


# ---------------------------------------------------------------------------
# The two tools
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    """One timed sync: the process's figures and the requests it sent."""

    run: Measure
    requests: list[Request]
    edits: str = ""  # the sanity count: cards in the book, or edits that arrived

    @property
    def server_s(self) -> float:
        return sum(request.upstream_s for request in self.requests)

    def by_method(self) -> str:
        counts = Counter(request.label for request in self.requests)
        return ", ".join(f"{count} {label}" for label, count in counts.most_common())

    def statuses(self) -> str:
        counts = Counter(request.status for request in self.requests)
        return ", ".join(f"{status}: {count}" for status, count in sorted(counts.items()))


@dataclass(slots=True)
class Tool:
    """One sync tool, its work dir and its own proxy in front of Radicale."""

    name: str
    short: str  # in book names and the table
    root: Path
    proxy: CountingProxy
    env: dict[str, str]
    timeout: float
    command: list[str]  # ours: the CLI; vdirsyncer: its executable
    results: dict[str, Result] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def run(
        self, command: Sequence[str], log: Path, stdin: str = ""
    ) -> tuple[Measure, list[Request]]:
        """Run one command; its figures and the requests it sent."""
        self.proxy.take()
        result = measure(command, log, self.env, self.timeout, stdin)
        return result, self.proxy.take()

    def setup(self, job: Path, folder: Path, book_url: str) -> list[str]:
        """Pair ``folder`` with the book (through the proxy), untimed; return the sync command."""
        url = self.proxy.rebase(book_url)
        if self.short == "ours":
            base = [*self.command, "--profile", str(job / "profile")]
            command = [*base, "connect", "bench", "--a", f"vcard:{folder}", "--b", f"carddav:{url}"]
            sync = [*base, "sync", "bench"]
            answers = ""
        else:
            config = job / "config"
            config.write_text(vdirsyncer_config(job, folder, url), "utf-8")
            command = [*self.command, "-c", str(config), "discover"]
            sync = [*self.command, "-c", str(config), "sync"]
            answers = "y\n" * 20  # discover's prompts
        result, requests = self.run(command, job / "logs" / "setup.log", stdin=answers)
        write_requests(job / "logs" / "setup.requests", requests)
        if not result.ok:
            raise SetupError(f"`{shlex.join(command)}` failed (exit {result.returncode})", result)
        return sync

    def timed(self, scenario: str, job: Path, sync: Sequence[str]) -> Result | None:
        """Run one timed sync, keep and print its figures; None if it failed."""
        settle()
        label = scenario.replace(" ", "-").replace("%", "pc")
        run, requests = self.run(sync, job / "logs" / f"{label}.log")
        write_requests(job / "logs" / f"{label}.requests", requests)
        result = Result(run, requests)
        status = "ok" if run.ok else ("TIMED OUT" if run.timed_out else "FAILED")
        print(
            f"  {scenario:<16} {run.wall_s:7.2f} s {len(requests):6d} requests "
            f"({result.by_method()}; status {result.statuses()}) "
            f"Radicale {result.server_s:.2f} s, {run.peak_mb:.0f} MB  {status}",
            flush=True,
        )
        if not run.ok:
            self.notes.append(f"{scenario}: sync failed (exit {run.returncode}), see {run.log}")
            print(tail(run.log), flush=True)
            return None
        self.results[scenario] = result
        return result


def vdirsyncer_config(job: Path, folder: Path, url: str) -> str:
    """The folder (a) paired with the address book (b) directly, no collections, a wins."""
    quote = json.dumps
    return f"""[general]
status_path = {quote(str(job / "status") + "/")}

[pair bench]
a = "bench_folder"
b = "bench_book"
collections = null
conflict_resolution = "a wins"

[storage bench_folder]
type = "filesystem"
path = {quote(str(folder) + "/")}
fileext = ".vcf"

[storage bench_book]
type = "carddav"
url = {quote(url)}
"""


def write_requests(path: Path, requests: Sequence[Request]) -> None:
    """Every request of one command, one a line (method, status, Radicale's ms, path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{r.label}{f' ({r.hrefs} hrefs)' if r.hrefs else ''} {r.status} "
        f"{r.upstream_s * 1000:.1f} ms {r.path}"
        for r in requests
    ]
    path.write_text("".join(line + "\n" for line in lines), "utf-8")


class SetupError(Exception):
    """A tool could not be set up; carries the failed run for its log."""

    def __init__(self, message: str, result: Measure) -> None:
        super().__init__(message)
        self.result = result


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


def first_sync(tool: Tool, http: httpx.Client, server: Radicale, source: Path, n: int) -> None:
    """A folder of ``n`` contacts into an empty address book."""
    job = tool.root / "first"
    folder = job / "folder"
    shutil.copytree(source, folder)
    book = f"{server.home_url}{tool.short}-first/"
    make_book(http, book)
    sync = tool.setup(job, folder, book)
    result = tool.timed("first sync", job, sync)
    if result is not None:
        cards = len(book_etags(http, book))
        result.edits = f"cards {cards}/{n}"
        print(f"  the book holds {cards} cards, the folder {count_vcf(folder)} files")


def book_syncs(
    tool: Tool, http: httpx.Client, server: Radicale, cards: list[str], seed: int
) -> None:
    """On a book of ``len(cards)``: first sync into an empty folder (untimed), then nothing
    changed, then 1% edits on each side."""
    job = tool.root / "book"
    folder = job / "folder"
    folder.mkdir(parents=True)
    book = f"{server.home_url}{tool.short}-book/"
    make_book(http, book)
    began = time.perf_counter()
    fill_book(http, book, cards)
    filled = time.perf_counter()
    prime_history(http, book)
    print(
        f"  filled {book} with {len(cards)} cards in one PUT ({filled - began:.1f} s), then "
        f"one sync-collection to prime Radicale's history ({time.perf_counter() - filled:.1f} s)"
    )
    sync = tool.setup(job, folder, book)
    settle()
    run, requests = tool.run(sync, job / "logs" / "download.log")
    write_requests(job / "logs" / "download.requests", requests)
    print(
        f"  (untimed) first sync from the book: {run.wall_s:.2f} s, {len(requests)} requests, "
        f"{run.peak_mb:.0f} MB, {count_vcf(folder)} files in the folder",
        flush=True,
    )
    if not run.ok:
        tool.notes.append(f"first sync from the book failed (exit {run.returncode}), see {run.log}")
        print(tail(run.log), flush=True)
        return
    if tool.timed("nothing changed", job, sync) is None:
        return
    began = time.perf_counter()
    on_server = edit_on_server(http, book, EDIT_FRACTION, seed + 1)
    in_folder = edit_fraction(folder, EDIT_FRACTION, seed + 2, exclude=on_server)
    print(
        f"  edited {len(on_server)} cards on the server, {len(in_folder)} other contacts in the "
        f"folder ({time.perf_counter() - began:.1f} s)"
    )
    result = tool.timed("1% edits", job, sync)
    if result is None:
        return
    to_folder = count_marker(folder, f"bench edit {seed + 1}-")
    to_server = book_text(http, book).count(f"bench edit {seed + 2}-")
    result.edits = (
        f"server→folder {to_folder}/{len(on_server)}, folder→server {to_server}/{len(in_folder)}"
    )
    print(f"  edits propagated: {result.edits}")


def run_tool(
    tool: Tool, server: Radicale, first_source: Path, n_first: int, cards: list[str], seed: int
) -> None:
    print(f"\n== {tool.name} ==", flush=True)
    with httpx.Client(timeout=600) as http:
        try:
            first_sync(tool, http, server, first_source, n_first)
            book_syncs(tool, http, server, cards, seed)
        except SetupError as error:
            tool.notes.append(f"setup failed: {error}")
            print(f"  setup failed: {error}\n{tail(error.result.log)}", flush=True)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def goal(scenario: str, ours: Result | None, theirs: Result | None) -> str:
    """Our goals beside the figures: requests <= vdirsyncer's; nothing changed < 0.3 s."""
    verdicts = []
    if ours is not None and theirs is not None:
        fewer = len(ours.requests) <= len(theirs.requests)
        verdicts.append(f"requests <= vds: {'met' if fewer else 'MISSED'}")
    else:
        verdicts.append("requests <= vds: no figure")
    if scenario == "nothing changed":
        if ours is None:
            verdicts.append(f"< {TARGET_NOTHING_CHANGED_S} s: no figure")
        else:
            fast = ours.run.wall_s < TARGET_NOTHING_CHANGED_S
            verdicts.append(f"< {TARGET_NOTHING_CHANGED_S} s: {'met' if fast else 'MISSED'}")
    return "; ".join(verdicts)


def print_table(ours: Tool | None, theirs: Tool | None, n_first: int, n_book: int) -> None:
    header = ["scenario", "ours s", "vds s", "ours/vds", "ours req", "vds req"]
    header += ["ours MB", "vds MB", "ours: arrived", "vds: arrived", "goals"]
    rows = [header]
    for scenario in SCENARIOS:
        mine = ours.results.get(scenario) if ours else None
        other = theirs.results.get(scenario) if theirs else None

        def cell(result: Result | None, what: str) -> str:
            if result is None:
                return "-"
            if what == "s":
                return f"{result.run.wall_s:.2f}"
            if what == "req":
                return str(len(result.requests))
            if what == "MB":
                return f"{result.run.peak_mb:.0f}"
            return result.edits or "-"

        ratio = f"{mine.run.wall_s / other.run.wall_s:.2f}" if mine and other else "-"
        rows.append(
            [
                scenario,
                cell(mine, "s"),
                cell(other, "s"),
                ratio,
                cell(mine, "req"),
                cell(other, "req"),
                cell(mine, "MB"),
                cell(other, "MB"),
                cell(mine, "edits"),
                cell(other, "edits"),
                goal(scenario, mine, other),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(
        f"\n== results: first sync of {n_first:,} contacts; book of {n_book:,} "
        "(vds = vdirsyncer, req = HTTP requests, MB = 10^6 bytes of peak RSS) =="
    )
    left = (0, 8, 9, 10)
    for position, row in enumerate(rows):
        print(
            "  ".join(
                c.ljust(w) if i in left else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if position == 0:
            print("  ".join("-" * width for width in widths))
    print("\nrequests by method, and Radicale's time (sum of its answer times):")
    for scenario in SCENARIOS:
        for tool in (ours, theirs):
            result = tool.results.get(scenario) if tool else None
            if tool is not None and result is not None:
                print(
                    f"  {scenario:<16} {tool.short:<5} {result.by_method()}; "
                    f"Radicale {result.server_s:.2f} s of {result.run.wall_s:.2f} s"
                )
    for tool in (ours, theirs):
        for note in tool.notes if tool else ():
            print(f"{tool.name}: {note}")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n-first", type=int, default=1000, help="contacts of the first sync (default 1000)"
    )
    parser.add_argument("--n-book", type=int, default=5000, help="cards of the book (default 5000)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--workdir", type=Path, help="work dir (default bench/work/carddav)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument("--skip-ours", action="store_true", help="do not run piesync-desktop")
    parser.add_argument("--skip-vdirsyncer", action="store_true", help="do not run vdirsyncer")
    parser.add_argument(
        "--ours", default=str(DEFAULT_OURS), help=f"our CLI command (default {DEFAULT_OURS})"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds before a command is killed"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    workdir = (args.workdir or BENCH / "work" / "carddav").resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    env = bench_env(workdir)
    env["PIESYNC_HTTP_TIMEOUT"] = HTTP_TIMEOUT
    env.pop("PIESYNC_CARDDAV_PASSWORD", None)
    first_source = workdir / "source-first"
    generate(first_source, args.n_first, args.seed)
    book_source = workdir / "source-book"
    generate(book_source, args.n_book, args.seed + 100)
    cards = [path.read_text("utf-8") for path in sorted(book_source.glob("*.vcf"))]
    print(f"generated {args.n_first:,} + {args.n_book:,} contacts in {workdir}", flush=True)
    server = Radicale(workdir / "radicale")
    print(f"Radicale at {server.base_url} (storage and log in {server.root})", flush=True)
    tools: dict[str, Tool | None] = {"ours": None, "vds": None}
    try:
        if not args.skip_ours:
            command = shlex.split(args.ours)
            problem = ours_answers(command, env)
            if problem:
                print(f"piesync-desktop will not be measured: {problem}", flush=True)
            else:
                proxy = CountingProxy(server.base_url)
                root = workdir / "ours"
                tools["ours"] = Tool(
                    "piesync-desktop", "ours", root, proxy, env, args.timeout, command
                )
        if not args.skip_vdirsyncer:
            command = [str(ensure_vdirsyncer())]
            proxy = CountingProxy(server.base_url)
            root = workdir / "vdirsyncer"
            tools["vds"] = Tool("vdirsyncer", "vds", root, proxy, env, args.timeout, command)
        for tool in tools.values():
            if tool is not None:
                run_tool(tool, server, first_source, args.n_first, cards, args.seed)
        print_table(tools["ours"], tools["vds"], args.n_first, args.n_book)
    finally:
        for tool in tools.values():
            if tool is not None:
                tool.proxy.close()
        server.stop()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
