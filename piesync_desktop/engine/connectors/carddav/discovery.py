"""Finding a person's address books from what they know: a server address, a user, a password.

RFC 6764 and RFC 6352 section 7: the address itself when it is an address book, else the
principal (``current-user-principal``, asked of the address and of ``/.well-known/carddav``),
its ``addressbook-home-set``, and the address books in there. Each step that finds nothing
falls through to the next; only when none finds an address book does the person read why.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from piesync_desktop.engine.connectors.carddav.location import CardDavLocation, is_loopback
from piesync_desktop.engine.connectors.carddav.webdav import (
    CALSERVER,
    CARDDAV,
    DAV,
    CollectionProblem,
    DavClient,
    DavResponse,
    tag,
)
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.errors import ConnectorError

RESOURCETYPE = tag(DAV, "resourcetype")
DISPLAYNAME = tag(DAV, "displayname")
DESCRIPTION = tag(CARDDAV, "addressbook-description")
SUPPORTED_REPORTS = tag(DAV, "supported-report-set")
PRINCIPAL = tag(DAV, "current-user-principal")
HOME_SET = tag(CARDDAV, "addressbook-home-set")
GETCTAG = tag(CALSERVER, "getctag")
SYNC_TOKEN = tag(DAV, "sync-token")
BOOK_PROPS = (RESOURCETYPE, DISPLAYNAME, DESCRIPTION, SUPPORTED_REPORTS, GETCTAG, SYNC_TOKEN)


@dataclass(frozen=True, slots=True)
class AddressBook:
    """One address book the user can sync, as the wizard lists it."""

    url: str
    name: str
    description: str = ""
    sync_collection: bool = False  # the server offers RFC 6578 changes for it


def is_address_book(response: DavResponse) -> bool:
    return response.has(RESOURCETYPE, tag(CARDDAV, "addressbook"))


def offers_sync_collection(response: DavResponse) -> bool:
    reports = response.props.get(SUPPORTED_REPORTS)
    return reports is not None and reports.find(f".//{tag(DAV, 'sync-collection')}") is not None


def address_book_of(response: DavResponse, base: str) -> AddressBook:
    url = urljoin(base, response.href)
    if not url.endswith("/"):
        url += "/"
    name = response.text(DISPLAYNAME) or urlsplit(url).path.rstrip("/").rpartition("/")[2]
    return AddressBook(url, name, response.text(DESCRIPTION), offers_sync_collection(response))


def client_for(
    location: CardDavLocation, password: str | None, settings: HttpSettings | None = None
) -> DavClient:
    parts = urlsplit(location.url)
    preemptive = parts.scheme == "https" or is_loopback(parts.hostname or "")
    return DavClient(location.username, password or None, settings, preemptive=preemptive)


def login_user(server: str, username: str) -> str:
    """The user a search reads as: the one typed, else the one written in the server address."""
    return username.strip() or CardDavLocation.parse(f"{server.strip().rstrip('/')}/").username


def discover(
    server: str, username: str, password: str | None, settings: HttpSettings | None = None
) -> list[AddressBook]:
    """The address books ``username`` can reach from ``server`` (a host, or any URL on it).

    Raises :class:`ConnectorError` (its subclasses for a refused password or an unreachable
    server) with what to do. The books are sorted by name; a book may live on another host than
    ``server`` (iCloud's), so its account key is that of its own URL.
    """
    location = CardDavLocation.parse(f"{server.strip().rstrip('/')}/")
    location = CardDavLocation(location.url, login_user(server, username))
    client = client_for(location, password, settings or HttpSettings.for_setup())
    try:
        books = find_books(client, location.url)
    finally:
        client.close()
    if not books:
        raise ConnectorError(
            f"{location.host} answered, but shows no address book to {location.username or 'you'}."
            " Check the address (your provider's help names it), or create an address book there "
            "first.",
            title="No address book found",
        )
    return books


def find_books(client: DavClient, url: str) -> list[AddressBook]:
    """The address books reachable from ``url`` (see the module's docstring), sorted by name."""
    return sorted(_discover(client, url), key=lambda book: (book.name.casefold(), book.url))


def _discover(client: DavClient, url: str) -> list[AddressBook]:
    first = _props(client, url, (*BOOK_PROPS, PRINCIPAL, HOME_SET))
    if first is not None and is_address_book(first):
        return [address_book_of(first, url)]
    homes = first.hrefs(HOME_SET) if first is not None else []
    principals = first.hrefs(PRINCIPAL) if first is not None else []
    if not homes and not principals:
        well_known = urljoin(url, "/.well-known/carddav")
        found = _props(client, well_known, (PRINCIPAL, HOME_SET))
        if found is not None:
            homes, principals = found.hrefs(HOME_SET), found.hrefs(PRINCIPAL)
    for principal in principals:
        found = _props(client, urljoin(url, principal), (HOME_SET,))
        if found is not None:
            homes += found.hrefs(HOME_SET)
    candidates = [urljoin(url, home) for home in homes] or [url]
    books: dict[str, AddressBook] = {}
    for home in dict.fromkeys(candidates):
        for book in _books_in(client, home):
            books.setdefault(book.url, book)
    return list(books.values())


def _props(client: DavClient, url: str, props: tuple[str, ...]) -> DavResponse | None:
    """The properties of ``url`` itself, or None when it answers no multi-status."""
    try:
        listing = client.propfind(url, props, depth="0")
    except CollectionProblem:
        return None
    return listing.responses[0] if listing.responses else None


def _books_in(client: DavClient, home: str) -> list[AddressBook]:
    try:
        listing = client.propfind(home, BOOK_PROPS, depth="1")
    except CollectionProblem:
        return []
    return [address_book_of(r, home) for r in listing.responses if is_address_book(r)]
