"""A stateful Microsoft Graph v1.0 server (the personal-contacts part) on loopback, over https.

Why it exists: the Outlook connector is tested as it will run, with its real HTTP client, TLS and
all, against a server that keeps state the way Exchange Online does behind Graph (opaque ids,
change keys and etags that change on every write, contact folders, ``$skip`` paging, delta rounds
with state tokens that expire, JSON batching and its limits, extended properties) and that can be
told to misbehave (429 with Retry-After, the per-mailbox concurrency limit, 5xx, dropped
connections, another client editing between our read and our write). Nothing here is the
connector's idea of the API: it follows Microsoft's pages (stored copies of
learn.microsoft.com/graph/..., the microsoft-graph-docs-contrib sources) read while writing it:

- ``resources/contact`` (every v1.0 property; a full contact is answered with null strings, empty
  lists and ``{}`` addresses, as the "Update contact" example shows), ``resources/contactfolder``
  (id, displayName, parentFolderId), ``api/contact-update`` (PATCH answers 200 with the contact;
  "later updates to other properties may cause an automatically generated value to overwrite the
  displayName"), ``api/user-post-contacts`` / ``api/contactfolder-post-contacts`` (201),
  ``api/contact-delete`` (204).
- ``api/user-list-contactfolders`` ("the contact folder collection in the default Contacts
  folder") and ``api/user-post-contactfolders`` ("under the user's default contacts folder"): so
  ``GET /me/contactFolders`` lists the *children* of the default folder, not the default folder
  itself (its id is learned from their parentFolderId, or through the well-known name
  ``contacts``: ``/me/contactFolders/contacts``, which public code uses but v1.0 pages do not
  document). ``api/contactfolder-list-childfolders``, ``api/contactfolder-get``.
- ``api/contact-delta`` and ``concepts/delta-query-overview`` / ``delta-query-messages``: only
  ``$select`` is documented for contact delta (so ``$expand``, ``$filter``, ``$top`` are refused
  with 400: a guess, Microsoft's issue threads report 500s for ``$expand`` on Outlook deltas);
  ``Prefer: odata.maxpagesize``; query parameters are encoded in the state tokens and not
  repeated; ``@odata.nextLink`` with ``$skiptoken``, ``@odata.deltaLink`` with ``$deltatoken``;
  removed items are ``{"id", "@removed": {"reason": "deleted"}}``; items carry ``@odata.type``
  and ``@odata.etag`` as in the messages example.
- ``concepts/json-batching``: at most 20 requests; ids unique (case-insensitive) or the batch is
  400; relative urls; "when a body is included ... the headers object must contain a value for
  Content-Type"; "individual responses might appear in a different order than the requests"
  (here: always reversed, so a client that relies on order fails); ``dependsOn`` with 424 Failed
  Dependency; "requests in a batch are evaluated individually against the applicable throttling
  limits".
- ``concepts/throttling`` and ``throttling-limits`` (Outlook: 4 concurrent requests per app per
  mailbox; 429 with Retry-After), ``concepts/errors`` (``{"error": {"code", "message",
  "innerError"}}``), ``concepts/paging``, ``api/singlevaluelegacyextendedproperty-get`` /
  ``-post-singlevalueextendedproperties`` (``$filter=singleValueExtendedProperties/any(ep: ep/id
  eq '...' and ep/value eq '...')``, also ``ne``, ``contains``, ``startswith``; the ``Name`` in an
  id is case-sensitive, values compare case-insensitively; ``$expand=singleValueExtendedProperties
  ($filter=id eq '...')``; create and update answers do not include the extended properties).

Taken from what Microsoft's Q&A and issue threads report Graph answering, or guessed (marked
"guess" in the code):

- Expired or unknown state tokens: 410 Gone, code ``SyncStateNotFound`` ("The sync state
  generation is not found; ..."), as reported for Outlook deltas (the errors page lists
  ``syncStateNotFound``/``resyncRequired``). Unknown tokens answer the same (guess).
- Stale ``If-Match``: 412, ``ErrorIrresolvableConflict`` with Exchange's change-key message.
  Missing items: 404 ``ErrorItemNotFound`` "The specified object was not found in the store.";
  ids that cannot be ids: 400 ``ErrorInvalidIdMalformed``.
- Unknown properties: 400 ``RequestBodyRead`` "The property 'x' does not exist on type
  'Microsoft.OutlookServices.Contact'. ..." (reported verbatim). More than 3 emailAddresses or 2
  businessPhones: 400 "The multi value property EmailAddresses has 4 entries, that exceeds the
  max allowed value of 3" (reported; the code ``ErrorInvalidProperty`` is a guess, as are the
  limits of 2 homePhones and 3 imAddresses).
- Concurrency: 429 ``ApplicationThrottled`` "Application is over its MailboxConcurrency limit."
  (reported). Graph "dispatches up to four individual requests from a batch to the Outlook
  service simultaneously" (a Microsoft answer): a parallel batch runs in waves of 4, each wave
  counted in flight together with the other requests on the mailbox; a ``dependsOn`` batch runs
  one at a time. The outer ``POST /$batch`` and ``GET /me`` are not mailbox requests.
- Batch refusals: more than 20 requests, 400 "Number of requests inside batch exceeds the
  limit." (reported); a write or a body without Content-Type, 400 "Write request id : N does not
  contain Content-Type header or body." for the whole batch (guess on the scope).
- Delta pages: 10 items unless ``Prefer: odata.maxpagesize`` (guess: Outlook's usual page
  size), at most 200 (reported in a Q&A); ``Preference-Applied: odata.track-changes`` and the
  applied ``odata.maxpagesize``. Paging runs over a snapshot taken at the first page; a contact
  created and removed between two rounds is not reported (guess).
- Lists: ``$top`` 10 by default, at most 1000; ``@odata.nextLink`` keeps the query and adds
  ``$skip`` (Outlook's way). ``$orderby`` and any ``$filter`` other than the extended-property
  forms are not implemented (400, saying so).
- Moving a contact to another folder gives it a new id (Outlook ids change on move), unless the
  request asks for immutable ids (``Prefer: IdType="ImmutableId"``, "Obtain immutable
  identifiers for Outlook resources"): then every id it is given is the one the contact was made
  with, which a move keeps; either kind of id is taken in a URL. Read-only properties and
  ``@odata.*`` annotations in a body are ignored; ``birthday`` is stored in UTC at second
  precision ("1990-05-17T11:59:00+02:00" comes back as "...T09:59:00Z"); a date alone is taken as
  midnight UTC (guess); complex values (addresses) and collections are replaced, not merged
  (guess); ``displayName`` is built from the name parts (else companyName, else the first email
  address) when a create leaves it out or a PATCH changes name parts without it (guess).
- 401: ``InvalidAuthenticationToken`` ("Access token is empty." / "Lifetime validation failed,
  the token is expired.") with Graph's ``WWW-Authenticate: Bearer realm="", authorization_uri=...``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

import trustme

from emulators.tls_server import Handler, TlsServer, TlsService

Json = dict[str, Any]
Query = dict[str, list[str]]


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MAX_BATCH = 20
BATCH_WAVE = 4  # requests of a parallel batch Graph hands to Outlook at once
DEFAULT_TOP = 10
MAX_TOP = 1000
DEFAULT_DELTA_PAGE = 10  # guess
MAX_DELTA_PAGE = 200
DEFAULT_FOLDER_NAME = "Contacts"
WELL_KNOWN = "contacts"
JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", client_id="00000003-0000-0000-c000-000000000000"'
)
NOT_FOUND = "The specified object was not found in the store."
MALFORMED = "Id is malformed."
CONFLICT = (
    "The send or update operation could not be performed because the change key passed in the "
    "request does not match the current change key for the item."
)
BAD_JSON = (
    "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
    "is of valid JSON format."
)
THROTTLED = "Too many requests. Retry after the time given in the Retry-After header."  # guess
CONCURRENCY = "Application is over its MailboxConcurrency limit."

STRING_PROPS = _names(
    "assistantName businessHomePage companyName department displayName fileAs generation "
    "givenName initials jobTitle manager middleName mobilePhone nickName officeLocation "
    "personalNotes profession spouseName surname title yomiCompanyName yomiGivenName "
    "yomiSurname"
)
LIST_PROPS = ("businessPhones", "categories", "children", "homePhones", "imAddresses")
ADDRESS_PROPS = ("homeAddress", "businessAddress", "otherAddress")
ADDRESS_KEYS = frozenset({"street", "city", "state", "countryOrRegion", "postalCode"})
EMAIL_KEYS = frozenset({"name", "address"})
WRITABLE = frozenset(STRING_PROPS + LIST_PROPS + ADDRESS_PROPS + ("emailAddresses", "birthday"))
READ_ONLY = frozenset({"id", "changeKey", "createdDateTime", "lastModifiedDateTime"})
IGNORED_ON_WRITE = READ_ONLY | {"parentFolderId"}  # guess: sent back as read, ignored
NOT_IMPLEMENTED = frozenset({"multiValueExtendedProperties", "extensions", "photo"})
LIMITS = {"emailAddresses": 3, "businessPhones": 2, "homePhones": 2, "imAddresses": 3}
NAME_PARTS = ("givenName", "middleName", "surname")
# The order Graph writes a contact in (the "Update contact" example).
RENDER_ORDER = _names(
    "id createdDateTime lastModifiedDateTime changeKey categories parentFolderId birthday "
    "fileAs displayName givenName initials middleName nickName surname title yomiGivenName "
    "yomiSurname yomiCompanyName generation imAddresses jobTitle companyName department "
    "officeLocation profession businessHomePage assistantName manager homePhones mobilePhone "
    "businessPhones spouseName personalNotes children emailAddresses homeAddress "
    "businessAddress otherAddress"
)
SELECTABLE = {name.lower(): name for name in RENDER_ORDER}
FOLDER_SELECTABLE = {name.lower(): name for name in ("id", "displayName", "parentFolderId")}
EXT_TYPES = frozenset(
    _names("binary boolean clsid currency double float integer long object short string systemtime")
)
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
ID_SHAPE = re.compile(r"[A-Za-z0-9_\-+/]{16,}={0,2}")
EXT_ID = re.compile(
    r"(?P<type>[A-Za-z]+) (?:\{(?P<guid>[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})\} "
    r"(?P<kind>(?i:name|id)) (?P<name>\S.*)|(?P<tag>0x[0-9A-Fa-f]{4}))",
    re.S,
)
LITERAL = r"'(?P<{0}>(?:[^']|'')*)'"
ANY_FILTER = re.compile(
    r"\s*singleValueExtendedProperties/any\(\s*(?P<v>\w+)\s*:\s*(?P=v)/id\s+eq\s+"
    + LITERAL.format("id")
    + r"(?:\s+and\s+(?:(?P=v)/value\s+(?P<op>eq|ne)\s+"
    + LITERAL.format("val")
    + r"|(?P<fn>contains|startswith)\(\s*(?P=v)/value\s*,\s*"
    + LITERAL.format("arg")
    + r"\s*\)))?\s*\)\s*",
    re.I | re.S,
)
EXPAND = re.compile(
    r"\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=\s*(?P<f>.*)\)\s*", re.I | re.S
)
EXPAND_CLAUSE = r"(?:\w+/)?id\s+eq\s+'(?:[^']|'')*'"
EXPAND_FULL = re.compile(rf"\s*{EXPAND_CLAUSE}(?:\s+or\s+{EXPAND_CLAUSE})*\s*", re.I | re.S)
EXPAND_IDS = re.compile(r"id\s+eq\s+'((?:[^']|'')*)'", re.I | re.S)


class GraphError(Exception):
    """An answer in Graph's error shape; raised by the handlers and the direct helpers."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> Json:
        request_id = str(uuid.uuid4())
        inner = {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": request_id,
            "client-request-id": request_id,
        }
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}


def _bad(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def _body_read(message: str) -> GraphError:
    return GraphError(400, "RequestBodyRead", message)


def _not_implemented(what: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRequest", f"{what} is not implemented by the emulator.")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _unquote_literal(text: str) -> str:
    return text.replace("''", "'")


def _ext_key(prop_id: str) -> tuple[str, ...]:
    """The identity of an extended property id: type, GUID and tag case-insensitive, the Name
    case-sensitive (as the extended-property pages say)."""
    found = EXT_ID.fullmatch(prop_id)
    if found is None or found["type"].lower() not in EXT_TYPES:
        raise _bad(
            f"The extended property id '{prop_id}' is not in a supported format.",  # guess
            "ErrorInvalidProperty",
        )
    if found["tag"]:
        return (found["type"].lower(), found["tag"].lower())
    return (found["type"].lower(), found["guid"].lower(), found["kind"].lower(), found["name"])


@dataclass
class _Folder:
    id: str
    name: str
    parent_id: str
    number: int


@dataclass
class _Contact:
    number: int
    id: str
    folder_id: str
    created: str
    data: Json = field(default_factory=dict)
    ext: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)
    modified: str = ""
    change_key: str = ""
    version: int = 0  # the change counter at its last write
    born: int = 0  # the change counter when it came into its folder under this id
    immutable_id: str = ""  # the id it was made with: kept when it moves between folders


@dataclass
class _Tombstone:
    folder_id: str
    contact_id: str
    counter: int
    born: int
    immutable_id: str = ""


@dataclass
class _Round:
    entries: list[Json]
    counter: int
    folder_id: str
    select: list[str] | None


@dataclass
class _Fault:
    kind: Literal["fail", "throttle", "drop"]
    times: int | None
    method: str | None
    path_contains: str | None
    after: int
    inside_batch: bool
    status: int = 500
    retry_after: float | None = None
    when: Literal["before", "after"] = "before"
    message: str | None = None

    def matches(self, method: str, target: str, inner: bool) -> bool:
        if self.inside_batch != inner:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in target


@dataclass
class _Reply:
    status: int
    body: Json | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    method: str
    path: str
    ids: dict[str, str]
    query: Query
    headers: dict[str, str]  # names in lower case
    body: Any  # bytes at the top level, the parsed JSON inside a batch
    inner: bool


@dataclass
class _Inner:
    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    depends_on: list[str]


FOLDER = r"/me/contactFolders/(?P<fpath>[^/]+(?:/childFolders/[^/]+)*)"
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern + r"\Z", re.I), handler)
    for method, pattern, handler in (
        ("GET", r"/me", "_get_me"),
        ("GET", r"/me/contactFolders", "_list_top_folders"),
        ("POST", r"/me/contactFolders", "_create_folder"),
        ("GET", FOLDER + r"/contacts/(?:microsoft\.graph\.)?delta(?:\(\))?", "_delta"),
        ("GET", FOLDER + r"/contacts", "_list_contacts"),
        ("POST", FOLDER + r"/contacts", "_create_contact"),
        ("GET", FOLDER + r"/contacts/(?P<cid>[^/]+)", "_get_contact"),
        ("PATCH", FOLDER + r"/contacts/(?P<cid>[^/]+)", "_update_contact"),
        ("DELETE", FOLDER + r"/contacts/(?P<cid>[^/]+)", "_delete_contact"),
        ("GET", FOLDER + r"/childFolders", "_list_child_folders"),
        ("POST", FOLDER + r"/childFolders", "_create_folder"),
        ("GET", FOLDER, "_get_folder"),
        ("GET", r"/me/contacts", "_list_contacts"),
        ("POST", r"/me/contacts", "_create_contact"),
        ("GET", r"/me/contacts/(?P<cid>[^/]+)", "_get_contact"),
        ("PATCH", r"/me/contacts/(?P<cid>[^/]+)", "_update_contact"),
        ("DELETE", r"/me/contacts/(?P<cid>[^/]+)", "_delete_contact"),
    )
)


class GraphEmulator(TlsService):
    """Microsoft Graph v1.0 (one mailbox's personal contacts) on https://127.0.0.1:PORT/v1.0.

    Point the connector at ``url`` and trust ``ca`` (write it with :meth:`ca_file`). Every
    request needs ``Authorization: Bearer <token>``; ``token_valid`` (when given) decides which
    tokens are good. State and fault switches are safe to use from the test's thread while the
    connector talks to the server from others.
    """

    def __init__(
        self,
        token_valid: Callable[[str], bool] | None = None,
        *,
        account: str = "ada@example.com",
        display_name: str = "Ada Lovelace",
        host: str = "127.0.0.1",
    ) -> None:
        self.token_valid = token_valid
        self.account = account
        self.display_name = display_name
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-emulator:{account}"))
        self.ca = trustme.CA()
        self.internal_errors: list[str] = []  # tracebacks of the emulator's own failures
        self.max_in_flight = 0  # most mailbox requests in flight at once (batch waves counted)
        self.max_concurrent_writes = 0  # most write requests in flight at once
        self._lock = threading.RLock()
        self._instance = uuid.uuid4().hex[:8]
        self._counter = 0  # the change counter: every write takes the next value
        self._epoch = 0  # bumped by expire_delta_tokens()
        self._next_number = 0
        self._folders: dict[str, _Folder] = {}
        self._contacts: dict[str, _Contact] = {}
        self._tombstones: list[_Tombstone] = []
        self._rounds: dict[int, _Round] = {}
        self._faults: list[_Fault] = []
        self._before_write: Callable[[str, str], None] | None = None
        self._before_write_times: int | None = None
        self._delay: tuple[float, str | None] | None = None
        self._delay_times: int | None = None
        self._concurrency: int | None = None
        self._concurrency_retry_after = 1.0
        self._in_flight = 0
        self._writes_in_flight = 0
        self._requests: list[tuple[str, str]] = []
        self._inner_requests: list[tuple[str, str]] = []
        self._root_id = self._make_id("root", 0)
        self._default = self._new_folder(DEFAULT_FOLDER_NAME, self._root_id)

        self.port: int = self._serve_tls(host, _Handler, "graph-emulator")
        self.url = f"https://{host}:{self.port}/v1.0"

    @property
    def in_flight(self) -> int:
        """How many mailbox requests are being answered right now."""
        with self._lock:
            return self._in_flight

    @property
    def change_counter(self) -> int:
        """The number of writes so far (each takes the next value)."""
        with self._lock:
            return self._counter

    # ---- the request log --------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every top-level request, as (method, path without the query), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def inner_requests(self) -> list[tuple[str, str]]:
        """Every request inside a batch, as (method, url path relative to /v1.0)."""
        with self._lock:
            return list(self._inner_requests)

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many top-level HTTP requests had this method and a path containing
        ``path_contains`` (batch inner requests: :meth:`count_inner`)."""
        with self._lock:
            return self._count(self._requests, method, path_contains)

    def count_inner(self, method: str | None = None, path_contains: str | None = None) -> int:
        with self._lock:
            return self._count(self._inner_requests, method, path_contains)

    @staticmethod
    def _count(log: list[tuple[str, str]], method: str | None, path_contains: str | None) -> int:
        return sum(
            1
            for m, p in log
            if (method is None or m == method.upper())
            and (path_contains is None or path_contains in p)
        )

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._inner_requests.clear()

    # ---- fault switches ---------------------------------------------------------------------

    def throttle(
        self,
        times: int | None = 1,
        retry_after: float = 2,
        *,
        path_contains: str | None = None,
        inside_batch: bool = False,
        after: int = 0,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (None: until :meth:`clear_faults`) with
        429 TooManyRequests and ``Retry-After: retry_after``, after letting ``after`` pass;
        ``inside_batch`` aims at the requests inside a batch instead of top-level ones."""
        fault = _Fault("throttle", times, method, path_contains, after, inside_batch, 429)
        fault.retry_after = retry_after
        self._add_fault(fault)

    def fail(
        self,
        status: int = 500,
        times: int | None = 1,
        path_contains: str | None = None,
        after: int = 0,
        inside_batch: bool = False,
        *,
        method: str | None = None,
        retry_after: float | None = None,
        message: str | None = None,
        when: Literal["before", "after"] = "before",
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` in Graph's error shape:
        ``when="before"`` instead of carrying them out, ``"after"`` once they are carried out
        (a gateway that times out on a write Exchange did make)."""
        fault = _Fault("fail", times, method, path_contains, after, inside_batch, status)
        fault.retry_after, fault.message, fault.when = retry_after, message, when
        self._add_fault(fault)

    def drop(
        self,
        times: int | None = 1,
        path_contains: str | None = None,
        after: int = 0,
        when: Literal["before", "after"] = "before",
        *,
        method: str | None = None,
    ) -> None:
        """Close the connection of the next ``times`` matching top-level requests without
        answering: ``when="before"`` does nothing else; ``"after"`` carries the request out
        first (a write happens, its answer is lost)."""
        self._add_fault(_Fault("drop", times, method, path_contains, after, False, when=when))

    def limit_concurrency(self, limit: int | None, *, retry_after: float = 1) -> None:
        """Answer 429 ApplicationThrottled (MailboxConcurrency) to a mailbox request that would
        make more than ``limit`` in flight at once (Outlook's documented limit is 4); None lifts
        it."""
        with self._lock:
            self._concurrency = limit
            self._concurrency_retry_after = retry_after

    def delay(
        self, seconds: float, *, path_contains: str | None = None, times: int | None = None
    ) -> None:
        """Hold matching top-level requests for ``seconds`` while they count as in flight (to
        make concurrency observable); ``times`` None: until :meth:`clear_faults`."""
        with self._lock:
            self._delay = (seconds, path_contains)
            self._delay_times = times

    def before_write(
        self, callback: Callable[[str, str], None] | None, times: int | None = 1
    ) -> None:
        """Call ``callback(method, path)`` just before the next ``times`` writes (top-level or
        inside a batch) are carried out (None: every one), outside the lock, so it may edit
        through the helpers ("another client edits between our read and our write")."""
        with self._lock:
            self._before_write = callback
            self._before_write_times = times

    def clear_faults(self) -> None:
        """Drop every fault, the before-write callback, the delay and the concurrency limit."""
        with self._lock:
            self._faults.clear()
            self._before_write = None
            self._delay = None
            self._concurrency = None

    def expire_delta_tokens(self) -> None:
        """Expire every state token ($skiptoken and $deltatoken) issued so far."""
        with self._lock:
            self._epoch += 1

    # ---- direct state helpers (no HTTP) -----------------------------------------------------

    @property
    def default_folder_id(self) -> str:
        return self._default.id

    def add_folder(self, name: str, parent_id: str | None = None) -> str:
        """Create a contact folder (under the default Contacts folder by default); its id."""
        with self._lock:
            parent = self._folder_by_id(parent_id or self._default.id)
            return self._create_folder_in(parent, {"displayName": name}).id

    def delete_folder(self, folder_id: str) -> None:
        """Delete a folder with its contacts and child folders, as the person would in Outlook
        (they go to Deleted Items; to Graph the folder's id is unknown from then on)."""
        with self._lock:
            folder = self._folder_by_id(folder_id)
            for child in [f for f in self._folders.values() if f.parent_id == folder.id]:
                self.delete_folder(child.id)
            for contact in [c for c in self._contacts.values() if c.folder_id == folder.id]:
                self._delete(contact)
            del self._folders[folder.id]

    def folders(self) -> list[Json]:
        """Every contact folder, the default one first, as Graph writes them."""
        with self._lock:
            return [self._render_folder(f, None) for f in self._folders.values()]

    def add_contact(self, folder_id: str, contact: Json) -> str:
        """Create a contact from Graph JSON (singleValueExtendedProperties too); its id."""
        changes, ext = self._check_contact(contact)
        with self._lock:
            return self._new_contact(self._folder_by_id(folder_id), changes, ext).id

    def edit_contact(self, contact_id: str, changes: Json) -> None:
        """Change a contact as another client would (PATCH semantics, no If-Match)."""
        checked, ext = self._check_contact(changes)
        with self._lock:
            self._edit(self._live(contact_id), checked, ext)

    def delete_contact(self, contact_id: str) -> None:
        """Delete a contact as another client would (the next delta reports it removed)."""
        with self._lock:
            self._delete(self._live(contact_id))

    def move_contact(self, contact_id: str, folder_id: str) -> str:
        """Move a contact to another folder, as Outlook does: it gets a new id there (returned)
        and leaves its old folder's delta as removed."""
        with self._lock:
            c = self._live(contact_id)
            target = self._folder_by_id(folder_id)
            if c.folder_id == target.id:
                return c.id
            old_id, old_folder, old_born = c.id, c.folder_id, c.born
            del self._contacts[old_id]
            self._next_number += 1
            c.number = self._next_number
            c.id = self._make_id("contact", c.number)
            c.folder_id = target.id
            self._stamp(c)
            c.born = c.version
            self._tombstones.append(
                _Tombstone(old_folder, old_id, c.version, old_born, c.immutable_id)
            )
            self._contacts[c.id] = c
            return c.id

    def contact(self, contact_id: str) -> Json | None:
        """A contact as Graph would answer it, with all its extended properties; None if there
        is none."""
        with self._lock:
            c = self._contacts.get(contact_id)
            return None if c is None else self._render(c, None, None, every_ext=True)

    def contacts(self, folder_id: str) -> list[Json]:
        """The contacts of a folder, oldest first, with all their extended properties."""
        with self._lock:
            folder = self._folder_by_id(folder_id)
            return [self._render(c, None, None, every_ext=True) for c in self._in_folder(folder.id)]

    # ---- state internals (callers hold the lock) --------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _make_id(self, kind: str, number: int) -> str:
        digest = hashlib.sha256(f"{self._instance}:{kind}:{number}".encode()).digest()
        raw = b"\x00\x03\x24\x00" + digest + kind[:1].encode() + number.to_bytes(4, "big")
        return base64.urlsafe_b64encode(raw + b"\x00\x00").decode()

    def _stamp(self, c: _Contact) -> None:
        self._counter += 1
        c.version = self._counter
        c.modified = _now()
        digest = hashlib.sha256(f"{self._instance}:{c.id}:{c.version}".encode()).digest()
        raw = b"\x11\x00\x00\x00\x16\x00\x00\x00" + digest[:18] + c.version.to_bytes(4, "big")
        c.change_key = base64.b64encode(raw).decode()

    def _new_folder(self, name: str, parent_id: str) -> _Folder:
        self._next_number += 1
        number = self._next_number
        folder = _Folder(self._make_id("folder", number), name, parent_id, number)
        self._folders[folder.id] = folder
        return folder

    def _create_folder_in(self, parent: _Folder, body: Json) -> _Folder:
        for key in body:
            if key not in ("displayName", "parentFolderId", "id") and not key.startswith("@"):
                raise _body_read(
                    f"The property '{key}' does not exist on type "
                    "'Microsoft.OutlookServices.ContactFolder'. Make sure to only use property "
                    "names that are defined by the type or mark the type as open type."
                )
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise _bad("The folder name must be given.", "ErrorInvalidRequest")  # guess
        if any(
            f.parent_id == parent.id and f.name.casefold() == name.casefold()
            for f in self._folders.values()
        ):
            raise GraphError(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
        return self._new_folder(name, parent.id)

    def _folder_by_id(self, folder_id: str) -> _Folder:
        if folder_id.lower() == WELL_KNOWN:
            return self._default
        folder = self._folders.get(folder_id)
        if folder is None:
            if not ID_SHAPE.fullmatch(folder_id):
                raise _bad(MALFORMED, "ErrorInvalidIdMalformed")
            raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)
        return folder

    def _resolve_folder(self, fpath: str) -> _Folder:
        parts = re.split(r"/childFolders/", fpath, flags=re.I)
        folder = self._folder_by_id(parts[0])
        for part in parts[1:]:
            child = self._folder_by_id(part)
            if child.parent_id != folder.id:
                raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)
            folder = child
        return folder

    def _live(self, contact_id: str) -> _Contact:
        c = self._contacts.get(contact_id)
        if c is None:  # an immutable id is taken with or without the Prefer header
            c = next((c for c in self._contacts.values() if c.immutable_id == contact_id), None)
        if c is None:
            if not ID_SHAPE.fullmatch(contact_id):
                raise _bad(MALFORMED, "ErrorInvalidIdMalformed")
            raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)
        return c

    def _in_folder(self, folder_id: str) -> list[_Contact]:
        found = [c for c in self._contacts.values() if c.folder_id == folder_id]
        return sorted(found, key=lambda c: c.number)

    def _new_contact(
        self, folder: _Folder, changes: Json, ext: list[tuple[tuple[str, ...], str, str]]
    ) -> _Contact:
        self._next_number += 1
        number = self._next_number
        c = _Contact(number, self._make_id("contact", number), folder.id, _now())
        c.immutable_id = c.id
        self._apply(c, changes, ext, create=True)
        self._stamp(c)
        c.born = c.version
        self._contacts[c.id] = c
        return c

    def _edit(
        self, c: _Contact, changes: Json, ext: list[tuple[tuple[str, ...], str, str]]
    ) -> None:
        self._apply(c, changes, ext, create=False)
        self._stamp(c)

    def _delete(self, c: _Contact) -> None:
        del self._contacts[c.id]
        self._counter += 1
        self._tombstones.append(
            _Tombstone(c.folder_id, c.id, self._counter, c.born, c.immutable_id)
        )

    def _apply(
        self,
        c: _Contact,
        changes: Json,
        ext: list[tuple[tuple[str, ...], str, str]],
        *,
        create: bool,
    ) -> None:
        for key, value in changes.items():
            if value is None or value == [] or value == {} or value == "":
                c.data.pop(key, None)
            else:
                c.data[key] = copy.deepcopy(value)
        for key, shown, value in ext:
            c.ext[key] = (shown, value)
        renamed = any(part in changes for part in NAME_PARTS) and "displayName" not in changes
        if (create and not c.data.get("displayName")) or (not create and renamed):  # guess
            display = " ".join(str(c.data[p]) for p in NAME_PARTS if c.data.get(p))
            if create and not display:
                emails = c.data.get("emailAddresses") or [{}]
                display = c.data.get("companyName") or emails[0].get("address") or ""
            if display:
                c.data["displayName"] = display

    # ---- request validation -----------------------------------------------------------------

    def _check_contact(self, body: Any) -> tuple[Json, list[tuple[tuple[str, ...], str, str]]]:
        """Refuse what Graph refuses in a contact body; the writable changes (normalized) and
        the extended properties to set."""
        if not isinstance(body, dict):
            raise _body_read("A JSON object was expected for a contact.")  # wording: guess
        changes: Json = {}
        ext: list[tuple[tuple[str, ...], str, str]] = []
        for key, value in body.items():
            if key.startswith("@odata.") or key in IGNORED_ON_WRITE:
                continue
            if key == "singleValueExtendedProperties":
                ext = self._check_ext(value)
            elif key in NOT_IMPLEMENTED:
                raise _not_implemented(f"Writing {key}")
            elif key not in WRITABLE:
                raise self._unknown(key, "Contact")
            else:
                changes[key] = self._check_value(key, value)
        for key, limit in LIMITS.items():
            entries = changes.get(key) or []
            if len(entries) > limit:
                raise _bad(
                    f"The multi value property {key[0].upper() + key[1:]} has {len(entries)} "
                    f"entries, that exceeds the max allowed value of {limit}",
                    "ErrorInvalidProperty",  # code: guess
                )
        return changes, ext

    @staticmethod
    def _unknown(key: str, type_name: str) -> GraphError:
        return _body_read(
            f"The property '{key}' does not exist on type 'Microsoft.OutlookServices."
            f"{type_name}'. Make sure to only use property names that are defined by the type "
            "or mark the type as open type."
        )

    def _check_value(self, key: str, value: Any) -> Any:
        if value is None:
            return None
        if key in STRING_PROPS:
            if not isinstance(value, str):
                raise _body_read(f"Cannot convert the value of '{key}' to 'Edm.String'.")  # guess
            return value
        if key == "birthday":
            return self._check_birthday(value)
        if not isinstance(value, list if key in (*LIST_PROPS, "emailAddresses") else dict):
            raise _body_read(f"The value of '{key}' has the wrong JSON type.")  # wording: guess
        if key in LIST_PROPS:
            if not all(isinstance(item, str) for item in value):
                raise _body_read(f"Every item of '{key}' must be a string.")  # wording: guess
            return list(value)
        if key == "emailAddresses":
            return [self._check_complex(item, EMAIL_KEYS, "EmailAddress") for item in value]
        return self._check_complex(value, ADDRESS_KEYS, "PhysicalAddress")

    def _check_complex(self, item: Any, keys: frozenset[str], type_name: str) -> Json:
        if not isinstance(item, dict):
            raise _body_read(f"A JSON object was expected for '{type_name}'.")  # wording: guess
        out: Json = {}
        for key, value in item.items():
            if key.startswith("@odata."):
                continue
            if key not in keys:
                raise self._unknown(key, type_name)
            if value is not None and not isinstance(value, str):
                raise _body_read(f"Cannot convert the value of '{key}' to 'Edm.String'.")
            if value is not None:
                out[key] = value
        return out

    @staticmethod
    def _check_birthday(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            parsed = datetime.fromisoformat(text) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise _body_read(
                f"Cannot convert the literal '{text}' to the expected type 'Edm.DateTimeOffset'."
            )
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # a date alone: midnight UTC (guess)
        return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _check_ext(self, value: Any) -> list[tuple[tuple[str, ...], str, str]]:
        if not isinstance(value, list):
            raise _body_read("singleValueExtendedProperties must be a JSON array.")  # guess
        out: list[tuple[tuple[str, ...], str, str]] = []
        for item in value:
            if not isinstance(item, dict):
                raise _body_read("An extended property must be a JSON object.")  # guess
            for key in item:
                if key not in ("id", "value") and not key.startswith("@odata."):
                    raise self._unknown(key, "SingleValueLegacyExtendedProperty")
            prop_id, prop_value = item.get("id"), item.get("value")
            if not isinstance(prop_id, str) or not isinstance(prop_value, str):
                raise _bad(
                    "An extended property needs a string id and a string value.",  # guess
                    "ErrorInvalidProperty",
                )
            out.append((_ext_key(prop_id), prop_id, prop_value))
        return out

    @staticmethod
    def _one(query: Query, name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    def _select(self, query: Query, names: dict[str, str], type_name: str) -> list[str] | None:
        raw = self._one(query, "$select")
        if raw is None or not raw.strip():
            return None
        chosen: list[str] = []
        for part in raw.split(","):
            name = names.get(part.strip().lower())
            if name is None:
                raise _bad(
                    f"Could not find a property named '{part.strip()}' on type "
                    f"'microsoft.graph.{type_name}'.",
                    "RequestBroker--ParseUri",  # code: guess
                )
            chosen.append(name)
        return chosen

    def _expand(self, query: Query) -> set[tuple[str, ...]] | None:
        raw = self._one(query, "$expand")
        if raw is None or not raw.strip():
            return None
        found = EXPAND.fullmatch(raw)
        if found is None or not EXPAND_FULL.fullmatch(found["f"]):
            raise _bad(
                "Only $expand=singleValueExtendedProperties($filter=id eq '...') is supported "
                "(the extended-property pages; the emulator implements nothing else).",
                "ErrorInvalidUrlQuery",
            )
        return {_ext_key(_unquote_literal(i)) for i in EXPAND_IDS.findall(found["f"])}

    def _filter(self, query: Query) -> Callable[[_Contact], bool] | None:
        raw = self._one(query, "$filter")
        if raw is None or not raw.strip():
            return None
        found = ANY_FILTER.fullmatch(raw)
        if found is None:
            raise _bad(
                "The emulator implements only $filter=singleValueExtendedProperties/any(ep: "
                "ep/id eq '...' [and ep/value eq|ne '...' | contains/startswith(ep/value, "
                "'...')]).",
                "ErrorInvalidUrlQueryFilter",
            )
        key = _ext_key(_unquote_literal(found["id"]))
        op = (found["op"] or found["fn"] or "").lower()
        wanted = _unquote_literal(found["val"] or found["arg"] or "").casefold()

        def matches(c: _Contact) -> bool:
            prop = c.ext.get(key)
            if prop is None:
                return False
            have = prop[1].casefold()
            return {
                "": True,
                "eq": have == wanted,
                "ne": have != wanted,
                "contains": wanted in have,
                "startswith": have.startswith(wanted),
            }[op]

        return matches

    def _paging(self, query: Query) -> tuple[int, int]:
        def number(name: str, default: int) -> int:
            raw = self._one(query, name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise _bad(f"Invalid {name} value '{raw}'.", "ErrorInvalidUrlQuery") from None
            if value < (1 if name == "$top" else 0):
                raise _bad(f"Invalid {name} value '{raw}'.", "ErrorInvalidUrlQuery")
            return value

        return min(number("$top", DEFAULT_TOP), MAX_TOP), number("$skip", 0)

    @staticmethod
    def _only(query: Query, allowed: set[str]) -> None:
        for name in query:
            if name.startswith("$") and name not in allowed:
                raise _not_implemented(f"The query option {name} here")

    def _body(self, call: _Call) -> Any:
        if call.inner:
            if call.body is None:
                raise _bad("Empty Payload. JSON content expected.")
            if not isinstance(call.body, dict | list):
                raise _not_implemented("A non-JSON batch request body")
            return call.body
        if not call.body.strip():
            raise _bad("Empty Payload. JSON content expected.")
        try:
            return json.loads(call.body)
        except (ValueError, UnicodeDecodeError):
            raise _bad(BAD_JSON) from None

    # ---- rendering --------------------------------------------------------------------------

    def _render(
        self,
        c: _Contact,
        select: list[str] | None,
        expand: set[tuple[str, ...]] | None,
        *,
        every_ext: bool = False,
        immutable: bool = False,
    ) -> Json:
        shown = c.immutable_id if immutable else c.id
        out: Json = {"@odata.etag": f'W/"{c.change_key}"', "id": shown}
        for name in RENDER_ORDER[1:]:
            if select is not None and name not in select:
                continue
            if name == "createdDateTime":
                out[name] = c.created
            elif name == "lastModifiedDateTime":
                out[name] = c.modified
            elif name == "changeKey":
                out[name] = c.change_key
            elif name == "parentFolderId":
                out[name] = c.folder_id
            elif name in LIST_PROPS or name == "emailAddresses":
                out[name] = copy.deepcopy(c.data.get(name, []))
            elif name in ADDRESS_PROPS:
                out[name] = copy.deepcopy(c.data.get(name, {}))
            else:
                out[name] = c.data.get(name)
        if expand is not None or every_ext:
            props = [
                {"id": shown, "value": value}
                for key, (shown, value) in c.ext.items()
                if every_ext or (expand is not None and key in expand)
            ]
            if props:  # guess: left out when nothing matches
                out["singleValueExtendedProperties"] = props
        return out

    @staticmethod
    def _render_folder(f: _Folder, select: list[str] | None) -> Json:
        full = {"id": f.id, "displayName": f.name, "parentFolderId": f.parent_id}
        if select is None:
            return full
        return {"id": f.id, **{k: v for k, v in full.items() if k in select}}

    def _context(self, tail: str) -> str:
        return f"{self.url}/$metadata#users('{self.user_id}')/{tail}"

    def _link(self, path: str, query: Query, **changes: str) -> str:
        params = {k: v[-1] for k, v in query.items()}
        params.update(changes)
        encoded = "&".join(f"{k}={quote(v, safe=',()/:')}" for k, v in params.items())
        return f"{self.url}{path}?{encoded}"

    # ---- handlers ---------------------------------------------------------------------------

    def _get_me(self, call: _Call) -> _Reply:
        self._only(call.query, {"$select"})
        given, _, family = self.display_name.partition(" ")
        me: Json = {
            "businessPhones": [],
            "displayName": self.display_name,
            "givenName": given or None,
            "jobTitle": None,
            "mail": self.account,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": family or None,
            "userPrincipalName": self.account,
            "id": self.user_id,
        }
        raw = self._one(call.query, "$select")
        if raw:
            wanted = {p.strip().lower() for p in raw.split(",")}
            me = {k: v for k, v in me.items() if k.lower() in wanted or k == "id"}
        return _Reply(200, {"@odata.context": f"{self.url}/$metadata#users/$entity", **me})

    def _folder_page(self, call: _Call, folders: list[_Folder], tail: str) -> _Reply:
        self._only(call.query, {"$select", "$top", "$skip"})
        select = self._select(call.query, FOLDER_SELECTABLE, "contactFolder")
        top, skip = self._paging(call.query)
        out: Json = {"@odata.context": self._context(tail)}
        if skip + top < len(folders):
            out["@odata.nextLink"] = self._link(
                call.path, call.query, **{"$top": str(top), "$skip": str(skip + top)}
            )
        out["value"] = [self._render_folder(f, select) for f in folders[skip : skip + top]]
        return _Reply(200, out)

    def _children(self, parent: _Folder) -> list[_Folder]:
        return sorted(
            (f for f in self._folders.values() if f.parent_id == parent.id),
            key=lambda f: f.number,
        )

    def _list_top_folders(self, call: _Call) -> _Reply:
        with self._lock:
            return self._folder_page(call, self._children(self._default), "contactFolders")

    def _list_child_folders(self, call: _Call) -> _Reply:
        with self._lock:
            folder = self._resolve_folder(call.ids["fpath"])
            tail = f"contactFolders('{folder.id}')/childFolders"
            return self._folder_page(call, self._children(folder), tail)

    def _get_folder(self, call: _Call) -> _Reply:
        self._only(call.query, {"$select"})
        with self._lock:
            folder = self._resolve_folder(call.ids["fpath"])
            select = self._select(call.query, FOLDER_SELECTABLE, "contactFolder")
            body = self._render_folder(folder, select)
            return _Reply(200, {"@odata.context": self._context("contactFolders/$entity"), **body})

    def _create_folder(self, call: _Call) -> _Reply:
        body = self._body(call)
        if not isinstance(body, dict):
            raise _body_read("A JSON object was expected for a contact folder.")  # guess
        with self._lock:
            fpath = call.ids.get("fpath")
            parent = self._resolve_folder(fpath) if fpath else self._default
            folder = self._create_folder_in(parent, body)
            out = {"@odata.context": self._context("contactFolders/$entity")}
            return _Reply(201, {**out, **self._render_folder(folder, None)})

    def _call_folder(self, call: _Call) -> _Folder:
        fpath = call.ids.get("fpath")
        return self._resolve_folder(fpath) if fpath else self._default

    def _call_contact(self, call: _Call) -> _Contact:
        c = self._live(call.ids["cid"])
        if call.ids.get("fpath") and c.folder_id != self._call_folder(call).id:
            raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)
        return c

    def _list_contacts(self, call: _Call) -> _Reply:
        self._only(call.query, {"$select", "$top", "$skip", "$expand", "$filter", "$count"})
        select = self._select(call.query, SELECTABLE, "contact")
        expand = self._expand(call.query)
        matches = self._filter(call.query)
        top, skip = self._paging(call.query)
        with self._lock:
            folder = self._call_folder(call)
            found = [c for c in self._in_folder(folder.id) if matches is None or matches(c)]
            out: Json = {"@odata.context": self._context(f"contactFolders('{folder.id}')/contacts")}
            if (self._one(call.query, "$count") or "").lower() == "true":
                out["@odata.count"] = len(found)
            if skip + top < len(found):
                out["@odata.nextLink"] = self._link(
                    call.path, call.query, **{"$top": str(top), "$skip": str(skip + top)}
                )
            out["value"] = [
                self._render(c, select, expand, immutable=_immutable(call.headers))
                for c in found[skip : skip + top]
            ]
            return _Reply(200, out)

    def _get_contact(self, call: _Call) -> _Reply:
        self._only(call.query, {"$select", "$expand"})
        select = self._select(call.query, SELECTABLE, "contact")
        expand = self._expand(call.query)
        with self._lock:
            c = self._call_contact(call)
            out = {"@odata.context": self._context("contacts/$entity")}
            return _Reply(
                200, {**out, **self._render(c, select, expand, immutable=_immutable(call.headers))}
            )

    def _create_contact(self, call: _Call) -> _Reply:
        changes, ext = self._check_contact(self._body(call))
        with self._lock:
            c = self._new_contact(self._call_folder(call), changes, ext)
            out = {"@odata.context": self._context("contacts/$entity")}
            return _Reply(
                201, {**out, **self._render(c, None, None, immutable=_immutable(call.headers))}
            )

    def _check_etag(self, c: _Contact, header: str | None) -> None:
        if header is None:
            return
        tags = {c.change_key, f'"{c.change_key}"', f'W/"{c.change_key}"', "*"}
        if not any(tag.strip() in tags for tag in header.split(",")):
            raise GraphError(412, "ErrorIrresolvableConflict", CONFLICT)

    def _update_contact(self, call: _Call) -> _Reply:
        changes, ext = self._check_contact(self._body(call))
        with self._lock:
            c = self._call_contact(call)
            self._check_etag(c, call.headers.get("if-match"))
            self._edit(c, changes, ext)
            out = {"@odata.context": self._context("contacts/$entity")}
            return _Reply(
                200, {**out, **self._render(c, None, None, immutable=_immutable(call.headers))}
            )

    def _delete_contact(self, call: _Call) -> _Reply:
        with self._lock:
            c = self._call_contact(call)
            self._check_etag(c, call.headers.get("if-match"))
            self._delete(c)
            return _Reply(204)

    # ---- delta ------------------------------------------------------------------------------

    def _token(self, **data: Any) -> str:
        return _b64(json.dumps({"i": self._instance, "e": self._epoch, **data}).encode())

    def _read_token(self, token: str) -> Json:
        try:
            data = json.loads(_unb64(token))
            ok = data["i"] == self._instance and data["e"] == self._epoch
        except (ValueError, KeyError, TypeError):
            ok, data = False, {}
        if not ok:
            raise GraphError(
                410,
                "SyncStateNotFound",
                f"The sync state generation is not found; generation={self._epoch};"
                f"[highest={self._epoch + 1}].",
            )
        return data

    @staticmethod
    def _page_size(headers: dict[str, str]) -> tuple[int, bool]:
        found = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", headers.get("prefer", ""), re.I)
        if found is None:
            return DEFAULT_DELTA_PAGE, False
        return max(1, min(int(found.group(1)), MAX_DELTA_PAGE)), True

    def _delta_entries(
        self, folder: _Folder, since: int | None, select: list[str] | None, immutable: bool
    ) -> list[Json]:
        kind = {"@odata.type": "#microsoft.graph.contact"}
        items: list[tuple[int, Json]] = [
            (c.version, {**kind, **self._render(c, select, None, immutable=immutable)})
            for c in self._in_folder(folder.id)
            if since is None or c.version > since
        ]
        if since is not None:
            items += [
                (
                    t.counter,
                    {
                        **kind,
                        "id": t.immutable_id if immutable else t.contact_id,
                        "@removed": {"reason": "deleted"},
                    },
                )
                for t in self._tombstones
                if t.folder_id == folder.id and t.counter > since and t.born <= since
            ]
        items.sort(key=lambda item: item[0])
        return [entry for _, entry in items]

    def _delta(self, call: _Call) -> _Reply:
        query = call.query
        skip_token = self._one(query, "$skiptoken")
        delta_token = self._one(query, "$deltatoken")
        for name in query:
            if name.startswith("$") and name not in ("$select", "$skiptoken", "$deltatoken"):
                raise _bad(  # guess: Microsoft's issue threads report 500s for $expand here
                    f"{name} is not supported by contact delta: its page documents only $select.",
                    "ErrorInvalidUrlQuery",
                )
        if (skip_token or delta_token) and any(
            k.startswith("$") and k not in ("$skiptoken", "$deltatoken") for k in query
        ):
            raise _bad(  # guess: the docs say the tokens already carry the query
                "Query options must not be repeated with $skiptoken or $deltatoken: the state "
                "token already encodes them.",
                "ErrorInvalidUrlQuery",
            )
        size, asked = self._page_size(call.headers)
        with self._lock:
            folder = self._call_folder(call)
            if skip_token:
                data = self._read_token(skip_token)
                state = self._rounds.get(data.get("r", -1))
                if state is None or state.folder_id != folder.id:
                    raise GraphError(410, "SyncStateNotFound", "The sync state is not found.")
                offset = int(data.get("o", 0))
            else:
                select = self._select(query, SELECTABLE, "contact")
                since: int | None = None
                if delta_token:
                    data = self._read_token(delta_token)
                    if data.get("f") != folder.id:
                        raise GraphError(410, "SyncStateNotFound", "The sync state is not found.")
                    since, select = int(data["c"]), data.get("s")
                entries = self._delta_entries(folder, since, select, _immutable(call.headers))
                state = _Round(entries, self._counter, folder.id, select)
                round_id = len(self._rounds) + 1
                self._rounds[round_id] = state
                offset = 0
                data = {"r": round_id}
            out: Json = {"@odata.context": f"{self.url}/$metadata#Collection(contact)"}
            base = f"{self.url}/me/contactFolders('{folder.id}')/contacts/delta"
            if offset + size < len(state.entries):
                token = self._token(r=data["r"], o=offset + size)
                out["@odata.nextLink"] = f"{base}?$skiptoken={token}"
            else:
                token = self._token(f=folder.id, c=state.counter, s=state.select)
                out["@odata.deltaLink"] = f"{base}?$deltatoken={token}"
            out["value"] = copy.deepcopy(state.entries[offset : offset + size])
            applied = "odata.track-changes" + (f", odata.maxpagesize={size}" if asked else "")
            return _Reply(200, out, {"Preference-Applied": applied})

    # ---- the request pipeline ---------------------------------------------------------------

    def _received(
        self, method: str, path: str, target: str, *, inner: bool, pick: bool = True
    ) -> _Fault | None:
        """Log a request and pick the fault, if any, that takes it (matched on the raw target:
        the path with its query)."""
        with self._lock:
            (self._inner_requests if inner else self._requests).append((method, path))
            if not pick:
                return None
            chosen: _Fault | None = None
            for fault in self._faults:
                if not fault.matches(method, target, inner):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                elif chosen is None:
                    chosen = fault
                    if fault.times is not None:
                        fault.times -= 1
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
            return chosen

    def _authenticate(self, authorization: str | None) -> _Reply | None:
        found = re.fullmatch(r"\s*Bearer\s+(\S+)\s*", authorization or "", re.I)
        if found is None:
            message = "Access token is empty."
        elif self.token_valid is not None and not self.token_valid(found.group(1)):
            message = "Lifetime validation failed, the token is expired."
        else:
            return None
        error = GraphError(
            401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": WWW_AUTHENTICATE}
        )
        return _Reply(401, error.body(), error.headers)

    @staticmethod
    def _fault_reply(fault: _Fault) -> _Reply:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.kind == "throttle":
            code, message = "TooManyRequests", THROTTLED
        else:
            code, message = {
                400: ("BadRequest", "Bad request."),
                403: ("ErrorAccessDenied", "Access is denied. Check credentials and try again."),
                404: ("ErrorItemNotFound", NOT_FOUND),
                409: ("ErrorIrresolvableConflict", CONFLICT),
                412: ("ErrorIrresolvableConflict", CONFLICT),
                429: ("TooManyRequests", THROTTLED),
                500: ("ErrorInternalServerError", "An internal server error occurred."),
                502: ("BadGateway", "Bad Gateway"),
                503: ("ServiceUnavailable", "Service Unavailable"),
                504: ("GatewayTimeout", "Gateway Timeout"),
            }.get(fault.status, ("UnknownError", ""))
        error = GraphError(fault.status, code, fault.message or message, headers)
        return _Reply(fault.status, error.body(), headers)

    def _concurrency_reply(self) -> _Reply:
        headers = {"Retry-After": f"{self._concurrency_retry_after:g}"}
        error = GraphError(429, "ApplicationThrottled", CONCURRENCY, headers)
        return _Reply(429, error.body(), headers)

    @contextlib.contextmanager
    def _slots(self, methods: list[str], counted: bool = True) -> Iterator[list[bool]]:
        """Count requests in flight on the mailbox (a top-level request, or a batch wave);
        yields, per request, whether it is over the concurrency limit."""
        n = len(methods) if counted else 0
        writes = sum(1 for m in methods if m in WRITE_METHODS)
        with self._lock:
            base = self._in_flight
            self._in_flight += n
            self._writes_in_flight += writes
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self.max_concurrent_writes = max(self.max_concurrent_writes, self._writes_in_flight)
            limit = self._concurrency
            over = [counted and limit is not None and base + k + 1 > limit for k in range(n)]
        try:
            yield over or [False] * len(methods)
        finally:
            with self._lock:
                self._in_flight -= n
                self._writes_in_flight -= writes

    def _hold(self, target: str) -> None:
        with self._lock:
            if self._delay is None:
                return
            seconds, path_contains = self._delay
            if path_contains is not None and path_contains not in target:
                return
            if self._delay_times is not None:
                self._delay_times -= 1
                if self._delay_times <= 0:
                    self._delay = None
        time.sleep(seconds)

    def _write_hook(self, method: str, path: str) -> None:
        with self._lock:
            callback = self._before_write
            if callback is None:
                return
            if self._before_write_times is not None:
                self._before_write_times -= 1
                if self._before_write_times <= 0:
                    self._before_write = None
        callback(method, path)

    @staticmethod
    def _normalize(path: str) -> str:
        path = re.sub(r"\('([^']*)'\)", lambda m: "/" + m.group(1), path)
        path = "/" + path.strip("/")
        return path

    def _handle(
        self, method: str, path: str, query: Query, headers: dict[str, str], body: Any, inner: bool
    ) -> _Reply:
        """Route one request (top-level or inside a batch) below /v1.0 and carry it out."""
        try:
            path = self._normalize(path)
            user = re.match(r"/users/([^/]+)(/.*)?\Z", path, re.I)
            if user:
                if user.group(1).lower() not in (self.account.lower(), self.user_id):
                    raise GraphError(
                        404, "ErrorInvalidUser", f"The requested user '{user.group(1)}' is invalid."
                    )
                path = "/me" + (user.group(2) or "")
            query = {k.lower() if k.startswith("$") else k: v for k, v in query.items()}
            known_path = False
            for route_method, pattern, handler in ROUTES:
                found = pattern.fullmatch(path)
                if found is None:
                    continue
                known_path = True
                if route_method != method:
                    continue
                if method in WRITE_METHODS:
                    self._write_hook(method, path)
                call = _Call(method, path, found.groupdict(), query, headers, body, inner)
                result: _Reply = getattr(self, handler)(call)
                return result
            if known_path:
                raise GraphError(405, "ErrorInvalidRequest", "The OData request is not supported.")
            segment = path.rstrip("/").rsplit("/", 1)[-1]
            raise _bad(f"Resource not found for the segment '{segment}'.")
        except GraphError as error:
            return _Reply(error.status, error.body(), error.headers)
        except Exception as exc:
            self.internal_errors.append(traceback.format_exc())
            error = GraphError(500, "ErrorInternalServerError", f"Emulator bug: {exc!r}")
            return _Reply(500, error.body())

    def _top_level(
        self,
        method: str,
        path: str,
        query: Query,
        headers: dict[str, str],
        body: bytes,
        target: str,
        fault: _Fault | None,
    ) -> _Reply:
        if not (path == "/v1.0" or path.startswith("/v1.0/")):
            version = path.strip("/").split("/", 1)[0]
            error = _bad(f"Invalid version: {version}")
            return _Reply(400, error.body())
        refused = self._authenticate(headers.get("authorization"))
        if refused is not None:
            return refused
        rel = path[len("/v1.0") :] or "/"
        if rel.rstrip("/").lower() == "/$batch":
            if fault is not None and fault.kind != "drop" and fault.when == "before":
                return self._fault_reply(fault)
            if method != "POST":
                error = GraphError(
                    405, "ErrorInvalidRequest", "The OData request is not supported."
                )
                return _Reply(405, error.body())
            done = self._batch(headers, body)
            if fault is not None and fault.kind != "drop":
                return self._fault_reply(fault)  # carried out, and the answer lost
            return done
        counted = self._normalize(rel).lower() != "/me"
        with self._slots([method], counted) as over:
            if over[0]:
                return self._concurrency_reply()
            if fault is not None and fault.kind != "drop" and fault.when == "before":
                return self._fault_reply(fault)
            self._hold(target)
            done = self._handle(method, rel, query, headers, body, inner=False)
            if fault is not None and fault.kind != "drop":
                return self._fault_reply(fault)
            return done

    # ---- JSON batching ----------------------------------------------------------------------

    def _parse_batch(self, raw: bytes) -> list[_Inner]:
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _bad(BAD_JSON) from None
        items = payload.get("requests") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise _bad("Invalid batch payload format.")  # wording: guess
        if len(items) > MAX_BATCH:
            raise _bad("Number of requests inside batch exceeds the limit.")
        parsed: list[_Inner] = []
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, dict):
                raise _bad("Invalid batch payload format.")
            rid, method, url = item.get("id"), item.get("method"), item.get("url")
            if not (
                isinstance(rid, str)
                and rid
                and isinstance(method, str)
                and method
                and isinstance(url, str)
                and url
            ):
                raise _bad("Invalid batch payload format.")
            if rid.lower() in seen:
                raise _bad(f"Batch request id '{rid}' is not unique.")  # wording: guess
            seen.add(rid.lower())
            headers = item.get("headers") or {}
            depends = item.get("dependsOn") or []
            if not isinstance(headers, dict) or not isinstance(depends, list):
                raise _bad("Invalid batch payload format.")
            lower = {str(k).lower(): str(v) for k, v in headers.items()}
            has_body = item.get("body") is not None
            needs_body = method.upper() in ("POST", "PATCH", "PUT")
            if (has_body or needs_body) and not (has_body and "content-type" in lower):
                raise _bad(
                    f"Write request id : {rid} does not contain Content-Type header or body."
                )
            parsed.append(
                _Inner(rid, method.upper(), url, lower, item.get("body"), [str(d) for d in depends])
            )
        ids = {p.id.lower() for p in parsed}
        for p in parsed:
            for dep in p.depends_on:
                if dep.lower() not in ids or dep.lower() == p.id.lower():
                    raise _bad(f"Request id '{p.id}' depends on an unknown request '{dep}'.")
        return parsed

    @staticmethod
    def _order(requests: list[_Inner]) -> list[_Inner]:
        done: set[str] = set()
        order: list[_Inner] = []
        pending = list(requests)
        while pending:
            ready = [p for p in pending if all(d.lower() in done for d in p.depends_on)]
            if not ready:
                raise _bad("The dependsOn of the batch requests form a cycle.")  # guess
            for p in ready:
                done.add(p.id.lower())
                order.append(p)
                pending.remove(p)
        return order

    def _batch(self, headers: dict[str, str], raw: bytes) -> _Reply:
        try:
            requests = self._parse_batch(raw)
            order = self._order(requests)
        except GraphError as error:
            return _Reply(error.status, error.body())
        sequential = any(p.depends_on for p in requests)
        step = 1 if sequential else BATCH_WAVE
        results: dict[str, Json] = {}
        for start in range(0, len(order), step):
            wave = order[start : start + step]
            with self._slots([p.method for p in wave]) as over:
                for p, throttled in zip(wave, over, strict=True):
                    results[p.id.lower()] = self._inner(p, headers, throttled, results)
        reply = [results[p.id.lower()] for p in reversed(requests)]
        return _Reply(200, {"responses": reply})

    def _inner(
        self, p: _Inner, outer: dict[str, str], throttled: bool, results: dict[str, Json]
    ) -> Json:
        failed = [d for d in p.depends_on if results[d.lower()]["status"] >= 400]
        parts = urlsplit(p.url)
        path = "/" + unquote(parts.path).lstrip("/")
        runs = not failed and not throttled
        fault = self._received(p.method, path, p.url, inner=True, pick=runs)
        if failed:
            error = GraphError(424, "FailedDependency", "A dependency of this request failed.")
            reply = _Reply(424, error.body())
        elif throttled:
            reply = self._concurrency_reply()
        elif parts.scheme or parts.netloc:
            reply = _Reply(400, _bad("The batch request url must be relative.").body())  # guess
        elif fault is not None and fault.kind != "drop" and fault.when == "before":
            reply = self._fault_reply(fault)
        elif path.rstrip("/").lower() == "/$batch":
            reply = _Reply(400, _bad("A batch cannot contain a batch.").body())  # guess
        else:
            query = parse_qs(parts.query, keep_blank_values=True)
            merged = {**{k: v for k, v in outer.items() if k == "authorization"}, **p.headers}
            reply = self._handle(p.method, path, query, merged, p.body, inner=True)
            if fault is not None and fault.kind == "fail":
                reply = self._fault_reply(fault)  # carried out, and the answer lost
        answer: Json = {"id": p.id, "status": reply.status, "headers": dict(reply.headers)}
        if reply.body is not None:
            answer["headers"]["Content-Type"] = JSON_TYPE
            answer["body"] = reply.body
        return answer


class _Handler(Handler):
    server: TlsServer

    def _serve(self, method: str) -> None:
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = emulator._received(method, path, self.path, inner=False)
        if fault is not None and fault.kind == "drop" and fault.when == "before":
            self._hang_up()
            return
        try:
            reply = emulator._top_level(method, path, query, headers, body, self.path, fault)
        except Exception as exc:
            emulator.internal_errors.append(traceback.format_exc())
            reply = _Reply(500, GraphError(500, "ErrorInternalServerError", repr(exc)).body())
        if fault is not None and fault.kind == "drop":
            self._hang_up()
            return
        self._send(reply, headers.get("client-request-id"))

    def _send(self, reply: _Reply, client_request_id: str | None) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        request_id = str(uuid.uuid4())
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", request_id)
        self.send_header("client-request-id", client_request_id or request_id)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def _immutable(headers: dict[str, str]) -> bool:
    """Whether a request prefers immutable ids (``Prefer: IdType="ImmutableId"``): ids that
    stay the same when an item moves to another folder of the mailbox."""
    prefer = headers.get("prefer", "").replace(" ", "").lower()
    return 'idtype="immutableid"' in prefer
