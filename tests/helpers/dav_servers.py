"""Real CardDAV servers (Radicale, Xandikos) started on loopback by the tests themselves, so the
CardDAV connector is tested against what real servers answer rather than against our own idea
of the protocol.

Discovery, as probed on Radicale 3.9.0 and Xandikos 0.4.10 (the principal is "alice"):
- Radicale: `/.well-known/carddav` answers 301 to `/` (with or without auth). A PROPFIND that asks
  for current-user-principal without credentials gets 401 + a Basic challenge even with auth none;
  with Basic credentials (auth none takes any name and password) `/` names `/<user>/`, which is
  its own addressbook-home-set (books are `/alice/<book>/`). With auth none, other anonymous
  requests under `/alice/` work (start_radicale creates `/alice/` for that).
- Xandikos: `/.well-known/carddav` answers 302 to `/`; without any auth `/` names `/alice/` (from
  --current-user-principal), whose addressbook-home-set is `/alice/contacts/`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal
from urllib.parse import quote, urljoin
from xml.etree import ElementTree as ET

import httpx
import trustme

USER = "alice"
PASSWORD = "s3cret pass"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

DAV = "DAV:"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
XML = {"Content-Type": "application/xml; charset=utf-8"}

MKCOL_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>{displayname}</D:displayname>
  </D:prop></D:set>
</D:mkcol>"""

PROPPATCH_DISPLAYNAME = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:">
  <D:set><D:prop><D:displayname>{displayname}</D:displayname></D:prop></D:set>
</D:propertyupdate>"""

PROPFIND_DEPTH1 = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:displayname/><D:getetag/></D:prop>
</D:propfind>"""


def fresh_name(prefix: str = "book") -> str:
    """A collection name no other test uses (for servers shared by several tests)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def card_uid(card: str) -> str | None:
    """The UID of one vCard's text (unfolded), or None."""
    unfolded = re.sub(r"\r?\n[ \t]", "", card)
    match = re.search(r"^UID(?:;[^:\r\n]*)?:(.*?)\r?$", unfolded, re.MULTILINE | re.IGNORECASE)
    return match.group(1).strip() if match else None


def card_href(card: str) -> str:
    """The resource name a card is PUT under: its UID (percent-encoded) with `.vcf`."""
    uid = card_uid(card) or uuid.uuid4().hex
    return quote(uid, safe="") + ".vcf"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DavServer:
    """A CardDAV server process on 127.0.0.1 and the URLs a test needs to use it."""

    name: Literal["radicale", "xandikos"]
    base_url: str  # "http://127.0.0.1:PORT/"
    principal_url: str  # current-user-principal of USER, absolute
    home_url: str  # its addressbook-home-set, absolute, where make_addressbook creates books
    username: str | None
    password: str | None
    storage: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)
    command: list[str] = field(default_factory=list, repr=False)  # how it was started
    ca_file: Path | None = None  # the certificate authority of a TLS server, as PEM

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    def client(self, **options: object) -> httpx.Client:
        """An httpx client with this server's credentials (if any) and a short timeout."""
        options.setdefault("timeout", 10.0)
        if self.ca_file is not None:
            options.setdefault("verify", ssl.create_default_context(cafile=str(self.ca_file)))
        return httpx.Client(auth=self.auth, **options)  # type: ignore[arg-type]

    def addressbook_url(self, name: str) -> str:
        return self.home_url + quote(name, safe="") + "/"

    def make_addressbook(self, name: str, displayname: str | None = None) -> str:
        """Create an address book (extended MKCOL, RFC 5689 / RFC 6352 §6.3.1); its URL."""
        url = self.addressbook_url(name)
        body = MKCOL_BODY.format(displayname=xml_escape(displayname or name))
        with self.client() as http:
            answer = http.request("MKCOL", url, content=body.encode(), headers=XML)
        if answer.status_code != 201:
            raise RuntimeError(f"MKCOL {url}: {answer.status_code} {answer.text[:500]}")
        return url

    def hrefs(self, book_url: str) -> dict[str, str]:
        """The members of a book (hrefs as the server writes them) with their etags."""
        with self.client() as http:
            answer = http.request(
                "PROPFIND",
                book_url,
                content=PROPFIND_DEPTH1.encode(),
                headers={**XML, "Depth": "1"},
            )
        if answer.status_code != 207:
            raise RuntimeError(f"PROPFIND {book_url}: {answer.status_code} {answer.text[:500]}")
        found: dict[str, str] = {}
        for response in ET.fromstring(answer.content).iter(f"{{{DAV}}}response"):
            href = response.findtext(f"{{{DAV}}}href") or ""
            etag = response.findtext(f".//{{{DAV}}}getetag")
            if etag and urljoin(book_url, href).rstrip("/") != book_url.rstrip("/"):
                found[href] = etag
        return found

    def put_many(self, book_url: str, cards: list[str]) -> None:
        """Add cards to a book quickly, each under `<UID>.vcf`.

        On Radicale an empty book is filled with one PUT of all cards to the collection (which
        replaces the collection, so its displayname is set again afterwards); a book that holds
        cards already gets one PUT per card, as on Xandikos.
        """
        if not cards:
            return
        with self.client(timeout=60.0) as http:
            if self.name == "radicale" and not self.hrefs(book_url):
                displayname = self._displayname(http, book_url)
                answer = http.put(
                    book_url,
                    content="".join(_crlf_ended(card) for card in cards).encode(),
                    headers={"Content-Type": "text/vcard; charset=utf-8"},
                )
                if answer.status_code not in (200, 201, 204):
                    raise RuntimeError(f"PUT {book_url}: {answer.status_code} {answer.text[:500]}")
                if displayname:
                    body = PROPPATCH_DISPLAYNAME.format(displayname=xml_escape(displayname))
                    http.request("PROPPATCH", book_url, content=body.encode(), headers=XML)
                return
            for card in cards:
                url = book_url + card_href(card)
                answer = http.put(
                    url,
                    content=_crlf_ended(card).encode(),
                    headers={"Content-Type": "text/vcard; charset=utf-8", "If-None-Match": "*"},
                )
                if answer.status_code not in (201, 204):
                    raise RuntimeError(f"PUT {url}: {answer.status_code} {answer.text[:500]}")

    def _displayname(self, http: httpx.Client, url: str) -> str | None:
        body = '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>'
        answer = http.request("PROPFIND", url, content=body.encode(), headers={**XML, "Depth": "0"})
        if answer.status_code != 207:
            return None
        return ET.fromstring(answer.content).findtext(f".//{{{DAV}}}displayname")

    def stop(self) -> None:
        """Terminate the server and wait for it (bounded; killed if it does not go)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Start the server again on the same port and storage (after ``stop``)."""
        self.stop()
        self.process, self._log = _spawn(self.command, self.log_path)
        _wait_ready(self.process, self.base_url, self.log_path, self.name)

    def __enter__(self) -> DavServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _crlf_ended(card: str) -> str:
    return card if card.endswith("\n") else card + "\r\n"


def _spawn(command: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RADICALE")}
    log = log_path.open("ab")
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=log_path.parent,
    )
    return process, log


def _wait_ready(process: subprocess.Popen[bytes], url: str, log_path: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=0.5, verify=False) as http:  # only "does it answer yet"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                http.get(url)
                return
            time.sleep(0.02)
    if process.poll() is None:
        process.kill()
        process.wait(STOP_TIMEOUT)
        reason = f"did not answer within {START_TIMEOUT:.0f} s"
    else:
        reason = f"exited with code {process.returncode}"
    output = log_path.read_text(errors="replace")[-4000:]
    raise RuntimeError(f"{what} {reason}; its output:\n{output}")


def _start(
    what: str,
    tmp: Path,
    command_for_port: Callable[[int], list[str]],
    log_name: str,
    scheme: str = "http",
) -> tuple[int, subprocess.Popen[bytes], IO[bytes], Path]:
    """Start a server on a free port; another process may take the port between our probe and
    the server's bind, so a server that exits at once is tried again on another port."""
    log_path = tmp / log_name
    for attempt in range(3):
        port = free_port()
        process, log = _spawn(command_for_port(port), log_path)
        try:
            _wait_ready(process, f"{scheme}://127.0.0.1:{port}/", log_path, what)
        except RuntimeError:
            log.close()
            if attempt == 2 or "in use" not in log_path.read_text(errors="replace"):
                raise
            continue
        return port, process, log, log_path
    raise AssertionError("unreachable")


def start_radicale(tmp: Path, *, auth: bool = False, tls: trustme.CA | None = None) -> DavServer:
    """Radicale with its own config file and storage under `tmp` (the user's config is never
    read: `--config FILE` replaces /etc/radicale/config and ~/.config/radicale/config).

    auth False: auth type none (any user, any password; anonymous requests reach /alice/...).
    auth True: htpasswd, plain, alice / "s3cret pass" (Basic only).
    tls: serve https with a certificate for 127.0.0.1 issued by this throwaway authority.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    storage = tmp / "storage"
    config = tmp / "radicale.conf"
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text(f"{USER}:{PASSWORD}\n")
    ssl_section = ""
    ca_file: Path | None = None
    if tls is not None:
        certificate = tls.issue_cert("127.0.0.1", "localhost")
        certificate.cert_chain_pems[0].write_to_path(str(tmp / "server.pem"))
        certificate.private_key_pem.write_to_path(str(tmp / "server.key"))
        ca_file = tmp / "ca.pem"
        tls.cert_pem.write_to_path(str(ca_file))
        ssl_section = (
            f"ssl = True\ncertificate = {tmp / 'server.pem'}\nkey = {tmp / 'server.key'}\n"
        )

    def command(port: int) -> list[str]:
        auth_section = (
            f"type = htpasswd\nhtpasswd_filename = {htpasswd}\nhtpasswd_encryption = plain\n"
            if auth
            else "type = none\n"
        )
        # delay / delay_on_error: Radicale sleeps 1 s after a wrong password and after each
        # 5xx by default, which only slows tests down.
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{port}\ndelay_on_error = 0\n{ssl_section}"
            f"[auth]\n{auth_section}delay = 0\n"
            f"[storage]\nfilesystem_folder = {storage}\n"
            "[web]\ntype = none\n"
            "[logging]\nlevel = info\n"
        )
        # Relative: Radicale splits --config on os.pathsep, so an absolute path with ":" breaks.
        return [sys.executable, "-m", "radicale", "--config", config.name]

    scheme = "https" if tls is not None else "http"
    port, process, log, log_path = _start("Radicale", tmp, command, "radicale.log", scheme)
    started_with = command(port)
    base = f"{scheme}://127.0.0.1:{port}/"
    server = DavServer(
        name="radicale",
        base_url=base,
        principal_url=f"{base}{USER}/",
        home_url=f"{base}{USER}/",
        username=USER if auth else None,
        password=PASSWORD if auth else None,
        storage=storage,
        log_path=log_path,
        process=process,
        _log=log,
        command=started_with,
        ca_file=ca_file,
    )
    try:
        with server.client() as http:
            if auth:
                # An authenticated request makes Radicale create the user's principal.
                answer = http.request("PROPFIND", server.principal_url, headers={"Depth": "0"})
                ok = answer.status_code == 207
            else:
                answer = http.request("MKCOL", server.principal_url)
                ok = answer.status_code in (201, 405)
            if not ok:
                raise RuntimeError(f"Radicale principal: {answer.status_code} {answer.text}")
    except BaseException:
        server.stop()
        raise
    return server


def start_xandikos(tmp: Path) -> DavServer:
    """Xandikos (no auth: it only does Basic over its own TLS) with storage under `tmp`,
    principal /alice/ and the default books made by --defaults."""
    tmp.mkdir(parents=True, exist_ok=True)
    storage = tmp / "storage"

    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "xandikos",
            "serve",
            "--defaults",
            "-d",
            str(storage),
            "-l",
            "127.0.0.1",
            "-p",
            str(port),
            f"--current-user-principal=/{USER}/",
            "--no-detect-systemd",
            "--state-dir",
            str(tmp / "state"),
        ]

    port, process, log, log_path = _start("Xandikos", tmp, command, "xandikos.log")
    started_with = command(port)
    base = f"http://127.0.0.1:{port}/"
    return DavServer(
        name="xandikos",
        base_url=base,
        principal_url=f"{base}{USER}/",
        home_url=f"{base}{USER}/contacts/",
        username=None,
        password=None,
        storage=storage,
        log_path=log_path,
        process=process,
        _log=log,
        command=started_with,
    )
