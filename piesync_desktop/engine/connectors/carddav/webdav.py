"""The WebDAV and CardDAV requests the connector makes (RFC 4918, 6352, 6578), and their answers.

One :class:`DavClient` per connector run: PROPFIND, REPORT (sync-collection, addressbook-multiget),
GET, PUT with ``If-None-Match: *`` or ``If-Match``, DELETE. Multi-status bodies are parsed into
:class:`DavResponse` values. Statuses that stop the whole side (a refused password, a missing
address book, a server error, throttling) become the person's errors here, once; statuses that
concern one card (412, 4xx on a PUT) are returned for the connector to decide.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

from piesync_desktop.engine.connectors.http import (
    HttpSettings,
    ServerAuth,
    host_of,
    make_client,
    send_with_throttling,
    transport_error,
)
from piesync_desktop.engine.errors import AuthExpired, ConnectorError, TransientError

DAV = "DAV:"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CALSERVER = "http://calendarserver.org/ns/"
VCARD_TYPE = "text/vcard; charset=utf-8"
_HREF_SAFE = "/@:+,;=!$&'()*~"


class CollectionProblem(ConnectorError):
    """An address (not the server) that cannot be used: missing, refused, or not WebDAV."""

    def __init__(self, message: str, title: str | None = None, status: int | None = None) -> None:
        super().__init__(message, title)
        self.status = status


def tag(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")


def prop_body(*props: str, method: str = "propfind") -> bytes:
    """A PROPFIND body asking for ``props`` (Clark names, ``{ns}name``)."""
    root = ET.Element(tag(DAV, method))
    wanted = ET.SubElement(root, tag(DAV, "prop"))
    for name in props:
        ET.SubElement(wanted, name)
    return _xml(root)


def sync_collection_body(token: str | None) -> bytes:
    root = ET.Element(tag(DAV, "sync-collection"))
    ET.SubElement(root, tag(DAV, "sync-token")).text = token or ""
    ET.SubElement(root, tag(DAV, "sync-level")).text = "1"
    wanted = ET.SubElement(root, tag(DAV, "prop"))
    ET.SubElement(wanted, tag(DAV, "getetag"))
    return _xml(root)


def multiget_body(hrefs: Iterable[str]) -> bytes:
    root = ET.Element(tag(CARDDAV, "addressbook-multiget"))
    wanted = ET.SubElement(root, tag(DAV, "prop"))
    ET.SubElement(wanted, tag(DAV, "getetag"))
    ET.SubElement(wanted, tag(CARDDAV, "address-data"))
    for href in hrefs:
        ET.SubElement(root, tag(DAV, "href")).text = href
    return _xml(root)


def normalize_href(href: str) -> str:
    """The path of an href, percent-encoded one way whatever way the server wrote it."""
    path = urlsplit(href).path if "://" in href else href
    return quote(unquote(path), safe=_HREF_SAFE)


@dataclass(slots=True)
class DavResponse:
    """One ``<response>`` of a multi-status: its href, status, and the properties found."""

    href: str
    status: int = 200
    props: dict[str, ET.Element] = field(default_factory=dict)

    def text(self, name: str) -> str:
        element = self.props.get(name)
        return (element.text or "").strip() if element is not None else ""

    def hrefs(self, name: str) -> list[str]:
        element = self.props.get(name)
        if element is None:
            return []
        return [(h.text or "").strip() for h in element.iter(tag(DAV, "href")) if h.text]

    def has(self, name: str, child: str) -> bool:
        element = self.props.get(name)
        return element is not None and element.find(child) is not None

    @property
    def etag(self) -> str:
        return self.text(tag(DAV, "getetag"))


@dataclass(slots=True)
class MultiStatus:
    """A 207 Multi-Status answer: its responses, and the sync token of a sync-collection."""

    responses: list[DavResponse]
    sync_token: str = ""


def _status_code(element: ET.Element | None) -> int | None:
    if element is None or not element.text:
        return None
    parts = element.text.split()
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def parse_multistatus(body: bytes, what: str) -> MultiStatus:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise CollectionProblem(
            f"The server's answer to {what} is not valid XML ({exc}). It may not be a CardDAV "
            "server: check the address."
        ) from exc
    responses = []
    for node in root.iter(tag(DAV, "response")):
        href = (node.findtext(tag(DAV, "href")) or "").strip()
        response = DavResponse(
            normalize_href(href), _status_code(node.find(tag(DAV, "status"))) or 200
        )
        for propstat in node.iter(tag(DAV, "propstat")):
            prop_status = _status_code(propstat.find(tag(DAV, "status"))) or 200
            prop = propstat.find(tag(DAV, "prop"))
            if prop is None or prop_status >= 300:
                continue
            for child in prop:
                response.props[child.tag] = child
        responses.append(response)
    token = (root.findtext(tag(DAV, "sync-token")) or "").strip()
    return MultiStatus(responses, token)


class SyncTokenInvalid(Exception):
    """The server no longer knows the sync token we kept (RFC 6578 3.2): list everything again."""


@dataclass(frozen=True, slots=True)
class PutAnswer:
    """What a server answered to a PUT: its status, the new etag, and its words if it refused."""

    status: int
    etag: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class DavClient:
    """Requests to one server as one user, with the person's errors for what stops a run."""

    def __init__(
        self,
        username: str,
        password: str | None,
        settings: HttpSettings | None = None,
        *,
        preemptive: bool = False,
    ) -> None:
        self.settings = settings or HttpSettings.from_env()
        self.username = username
        auth = ServerAuth(username, password, preemptive) if password is not None else None
        self.http = make_client(self.settings, auth)
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    # -- sending ------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        what: str = "",
    ) -> httpx.Response:
        """One request; a transport failure, 401, throttling or a 5xx raise here."""
        what = what or f"{method} {url}"

        def attempt() -> httpx.Response:
            self.requests += 1
            try:
                return self.http.request(method, url, content=body, headers=headers)
            except httpx.TransportError as exc:
                raise transport_error(exc, url, self.settings) from exc

        response = send_with_throttling(attempt, self.settings, host_of(url))
        if response.status_code == 401:
            host = host_of(url)
            if not self.username:
                raise AuthExpired(
                    f"{host} wants a user name and password: write the address as "
                    "https://USER@HOST/PATH/ and give the password."
                )
            raise AuthExpired(
                f"{host} refused the user name or password of {self.username}. "
                + (
                    "Check them"
                    if self.settings.setup
                    else "Give the password again (Edit the connection, or connect again from "
                    "the command line)"
                )
                + "; iCloud and Fastmail want an app password, not your main one."
            )
        if response.status_code >= 500:
            raise TransientError(
                f"{host_of(url)} answered {response.status_code} {response.reason_phrase} to "
                f"{what}. {self.settings.then}",
                title="Server error",
            )
        return response

    def _collection_problem(
        self, response: httpx.Response, url: str, what: str
    ) -> CollectionProblem:
        host = host_of(url)
        if response.status_code == 404:
            return CollectionProblem(
                f"There is no address book at {url}: it may have been deleted or moved. Pick the "
                "address book again.",
                title="Address book not found",
                status=404,
            )
        if response.status_code == 403:
            return CollectionProblem(
                f"{host} does not let {self.username} read {url}. Check that this account owns "
                "the address book or was given access to it.",
                title="Access refused",
                status=403,
            )
        return CollectionProblem(
            f"{host} answered {response.status_code} {response.reason_phrase} to {what}: it may "
            "not be a CardDAV server. Check the address.",
            status=response.status_code,
        )

    # -- methods ------------------------------------------------------------------------------

    def propfind(self, url: str, props: Sequence[str], depth: str = "0") -> MultiStatus:
        what = f"a listing of {url}"
        response = self.send(
            "PROPFIND",
            url,
            body=prop_body(*props),
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            what=what,
        )
        if response.status_code != 207:
            raise self._collection_problem(response, url, what)
        return parse_multistatus(response.content, what)

    def report(self, url: str, body: bytes, depth: str = "1", what: str = "") -> MultiStatus:
        what = what or f"a report on {url}"
        response = self.send(
            "REPORT",
            url,
            body=body,
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            what=what,
        )
        if response.status_code != 207:
            raise self._collection_problem(response, url, what)
        return parse_multistatus(response.content, what)

    def sync_collection(self, url: str, token: str | None) -> MultiStatus:
        try:
            return self.report(url, sync_collection_body(token), what=f"the changes of {url}")
        except CollectionProblem as exc:
            # RFC 6578 says 403 or 409 with DAV:valid-sync-token; Xandikos answers 412. Any
            # refusal of a token we sent is worth one full listing (which fails on its own).
            if token and exc.status not in (404, None):
                raise SyncTokenInvalid from exc
            raise

    def multiget(self, url: str, hrefs: Sequence[str]) -> MultiStatus:
        return self.report(url, multiget_body(hrefs), what=f"the contacts of {url}")

    def get(self, url: str) -> tuple[int, str, str]:
        """(status, text, etag) of one resource."""
        response = self.send("GET", url, what=f"reading {url}")
        return response.status_code, response.text, response.headers.get("etag", "")

    def put(
        self, url: str, text: str, *, etag: str | None = None, create: bool = False
    ) -> PutAnswer:
        headers = {"Content-Type": VCARD_TYPE}
        if create:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag
        response = self.send("PUT", url, body=text.encode(), headers=headers, what=f"saving {url}")
        message = "" if response.is_success else _short_message(response)
        return PutAnswer(response.status_code, response.headers.get("etag", ""), message)

    def delete(self, url: str, etag: str | None = None) -> PutAnswer:
        headers = {"If-Match": etag} if etag else {}
        response = self.send("DELETE", url, headers=headers, what=f"deleting {url}")
        message = "" if response.is_success else _short_message(response)
        return PutAnswer(response.status_code, "", message)

    def absolute(self, base: str, href: str) -> str:
        return urljoin(base, href)


def _short_message(response: httpx.Response) -> str:
    """The server's own words on a refused write, shortened to one line."""
    text = " ".join(response.text.split())
    if text.startswith("<"):  # an XML error body: keep the condition's name
        try:
            root = ET.fromstring(response.content)
            names = [child.tag.rpartition("}")[2] for child in root]
            text = ", ".join(names)
        except ET.ParseError:
            text = ""
    text = text[:200]
    head = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return f"{head}: {text}" if text else head
