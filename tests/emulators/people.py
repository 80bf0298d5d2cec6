"""A stateful Google People API v1 server on loopback, over https, for the Google Contacts tests.

Why it exists: the Google Contacts connector is tested as it will run, with its real HTTP client,
TLS and all, against a server that keeps state the way Google's does (resource names, etags that
change on every write, contact groups and memberships, paging, sync tokens that expire, the batch
methods and their limits, field masks) and that can be told to misbehave (quota errors, 5xx,
dropped connections, another client editing between our read and our write). Nothing here is
the connector's idea of the API: it follows Google's reference pages, as stored copies of
developers.google.com/people/api/rest/v1/... read while writing it:

- ``people.connections/list``: personFields required (400 without), pageSize 1..1000 (default
  100), pageToken/nextPageToken, requestSyncToken, syncToken/nextSyncToken (on the last page),
  totalPeople (deprecated) and totalItems, sortOrder; deleted contacts come back with
  ``metadata.deleted`` true on sync requests; "when the pageToken or syncToken is specified, all
  other request parameters must match the first call"; an expired token gets "an error with a
  google.rpc.ErrorInfo with reason EXPIRED_SYNC_TOKEN".
- ``people/batchCreateContacts`` (``contacts[].contactPerson``, readMask, at most 200; a failure
  carries ``BatchCreateContactsErrorDetails``: contactErrors keyed by index),
  ``people/batchUpdateContacts`` (``contacts`` map of resource name to Person, updateMask,
  readMask, at most 200; ``BatchUpdateContactsErrorDetails``: contactErrors keyed by resource
  name), ``people/batchDeleteContacts`` (at most 500), ``people/getBatchGet`` (resourceNames, at
  most 200, personFields required; ``PersonResponse``), ``people/get``, ``people/createContact``,
  ``people/updateContact`` (updatePersonFields required; "a 400 error with reason
  failedPrecondition if person.metadata.sources.etag is different than the contact's etag";
  singleton fields biographies, birthdays, genders, names; memberships may not be emptied),
  ``people/deleteContact``.
- ``contactGroups/list`` (pageSize 1..1000, default 30; groupFields default metadata, groupType,
  memberCount, name; syncToken), ``contactGroups/create`` (409 for a duplicate name),
  ``contactGroups/get`` (maxMembers, memberResourceNames), ``contactGroups/delete``,
  ``contactGroups.members/modify`` (resourceNamesToAdd/Remove, at most 1000 together;
  notFoundResourceNames, canNotRemoveLastContactGroupResourceNames; only myContacts and starred
  of the system groups take members).
- The ``people`` resource page (Person, PersonMetadata and Source, FieldMetadata, Name,
  EmailAddress, PhoneNumber, Organization, Address, Birthday and Date, Biography, Url,
  UserDefined, Membership and ContactGroupMembership) and the ``contactGroups`` resource page.
- Google's error model (AIP-193, "API design guide: errors"): ``{"error": {"code", "message",
  "status", "details"}}`` with ``google.rpc.ErrorInfo``/``BadRequest`` details.

What the reference pages do not say, taken from what people report Google answering (issue
threads and captured bodies in public code), or guessed (marked "guess" in the code):

- An expired sync token: the pages said 410 once; Google is observed answering **400**,
  ``INVALID_ARGUMENT``, "Sync token is expired. Clear local cache and retry call without the
  sync token.", ErrorInfo reason ``EXPIRED_SYNC_TOKEN`` (domain people.googleapis.com). That is
  the default; ``expired_sync_token_http=410`` gives the older documented status instead (its
  status string, FAILED_PRECONDITION, is a guess). A client should look for the reason.
- A stale etag: 400 ``FAILED_PRECONDITION`` "Request person.etag is different than the current
  person.etag. Clear local cache and get the latest person." (reported verbatim); no etag at
  all: 400 FAILED_PRECONDITION "Request must set person.etag or person.metadata.sources.etag for
  the source that is being updated." (reported).
- Batch failures are all-or-nothing (the pages say a contact missing from contactErrors "would
  have been successful"), with the first contact's error as the call's own (guess).
- An empty readMask on the batch methods skips the post-mutate read, as the pages say: the call
  succeeds and returns no people (so a client that forgets it learns no resource names).
- 429 RESOURCE_EXHAUSTED bodies follow Google's quota errors (ErrorInfo RATE_LIMIT_EXCEEDED);
  401 UNAUTHENTICATED bodies follow Google's (ErrorInfo ACCESS_TOKEN_EXPIRED or
  CREDENTIALS_MISSING, a ``WWW-Authenticate: Bearer`` header).
- JSON as proto3 writes it: empty lists, zero counts and false flags are left out (an empty
  delta has no ``connections`` key and no ``totalItems``).
- Paging is keyset paging over a snapshot taken at the first page: a contact edited while a
  listing is paged leaves that listing and comes back in the next delta (the pages only say
  writes "may have a propagation delay"). Sync requests must use LAST_MODIFIED_ASCENDING (guess,
  from public code saying Google rejects the others).
- Resource names ``people/c<N>`` with the source id the hex form of N; user groups
  ``contactGroups/<hex>``; system groups myContacts and starred; a new contact is in myContacts
  (guess: Google's pages do not say what a create without memberships does).
- Output-only values are recomputed, not stored: names' displayName/displayNameLastFirst,
  formattedType, phone canonicalForm (E.164 only for numbers written with "+"); an address
  without formattedValue gets one built from its parts.
- Unknown JSON names in a Person (and in the items of the common fields) are refused the way
  Google's JSON parser refuses them ("Invalid JSON payload received. Unknown name ...").
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from emulators.tls_server import Handler, TlsServer, TlsService

Json = dict[str, Any]

MAX_BATCH_CONTACTS = 200  # batchCreateContacts, batchUpdateContacts
MAX_BATCH_GET = 200  # people.getBatchGet
MAX_BATCH_DELETE = 500  # people.batchDeleteContacts
MAX_PAGE_SIZE = 1000  # people.connections.list, contactGroups.list
DEFAULT_PAGE_SIZE = 100
DEFAULT_GROUP_PAGE_SIZE = 30
MAX_MEMBERS_MODIFY = 1000  # resourceNamesToAdd + resourceNamesToRemove
MY_CONTACTS = "contactGroups/myContacts"
STARRED = "contactGroups/starred"

DOCS = "https://developers.google.com/people/api/rest/v1/"
EXPIRED_SYNC_TOKEN = (
    "Sync token is expired. Clear local cache and retry call without the sync token."
)
STALE_ETAG = (
    "Request person.etag is different than the current person.etag. "
    "Clear local cache and get the latest person."
)
MISSING_ETAG = (
    "Request must set person.etag or person.metadata.sources.etag for the source that is "
    "being updated."
)
NOT_FOUND = "Requested entity was not found."
INVALID = "Request contains an invalid argument."

# Read masks (personFields, readMask) and write masks (updatePersonFields, updateMask).
PERSON_FIELDS = frozenset(
    [
        "addresses",
        "ageRanges",
        "biographies",
        "birthdays",
        "calendarUrls",
        "clientData",
        "coverPhotos",
        "emailAddresses",
        "events",
        "externalIds",
        "genders",
        "imClients",
        "interests",
        "locales",
        "locations",
        "memberships",
        "metadata",
        "miscKeywords",
        "names",
        "nicknames",
        "occupations",
        "organizations",
        "phoneNumbers",
        "photos",
        "relations",
        "sipAddresses",
        "skills",
        "urls",
        "userDefined",
    ]
)
UPDATE_FIELDS = frozenset(
    [
        "addresses",
        "biographies",
        "birthdays",
        "calendarUrls",
        "clientData",
        "emailAddresses",
        "events",
        "externalIds",
        "genders",
        "imClients",
        "interests",
        "locales",
        "locations",
        "memberships",
        "miscKeywords",
        "names",
        "nicknames",
        "occupations",
        "organizations",
        "phoneNumbers",
        "relations",
        "sipAddresses",
        "urls",
        "userDefined",
    ]
)
# Every JSON name a Person may carry (output-only ones too: clients send back what they read).
PERSON_KEYS = PERSON_FIELDS | {
    "resourceName",
    "etag",
    "ageRange",
    "braggingRights",
    "fileAses",
    "relationshipInterests",
    "relationshipStatuses",
    "residences",
    "taglines",
}
SINGLETONS = ("names", "biographies", "birthdays", "genders")
# The items of the fields a contacts app uses, as the Person page lists them.
ITEM_KEYS: dict[str, frozenset[str]] = {
    name: frozenset(keys.split()) | {"metadata"}
    for name, keys in {
        "names": "displayName displayNameLastFirst unstructuredName familyName givenName "
        "middleName honorificPrefix honorificSuffix phoneticFullName phoneticFamilyName "
        "phoneticGivenName phoneticMiddleName phoneticHonorificPrefix phoneticHonorificSuffix",
        "nicknames": "value type",
        "emailAddresses": "value type formattedType displayName",
        "phoneNumbers": "value canonicalForm type formattedType",
        "organizations": "type formattedType startDate endDate current name phoneticName "
        "department title jobDescription symbol domain location costCenter "
        "fullTimeEquivalentMillipercent",
        "addresses": "formattedValue type formattedType poBox streetAddress extendedAddress "
        "city region postalCode country countryCode",
        "birthdays": "date text",
        "biographies": "value contentType",
        "urls": "value type formattedType",
        "userDefined": "key value",
        "memberships": "contactGroupMembership domainMembership",
        "events": "date type formattedType",
        "relations": "person type formattedType",
    }.items()
}
OUTPUT_ONLY: dict[str, frozenset[str]] = {
    "names": frozenset({"displayName", "displayNameLastFirst"}),
    "phoneNumbers": frozenset({"formattedType", "canonicalForm"}),
    **{
        name: frozenset({"formattedType"})
        for name in ("emailAddresses", "addresses", "urls", "organizations", "events", "relations")
    },
}
TYPE_LABELS = {
    "home": "Home",
    "work": "Work",
    "other": "Other",
    "mobile": "Mobile",
    "main": "Main",
    "homeFax": "Home Fax",
    "workFax": "Work Fax",
    "otherFax": "Other Fax",
    "pager": "Pager",
    "workMobile": "Work Mobile",
    "workPager": "Work Pager",
    "googleVoice": "Google Voice",
    "homePage": "Home Page",
    "blog": "Blog",
    "profile": "Profile",
    "appInstallPage": "App Install Page",
    "ftp": "FTP",
    "reservations": "Reservations",
    "school": "School",
    "birthday": "Birthday",
    "anniversary": "Anniversary",
}
SORT_ORDERS = (
    "LAST_MODIFIED_ASCENDING",
    "LAST_MODIFIED_DESCENDING",
    "FIRST_NAME_ASCENDING",
    "LAST_NAME_ASCENDING",
)
GROUP_FIELDS = frozenset({"clientData", "groupType", "memberCount", "metadata", "name"})
DEFAULT_GROUP_FIELDS = frozenset({"metadata", "groupType", "memberCount", "name"})
DEFAULT_CREATE_GROUP_FIELDS = frozenset({"metadata", "groupType", "name"})

RPC_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
RPC_NAMES = {code: name for name, code in RPC_CODES.items()}
# google.rpc.Code -> HTTP, as Google's API design guide maps them.
HTTP_OF = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# What fail(status) answers: HTTP status -> (google.rpc status, message).
FAULTS = {
    400: ("INVALID_ARGUMENT", INVALID),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", NOT_FOUND),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "Internal error encountered."),
    501: ("UNIMPLEMENTED", "Operation is not implemented, or supported, or enabled."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class ApiError(Exception):
    """An answer in Google's error shape; raised by the handlers and the direct helpers."""

    def __init__(
        self,
        status: str,
        message: str,
        details: list[Json] | None = None,
        *,
        http: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.details = details or []
        self.http = http if http is not None else HTTP_OF.get(status, 500)
        self.headers = headers or {}

    def body(self) -> Json:
        error: Json = {"code": self.http, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _invalid(message: str = INVALID, details: list[Json] | None = None) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message, details)


def _rpc_status(status: str, message: str) -> Json:
    """A google.rpc.Status, as batch error details and PersonResponse carry it."""
    return {"code": RPC_CODES[status], "message": message}


def _error_info(reason: str, domain: str = "people.googleapis.com", **metadata: str) -> Json:
    info: Json = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason}
    info["domain"] = domain
    if metadata:
        info["metadata"] = metadata
    return info


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


@dataclass
class _Person:
    number: int
    data: dict[str, list[Json]]
    version: int = 0
    update_time: str = ""
    etag: str = ""
    source_etag: str = ""
    deleted: bool = False

    @property
    def resource_name(self) -> str:
        return f"people/c{self.number}"

    @property
    def source_id(self) -> str:
        return f"{self.number:x}"


@dataclass
class _Group:
    resource_name: str
    name: str
    group_type: str  # USER_CONTACT_GROUP or SYSTEM_CONTACT_GROUP
    formatted_name: str
    seq: int
    members: dict[str, None] = field(default_factory=dict)  # person resource names, in order
    client_data: list[Json] = field(default_factory=list)
    version: int = 0
    update_time: str = ""
    etag: str = ""
    deleted: bool = False

    @property
    def group_id(self) -> str:
        return self.resource_name.removeprefix("contactGroups/")


@dataclass
class _Fault:
    kind: Literal["fail", "quota", "drop"]
    times: int | None
    method: str | None
    path_contains: str | None
    after: int
    status: int = 500
    retry_after: float | None = None
    when: Literal["before", "after"] = "before"
    message: str | None = None

    def matches(self, method: str, target: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in target


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    rpc: str
    handler: str


def _route(method: str, pattern: str, rpc: str, handler: str) -> _Route:
    return _Route(method, re.compile(pattern + r"\Z"), rpc, handler)


ROUTES = (
    _route("GET", r"/v1/people/me/connections", "ListConnections", "_list_connections"),
    _route("GET", r"/v1/people:batchGet", "GetPeople", "_get_batch"),
    _route("POST", r"/v1/people:batchCreateContacts", "BatchCreateContacts", "_batch_create"),
    _route("POST", r"/v1/people:batchUpdateContacts", "BatchUpdateContacts", "_batch_update"),
    _route("POST", r"/v1/people:batchDeleteContacts", "BatchDeleteContacts", "_batch_delete"),
    _route("POST", r"/v1/people:createContact", "CreateContact", "_create_contact"),
    _route("PATCH", r"/v1/people/(?P<id>c\d+):updateContact", "UpdateContact", "_update_contact"),
    _route("DELETE", r"/v1/people/(?P<id>c\d+):deleteContact", "DeleteContact", "_delete_contact"),
    _route("GET", r"/v1/people/(?P<id>me|c\d+)", "GetPerson", "_get_person"),
    _route("GET", r"/v1/contactGroups", "ListContactGroups", "_list_groups"),
    _route("POST", r"/v1/contactGroups", "CreateContactGroup", "_create_group"),
    _route(
        "POST",
        r"/v1/contactGroups/(?P<id>[^/:]+)/members:modify",
        "ModifyContactGroupMembers",
        "_modify_members",
    ),
    _route("GET", r"/v1/contactGroups/(?P<id>[^/:]+)", "GetContactGroup", "_get_group"),
    _route("DELETE", r"/v1/contactGroups/(?P<id>[^/:]+)", "DeleteContactGroup", "_delete_group"),
)

Query = dict[str, list[str]]


class PeopleEmulator(TlsService):
    """Google's People API v1 on https://127.0.0.1:PORT/, with its state in memory.

    Point the connector at ``url`` (``/v1/...`` lives under it) and trust ``ca`` (write it with
    :meth:`ca_file`). Every request needs ``Authorization: Bearer <token>``; ``token_valid``
    (when given) decides which tokens are good. State and fault switches are safe to use from
    the test's thread while the connector talks to the server from others.
    """

    def __init__(
        self,
        token_valid: Callable[[str], bool] | None = None,
        *,
        account_email: str = "me@example.com",
        account_name: str = "Emulated User",
        expired_sync_token_http: int = 400,
        host: str = "127.0.0.1",
    ) -> None:
        self.token_valid = token_valid
        self.account_email = account_email
        self.account_name = account_name
        self.expired_sync_token_http = expired_sync_token_http
        self.ca = trustme.CA()
        self.internal_errors: list[str] = []  # tracebacks of the emulator's own failures
        self.max_concurrent_writes = 0  # most mutate requests seen in flight at once
        self._lock = threading.RLock()
        self._instance = uuid.uuid4().hex[:8]
        self._counter = 0  # the change counter: every write takes the next value
        self._epoch = 0  # bumped by expire_sync_tokens(); tokens of older epochs are expired
        self._next_number = 0
        self._persons: dict[str, _Person] = {}
        self._groups: dict[str, _Group] = {}
        self._faults: list[_Fault] = []
        self._before_write: Callable[[str, str], None] | None = None
        self._before_write_times: int | None = None
        self._requests: list[tuple[str, str]] = []
        self._queries: list[Query] = []
        self._writes_in_flight = 0
        for name, label in (("myContacts", "My Contacts"), ("starred", "Starred")):
            group = _Group(f"contactGroups/{name}", name, "SYSTEM_CONTACT_GROUP", label, 0)
            self._groups[group.resource_name] = group
            self._stamp_group(group, bump=False)

        self.port: int = self._serve_tls(host, _Handler, "people-emulator")
        self.url = f"https://{host}:{self.port}/"

    # ---- the request log --------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every request received, as (method, path without the query), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def queries(self) -> list[Query]:
        """The query parameters of every request, in the order of :attr:`requests`."""
        with self._lock:
            return [dict(q) for q in self._queries]

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many requests had this method and a path containing ``path_contains``."""
        with self._lock:
            return sum(
                1
                for m, p in self._requests
                if (method is None or m == method.upper())
                and (path_contains is None or path_contains in p)
            )

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._queries.clear()

    # ---- fault switches ---------------------------------------------------------------------

    def quota(
        self,
        times: int | None = 1,
        retry_after: float | None = None,
        *,
        method: str | None = None,
        path_contains: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next ``times`` matching requests with 429 RESOURCE_EXHAUSTED (None: until
        :meth:`clear_faults`), with ``Retry-After`` when given, after letting ``after`` pass."""
        self._add_fault(
            _Fault("quota", times, method, path_contains, after, 429, retry_after=retry_after)
        )

    def fail(
        self,
        status: int = 500,
        times: int | None = 1,
        method: str | None = None,
        path_contains: str | None = None,
        after: int = 0,
        *,
        retry_after: float | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` in Google's error shape
        (502 as Google's front end does, in HTML), after letting ``after`` of them pass."""
        self._add_fault(
            _Fault(
                "fail",
                times,
                method,
                path_contains,
                after,
                status,
                retry_after=retry_after,
                message=message,
            )
        )

    def drop(
        self,
        times: int | None = 1,
        method: str | None = None,
        path_contains: str | None = None,
        after: int = 0,
        *,
        when: Literal["before", "after"] = "before",
    ) -> None:
        """Close the connection of the next ``times`` matching requests without answering:
        ``when="before"`` does nothing else; ``"after"`` carries the request out first (a write
        happens, its answer is lost)."""
        self._add_fault(_Fault("drop", times, method, path_contains, after, when=when))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._before_write = None

    def before_write(
        self, callback: Callable[[str, str], None] | None, times: int | None = 1
    ) -> None:
        """Call ``callback(method, path)`` just before the next ``times`` mutate requests are
        carried out (None: every one), outside the lock, so it may edit through the helpers
        ("another client edits between our read and our write"). ``None`` clears it."""
        with self._lock:
            self._before_write = callback
            self._before_write_times = times

    def expire_sync_tokens(self) -> None:
        """Expire every sync token issued so far (people and contact groups)."""
        with self._lock:
            self._epoch += 1

    # ---- direct state helpers (no HTTP) -----------------------------------------------------

    def add_person(self, person: Json) -> str:
        """Create a contact from Person JSON (in myContacts and in the groups its memberships
        name); its resource name."""
        self._check_person(person, "person")
        with self._lock:
            groups = self._membership_groups(person.get("memberships") or [], "person")
            return self._create(person, groups).resource_name

    def edit_person(self, resource_name: str, changes: Json) -> None:
        """Replace the given fields of a contact (None or [] clears one; ``memberships`` sets
        its groups), as another client would: a new etag and a change for sync tokens."""
        self._check_person(changes, "person")
        with self._lock:
            p = self._live_person(resource_name)
            if p is None:
                raise KeyError(resource_name)
            if "memberships" in changes:
                groups = self._membership_groups(changes.get("memberships") or [], "person")
                self._set_groups(p, groups)
            for key, value in changes.items():
                if key in UPDATE_FIELDS and key != "memberships":
                    self._set_field(p, key, value)
            self._stamp_person(p)

    def delete_person(self, resource_name: str) -> None:
        """Delete a contact as another client would (sync tokens then report it deleted)."""
        with self._lock:
            p = self._live_person(resource_name)
            if p is None:
                raise KeyError(resource_name)
            self._delete(p)

    def person(self, resource_name: str) -> Json | None:
        """A contact with every field, as people.get would answer; None if there is none."""
        with self._lock:
            p = self._live_person(resource_name)
            return None if p is None else self._render(p, None)

    def persons(self) -> list[Json]:
        """Every contact (not the deleted ones), with every field, oldest first."""
        with self._lock:
            return [self._render(p, None) for p in self._persons.values() if not p.deleted]

    def add_group(self, name: str) -> str:
        """Create a user contact group; its resource name."""
        with self._lock:
            return self._new_group(name, []).resource_name

    def groups(self) -> list[Json]:
        """Every contact group (system ones first), with every field and its members."""
        with self._lock:
            return [
                self._render_group(g, GROUP_FIELDS, max_members=len(g.members) or 0)
                for g in self._groups.values()
                if not g.deleted
            ]

    def members(self, group_resource: str) -> list[str]:
        """The resource names of a group's members, in the order they joined."""
        with self._lock:
            group = self._groups.get(group_resource)
            if group is None or group.deleted:
                raise KeyError(group_resource)
            return list(group.members)

    # ---- state internals (callers hold the lock) --------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _tick(self) -> tuple[int, str]:
        self._counter += 1
        return self._counter, _now()

    def _stamp_person(self, p: _Person) -> None:
        p.version, p.update_time = self._tick()
        payload = [p.number, p.version, p.deleted, p.data, self._groups_of(p)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).digest()
        p.etag = "%" + base64.b64encode(digest[:18]).decode()
        p.source_etag = "#" + base64.b64encode(digest[18:27]).decode()

    def _stamp_group(self, g: _Group, *, bump: bool = True) -> None:
        if bump:
            g.version, g.update_time = self._tick()
        else:
            g.update_time = _now()
        payload = [g.resource_name, g.version, g.name, g.deleted, len(g.members), g.client_data]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).digest()
        g.etag = base64.b64encode(digest[:9]).decode()

    def _live_person(self, resource_name: str) -> _Person | None:
        p = self._persons.get(resource_name)
        return None if p is None or p.deleted else p

    def _groups_of(self, p: _Person) -> list[str]:
        return [g.resource_name for g in self._groups.values() if p.resource_name in g.members]

    def _create(self, person: Json, groups: list[str]) -> _Person:
        self._next_number += 1
        p = _Person(self._next_number, {})
        for key in UPDATE_FIELDS - {"memberships"}:
            self._set_field(p, key, person.get(key))
        self._persons[p.resource_name] = p
        for resource in dict.fromkeys([MY_CONTACTS, *groups]):
            self._join(p, self._groups[resource])
        self._stamp_person(p)
        return p

    def _delete(self, p: _Person) -> None:
        for g in self._groups.values():
            if p.resource_name in g.members:
                del g.members[p.resource_name]
                self._stamp_group(g)
        p.deleted = True
        self._stamp_person(p)

    def _join(self, p: _Person, g: _Group) -> None:
        if p.resource_name not in g.members:
            g.members[p.resource_name] = None
            self._stamp_group(g)

    def _leave(self, p: _Person, g: _Group) -> None:
        if p.resource_name in g.members:
            del g.members[p.resource_name]
            self._stamp_group(g)

    def _set_groups(self, p: _Person, groups: list[str]) -> None:
        wanted = set(groups)
        for g in self._groups.values():
            if g.resource_name in wanted:
                self._join(p, g)
            else:
                self._leave(p, g)

    def _set_field(self, p: _Person, key: str, items: Any) -> None:
        cleaned = [self._clean_item(key, item) for item in items or []]
        if cleaned:
            p.data[key] = cleaned
        else:
            p.data.pop(key, None)

    @staticmethod
    def _clean_item(key: str, item: Json) -> Json:
        drop = OUTPUT_ONLY.get(key, frozenset()) | {"metadata"}
        return {k: copy.deepcopy(v) for k, v in item.items() if k not in drop}

    def _new_group(self, name: Any, client_data: list[Json]) -> _Group:
        if not isinstance(name, str) or not name.strip():
            raise _invalid("Contact group name must not be empty.")  # wording: guess
        if any(
            g.name.casefold() == name.casefold()
            for g in self._groups.values()
            if not g.deleted and g.group_type == "USER_CONTACT_GROUP"
        ):
            raise ApiError("ALREADY_EXISTS", "Contact group name already exists.")  # guess
        seq = len(self._groups)
        gid = hashlib.sha1(f"{self._instance}:{seq}:{name}".encode()).hexdigest()[:16]
        group = _Group(f"contactGroups/{gid}", name, "USER_CONTACT_GROUP", name, seq)
        group.client_data = copy.deepcopy(client_data)
        self._groups[group.resource_name] = group
        self._stamp_group(group)
        return group

    def _membership_groups(self, memberships: list[Json], where: str) -> list[str]:
        groups: list[str] = []
        for i, membership in enumerate(memberships):
            inner = membership.get("contactGroupMembership") or {}
            resource = inner.get("contactGroupResourceName")
            if not resource and inner.get("contactGroupId"):
                resource = f"contactGroups/{inner['contactGroupId']}"
            if not resource:
                continue  # a domainMembership, or nothing: not a contact group
            group = self._groups.get(resource)
            if group is None or group.deleted:
                raise _invalid(f"Contact group not found at '{where}.memberships[{i}]'.")  # guess
            groups.append(resource)
        return groups

    # ---- rendering --------------------------------------------------------------------------

    def _render(self, p: _Person, fields: frozenset[str] | set[str] | None) -> Json:
        """A Person as Google writes it: resourceName and etag always, then the masked fields."""
        out: Json = {"resourceName": p.resource_name, "etag": p.etag}
        source: Json = {"type": "CONTACT", "id": p.source_id}
        if p.deleted:
            full = {**source, "etag": p.source_etag, "updateTime": p.update_time}
            out["metadata"] = {"sources": [full], "deleted": True, "objectType": "PERSON"}
            return out
        if fields is None or "metadata" in fields:
            full = {**source, "etag": p.source_etag, "updateTime": p.update_time}
            out["metadata"] = {"sources": [full], "objectType": "PERSON"}
        for key in sorted(UPDATE_FIELDS):
            if fields is not None and key not in fields:
                continue
            if key == "memberships":
                items = [
                    {
                        "contactGroupMembership": {
                            "contactGroupId": g.removeprefix("contactGroups/"),
                            "contactGroupResourceName": g,
                        }
                    }
                    for g in self._groups_of(p)
                ]
            else:
                items = p.data.get(key, [])
            rendered = [self._render_item(key, item, i, source) for i, item in enumerate(items)]
            if rendered:
                out[key] = rendered
        return out

    @staticmethod
    def _render_item(key: str, item: Json, index: int, source: Json) -> Json:
        meta: Json = {"primary": True, "sourcePrimary": True} if index == 0 else {}
        meta["source"] = dict(source)
        out: Json = {"metadata": meta, **copy.deepcopy(item)}
        kind = item.get("type")
        if isinstance(kind, str) and kind and key in OUTPUT_ONLY:
            out["formattedType"] = TYPE_LABELS.get(kind, kind)
        if key == "names":
            parts = ("honorificPrefix", "givenName", "middleName", "familyName", "honorificSuffix")
            display = " ".join(str(item[k]) for k in parts if item.get(k))
            display = display or str(item.get("unstructuredName") or "")
            if display:
                out["displayName"] = display
                given = " ".join(str(item[k]) for k in parts[:3] if item.get(k))
                family = " ".join(str(item[k]) for k in parts[3:] if item.get(k))
                out["displayNameLastFirst"] = (
                    f"{family}, {given}" if family and given else family or given or display
                )
                out.setdefault("unstructuredName", display)
        elif key == "phoneNumbers":
            value = str(item.get("value") or "")
            if re.fullmatch(r"\+[\d\s().-]+", value):
                out["canonicalForm"] = "+" + re.sub(r"\D", "", value)
        elif key == "addresses" and not item.get("formattedValue"):
            place = " ".join(str(item[k]) for k in ("city", "region", "postalCode") if item.get(k))
            lines = [item.get("poBox"), item.get("streetAddress"), item.get("extendedAddress")]
            lines += [place, item.get("country")]
            formatted = "\n".join(str(line) for line in lines if line)
            if formatted:
                out["formattedValue"] = formatted
        elif key == "biographies":
            out.setdefault("contentType", "TEXT_PLAIN")
        return out

    def _render_group(
        self, g: _Group, fields: frozenset[str] | set[str], *, max_members: int = 0
    ) -> Json:
        out: Json = {"resourceName": g.resource_name, "etag": g.etag}
        if g.deleted:
            out["metadata"] = {"updateTime": g.update_time, "deleted": True}
            return out
        if "metadata" in fields:
            out["metadata"] = {"updateTime": g.update_time}
        if "groupType" in fields:
            out["groupType"] = g.group_type
        if "name" in fields:
            out["name"] = g.name
            out["formattedName"] = g.formatted_name
        if "memberCount" in fields and g.members:
            out["memberCount"] = len(g.members)
        if "clientData" in fields and g.client_data:
            out["clientData"] = copy.deepcopy(g.client_data)
        if max_members > 0 and g.members:
            out["memberResourceNames"] = list(g.members)[:max_members]
        return out

    def _profile(self, fields: set[str] | frozenset[str] | None) -> Json:
        """people/me: the signed-in account's profile."""
        source: Json = {"type": "PROFILE", "id": "100000000000000000001"}
        out: Json = {"resourceName": "people/100000000000000000001", "etag": "%EgMBAgM="}
        if fields is None or "metadata" in fields:
            out["metadata"] = {"sources": [source], "objectType": "PERSON"}
        meta = {"primary": True, "source": source}
        if fields is None or "names" in fields:
            out["names"] = [{"metadata": meta, "displayName": self.account_name}]
        if fields is None or "emailAddresses" in fields:
            out["emailAddresses"] = [{"metadata": meta, "value": self.account_email}]
        return out

    # ---- request validation -----------------------------------------------------------------

    def _check_person(self, person: Any, where: str) -> None:
        """Refuse what Google's JSON parser refuses: unknown names, lists that are not lists."""
        if not isinstance(person, dict):
            raise _invalid(
                f"Invalid value at '{where}' (type.googleapis.com/google.people.v1.Person)"
            )
        for key, value in person.items():
            if key not in PERSON_KEYS:
                raise self._unknown_name(key, where)
            if key in ("resourceName", "etag", "metadata", "ageRange") or value is None:
                continue
            if not isinstance(value, list):
                raise _invalid(
                    f"Invalid value at '{where}.{_snake(key)}': Proto field is repeated, "
                    "expected a list."
                )
            allowed = ITEM_KEYS.get(key)
            for i, item in enumerate(value):
                item_where = f"{where}.{_snake(key)}[{i}]"
                if not isinstance(item, dict):
                    raise _invalid(f"Invalid value at '{item_where}'")
                for name in item:
                    if allowed is not None and name not in allowed:
                        raise self._unknown_name(name, item_where)
                for date_key in ("date", "startDate", "endDate"):
                    if date_key in item:
                        self._check_date(item[date_key], f"{item_where}.{_snake(date_key)}")

    @staticmethod
    def _check_date(date: Any, where: str) -> None:
        ok = isinstance(date, dict) and set(date) <= {"year", "month", "day"}
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in date.values())
        if ok:
            ok = 0 <= date.get("month", 0) <= 12 and 0 <= date.get("day", 0) <= 31
        if not ok:
            raise _invalid(f"Invalid date at '{where}'.")  # wording: guess

    @staticmethod
    def _unknown_name(name: str, where: str) -> ApiError:
        message = (
            f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': "
            "Cannot find field."
        )
        violation = {"field": where, "description": message}
        details = [
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]}
        ]
        return _invalid(message, details)

    @staticmethod
    def _singleton_error(person: Json, fields: set[str] | frozenset[str] | None) -> str | None:
        for key in SINGLETONS:
            if (fields is None or key in fields) and len(person.get(key) or []) > 1:
                return f"Only one {key} field is allowed per contact source."  # wording: guess
        return None

    @staticmethod
    def _mask(
        raw: Any, name: str, valid: frozenset[str], *, required: bool, doc: str
    ) -> frozenset[str] | None:
        """A field mask: None when absent or empty (400 when ``required``)."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                raise _invalid(
                    f"{name} mask is required. Please specify one or more valid paths. "
                    f"Valid paths are documented at {DOCS}{doc}."
                )
            return None
        if not isinstance(raw, str):
            raise _invalid(
                f"Invalid value at '{_snake(name)}' (type.googleapis.com/google.protobuf.FieldMask)"
            )
        paths = [path.strip() for path in raw.split(",") if path.strip()]
        for path in paths:
            if path not in valid:
                raise _invalid(
                    f'Invalid {name} mask path: "{path}". Valid paths are documented at '
                    f"{DOCS}{doc}."
                )
        return frozenset(paths)

    @staticmethod
    def _one(query: Query, name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    def _int(self, query: Query, name: str, *, low: int, high: int, default: int) -> int:
        raw = self._one(query, name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _invalid(f"Invalid value at '{_snake(name)}' (TYPE_INT32), \"{raw}\"") from None
        if not low <= value <= high:
            raise _invalid(f"{name} must be between {low} and {high}.")  # wording: guess
        return value

    def _bool(self, query: Query, name: str) -> bool:
        raw = (self._one(query, name) or "false").lower()
        if raw not in ("true", "false", "1", "0"):
            raise _invalid(f"Invalid value at '{_snake(name)}' (TYPE_BOOL), \"{raw}\"")
        return raw in ("true", "1")

    @staticmethod
    def _json(raw: bytes) -> Json:
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _invalid(f"Invalid JSON payload received. {exc}.") from None
        if not isinstance(body, dict):
            raise _invalid("Invalid JSON payload received. Expected an object.")
        return body

    # ---- tokens -----------------------------------------------------------------------------

    def _sync_token(self, kind: str, counter: int) -> str:
        raw = json.dumps({"i": self._instance, "k": kind, "c": counter, "e": self._epoch})
        return _b64(raw.encode())

    def _since(self, token: str, kind: str) -> int:
        try:
            data = json.loads(_unb64(token))
            valid = data["i"] == self._instance and data["k"] == kind
            counter, epoch = int(data["c"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            valid, counter, epoch = False, 0, 0
        if not valid:
            raise _invalid()
        if epoch != self._epoch:
            http = self.expired_sync_token_http
            status = "INVALID_ARGUMENT" if http == 400 else "FAILED_PRECONDITION"
            raise ApiError(
                status, EXPIRED_SYNC_TOKEN, [_error_info("EXPIRED_SYNC_TOKEN")], http=http
            )
        return counter

    def _page_token(self, kind: str, snapshot: int, last: list[Any], signature: str) -> str:
        raw = json.dumps({"i": self._instance, "k": kind, "s": snapshot, "l": last, "q": signature})
        return _b64(raw.encode())

    def _page(self, token: str, kind: str, signature: str) -> tuple[int, tuple[Any, ...]]:
        try:
            data = json.loads(_unb64(token))
            ok = data["i"] == self._instance and data["k"] == kind and data["q"] == signature
            snapshot, last = int(data["s"]), tuple(data["l"])
        except (ValueError, KeyError, TypeError):
            ok, snapshot, last = False, 0, ()
        if not ok:
            # "When paginating, all other parameters ... must match the first call."
            raise _invalid()
        return snapshot, last

    # ---- people handlers --------------------------------------------------------------------

    def _list_connections(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        doc = "people.connections/list"
        fields = self._mask(
            self._one(query, "personFields"), "personFields", PERSON_FIELDS, required=True, doc=doc
        )
        size = self._int(query, "pageSize", low=0, high=MAX_PAGE_SIZE, default=0)
        size = size or DEFAULT_PAGE_SIZE
        order = self._one(query, "sortOrder") or "LAST_MODIFIED_ASCENDING"
        if order not in SORT_ORDERS:
            raise _invalid(
                f"Invalid value at 'sort_order' (type.googleapis.com/google.people.v1."
                f'ListConnectionsRequest.SortOrder), "{order}"'
            )
        request_sync = self._bool(query, "requestSyncToken")
        sync_token = self._one(query, "syncToken") or None
        if (request_sync or sync_token) and order != "LAST_MODIFIED_ASCENDING":
            raise _invalid("Sync requests must be sorted by LAST_MODIFIED_ASCENDING.")  # guess
        signature = json.dumps(
            [sorted(fields or ()), order, request_sync, sync_token, query.get("sources", [])]
        )
        page_token = self._one(query, "pageToken")
        with self._lock:
            since = self._since(sync_token, "people") if sync_token else None
            if page_token:
                snapshot, last = self._page(page_token, "people", signature)
            else:
                snapshot, last = self._counter, None

            def key(p: _Person) -> tuple[Any, ...]:
                name = (p.data.get("names") or [{}])[0]
                if order == "LAST_MODIFIED_DESCENDING":
                    return (-p.version, p.number)
                if order == "FIRST_NAME_ASCENDING":
                    return (str(name.get("givenName") or "").casefold(), p.number)
                if order == "LAST_NAME_ASCENDING":
                    return (str(name.get("familyName") or "").casefold(), p.number)
                return (p.version, p.number)

            chosen = [
                p
                for p in self._persons.values()
                if p.version <= snapshot
                and (p.version > since if since is not None else not p.deleted)
            ]
            chosen.sort(key=key)
            total = len(chosen)
            if last is not None:
                chosen = [p for p in chosen if key(p) > last]
            page = chosen[:size]
            out: Json = {}
            if page:
                out["connections"] = [self._render(p, fields) for p in page]
            if len(chosen) > size:
                out["nextPageToken"] = self._page_token(
                    "people", snapshot, list(key(page[-1])), signature
                )
            elif request_sync or sync_token:
                out["nextSyncToken"] = self._sync_token("people", snapshot)
            if total:
                out["totalPeople"] = total
                out["totalItems"] = total
            return out

    def _get_person(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        fields = self._mask(
            self._one(query, "personFields"),
            "personFields",
            PERSON_FIELDS,
            required=True,
            doc="people/get",
        )
        if ids["id"] == "me":
            return self._profile(fields)
        with self._lock:
            p = self._live_person(f"people/{ids['id']}")
            if p is None:
                raise ApiError("NOT_FOUND", NOT_FOUND)
            return self._render(p, fields)

    def _get_batch(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        names = query.get("resourceNames", [])
        fields = self._mask(
            self._one(query, "personFields"),
            "personFields",
            PERSON_FIELDS,
            required=True,
            doc="people/getBatchGet",
        )
        if not names:
            raise _invalid("resourceNames must not be empty.")  # wording: guess
        if len(names) > MAX_BATCH_GET:
            raise _invalid(f"Too many resourceNames: at most {MAX_BATCH_GET} are allowed.")
        responses = []
        with self._lock:
            for name in names:
                p = self._live_person(name)
                if name == "people/me":
                    responses.append(self._ok(name, self._profile(fields)))
                elif p is None:
                    responses.append(
                        {
                            "httpStatusCode": 404,
                            "requestedResourceName": name,
                            "status": _rpc_status("NOT_FOUND", NOT_FOUND),
                        }
                    )
                else:
                    responses.append(self._ok(name, self._render(p, fields)))
        return {"responses": responses}

    @staticmethod
    def _ok(requested: str, person: Json) -> Json:
        return {
            "httpStatusCode": 200,
            "person": person,
            "requestedResourceName": requested,
            "status": {},
        }

    def _create_contact(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        fields = self._mask(
            self._one(query, "personFields"),
            "personFields",
            PERSON_FIELDS,
            required=False,
            doc="people/createContact",
        )
        person = self._json(body)
        self._check_person(person, "person")
        singleton = self._singleton_error(person, None)
        if singleton:
            raise _invalid(singleton)
        with self._lock:
            groups = self._membership_groups(person.get("memberships") or [], "person")
            return self._render(self._create(person, groups), fields)

    def _batch_create(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        request = self._json(body)
        for key in request:
            if key not in ("contacts", "readMask", "sources"):
                raise self._unknown_name(key, "")
        contacts = request.get("contacts")
        if not isinstance(contacts, list) or not contacts:
            raise _invalid("contacts must not be empty.")  # wording: guess
        if len(contacts) > MAX_BATCH_CONTACTS:
            raise _invalid(
                f"Too many contacts in the request: at most {MAX_BATCH_CONTACTS} are allowed."
            )
        read = self._mask(
            request.get("readMask"),
            "readMask",
            PERSON_FIELDS,
            required=False,
            doc="people/batchCreateContacts",
        )
        persons: list[Json] = []
        errors: dict[str, Json] = {}
        for i, contact in enumerate(contacts):
            where = f"contacts[{i}]"
            if not isinstance(contact, dict):
                raise _invalid(f"Invalid value at '{where}'")
            for key in contact:
                if key != "contactPerson":
                    raise self._unknown_name(key, where)
            person = contact.get("contactPerson")
            self._check_person(person if person is not None else {}, f"{where}.contact_person")
            person = person or {}
            singleton = self._singleton_error(person, None)
            if singleton:
                errors[str(i)] = _rpc_status("INVALID_ARGUMENT", singleton)
            persons.append(person)
        with self._lock:
            groups_of: list[list[str]] = []
            for i, person in enumerate(persons):
                try:
                    where = f"contacts[{i}].contact_person"
                    groups_of.append(
                        self._membership_groups(person.get("memberships") or [], where)
                    )
                except ApiError as exc:
                    errors.setdefault(str(i), _rpc_status("INVALID_ARGUMENT", exc.message))
                    groups_of.append([])
            if errors:
                raise self._batch_error("BatchCreateContactsErrorDetails", errors)
            created = [self._create(p, g) for p, g in zip(persons, groups_of, strict=True)]
            if read is None:
                return {}  # "If read mask is left empty, the post-mutate-get is skipped"
            return {
                "createdPeople": [self._ok(p.resource_name, self._render(p, read)) for p in created]
            }

    @staticmethod
    def _batch_error(kind: str, errors: dict[str, Json]) -> ApiError:
        first = next(iter(errors.values()))
        status = RPC_NAMES[first["code"]]
        details = [
            {"@type": f"type.googleapis.com/google.people.v1.{kind}", "contactErrors": errors}
        ]
        return ApiError(status, first["message"], details)

    def _etag_error(self, p: _Person, person: Json) -> str | None:
        etag = person.get("etag")
        source_etags = [
            s.get("etag")
            for s in (person.get("metadata") or {}).get("sources") or []
            if isinstance(s, dict) and s.get("type") == "CONTACT" and s.get("etag")
        ]
        if not etag and not source_etags:
            return MISSING_ETAG
        if etag == p.etag or p.source_etag in source_etags:
            return None
        return STALE_ETAG

    def _update_error(
        self, p: _Person | None, person: Json, mask: frozenset[str], where: str
    ) -> tuple[str, str] | None:
        """Why one contact of an update cannot be written: (status, message), or None."""
        if p is None:
            return "NOT_FOUND", NOT_FOUND
        etag = self._etag_error(p, person)
        if etag:
            return "FAILED_PRECONDITION", etag
        singleton = self._singleton_error(person, mask)
        if singleton:
            return "INVALID_ARGUMENT", singleton
        if "memberships" in mask:
            try:
                groups = self._membership_groups(person.get("memberships") or [], where)
            except ApiError as exc:
                return "INVALID_ARGUMENT", exc.message
            if not groups:
                # "a 400 error if memberships are being updated and there are no contact group
                # memberships specified on the person"
                return (
                    "INVALID_ARGUMENT",
                    "A contact must have at least one contact group membership.",
                )
        return None

    def _apply_update(self, p: _Person, person: Json, mask: frozenset[str], where: str) -> None:
        for key in mask:
            if key == "memberships":
                groups = self._membership_groups(person.get("memberships") or [], where)
                self._set_groups(p, groups)
            else:
                # "All specified fields will be replaced, or cleared if left empty"
                self._set_field(p, key, person.get(key))
        self._stamp_person(p)

    def _update_contact(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        doc = "people/updateContact"
        mask = self._mask(
            self._one(query, "updatePersonFields"),
            "updatePersonFields",
            UPDATE_FIELDS,
            required=True,
            doc=doc,
        )
        assert mask is not None
        fields = self._mask(
            self._one(query, "personFields"), "personFields", PERSON_FIELDS, required=False, doc=doc
        )
        person = self._json(body)
        self._check_person(person, "person")
        with self._lock:
            p = self._live_person(f"people/{ids['id']}")
            problem = self._update_error(p, person, mask, "person")
            if problem:
                raise ApiError(*problem)
            assert p is not None
            self._apply_update(p, person, mask, "person")
            return self._render(p, fields)

    def _batch_update(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        request = self._json(body)
        for key in request:
            if key not in ("contacts", "updateMask", "readMask", "sources"):
                raise self._unknown_name(key, "")
        contacts = request.get("contacts")
        if not isinstance(contacts, dict) or not contacts:
            raise _invalid("contacts must not be empty.")  # wording: guess
        if len(contacts) > MAX_BATCH_CONTACTS:
            raise _invalid(
                f"Too many contacts in the request: at most {MAX_BATCH_CONTACTS} are allowed."
            )
        doc = "people/batchUpdateContacts"
        mask = self._mask(
            request.get("updateMask"), "updateMask", UPDATE_FIELDS, required=True, doc=doc
        )
        assert mask is not None
        read = self._mask(
            request.get("readMask"), "readMask", PERSON_FIELDS, required=False, doc=doc
        )
        for name, person in contacts.items():
            self._check_person(person, f"contacts[{name}].value")
        with self._lock:
            errors: dict[str, Json] = {}
            for name, person in contacts.items():
                problem = self._update_error(
                    self._live_person(name), person, mask, f"contacts[{name}].value"
                )
                if problem:
                    errors[name] = _rpc_status(*problem)
            if errors:
                raise self._batch_error("BatchUpdateContactsErrorDetails", errors)
            results: dict[str, Json] = {}
            for name, person in contacts.items():
                p = self._persons[name]
                self._apply_update(p, person, mask, f"contacts[{name}].value")
                if read is not None:
                    results[name] = self._ok(name, self._render(p, read))
            return {"updateResult": results} if results else {}

    def _delete_contact(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        with self._lock:
            p = self._live_person(f"people/{ids['id']}")
            if p is None:
                raise ApiError("NOT_FOUND", NOT_FOUND)
            self._delete(p)
            return {}

    def _batch_delete(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        request = self._json(body)
        names = request.get("resourceNames")
        if not isinstance(names, list) or not names:
            raise _invalid("resourceNames must not be empty.")  # wording: guess
        if len(names) > MAX_BATCH_DELETE:
            raise _invalid(f"Too many resourceNames: at most {MAX_BATCH_DELETE} are allowed.")
        with self._lock:
            found = [self._live_person(str(name)) for name in names]
            if any(p is None for p in found):
                raise ApiError("NOT_FOUND", NOT_FOUND)  # all or nothing: guess
            for p in found:
                assert p is not None
                if not p.deleted:
                    self._delete(p)
            return {}

    # ---- contact group handlers -------------------------------------------------------------

    def _group(self, gid: str) -> _Group:
        group = self._groups.get(f"contactGroups/{gid}")
        if group is None or group.deleted:
            raise ApiError("NOT_FOUND", NOT_FOUND)
        return group

    def _group_fields(self, raw: Any, default: frozenset[str], doc: str) -> frozenset[str]:
        fields = self._mask(raw, "groupFields", GROUP_FIELDS, required=False, doc=doc)
        return fields if fields is not None else default

    def _list_groups(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        fields = self._group_fields(
            self._one(query, "groupFields"), DEFAULT_GROUP_FIELDS, "contactGroups/list"
        )
        size = self._int(query, "pageSize", low=0, high=MAX_PAGE_SIZE, default=0)
        size = size or DEFAULT_GROUP_PAGE_SIZE
        sync_token = self._one(query, "syncToken") or None
        signature = json.dumps([sorted(fields), sync_token])
        page_token = self._one(query, "pageToken")
        with self._lock:
            since = self._since(sync_token, "groups") if sync_token else None
            if page_token:
                snapshot, last = self._page(page_token, "groups", signature)
            else:
                snapshot, last = self._counter, None

            def key(g: _Group) -> tuple[int, int]:
                return (g.version, g.seq)

            chosen = [
                g
                for g in self._groups.values()
                if g.version <= snapshot
                and (g.version > since if since is not None else not g.deleted)
            ]
            chosen.sort(key=key)
            total = len(chosen)
            if last is not None:
                chosen = [g for g in chosen if key(g) > last]
            page = chosen[:size]
            out: Json = {}
            if page:
                out["contactGroups"] = [self._render_group(g, fields) for g in page]
            if total:
                out["totalItems"] = total
            if len(chosen) > size:
                out["nextPageToken"] = self._page_token(
                    "groups", snapshot, list(key(page[-1])), signature
                )
            else:
                out["nextSyncToken"] = self._sync_token("groups", snapshot)
            return out

    def _create_group(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        request = self._json(body)
        for key in request:
            if key not in ("contactGroup", "readGroupFields"):
                raise self._unknown_name(key, "")
        group = request.get("contactGroup")
        if not isinstance(group, dict):
            raise _invalid("contactGroup is required.")  # wording: guess
        for key in group:
            if key not in (
                "resourceName",
                "etag",
                "metadata",
                "groupType",
                "name",
                "formattedName",
                "memberResourceNames",
                "memberCount",
                "clientData",
            ):
                raise self._unknown_name(key, "contact_group")
        fields = self._group_fields(
            request.get("readGroupFields"), DEFAULT_CREATE_GROUP_FIELDS, "contactGroups/create"
        )
        with self._lock:
            created = self._new_group(group.get("name"), group.get("clientData") or [])
            return self._render_group(created, fields)

    def _get_group(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        fields = self._group_fields(
            self._one(query, "groupFields"), DEFAULT_GROUP_FIELDS, "contactGroups/get"
        )
        max_members = self._int(query, "maxMembers", low=0, high=2**31 - 1, default=0)
        with self._lock:
            return self._render_group(self._group(ids["id"]), fields, max_members=max_members)

    def _delete_group(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        delete_contacts = self._bool(query, "deleteContacts")
        with self._lock:
            group = self._group(ids["id"])
            if group.group_type != "USER_CONTACT_GROUP":
                raise ApiError("FAILED_PRECONDITION", "System contact groups cannot be deleted.")
            for name in list(group.members):
                p = self._persons[name]
                if delete_contacts:
                    self._delete(p)
                else:
                    self._leave(p, group)
                    self._stamp_person(p)
            group.deleted = True
            self._stamp_group(group)
            return {}

    def _modify_members(self, query: Query, body: bytes, ids: dict[str, str]) -> Json:
        request = self._json(body)
        for key in request:
            if key not in ("resourceNamesToAdd", "resourceNamesToRemove"):
                raise self._unknown_name(key, "")
        to_add = request.get("resourceNamesToAdd") or []
        to_remove = request.get("resourceNamesToRemove") or []
        if not isinstance(to_add, list) or not isinstance(to_remove, list):
            raise _invalid()
        if len(to_add) + len(to_remove) > MAX_MEMBERS_MODIFY:
            raise _invalid(
                "The total number of resource names to add and to remove must be less than or "
                f"equal to {MAX_MEMBERS_MODIFY}."
            )
        with self._lock:
            group = self._group(ids["id"])
            if (
                to_add
                and group.group_type == "SYSTEM_CONTACT_GROUP"
                and group.resource_name
                not in (
                    MY_CONTACTS,
                    STARRED,
                )
            ):
                raise ApiError(
                    "FAILED_PRECONDITION", "Contacts cannot be added to this system contact group."
                )
            not_found: list[str] = []
            last_group: list[str] = []
            for name in to_add:
                p = self._live_person(str(name))
                if p is None:
                    not_found.append(str(name))
                elif p.resource_name not in group.members:
                    self._join(p, group)
                    self._stamp_person(p)
            for name in to_remove:
                p = self._live_person(str(name))
                if p is None:
                    not_found.append(str(name))
                elif p.resource_name in group.members:
                    if len(self._groups_of(p)) == 1:
                        last_group.append(p.resource_name)
                        continue
                    self._leave(p, group)
                    self._stamp_person(p)
            out: Json = {}
            if not_found:
                out["notFoundResourceNames"] = not_found
            if last_group:
                out["canNotRemoveLastContactGroupResourceNames"] = last_group
            return out

    # ---- the request pipeline (called by the handler threads) -------------------------------

    def _received(self, method: str, path: str, target: str, query: Query) -> _Fault | None:
        """Log a request and pick the fault, if any, that takes it (matched on the raw target:
        the path with its query)."""
        with self._lock:
            self._requests.append((method, path))
            self._queries.append(query)
            chosen: _Fault | None = None
            for fault in self._faults:
                if not fault.matches(method, target):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                elif chosen is None:
                    chosen = fault
                    if fault.times is not None:
                        fault.times -= 1
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
            return chosen

    def _authenticate(self, authorization: str | None, rpc: str) -> ApiError | None:
        service = "ContactGroupService" if "ContactGroup" in rpc else "PeopleService"
        metadata = {
            "service": "people.googleapis.com",
            "method": f"google.people.v1.{service}.{rpc}",
        }
        found = re.fullmatch(r"\s*Bearer\s+(\S+)\s*", authorization or "", re.IGNORECASE)
        realm = 'Bearer realm="https://accounts.google.com/"'
        if found is None:
            return ApiError(
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                [_error_info("CREDENTIALS_MISSING", "googleapis.com", **metadata)],
                headers={"WWW-Authenticate": realm},
            )
        if self.token_valid is not None and not self.token_valid(found.group(1)):
            return ApiError(
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                [_error_info("ACCESS_TOKEN_EXPIRED", "googleapis.com", **metadata)],
                headers={"WWW-Authenticate": f'{realm}, error="invalid_token"'},
            )
        return None

    def _fault_answer(self, fault: _Fault, method: str) -> tuple[int, dict[str, str], bytes, str]:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if fault.kind == "quota":
            kind = "read" if method == "GET" else "write"
            metric = f"people.googleapis.com/{kind}_requests"
            limit = f"{kind.capitalize()}RequestsPerMinutePerUser"
            message = fault.message or (
                f"Quota exceeded for quota metric '{kind.capitalize()} requests' and limit "
                f"'{kind.capitalize()} requests per minute per user' of service "
                "'people.googleapis.com' for consumer 'project_number:000000000000'."
            )
            info = _error_info(
                "RATE_LIMIT_EXCEEDED",
                "googleapis.com",
                quota_metric=metric,
                quota_limit=limit,
                service="people.googleapis.com",
                consumer="projects/000000000000",
            )
            error = ApiError("RESOURCE_EXHAUSTED", message, [info], http=429, headers=headers)
            return (
                429,
                error.headers,
                json.dumps(error.body()).encode(),
                "application/json; charset=UTF-8",
            )
        if fault.status == 502:
            html = (
                "<!DOCTYPE html><html lang=en><title>Error 502 (Server Error)!!1</title>"
                "<p><b>502.</b> That’s an error.</html>"
            ).encode()
            return 502, headers, html, "text/html; charset=UTF-8"
        status, message = FAULTS.get(fault.status, ("UNKNOWN", "Unknown error."))
        error = ApiError(status, fault.message or message, http=fault.status, headers=headers)
        return (
            fault.status,
            error.headers,
            json.dumps(error.body()).encode(),
            "application/json; charset=UTF-8",
        )

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

    @contextlib.contextmanager
    def _write_in_flight(self, method: str) -> Iterator[None]:
        if method not in WRITE_METHODS:
            yield
            return
        with self._lock:
            self._writes_in_flight += 1
            self.max_concurrent_writes = max(self.max_concurrent_writes, self._writes_in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._writes_in_flight -= 1

    def _dispatch(self, route: _Route, ids: dict[str, str], query: Query, body: bytes) -> Json:
        handler: Callable[[Query, bytes, dict[str, str]], Json] = getattr(self, route.handler)
        return handler(query, body, ids)


def _not_found_page(path: str) -> bytes:
    """What Google's front end answers for a URL no method lives at."""
    return (
        "<!DOCTYPE html><html lang=en><meta charset=utf-8><title>Error 404 (Not Found)!!1</title>"
        f"<p><b>404.</b> That’s an error.<p>The requested URL <code>{path}</code> was not found "
        "on this server. That’s all we know.</html>"
    ).encode()


class _Handler(Handler):
    server: TlsServer

    def _serve(self, method: str) -> None:
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        fault = emulator._received(method, path, self.path, query)
        if fault is not None and fault.kind == "drop" and fault.when == "before":
            self._hang_up()
            return
        with emulator._write_in_flight(method):
            status, headers, payload, content_type = self._answer(
                emulator, method, path, query, body, fault
            )
            if fault is not None and fault.kind == "drop":
                self._hang_up()
                return
            self._send(status, headers, payload, content_type)

    def _answer(
        self,
        emulator: PeopleEmulator,
        method: str,
        path: str,
        query: Query,
        body: bytes,
        fault: _Fault | None,
    ) -> tuple[int, dict[str, str], bytes, str]:
        json_type = "application/json; charset=UTF-8"
        match = None
        route = None
        for candidate in ROUTES:
            if candidate.method == method:
                match = candidate.pattern.match(path)
                if match:
                    route = candidate
                    break
        if route is None or match is None:
            return 404, {}, _not_found_page(path), "text/html; charset=UTF-8"
        refused = emulator._authenticate(self.headers.get("Authorization"), route.rpc)
        if refused is not None:
            return refused.http, refused.headers, json.dumps(refused.body()).encode(), json_type
        if fault is not None and fault.kind in ("fail", "quota"):
            return emulator._fault_answer(fault, method)
        if method in WRITE_METHODS:
            emulator._write_hook(method, path)
        try:
            result = emulator._dispatch(route, match.groupdict(), query, body)
        except ApiError as error:
            return error.http, error.headers, json.dumps(error.body()).encode(), json_type
        except Exception as exc:
            emulator.internal_errors.append(traceback.format_exc())
            error = ApiError("INTERNAL", f"Emulator bug: {exc!r}")
            return 500, {}, json.dumps(error.body()).encode(), json_type
        return 200, {}, json.dumps(result).encode(), json_type

    def _send(
        self, status: int, headers: dict[str, str], payload: bytes, content_type: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
