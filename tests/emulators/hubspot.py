"""A stateful HubSpot CRM API server (contacts, their properties, static lists, unsubscribes) on
loopback, over https, for the HubSpot connector's tests.

Why it exists: the HubSpot connector is tested as it will run, with its real HTTP client, TLS and
all, against a server that keeps state the way a HubSpot account does (numeric record ids,
property definitions with types, options and read-only flags, the email dedupe, lastmodifieddate
set on every write, cursor paging, the search index with its own limits, MANUAL lists and their
memberships) and that can be told to misbehave (the burst, daily and search rate limits with
HubSpot's 429 bodies, 5xx, dropped connections, a revoked token, missing scopes, a search index
that lags behind writes, another client editing between our read and our write). Nothing here
is the connector's idea of the API: it follows HubSpot's developer documentation (stored copies
of developers.hubspot.com read while writing it) and, where that is silent, what HubSpot's own
SDKs and issue threads show HubSpot answering:

- CRM API | Contacts (``/crm/v3/objects/contacts``; create answers 201; "include at least one of
  email, firstname or lastname" is advice, not enforced; ``idProperty=email`` on reads and
  updates; "for batch create actions, you can enable multi-status errors"), the objects
  reference pages (``batch/read``, ``batch/create``, ``batch/update``, ``batch/archive``; the
  ``BatchResponseSimplePublicObject`` shape: status, results, startedAt, completedAt, errors,
  numErrors; inputs carry an optional ``objectWriteTraceId``), a single DELETE archives and
  answers 204 even for an id that does not exist (reported in an issue thread).
- Properties API (``/crm/v3/properties/contacts``: name, label, type, fieldType, groupName,
  options with label/value/displayOrder/hidden, hubspotDefined, calculated, externalOptions,
  hasUniqueValue, hidden, formField, modificationMetadata {archivable, readOnlyDefinition,
  readOnlyValue}); types string/number/date/datetime/enumeration/bool and the field types
  text/textarea/number/date/select/radio/checkbox/booleancheckbox/phonenumber; "you can clear a
  property value by setting it to an empty string"; date properties take midnight UTC.
- Error handling (``{"status": "error", "message", "correlationId", "category", ...}``; "207
  Multi-Status ... when you've enabled multi-status error handling for the object API batch
  create endpoints": every input carries a unique ``objectWriteTraceId``). Without it a batch
  is all or nothing: one invalid input refuses the whole batch (400 VALIDATION_ERROR, or 409
  CONFLICT naming the first duplicate, as issue threads report) and nothing is written.
- Property-value errors as HubSpot answers them (many captured bodies): 400 VALIDATION_ERROR,
  message ``Property values were not valid: [{"isValid":false,"message":...,"error":CODE,
  "name":...}]`` with the codes PROPERTY_DOESNT_EXIST (``Property "x" does not exist``),
  READ_ONLY_VALUE (``"hs_object_id" is a calculated property; its value cannot be set.``),
  INVALID_OPTION (``v was not one of the allowed options: [a, b]``), INVALID_EMAIL (``Email
  address x is invalid``); a duplicate email: 409 CONFLICT ``Contact already exists. Existing
  ID: N``.
- CRM search (``POST /crm/v3/objects/contacts/search``: filterGroups ORed, filters ANDed,
  operators EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY CONTAINS_TOKEN
  NOT_CONTAINS_TOKEN; one sort; limit up to 200; ``after``; ``total``; the default properties
  createdate, email, firstname, hs_object_id, lastmodifieddate, lastname; "limited to 10,000
  total results for any given query", paging beyond answers 400). Filter limits: the search
  page (and third parties quoting it) say 5 groups of at most 6 filters, 18 in all; a 2024
  changelog entry announced 5, 10 and 25 instead. The stricter numbers are used
  (``MAX_FILTERS_PER_GROUP``, ``MAX_FILTERS``). Search results lag writes by a few seconds
  (documented), and not every record by as much (reported: the index catches up out of
  lastmodifieddate order); no lag by default, ``search_lag(seconds)`` adds one and
  ``search_lag(seconds, contact_id)`` one contact's own.
- API usage guidelines and limits: apps in a Free or Starter account 100 requests per 10 seconds
  and 250,000 a day, Professional 190 and 625,000, Enterprise 190 and 1,000,000; the search
  endpoints 5 requests a second (the 2020 changelog said 4; today's page says 5); the headers
  X-HubSpot-RateLimit-Daily, -Daily-Remaining, -Interval-Milliseconds, -Max, -Remaining; the 429
  body ``{"status":"error","message":"You have reached your ten_secondly_rolling limit.",
  "errorType":"RATE_LIMIT","correlationId":...,"policyName":"TEN_SECONDLY_ROLLING",
  "groupName":...}`` (captured verbatim in an SDK issue). The guidelines document no
  Retry-After header and none is sent unless a test asks for one (``throttle(retry_after=)``):
  a client must back off on its own (the 10 second window, or the next second for search).
- Lists v3 (``POST /crm/v3/lists`` with objectTypeId ``0-1`` and processingType MANUAL or
  SNAPSHOT; ``GET /crm/v3/lists/{listId}``; ``GET /crm/v3/lists/object-type-id/{objectTypeId}/
  name/{listName}``; ``GET /crm/v3/lists?listIds=``; ``POST /crm/v3/lists/search`` (query,
  count, offset; hasMore, offset, total); ``PUT .../memberships/add`` and ``/remove`` (a JSON
  array of record ids), ``PUT .../memberships/add-and-remove`` (recordIdsToAdd,
  recordIdsToRemove), ``DELETE .../memberships``, ``GET .../memberships`` (recordId,
  membershipTimestamp; paging), ``GET /crm/v3/lists/records/{objectTypeId}/{recordId}/
  memberships`` (listId, listVersion, firstAddedTimestamp, lastAddedTimestamp; total)). The
  membership answer spells ``recordsIdsAdded`` (sic) beside ``recordIdsRemoved`` and
  ``recordIdsMissing``, as HubSpot's SDK models do; records that do not exist are "missing",
  records already members are ignored.
- Account information (``GET /account-info/v3/details``: portalId, accountType, timeZone,
  companyCurrency, additionalCurrencies, utcOffset, utcOffsetMilliseconds, uiDomain,
  dataHostingLocation; its scope is ``oauth``, which every token has, so any granted scope
  will do here), which is how a client learns the portal a private app's token belongs to.
- Subscription preferences v3 (``GET /communication-preferences/v3/status/email/{email}``:
  recipient, subscriptionStatuses with id, name, description, status SUBSCRIBED or
  NOT_SUBSCRIBED, sourceOfStatus, legalBasis; the status belongs to the email address, not to a
  contact record). A connector should read ``hs_email_optout`` ("Unsubscribed from all email")
  with the contact: it comes in the same batch read or search, needs no extra scope, and is what
  "opted out of everything" means; the status endpoint costs one request per address and is
  only needed for per-subscription-type statuses.

Guessed (marked "guess" in the code):

- Error wordings and categories the pages do not give: 404 bodies, the messages for a batch of
  more than 100 inputs, a limit over the maximum, too many filters, paging past 10,000, a number
  or date that does not parse (INVALID_FLOAT, INVALID_DATE, INVALID_DATETIME, INVALID_BOOLEAN),
  an unknown list, a duplicate list name (the subCategory ``ILS.DUPLICATE_LIST_NAMES`` is
  reported); the 403 MISSING_SCOPES body follows captured answers, its scope lists are guesses.
- Batch update: all or nothing like create; a missing id refuses the whole batch (404
  OBJECT_NOT_FOUND); multi-status when every input has an objectWriteTraceId (the input schema
  has it; the error page only names batch create). Batch read answers 207 with an
  OBJECT_NOT_FOUND error for ids it cannot find (reported). Batch archive ignores unknown ids.
- Which properties are read-only: createdate, lastmodifieddate, hs_object_id (calculated) and
  hs_email_optout (set by unsubscribes, never by a property write). Emails are stored in lower
  case and compared case-insensitively; an archived contact's email does not block a new one.
- Every write sets lastmodifieddate and updatedAt, even one that changes nothing. Answers to
  creates and updates carry the written properties plus createdate, hs_object_id and
  lastmodifieddate; reads always add those three to the properties asked for, and a property
  asked for without a value comes back null.
- Ids: contacts 1, 51, 101, ... (a fresh portal's ids step by 50); lists 1, 2, 3, ...; the
  object listing's ``after`` is the next id; search's ``after`` is an offset; a list's
  membership paging token is opaque. Search orders by id unless sorted; records with equal sort
  values come in a fixed order that is not id order (HubSpot documents none); string
  comparisons are case-insensitive; NEQ and NOT_IN match records without a value.
- Rate limits count authenticated requests only, and a refused request does not count; search
  requests count against the burst limit too; search answers carry no X-HubSpot-RateLimit
  headers (reported in HubSpot's community). The search 429 uses policyName SECONDLY. The day
  for the daily limit is the UTC day.
- Required properties: HubSpot's contact property definitions have no "required" flag (that is
  a form/UI notion; only custom-object schemas have requiredProperties), so there is no
  ``require()`` switch: a connector that needs an email checks it itself.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import fnmatch
import json
import re
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

import trustme

from emulators.tls_server import Handler, TlsServer, TlsService

Json = dict[str, Any]
Query = dict[str, list[str]]

CONTACTS_TYPE_ID = "0-1"
MAX_BATCH = 100
DEFAULT_PAGE = 10
MAX_PAGE = 100
DEFAULT_SEARCH_PAGE = 10
MAX_SEARCH_PAGE = 200
SEARCH_CAP = 10_000
MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
SEARCH_PER_SECOND = 5
WINDOW_MS = 10_000
DEFAULT_MEMBERSHIP_PAGE = 100
MAX_MEMBERSHIP_PAGE = 250
DEFAULT_LIST_SEARCH_COUNT = 20
MAX_LIST_SEARCH_COUNT = 500  # guess
FIRST_CONTACT_ID = 1
CONTACT_ID_STEP = 50  # guess: what a fresh portal's ids look like
BURST_LIMITS = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190}
DAILY_LIMITS = {
    "free": 250_000,
    "starter": 250_000,
    "professional": 625_000,
    "enterprise": 1_000_000,
}
CONTACT_READ = "crm.objects.contacts.read"
CONTACT_WRITE = "crm.objects.contacts.write"
SCHEMA_READ = "crm.schemas.contacts.read"
SCHEMA_WRITE = "crm.schemas.contacts.write"
LISTS_READ = "crm.lists.read"
LISTS_WRITE = "crm.lists.write"
PREFERENCES_READ = "communication_preferences.read"
ALL_SCOPES = (
    CONTACT_READ,
    CONTACT_WRITE,
    SCHEMA_READ,
    SCHEMA_WRITE,
    LISTS_READ,
    LISTS_WRITE,
    PREFERENCES_READ,
)
DEFAULT_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")  # guess
JSON_TYPE = "application/json;charset=utf-8"
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SCOPES_MESSAGE = (
    "This app hasn't been granted all required scopes to make this call. Read more about "
    "required scopes here: https://developers.hubspot.com/scopes."
)
NOT_FOUND = "resource not found"  # guess
READ_NOT_FOUND = (
    "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are "
    "valid."
)
UPDATE_NOT_FOUND = (  # guess
    "Could not update some CONTACT objects, they may be deleted or not exist. Check that ids "
    "are valid."
)
POLICIES = {
    "TEN_SECONDLY_ROLLING": (
        "You have reached your ten_secondly_rolling limit.",
        "publicapi:private-app-api-calls-ten-secondly:{portal}",  # guess: the group's name
    ),
    "DAILY": (
        "You have reached your daily limit.",
        "publicapi:private-app-api-calls-daily:{portal}",
    ),
    "SECONDLY": ("You have reached your secondly limit.", "publicapi:crm-search-secondly:{portal}"),
}
TYPE_FIELD_TYPES = {
    "string": {"text", "textarea", "phonenumber", "file", "html"},
    "number": {"number"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox"},
}
TYPO_TLDS = frozenset({"con", "cpm", "cmo", "comm", "ocm"})  # guess: HubSpot checks real TLDs
EMAIL_SHAPE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
)
NUMBER_SHAPE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
READ_ONLY_POSTS = ("/search", "/batch/read")
SUBSCRIPTION_TYPES = (  # guess: the two types a fresh portal has
    ("1", "Marketing Information", "Marketing offers and updates."),
    ("2", "One to One", "One to one emails."),
)


class HubSpotError(Exception):
    """An answer in HubSpot's error shape; raised by the handlers and the direct helpers."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str,
        extra: Json | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {category}: {message}")
        self.status = status
        self.message = message
        self.category = category
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> Json:
        out: Json = {"status": "error", "message": self.message, "correlationId": str(uuid.uuid4())}
        out.update(self.extra)
        if self.category:
            out["category"] = self.category
        return out


def _bad(message: str, **extra: Any) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", extra)


def _not_found(message: str = NOT_FOUND, **extra: Any) -> HubSpotError:
    return HubSpotError(404, message, "OBJECT_NOT_FOUND", extra)


def _not_implemented(what: str) -> HubSpotError:
    return _bad(f"{what} is not implemented by the emulator.")


def _iso(ms: int) -> str:
    """A timestamp as HubSpot writes it (Java's Instant: milliseconds only when not zero)."""
    stamp = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z" if ms % 1000 else f"{stamp}Z"


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%d")


def _parse_instant(text: str) -> int | None:
    """Epoch milliseconds from epoch milliseconds or ISO 8601 (a bare date is midnight UTC)."""
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if DATE_SHAPE.fullmatch(text):
        try:
            d = date.fromisoformat(text)
        except ValueError:
            return None
        return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # guess: a naive time is UTC
    return int(parsed.timestamp() * 1000)


def _shuffled(cid: int) -> int:
    """A fixed stand-in for the order HubSpot gives records of equal sort values (guess)."""
    return (cid * 2_654_435_761) % 4_294_967_291


def _b64(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass
class _Property:
    name: str
    label: str
    type: str
    field_type: str
    group: str = "contactinformation"
    description: str = ""
    options: list[Json] = field(default_factory=list)
    hubspot_defined: bool = True
    read_only_value: bool = False
    read_only_definition: bool = True
    calculated: bool = False
    has_unique_value: bool = False
    form_field: bool = True
    hidden: bool = False
    display_order: int = -1
    created_ms: int = 0
    updated_ms: int = 0

    def render(self) -> Json:
        return {
            "updatedAt": _iso(self.updated_ms),
            "createdAt": _iso(self.created_ms),
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group,
            "options": copy.deepcopy(self.options),
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.read_only_definition,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "dataSensitivity": "non_sensitive",
        }


def _options(pairs: Iterable[tuple[str, str]]) -> list[Json]:
    return [
        {"label": label, "value": value, "description": "", "displayOrder": i, "hidden": False}
        for i, (value, label) in enumerate(pairs)
    ]


def _standard_properties() -> list[_Property]:
    text = (
        ("firstname", "First Name"),
        ("lastname", "Last Name"),
        ("company", "Company Name"),
        ("jobtitle", "Job Title"),
        ("website", "Website URL"),
        ("address", "Street Address"),
        ("city", "City"),
        ("state", "State/Region"),
        ("zip", "Postal Code"),
        ("country", "Country/Region"),
    )
    props = [
        _Property(name, label, "string", "text", read_only_definition=True) for name, label in text
    ]
    props.append(_Property("email", "Email", "string", "text"))
    props += [
        _Property("phone", "Phone Number", "string", "phonenumber"),
        _Property("mobilephone", "Mobile Phone Number", "string", "phonenumber"),
        _Property("fax", "Fax Number", "string", "phonenumber"),
        _Property(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            options=_options(
                (
                    ("subscriber", "Subscriber"),
                    ("lead", "Lead"),
                    ("marketingqualifiedlead", "Marketing Qualified Lead"),
                    ("salesqualifiedlead", "Sales Qualified Lead"),
                    ("opportunity", "Opportunity"),
                    ("customer", "Customer"),
                    ("evangelist", "Evangelist"),
                    ("other", "Other"),
                )
            ),
            group="contactinformation",
        ),
        _Property(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            options=_options(
                (
                    ("NEW", "New"),
                    ("OPEN", "Open"),
                    ("IN_PROGRESS", "In Progress"),
                    ("OPEN_DEAL", "Open Deal"),
                    ("UNQUALIFIED", "Unqualified"),
                    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
                    ("CONNECTED", "Connected"),
                    ("BAD_TIMING", "Bad Timing"),
                )
            ),
            group="sales_properties",
        ),
        _Property(
            "hs_email_optout",
            "Unsubscribed from all email",
            "bool",
            "booleancheckbox",
            options=_options((("true", "Yes"), ("false", "No"))),
            read_only_value=True,  # guess: set by unsubscribes only
            form_field=False,
            group="emailinformation",
        ),
        _Property(
            "createdate",
            "Create Date",
            "datetime",
            "date",
            read_only_value=True,  # guess
            form_field=False,
        ),
        _Property(
            "lastmodifieddate",
            "Last Modified Date",
            "datetime",
            "date",
            read_only_value=True,
            form_field=False,
        ),
        _Property(
            "hs_object_id",
            "Record ID",
            "number",
            "number",
            read_only_value=True,
            calculated=True,
            has_unique_value=True,
            form_field=False,
        ),
    ]
    for i, prop in enumerate(props):
        prop.display_order = i
    return props


@dataclass
class _Contact:
    id: int
    values: dict[str, str] = field(default_factory=dict)  # non-empty values, as stored
    created_ms: int = 0
    updated_ms: int = 0
    archived: bool = False
    archived_ms: int = 0


@dataclass
class _List:
    id: int
    name: str
    processing_type: str
    created_ms: int
    updated_ms: int
    version: int = 1
    members: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (first, last) add


@dataclass
class _Fault:
    kind: Literal["fail", "drop", "throttle"]
    times: int | None
    path_contains: str | None
    after: int
    status: int = 500
    when: Literal["before", "after"] = "before"
    policy: str = "TEN_SECONDLY_ROLLING"
    retry_after: float | None = None

    def matches(self, target: str) -> bool:
        return self.path_contains is None or self.path_contains in target


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Call:
    method: str
    path: str
    ids: dict[str, str]
    query: Query
    body: bytes


@dataclass
class _Issue:
    name: str
    error: str
    message: str

    def render(self, portal_id: int) -> Json:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": portal_id,
        }


def _route(method: str, pattern: str, handler: str, scopes: tuple[str, ...]) -> tuple[Any, ...]:
    return (method, re.compile(pattern + r"/?\Z"), handler, scopes)


OBJ = r"/crm/v3/objects/contacts"
LISTS = r"/crm/v3/lists"
ROUTES: tuple[tuple[Any, ...], ...] = (
    _route("GET", r"/crm/v3/properties/contacts", "_list_properties", (SCHEMA_READ, CONTACT_READ)),
    _route("POST", r"/crm/v3/properties/contacts", "_create_property", (SCHEMA_WRITE,)),
    _route(
        "GET",
        r"/crm/v3/properties/contacts/(?P<name>[^/]+)",
        "_get_property",
        (SCHEMA_READ, CONTACT_READ),
    ),
    _route("POST", OBJ + r"/search", "_search", (CONTACT_READ,)),
    _route("POST", OBJ + r"/batch/read", "_batch_read", (CONTACT_READ,)),
    _route("POST", OBJ + r"/batch/create", "_batch_create", (CONTACT_WRITE,)),
    _route("POST", OBJ + r"/batch/update", "_batch_update", (CONTACT_WRITE,)),
    _route("POST", OBJ + r"/batch/archive", "_batch_archive", (CONTACT_WRITE,)),
    _route("GET", OBJ, "_list_contacts", (CONTACT_READ,)),
    _route("POST", OBJ, "_create_contact", (CONTACT_WRITE,)),
    _route("GET", OBJ + r"/(?P<cid>[^/]+)", "_get_contact", (CONTACT_READ,)),
    _route("PATCH", OBJ + r"/(?P<cid>[^/]+)", "_update_contact", (CONTACT_WRITE,)),
    _route("DELETE", OBJ + r"/(?P<cid>[^/]+)", "_archive_contact", (CONTACT_WRITE,)),
    _route("POST", LISTS, "_create_list", (LISTS_WRITE,)),
    _route("GET", LISTS, "_get_lists", (LISTS_READ,)),
    _route("POST", LISTS + r"/search", "_search_lists", (LISTS_READ,)),
    _route(
        "GET",
        LISTS + r"/object-type-id/(?P<otype>[^/]+)/name/(?P<lname>[^/]+)",
        "_list_by_name",
        (LISTS_READ,),
    ),
    _route(
        "GET",
        LISTS + r"/records/(?P<otype>[^/]+)/(?P<rid>[^/]+)/memberships",
        "_record_memberships",
        (LISTS_READ,),
    ),
    _route("PUT", LISTS + r"/(?P<lid>[^/]+)/memberships/add", "_members_add", (LISTS_WRITE,)),
    _route("PUT", LISTS + r"/(?P<lid>[^/]+)/memberships/remove", "_members_remove", (LISTS_WRITE,)),
    _route(
        "PUT",
        LISTS + r"/(?P<lid>[^/]+)/memberships/add-and-remove",
        "_members_add_remove",
        (LISTS_WRITE,),
    ),
    _route("GET", LISTS + r"/(?P<lid>[^/]+)/memberships", "_members_page", (LISTS_READ,)),
    _route("DELETE", LISTS + r"/(?P<lid>[^/]+)/memberships", "_members_clear", (LISTS_WRITE,)),
    _route("GET", LISTS + r"/(?P<lid>[^/]+)", "_get_list", (LISTS_READ,)),
    _route("DELETE", LISTS + r"/(?P<lid>[^/]+)", "_delete_list", (LISTS_WRITE,)),
    _route("GET", r"/account-info/v3/details", "_account_details", ALL_SCOPES),
    _route(
        "GET",
        r"/communication-preferences/v3/status/email/(?P<email>[^/]+)",
        "_email_status",
        (PREFERENCES_READ,),
    ),
)


class HubSpotEmulator(TlsService):
    """The HubSpot CRM API (contacts, properties, lists, subscription status) on
    https://127.0.0.1:PORT; paths like ``/crm/v3/objects/contacts`` go under ``url``.

    Point the connector at ``url`` and trust ``ca`` (write it with :meth:`ca_file`). Every
    request needs ``Authorization: Bearer <token>``. Time comes from ``clock`` (seconds since
    the epoch; ``time.time`` by default) plus what :meth:`advance` added, so tests can move it.
    State and fault switches are safe to use from the test's thread while the connector talks to
    the server from others.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        portal_id: int = 123456,
        tier: Literal["free", "starter", "professional", "enterprise"] = "starter",
        host: str = "127.0.0.1",
        clock: Callable[[], float] | None = None,
    ) -> None:
        if tier not in BURST_LIMITS:
            raise ValueError(f"unknown tier {tier!r}")
        self.token = token or f"pat-na1-{uuid.uuid4()}"
        self.portal_id = portal_id
        self.tier = tier
        self.ca = trustme.CA()
        self.internal_errors: list[str] = []  # tracebacks of the emulator's own failures
        self.max_per_10s = 0  # most authenticated requests seen in any 10 second window
        self.max_search_per_second = 0  # most search requests seen in any 1 second window
        self._clock = clock or time.time
        self._offset = 0.0
        self._lock = threading.RLock()
        self._revoked = False
        self._scopes: frozenset[str] = frozenset(ALL_SCOPES)
        self._properties: dict[str, _Property] = {}
        now = self.now_ms()
        for prop in _standard_properties():
            prop.created_ms = prop.updated_ms = now
            self._properties[prop.name] = prop
        self._contacts: dict[int, _Contact] = {}
        self._next_contact = FIRST_CONTACT_ID
        self._lists: dict[int, _List] = {}
        self._next_list = 1
        self._opted_out: set[str] = set()  # email addresses unsubscribed from all email
        self._faults: list[_Fault] = []
        self._before_write: Callable[[str, str], None] | None = None
        self._before_write_times: int | None = None
        self._limits_on = False
        self._search_lag_ms = 0
        self._late_ms: dict[int, int] = {}  # contact id -> its own search lag
        self._latency = 0.0
        self._hits: deque[int] = deque()
        self._search_hits: deque[int] = deque()
        self._seen: deque[int] = deque()
        self._search_seen: deque[int] = deque()
        self._daily: tuple[str, int] = ("", 0)
        self._requests: list[tuple[str, str]] = []

        self.port: int = self._serve_tls(host, _Handler, "hubspot-emulator")
        self.url = f"https://{host}:{self.port}"

    # ---- the clock --------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The emulator's time, in epoch milliseconds."""
        return int((self._clock() + self._offset) * 1000)

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (rate-limit windows and timestamps follow it)."""
        with self._lock:
            self._offset += seconds

    # ---- the request log --------------------------------------------------------------------

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every request, as (method, path without the query), oldest first."""
        with self._lock:
            return list(self._requests)

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

    # ---- switches ---------------------------------------------------------------------------

    def revoke_token(self) -> None:
        """Refuse the token from now on (401 INVALID_AUTHENTICATION), as after a private app's
        token is rotated or the app is deleted."""
        with self._lock:
            self._revoked = True

    def scopes(self, *granted: str) -> None:
        """Grant only these scopes (``ALL_SCOPES`` by default); a request whose endpoint needs
        another is answered 403 MISSING_SCOPES."""
        with self._lock:
            self._scopes = frozenset(granted)

    def rate_limits(self, enabled: bool = True) -> None:
        """Enforce the tier's burst and daily limits and the search limit (off by default, so
        ordinary tests are not slowed; the headers and ``max_per_10s`` are kept either way)."""
        with self._lock:
            self._limits_on = enabled

    def search_lag(self, seconds: float, contact_id: str | int | None = None) -> None:
        """Hide contacts written in the last ``seconds`` from search (0: none). With
        ``contact_id``, that contact alone lags by ``seconds`` (and not by the others' lag):
        HubSpot's index catches up with records out of step, not in lastmodifieddate order."""
        with self._lock:
            if contact_id is None:
                self._search_lag_ms = int(seconds * 1000)
            else:
                self._late_ms[int(contact_id)] = int(seconds * 1000)

    def latency(self, seconds: float) -> None:
        """Each request takes ``seconds`` of the emulator's clock, counted (for the rate limits)
        when it arrives, answered that much later."""
        with self._lock:
            self._latency = seconds

    def other_client(self, requests: int) -> None:
        """Another client of the same app (another program, another run) sends ``requests``
        now: they count against the burst limit and in ``max_per_10s``, as theirs do."""
        with self._lock:
            now = self.now_ms()
            self._trim(self._hits, now, WINDOW_MS)
            self._trim(self._seen, now, WINDOW_MS)
            self._hits.extend([now] * requests)
            self._seen.extend([now] * requests)
            self.max_per_10s = max(self.max_per_10s, len(self._seen))

    def throttle(
        self,
        times: int | None = 1,
        path_contains: str | None = None,
        policy: str = "TEN_SECONDLY_ROLLING",
        *,
        after: int = 0,
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests 429 with HubSpot's body for ``policy``
        (TEN_SECONDLY_ROLLING, DAILY or SECONDLY); ``retry_after`` adds a Retry-After header,
        which HubSpot does not document."""
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}")
        fault = _Fault("throttle", times, path_contains, after, 429, policy=policy)
        fault.retry_after = retry_after
        self._add_fault(fault)

    def fail(
        self,
        status: int = 500,
        times: int | None = 1,
        path_contains: str | None = None,
        after: int = 0,
        when: Literal["before", "after"] = "before",
    ) -> None:
        """Answer the next ``times`` matching requests (None: until :meth:`clear_faults`) with
        ``status`` in HubSpot's error shape, after letting ``after`` of them through:
        ``"before"`` does nothing else; ``"after"`` carries the request out first (a write
        happens, then the 5xx, as when a gateway times out on a slow batch)."""
        self._add_fault(_Fault("fail", times, path_contains, after, status, when=when))

    def drop(
        self,
        times: int | None = 1,
        path_contains: str | None = None,
        after: int = 0,
        when: Literal["before", "after"] = "before",
    ) -> None:
        """Close the connection of the next ``times`` matching requests without answering:
        ``"before"`` does nothing else; ``"after"`` carries the request out first (a write
        happens, its answer is lost)."""
        self._add_fault(_Fault("drop", times, path_contains, after, when=when))

    def before_write(
        self, callback: Callable[[str, str], None] | None, times: int | None = 1
    ) -> None:
        """Call ``callback(method, path)`` just before the next ``times`` writes are carried
        out (None: every one), outside the lock, so it may edit through the helpers."""
        with self._lock:
            self._before_write = callback
            self._before_write_times = times

    def clear_faults(self) -> None:
        """Drop every fault and the before-write callback."""
        with self._lock:
            self._faults.clear()
            self._before_write = None

    # ---- direct state helpers (no HTTP) -----------------------------------------------------

    def add_property(
        self,
        name: str,
        label: str,
        type: str,
        field_type: str,
        options: list[Json] | list[tuple[str, str]] | None = None,
        *,
        group: str = "contactinformation",
        description: str = "",
    ) -> None:
        """Define a custom contact property, as an account admin would. ``options`` are
        ``{"label", "value"}`` dicts or (value, label) pairs, for enumerations."""
        with self._lock:
            self._define(
                {
                    "name": name,
                    "label": label,
                    "type": type,
                    "fieldType": field_type,
                    "groupName": group,
                    "description": description,
                    "options": [
                        o if isinstance(o, dict) else {"value": o[0], "label": o[1]}
                        for o in options or []
                    ],
                }
            )

    def properties(self) -> list[Json]:
        """Every contact property definition, as the properties API writes them."""
        with self._lock:
            return [p.render() for p in self._properties.values()]

    def add_contact(self, properties: Json) -> str:
        """Create a contact as another client would (the API's checks apply); its id."""
        with self._lock:
            values = self._checked(properties)
            self._check_email(values, None)
            return str(self._create(values).id)

    def edit_contact(self, contact_id: str | int, properties: Json) -> None:
        """Change a contact as another client would (PATCH semantics and checks)."""
        with self._lock:
            c = self._live(str(contact_id))
            values = self._checked(properties)
            self._check_email(values, c.id)
            self._write(c, values)

    def archive_contact(self, contact_id: str | int) -> None:
        """Archive (delete) a contact as another client would."""
        with self._lock:
            self._archive(self._live(str(contact_id)))

    def opt_out(self, contact_id: str | int) -> None:
        """The person behind the contact unsubscribes from all email: ``hs_email_optout``
        becomes "true" (and its lastmodifieddate moves), the address is NOT_SUBSCRIBED."""
        with self._lock:
            c = self._live(str(contact_id))
            email = c.values.get("email")
            if email:
                self._opted_out.add(email)
            self._write(c, {"hs_email_optout": "true"})

    def contact(self, contact_id: str | int) -> Json | None:
        """A contact (archived ones too) with every property it has a value for; None if none."""
        with self._lock:
            c = self._contacts.get(int(contact_id)) if str(contact_id).isdigit() else None
            return None if c is None else self._render(c, None)

    def contacts(self, archived: bool = False) -> list[Json]:
        """The live (or, with ``archived``, the archived) contacts, oldest first."""
        with self._lock:
            return [
                self._render(c, None) for c in self._contacts.values() if c.archived == archived
            ]

    def add_list(self, name: str, processing_type: str = "MANUAL") -> str:
        """Create a static contact list; its id."""
        with self._lock:
            return str(self._new_list(name, processing_type).id)

    def add_members(self, list_id: str | int, contact_ids: Iterable[str | int]) -> None:
        """Add contacts to a list as another client would."""
        with self._lock:
            lst = self._list_by_id(str(list_id))
            now = self.now_ms()
            for cid in contact_ids:
                c = self._contacts.get(int(cid))
                if c is not None and not c.archived and c.id not in lst.members:
                    lst.members[c.id] = (now, now)

    def remove_members(self, list_id: str | int, contact_ids: Iterable[str | int]) -> None:
        """Take contacts out of a list as another client would."""
        with self._lock:
            lst = self._list_by_id(str(list_id))
            for cid in contact_ids:
                lst.members.pop(int(cid), None)
            lst.updated_ms = self.now_ms()

    def members(self, list_id: str | int) -> list[str]:
        """The ids of a list's live members, in id order."""
        with self._lock:
            lst = self._list_by_id(str(list_id))
            return [str(i) for i in self._member_ids(lst)]

    def lists(self) -> list[Json]:
        """Every list, as the lists API writes them, oldest first."""
        with self._lock:
            return [self._render_list(lst) for lst in self._lists.values()]

    # ---- state internals (callers hold the lock) --------------------------------------------

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _define(self, body: Any) -> _Property:
        if not isinstance(body, dict):
            raise _bad("A property definition must be a JSON object.")  # guess
        name, label = body.get("name"), body.get("label")
        ptype, ftype = body.get("type"), body.get("fieldType")
        missing = [
            k
            for k, v in (("name", name), ("label", label), ("type", ptype), ("fieldType", ftype))
            if not v
        ]
        if body.get("groupName") in (None, ""):
            missing.append("groupName")
        if missing:
            raise _bad(f"Missing required fields: {', '.join(missing)}")  # guess
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise _bad(f"Property name '{name}' is not valid: use lower case letters, digits, _")
        if name in self._properties:
            raise HubSpotError(  # guess: wording and category
                409, f"A property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS"
            )
        if ptype not in TYPE_FIELD_TYPES:
            raise _bad(f"Unknown property type '{ptype}'.")
        if ftype not in TYPE_FIELD_TYPES[str(ptype)]:
            raise _bad(f"Property type '{ptype}' cannot have fieldType '{ftype}'.")  # guess
        options = body.get("options") or []
        if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("value"), str) for o in options
        ):
            raise _bad("Property options must be objects with a string value.")
        if ptype == "enumeration" and not options:
            raise _bad("Enumeration properties need at least one option.")  # guess
        if ptype == "bool" and not options:
            options = [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]
        rendered = [
            {
                "label": str(o.get("label", o["value"])),
                "value": o["value"],
                "description": str(o.get("description", "")),
                "displayOrder": int(o.get("displayOrder", i)),
                "hidden": bool(o.get("hidden", False)),
            }
            for i, o in enumerate(options)
        ]
        now = self.now_ms()
        prop = _Property(
            name,
            str(label),
            str(ptype),
            str(ftype),
            group=str(body.get("groupName")),
            description=str(body.get("description") or ""),
            options=rendered,
            hubspot_defined=False,
            read_only_definition=False,
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            form_field=bool(body.get("formField", True)),
            hidden=bool(body.get("hidden", False)),
            display_order=int(body.get("displayOrder", -1)),
            created_ms=now,
            updated_ms=now,
        )
        self._properties[name] = prop
        return prop

    def _check_value(self, prop: _Property, raw: Any) -> tuple[str | None, _Issue | None]:
        """A property value as stored (None: cleared), or the issue HubSpot reports."""
        if raw is None:
            return None, None  # guess: null clears like ""
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, int | float):
            text = repr(raw) if isinstance(raw, float) else str(raw)
        elif isinstance(raw, str):
            text = raw
        else:
            return None, _Issue(
                prop.name, "INVALID_PROPERTY_VALUE", f"{_compact(raw)} is not a valid value"
            )
        if text == "":
            return None, None
        name = prop.name
        if prop.read_only_value:
            kind = "a calculated property" if prop.calculated else "a read only property"
            return None, _Issue(
                name, "READ_ONLY_VALUE", f'"{name}" is {kind}; its value cannot be set.'
            )
        if prop.type != "string" and text != text.strip():
            # Since April 2025 non-string values with leading or trailing spaces are refused.
            return None, _Issue(
                name, "INVALID_PROPERTY_VALUE", f"{text!r} has leading or trailing whitespace"
            )
        if name == "email":
            domain = text.rsplit("@", 1)[-1].lower()
            if EMAIL_SHAPE.fullmatch(text) is None or domain.rsplit(".", 1)[-1] in TYPO_TLDS:
                return None, _Issue(name, "INVALID_EMAIL", f"Email address {text} is invalid")
            return text.lower(), None
        if prop.type == "number":
            if NUMBER_SHAPE.fullmatch(text) is None:
                return None, _Issue(name, "INVALID_FLOAT", f"{text} is not a valid number")  # guess
            return text, None
        if prop.type == "datetime":
            ms = _parse_instant(text)
            if ms is None:
                return None, _Issue(
                    name, "INVALID_DATETIME", f"{text} is not a valid datetime"
                )  # guess
            return str(ms), None
        if prop.type == "date":
            ms = _parse_instant(text)
            if ms is None:
                return None, _Issue(name, "INVALID_DATE", f"{text} is not a valid date")  # guess
            if ms % 86_400_000:
                clock = datetime.fromtimestamp(ms / 1000, UTC)
                stamp = f"{clock.hour}:{clock.minute}:{clock.second}.{clock.microsecond // 100_000}"
                return None, _Issue(
                    name, "INVALID_DATE", f"{text} is at {stamp} UTC, not midnight!"
                )
            return str(ms), None
        if prop.type == "bool":
            lowered = text.lower()
            if lowered not in ("true", "false"):
                return None, _Issue(  # guess: the code
                    name,
                    "INVALID_BOOLEAN",
                    f"{text} was not one of the allowed options: [true, false]",
                )
            return lowered, None
        if prop.type == "enumeration":
            allowed = [o["value"] for o in prop.options]
            parts = text.split(";") if prop.field_type == "checkbox" else [text]
            for part in parts:
                if part not in allowed:
                    return None, _Issue(
                        name,
                        "INVALID_OPTION",
                        f"{part} was not one of the allowed options: [{', '.join(allowed)}]",
                    )
            return text, None
        return text, None

    def _checked(self, properties: Any) -> dict[str, str | None]:
        """Check a properties object; the values to write, or a 400 with every issue."""
        if not isinstance(properties, dict):
            raise _bad("Invalid input JSON: properties must be an object.")  # guess
        values: dict[str, str | None] = {}
        issues: list[_Issue] = []
        for name, raw in properties.items():
            prop = self._properties.get(name)
            if prop is None:
                issues.append(
                    _Issue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                )
                continue
            value, issue = self._check_value(prop, raw)
            if issue is not None:
                issues.append(issue)
            else:
                values[name] = value
        if issues:
            raise self._invalid(issues)
        return values

    def _invalid(self, issues: list[_Issue]) -> HubSpotError:
        rendered = [i.render(self.portal_id) for i in issues]
        errors = [
            {"message": i.message, "code": i.error, "context": {"propertyName": [i.name]}}
            for i in issues
        ]
        return _bad(f"Property values were not valid: {_compact(rendered)}", errors=errors)

    def _email_owner(self, email: str) -> _Contact | None:
        for c in self._contacts.values():
            if not c.archived and c.values.get("email") == email:
                return c
        return None

    def _check_email(self, values: dict[str, str | None], own_id: int | None) -> None:
        email = values.get("email")
        if email:
            owner = self._email_owner(email)
            if owner is not None and owner.id != own_id:
                raise HubSpotError(
                    409, f"Contact already exists. Existing ID: {owner.id}", "CONFLICT"
                )

    def _stamp(self, c: _Contact) -> None:
        c.updated_ms = self.now_ms()
        c.values["lastmodifieddate"] = str(c.updated_ms)

    def _create(self, values: dict[str, str | None]) -> _Contact:
        cid = self._next_contact
        self._next_contact += CONTACT_ID_STEP
        now = self.now_ms()
        c = _Contact(cid, created_ms=now, updated_ms=now)
        c.values = {k: v for k, v in values.items() if v is not None}
        c.values.update({"createdate": str(now), "hs_object_id": str(cid)})
        if c.values.get("email") in self._opted_out:
            c.values["hs_email_optout"] = "true"
        self._stamp(c)
        self._contacts[cid] = c
        return c

    def _write(self, c: _Contact, values: dict[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                c.values.pop(name, None)
            else:
                c.values[name] = value
        self._stamp(c)

    def _archive(self, c: _Contact) -> None:
        c.archived = True
        c.archived_ms = self.now_ms()
        c.updated_ms = c.archived_ms

    def _live(self, cid: str, id_property: str | None = None) -> _Contact:
        found: _Contact | None = None
        if id_property in (None, "", "hs_object_id"):
            if cid.isdigit():
                found = self._contacts.get(int(cid))
        elif id_property == "email":
            found = self._email_owner(cid.lower())
        else:
            raise _bad(
                f"Unable to perform lookups by non-unique 0-1 property {id_property}"
            )  # guess
        if found is None or found.archived:
            raise _not_found()
        return found

    def _render_value(self, name: str, value: str) -> str:
        prop = self._properties.get(name)
        if prop is not None and prop.type == "datetime":
            return _iso(int(value))
        if prop is not None and prop.type == "date":
            return _day(int(value))
        return value

    def _render(self, c: _Contact, wanted: Iterable[str] | None, *, extra: bool = True) -> Json:
        """A contact as the objects API writes it: ``wanted`` properties (None: every one it
        has a value for), plus createdate, hs_object_id and lastmodifieddate when ``extra``."""
        if wanted is None:
            props: Json = {k: self._render_value(k, v) for k, v in sorted(c.values.items())}
        else:
            names = list(dict.fromkeys([*wanted, *(ALWAYS_RETURNED if extra else ())]))
            props = {}
            for name in names:
                if name not in self._properties:
                    continue  # guess: unknown names asked for are left out
                value = c.values.get(name)
                props[name] = None if value is None else self._render_value(name, value)
        out: Json = {
            "id": str(c.id),
            "properties": props,
            "createdAt": _iso(c.created_ms),
            "updatedAt": _iso(c.updated_ms),
            "archived": c.archived,
        }
        if c.archived:
            out["archivedAt"] = _iso(c.archived_ms)
        return out

    def _new_list(self, name: Any, processing_type: Any) -> _List:
        if not isinstance(name, str) or not name.strip():
            raise _bad("A list needs a name.")  # guess
        if processing_type == "DYNAMIC":
            raise _not_implemented("DYNAMIC lists (filterBranch)")
        if processing_type not in ("MANUAL", "SNAPSHOT"):
            raise _bad(f"Unknown processingType '{processing_type}'.")  # guess
        if any(lst.name.lower() == name.lower() for lst in self._lists.values()):
            raise HubSpotError(
                400,
                f"A list named '{name}' already exists.",  # guess: wording
                "VALIDATION_ERROR",
                {"subCategory": "ILS.DUPLICATE_LIST_NAMES"},
            )
        now = self.now_ms()
        lst = _List(self._next_list, name, str(processing_type), now, now)
        self._next_list += 1
        self._lists[lst.id] = lst
        return lst

    def _list_by_id(self, lid: str) -> _List:
        lst = self._lists.get(int(lid)) if lid.isdigit() else None
        if lst is None:
            raise _not_found(f"List {lid} does not exist.")  # guess
        return lst

    def _member_ids(self, lst: _List) -> list[int]:
        return sorted(i for i in lst.members if not self._contacts[i].archived)

    def _render_list(self, lst: _List) -> Json:
        size = len(self._member_ids(lst))
        return {
            "listId": str(lst.id),
            "listVersion": lst.version,
            "name": lst.name,
            "objectTypeId": CONTACTS_TYPE_ID,
            "processingStatus": "COMPLETE",
            "processingType": lst.processing_type,
            "createdAt": _iso(lst.created_ms),
            "createdById": "1",
            "filtersUpdatedAt": _iso(lst.created_ms),
            "updatedAt": _iso(lst.updated_ms),
            "updatedById": "1",
            "size": size,
        }

    # ---- request helpers --------------------------------------------------------------------

    @staticmethod
    def _json(raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise _bad(f"Invalid input JSON on line 1: {exc}") from None  # guess: wording

    @staticmethod
    def _one(query: Query, name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    @staticmethod
    def _flag(query: Query, name: str) -> bool:
        return (HubSpotEmulator._one(query, name) or "false").lower() == "true"

    @staticmethod
    def _limit(raw: Any, default: int, maximum: int) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise _bad(f"limit must be a number, not {raw!r}") from None  # guess
        if value < 1 or value > maximum:
            raise _bad(f"limit must be between 1 and {maximum}, not {value}")  # guess
        return value

    @staticmethod
    def _names(query: Query, name: str) -> list[str] | None:
        values = query.get(name)
        if not values:
            return None
        return [n.strip() for v in values for n in v.split(",") if n.strip()]

    def _inputs(self, body: Any) -> list[Any]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise _bad("Invalid input JSON: a batch needs an inputs array.")  # guess
        inputs = body["inputs"]
        if len(inputs) > MAX_BATCH:
            raise _bad(f"Too many inputs in batch request. Limit: {MAX_BATCH}")  # guess
        return inputs

    def _batch(self, results: list[Json], errors: list[Json], started: str) -> Json:
        out: Json = {"status": "COMPLETE", "results": results, "startedAt": started}
        if errors:
            out["numErrors"] = len(errors)
            out["errors"] = errors
        out["completedAt"] = _iso(self.now_ms())
        return out

    # ---- handlers: properties ---------------------------------------------------------------

    def _list_properties(self, call: _Call) -> _Reply:
        with self._lock:
            archived = self._flag(call.query, "archived")
            results = [] if archived else [p.render() for p in self._properties.values()]
            return _Reply(200, {"results": results})

    def _get_property(self, call: _Call) -> _Reply:
        with self._lock:
            prop = self._properties.get(call.ids["name"])
            if prop is None:
                raise _not_found(f"Unable to find property {call.ids['name']}")  # guess
            return _Reply(200, prop.render())

    def _create_property(self, call: _Call) -> _Reply:
        body = self._json(call.body)
        with self._lock:
            return _Reply(201, self._define(body).render())

    # ---- handlers: contacts -----------------------------------------------------------------

    @staticmethod
    def _unsupported(query: Query, body: Any = None) -> None:
        for name in ("propertiesWithHistory", "associations"):
            if query.get(name) or (isinstance(body, dict) and body.get(name)):
                raise _not_implemented(name)

    def _list_contacts(self, call: _Call) -> _Reply:
        self._unsupported(call.query)
        limit = self._limit(self._one(call.query, "limit"), DEFAULT_PAGE, MAX_PAGE)
        after_raw = self._one(call.query, "after") or "0"
        if not after_raw.isdigit():
            raise _bad(f"Invalid after cursor: {after_raw}")  # guess
        after = int(after_raw)
        archived = self._flag(call.query, "archived")
        wanted = self._names(call.query, "properties") or list(DEFAULT_PROPERTIES)
        with self._lock:
            found = [
                c
                for cid, c in sorted(self._contacts.items())
                if cid >= after and c.archived == archived
            ]
            page = found[:limit]
            out: Json = {"results": [self._render(c, wanted) for c in page]}
            if len(found) > limit:
                nxt = str(found[limit].id)
                query = {"after": nxt, "limit": str(limit)}
                link = f"{self.url}/crm/v3/objects/contacts?" + "&".join(
                    f"{k}={quote(v)}" for k, v in query.items()
                )
                out["paging"] = {"next": {"after": nxt, "link": link}}
            return _Reply(200, out)

    def _get_contact(self, call: _Call) -> _Reply:
        self._unsupported(call.query)
        wanted = self._names(call.query, "properties") or list(DEFAULT_PROPERTIES)
        archived = self._flag(call.query, "archived")
        with self._lock:
            id_property = self._one(call.query, "idProperty")
            if archived:
                cid = call.ids["cid"]
                c = self._contacts.get(int(cid)) if cid.isdigit() else None
                if c is None or not c.archived:
                    raise _not_found()
            else:
                c = self._live(call.ids["cid"], id_property)
            return _Reply(200, self._render(c, wanted))

    def _create_contact(self, call: _Call) -> _Reply:
        body = self._json(call.body)
        if not isinstance(body, dict):
            raise _bad("Invalid input JSON: expected an object.")  # guess
        self._unsupported({}, body)
        with self._lock:
            values = self._checked(body.get("properties", {}))
            self._check_email(values, None)
            c = self._create(values)
            return _Reply(201, self._render(c, list(values)))

    def _update_contact(self, call: _Call) -> _Reply:
        body = self._json(call.body)
        if not isinstance(body, dict) or "properties" not in body:
            raise _bad("Invalid input JSON: expected an object with properties.")  # guess
        with self._lock:
            c = self._live(call.ids["cid"], self._one(call.query, "idProperty"))
            values = self._checked(body["properties"])
            self._check_email(values, c.id)
            self._write(c, values)
            return _Reply(200, self._render(c, list(values)))

    def _archive_contact(self, call: _Call) -> _Reply:
        with self._lock:
            cid = call.ids["cid"]
            c = self._contacts.get(int(cid)) if cid.isdigit() else None
            if c is not None and not c.archived:
                self._archive(c)
            return _Reply(204)

    def _batch_read(self, call: _Call) -> _Reply:
        started = _iso(self.now_ms())
        body = self._json(call.body)
        inputs = self._inputs(body)
        self._unsupported({}, body)
        wanted = body.get("properties") or list(DEFAULT_PROPERTIES)
        if not isinstance(wanted, list):
            raise _bad("properties must be an array of names.")  # guess
        id_property = body.get("idProperty")
        archived = self._flag(call.query, "archived")
        with self._lock:
            results: list[Json] = []
            missing: list[str] = []
            seen: set[int] = set()
            for item in inputs:
                rid = str(item.get("id", "")) if isinstance(item, dict) else ""
                try:
                    if archived:
                        c = self._contacts.get(int(rid)) if rid.isdigit() else None
                        if c is None or not c.archived:
                            raise _not_found()
                    else:
                        c = self._live(rid, id_property)
                except HubSpotError:
                    missing.append(rid)
                    continue
                if c.id not in seen:
                    seen.add(c.id)
                    results.append(self._render(c, wanted))
            errors: list[Json] = []
            if missing:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": READ_NOT_FOUND,
                        "context": {"ids": missing},
                    }
                )
            return _Reply(207 if errors else 200, self._batch(results, errors, started))

    @staticmethod
    def _trace_ids(inputs: list[Any]) -> list[str] | None:
        """The objectWriteTraceIds when every input has a distinct one (multi-status mode)."""
        traces = [i.get("objectWriteTraceId") if isinstance(i, dict) else None for i in inputs]
        if (
            inputs
            and all(isinstance(t, str) and t for t in traces)
            and len(set(traces)) == len(traces)
        ):
            return [str(t) for t in traces]
        return None

    @staticmethod
    def _input_error(error: HubSpotError, trace: str) -> Json:
        out: Json = {"status": "error", "category": error.category, "message": error.message}
        out["context"] = {"objectWriteTraceId": [trace]}
        if "errors" in error.extra:
            out["errors"] = error.extra["errors"]
        return out

    def _batch_create(self, call: _Call) -> _Reply:
        started = _iso(self.now_ms())
        inputs = self._inputs(self._json(call.body))
        traces = self._trace_ids(inputs)
        with self._lock:
            checked: list[dict[str, str | None] | HubSpotError] = []
            emails: dict[str, int] = {}
            for n, item in enumerate(inputs):
                try:
                    if not isinstance(item, dict):
                        raise _bad("Invalid input JSON: each input must be an object.")  # guess
                    self._unsupported({}, item)
                    values = self._checked(item.get("properties", {}))
                    self._check_email(values, None)
                    email = values.get("email")
                    if email and email in emails:
                        raise _bad(f"Duplicate email addresses in batch input: {email}")  # guess
                    if email:
                        emails[email] = n
                    checked.append(values)
                except HubSpotError as error:
                    if traces is None:
                        raise
                    checked.append(error)
            results: list[Json] = []
            errors: list[Json] = []
            for n, entry in enumerate(checked):
                if isinstance(entry, HubSpotError):
                    errors.append(self._input_error(entry, traces[n] if traces else ""))
                    continue
                rendered = self._render(self._create(entry), list(entry))
                if traces is not None:
                    rendered["objectWriteTraceId"] = traces[n]
                results.append(rendered)
            return _Reply(207 if errors else 201, self._batch(results, errors, started))

    def _batch_update(self, call: _Call) -> _Reply:
        started = _iso(self.now_ms())
        inputs = self._inputs(self._json(call.body))
        traces = self._trace_ids(inputs)
        ids = [str(i.get("id", "")) if isinstance(i, dict) else "" for i in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise _bad(
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique"
            )
        with self._lock:
            planned: list[tuple[_Contact, dict[str, str | None]] | HubSpotError] = []
            missing: list[str] = []
            first_error: HubSpotError | None = None
            for item, rid in zip(inputs, ids, strict=True):
                try:
                    if not isinstance(item, dict) or "properties" not in item:
                        raise _bad("Invalid input JSON: each input needs an id and properties.")
                    c = self._live(rid, item.get("idProperty"))
                    values = self._checked(item["properties"])
                    self._check_email(values, c.id)
                    planned.append((c, values))
                except HubSpotError as error:
                    if traces is not None:
                        if error.status == 404:
                            error = _not_found(UPDATE_NOT_FOUND, context={"ids": [rid]})
                        planned.append(error)
                    elif error.status == 404:
                        missing.append(rid)
                    elif first_error is None:
                        first_error = error
            if missing:  # guess: the missing ids refuse the batch before any other error
                raise _not_found(UPDATE_NOT_FOUND, context={"ids": missing})
            if first_error is not None:
                raise first_error
            results: list[Json] = []
            errors: list[Json] = []
            for n, entry in enumerate(planned):
                if isinstance(entry, HubSpotError):
                    errors.append(self._input_error(entry, traces[n] if traces else ""))
                    continue
                c, values = entry
                self._write(c, values)
                rendered = self._render(c, list(values))
                if traces is not None:
                    rendered["objectWriteTraceId"] = traces[n]
                results.append(rendered)
            return _Reply(207 if errors else 200, self._batch(results, errors, started))

    def _batch_archive(self, call: _Call) -> _Reply:
        inputs = self._inputs(self._json(call.body))
        with self._lock:
            for item in inputs:
                rid = str(item.get("id", "")) if isinstance(item, dict) else ""
                c = self._contacts.get(int(rid)) if rid.isdigit() else None
                if c is not None and not c.archived:
                    self._archive(c)
            return _Reply(204)

    # ---- handlers: search -------------------------------------------------------------------

    def _search_value(self, prop: _Property, raw: Any) -> Any:
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if prop.type == "number":
            try:
                return float(text)
            except ValueError:
                raise _bad(f"{text} is not a valid number for {prop.name}") from None  # guess
        if prop.type in ("datetime", "date"):
            ms = _parse_instant(text)
            if ms is None:
                raise _bad(f"{text} is not a valid date for {prop.name}")  # guess
            return ms
        return text.lower()

    def _stored_value(self, prop: _Property, value: str) -> Any:
        if prop.type == "number":
            return float(value)
        if prop.type in ("datetime", "date"):
            return int(value)
        return value.lower()

    def _matcher(self, flt: Any) -> Callable[[_Contact], bool]:
        if not isinstance(flt, dict):
            raise _bad("Each filter must be an object.")  # guess
        name, operator = flt.get("propertyName"), flt.get("operator")
        prop = self._properties.get(name) if isinstance(name, str) else None
        if prop is None:
            raise _bad(
                f"There was a problem with the request: property {name} does not exist."
            )  # guess
        if operator not in OPERATORS:
            raise _bad(f"Unknown filter operator {operator}.")  # guess
        if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            present = operator == "HAS_PROPERTY"
            return lambda c: (prop.name in c.values) == present
        if operator in ("IN", "NOT_IN"):
            values = flt.get("values")
            if not isinstance(values, list) or not values:
                raise _bad(f"{operator} needs a values array.")  # guess
            wanted = {self._search_value(prop, v) for v in values}
            inside = operator == "IN"

            def member(c: _Contact) -> bool:
                raw = c.values.get(prop.name)
                if raw is None:
                    return not inside
                return (self._stored_value(prop, raw) in wanted) == inside

            return member
        if "value" not in flt:
            raise _bad(f"{operator} needs a value.")  # guess
        if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            pattern = str(flt["value"]).lower()
            contains = operator == "CONTAINS_TOKEN"

            def tokens(c: _Contact) -> bool:
                raw = c.values.get(prop.name, "").lower()
                words = [w for w in re.split(r"[\s@.,;:/]+", raw) if w]
                hit = any(fnmatch.fnmatchcase(w, pattern) for w in [*words, raw]) if raw else False
                return hit == contains

            return tokens
        low = self._search_value(prop, flt["value"])
        high = self._search_value(prop, flt.get("highValue")) if operator == "BETWEEN" else None
        if operator == "BETWEEN" and flt.get("highValue") is None:
            raise _bad("BETWEEN needs a highValue.")  # guess
        compare: dict[str, Callable[[Any], bool]] = {
            "EQ": lambda v: v == low,
            "NEQ": lambda v: v != low,
            "LT": lambda v: v < low,
            "LTE": lambda v: v <= low,
            "GT": lambda v: v > low,
            "GTE": lambda v: v >= low,
            "BETWEEN": lambda v: low <= v <= high,
        }
        test = compare[operator]

        def check(c: _Contact) -> bool:
            raw = c.values.get(prop.name)
            if raw is None:
                return operator == "NEQ"
            return test(self._stored_value(prop, raw))

        return check

    def _search(self, call: _Call) -> _Reply:
        body = self._json(call.body)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise _bad("Invalid input JSON: expected an object.")  # guess
        groups = body.get("filterGroups") or []
        if not isinstance(groups, list):
            raise _bad("filterGroups must be an array.")  # guess
        if len(groups) > MAX_FILTER_GROUPS:
            raise _bad(f"Too many filter groups: at most {MAX_FILTER_GROUPS} are allowed.")  # guess
        total_filters = 0
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise _bad("Each filter group needs a filters array.")  # guess
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise _bad(
                    f"Too many filters in a group: at most {MAX_FILTERS_PER_GROUP}."
                )  # guess
            total_filters += len(filters)
        if total_filters > MAX_FILTERS:
            raise _bad(f"Too many filters: at most {MAX_FILTERS} in all.")  # guess
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list) or len(sorts) > 1:
            raise _bad("At most one sort is allowed.")  # guess
        limit = self._limit(body.get("limit"), DEFAULT_SEARCH_PAGE, MAX_SEARCH_PAGE)
        after_raw = str(body.get("after") or "0")
        if not after_raw.isdigit():
            raise _bad(f"after must be a number, not {after_raw}")  # guess
        after = int(after_raw)
        if after >= SEARCH_CAP:
            raise _bad(  # guess: wording
                f"Search results are limited to {SEARCH_CAP} total results for any given query: "
                f"after={after} is past that."
            )
        wanted = body.get("properties") or list(DEFAULT_PROPERTIES)
        if not isinstance(wanted, list):
            raise _bad("properties must be an array of names.")  # guess
        query = body.get("query")
        with self._lock:
            matchers = [[self._matcher(f) for f in g["filters"]] for g in groups]
            sort_key = self._sort_key(sorts[0] if sorts else None)
            now = self.now_ms()
            found = [
                c
                for c in self._contacts.values()
                if not c.archived
                and c.updated_ms <= now - self._late_ms.get(c.id, self._search_lag_ms)
                and (not matchers or any(all(m(c) for m in g) for g in matchers))
                and (not query or self._matches_query(c, str(query)))
            ]
            found.sort(key=sort_key[0], reverse=sort_key[1])
            end = min(after + limit, SEARCH_CAP, len(found))
            page = found[after:end]
            out: Json = {
                "total": len(found),
                "results": [self._render(c, wanted) for c in page],
            }
            if end < len(found):
                out["paging"] = {"next": {"after": str(end), "link": f"?after={end}"}}
            return _Reply(200, out)

    def _sort_key(self, sort: Any) -> tuple[Callable[[_Contact], Any], bool]:
        if sort is None:
            return (lambda c: c.id), False
        if isinstance(sort, str):
            sort = {
                "propertyName": sort.lstrip("-"),
                "direction": "DESCENDING" if sort.startswith("-") else "ASCENDING",
            }
        if not isinstance(sort, dict):
            raise _bad("A sort must be an object.")  # guess
        prop = self._properties.get(sort.get("propertyName", ""))
        if prop is None:
            raise _bad(f"Cannot sort by unknown property {sort.get('propertyName')}.")  # guess
        direction = sort.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise _bad(f"Unknown sort direction {direction}.")  # guess
        descending = direction == "DESCENDING"

        def key(c: _Contact) -> tuple[Any, ...]:
            raw = c.values.get(prop.name)
            # Records without a value sort last either way (guess). HubSpot documents no order
            # for equal values: here a fixed shuffle of the ids, never id order, so a client
            # that pages through ties has to sort by hs_object_id for an order of its own.
            present = raw is not None
            value = self._stored_value(prop, raw) if raw is not None else 0
            rank = (present, value) if descending else (not present, value)
            return (*rank, -_shuffled(c.id) if descending else _shuffled(c.id))

        return key, descending

    @staticmethod
    def _matches_query(c: _Contact, query: str) -> bool:
        needle = query.lower().strip()
        fields = ("firstname", "lastname", "email", "phone", "mobilephone", "company")
        for name in fields:
            value = c.values.get(name, "").lower()
            words = re.split(r"[\s@.]+", value)
            if value.startswith(needle) or any(w.startswith(needle) for w in words if w):
                return True
        return False

    # ---- handlers: lists --------------------------------------------------------------------

    def _create_list(self, call: _Call) -> _Reply:
        body = self._json(call.body)
        if not isinstance(body, dict):
            raise _bad("Invalid input JSON: expected an object.")  # guess
        if body.get("objectTypeId") != CONTACTS_TYPE_ID:
            raise _not_implemented(f"Lists of objectTypeId {body.get('objectTypeId')!r}")
        if body.get("filterBranch"):
            raise _not_implemented("filterBranch")
        with self._lock:
            lst = self._new_list(body.get("name"), body.get("processingType"))
            return _Reply(200, {"list": self._render_list(lst)})

    def _get_list(self, call: _Call) -> _Reply:
        with self._lock:
            return _Reply(200, {"list": self._render_list(self._list_by_id(call.ids["lid"]))})

    def _get_lists(self, call: _Call) -> _Reply:
        with self._lock:
            wanted = call.query.get("listIds") or []
            found = [self._lists[int(i)] for i in wanted if i.isdigit() and int(i) in self._lists]
            return _Reply(200, {"lists": [self._render_list(lst) for lst in found]})

    def _list_by_name(self, call: _Call) -> _Reply:
        if call.ids["otype"] != CONTACTS_TYPE_ID:
            raise _not_implemented(f"Lists of objectTypeId {call.ids['otype']!r}")
        name = call.ids["lname"]
        with self._lock:
            for lst in self._lists.values():
                if lst.name.lower() == name.lower():
                    return _Reply(200, {"list": self._render_list(lst)})
            raise _not_found(f"List with name {name} does not exist.")  # guess

    def _search_lists(self, call: _Call) -> _Reply:
        body = self._json(call.body) or {}
        if not isinstance(body, dict):
            raise _bad("Invalid input JSON: expected an object.")  # guess
        count = self._limit(body.get("count"), DEFAULT_LIST_SEARCH_COUNT, MAX_LIST_SEARCH_COUNT)
        offset = int(body.get("offset") or 0)
        query = str(body.get("query") or "").lower()
        types = body.get("processingTypes") or []
        with self._lock:
            found = [
                lst
                for lst in self._lists.values()
                if query in lst.name.lower() and (not types or lst.processing_type in types)
            ]
            page = found[offset : offset + count]
            lists = []
            for lst in page:
                rendered = self._render_list(lst)
                del rendered["size"]
                rendered["additionalProperties"] = {"hs_list_size": str(len(self._member_ids(lst)))}
                lists.append(rendered)
            return _Reply(
                200,
                {
                    "hasMore": offset + count < len(found),
                    "lists": lists,
                    "offset": offset + len(page),
                    "total": len(found),
                },
            )

    def _delete_list(self, call: _Call) -> _Reply:
        with self._lock:
            lst = self._list_by_id(call.ids["lid"])
            del self._lists[lst.id]
            return _Reply(204)

    def _static(self, lid: str) -> _List:
        lst = self._list_by_id(lid)
        if lst.processing_type not in ("MANUAL", "SNAPSHOT"):
            raise _bad("Memberships can only be changed on MANUAL or SNAPSHOT lists.")
        return lst

    @staticmethod
    def _id_array(body: Any, key: str | None = None) -> list[str]:
        items = body.get(key, []) if key is not None and isinstance(body, dict) else body
        if not isinstance(items, list) or not all(isinstance(i, str | int) for i in items):
            raise _bad("Expected a JSON array of record ids.")  # guess
        return [str(i) for i in items]

    def _change(self, lst: _List, add: list[str], remove: list[str]) -> Json:
        now = self.now_ms()
        added: list[str] = []
        removed: list[str] = []
        missing: list[str] = []
        for rid in remove:
            c = self._contacts.get(int(rid)) if rid.isdigit() else None
            if c is None or c.archived:
                missing.append(rid)
            elif c.id in lst.members:
                del lst.members[c.id]
                removed.append(rid)
        for rid in add:
            c = self._contacts.get(int(rid)) if rid.isdigit() else None
            if c is None or c.archived:
                missing.append(rid)
            elif c.id not in lst.members:
                lst.members[c.id] = (now, now)
                added.append(rid)
        if added or removed:
            lst.updated_ms = now
        out: Json = {}
        # HubSpot's spelling (recordsIdsAdded), and it leaves out empty lists (reported).
        if missing:
            out["recordIdsMissing"] = missing
        if removed:
            out["recordIdsRemoved"] = removed
        if added:
            out["recordsIdsAdded"] = added
        return out

    def _members_add(self, call: _Call) -> _Reply:
        ids = self._id_array(self._json(call.body))
        with self._lock:
            return _Reply(200, self._change(self._static(call.ids["lid"]), ids, []))

    def _members_remove(self, call: _Call) -> _Reply:
        ids = self._id_array(self._json(call.body))
        with self._lock:
            return _Reply(200, self._change(self._static(call.ids["lid"]), [], ids))

    def _members_add_remove(self, call: _Call) -> _Reply:
        body = self._json(call.body)
        if not isinstance(body, dict):
            raise _bad("Expected recordIdsToAdd and recordIdsToRemove.")  # guess
        add = self._id_array(body, "recordIdsToAdd")
        remove = self._id_array(body, "recordIdsToRemove")
        with self._lock:
            return _Reply(200, self._change(self._static(call.ids["lid"]), add, remove))

    def _members_clear(self, call: _Call) -> _Reply:
        with self._lock:
            lst = self._static(call.ids["lid"])
            lst.members.clear()
            lst.updated_ms = self.now_ms()
            return _Reply(204)

    def _members_page(self, call: _Call) -> _Reply:
        limit = self._limit(
            self._one(call.query, "limit"), DEFAULT_MEMBERSHIP_PAGE, MAX_MEMBERSHIP_PAGE
        )
        token = self._one(call.query, "after")
        start = 0
        if token:
            try:
                start = int(_unb64(token).removeprefix("m:"))
            except (ValueError, UnicodeDecodeError):
                raise _bad(f"Invalid after token {token}") from None  # guess
        with self._lock:
            lst = self._list_by_id(call.ids["lid"])
            ids = [i for i in self._member_ids(lst) if i >= start]
            page = ids[:limit]
            out: Json = {
                "results": [
                    {"recordId": str(i), "membershipTimestamp": _iso(lst.members[i][1])}
                    for i in page
                ]
            }
            if len(ids) > limit:
                out["paging"] = {"next": {"after": _b64(f"m:{ids[limit]}")}}
            return _Reply(200, out)

    def _record_memberships(self, call: _Call) -> _Reply:
        if call.ids["otype"] != CONTACTS_TYPE_ID:
            raise _not_implemented(f"Lists of objectTypeId {call.ids['otype']!r}")
        rid = call.ids["rid"]
        with self._lock:
            c = self._contacts.get(int(rid)) if rid.isdigit() else None
            results = []
            if c is not None and not c.archived:
                for lst in self._lists.values():
                    if c.id in lst.members:
                        first, last = lst.members[c.id]
                        results.append(
                            {
                                "listId": str(lst.id),
                                "listVersion": lst.version,
                                "firstAddedTimestamp": _iso(first),
                                "lastAddedTimestamp": _iso(last),
                            }
                        )
            return _Reply(200, {"results": results, "total": len(results)})

    # ---- handlers: account information ------------------------------------------------------

    def _account_details(self, call: _Call) -> _Reply:
        return _Reply(
            200,
            {
                "portalId": self.portal_id,
                "accountType": "STANDARD",
                "timeZone": "US/Eastern",  # guess: a fresh portal's defaults
                "companyCurrency": "USD",
                "additionalCurrencies": [],
                "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18_000_000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            },
        )

    # ---- handlers: subscription status ------------------------------------------------------

    def _email_status(self, call: _Call) -> _Reply:
        email = call.ids["email"].lower()
        with self._lock:
            owner = self._email_owner(email)
            out_all = email in self._opted_out or (
                owner is not None and owner.values.get("hs_email_optout") == "true"
            )
            statuses = [
                {
                    "id": sid,
                    "name": name,
                    "description": description,
                    "status": "NOT_SUBSCRIBED" if out_all else "SUBSCRIBED",
                    "sourceOfStatus": "PORTAL_WIDE_STATUS" if out_all else "SUBSCRIPTION_STATUS",
                    "legalBasis": None,
                    "legalBasisExplanation": None,
                    "preferenceGroupName": None,
                }
                for sid, name, description in SUBSCRIPTION_TYPES
            ]
            return _Reply(200, {"recipient": email, "subscriptionStatuses": statuses})

    # ---- the request pipeline ---------------------------------------------------------------

    def _received(self, method: str, path: str, target: str) -> _Fault | None:
        """Log a request and pick the fault, if any, that takes it."""
        with self._lock:
            self._requests.append((method, path))
            chosen: _Fault | None = None
            for fault in self._faults:
                if not fault.matches(target):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                elif chosen is None:
                    chosen = fault
                    if fault.times is not None:
                        fault.times -= 1
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
            return chosen

    def _authenticate(self, authorization: str | None) -> HubSpotError | None:
        found = re.fullmatch(r"\s*Bearer\s+(\S+)\s*", authorization or "", re.I)
        with self._lock:
            good = found is not None and found.group(1) == self.token and not self._revoked
        if good:
            return None
        return HubSpotError(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")

    def _rate_headers(self, now: int) -> dict[str, str]:
        burst = BURST_LIMITS[self.tier]
        daily = DAILY_LIMITS[self.tier]
        used_day = self._daily[1] if self._daily[0] == _day(now) else 0
        return {
            "X-HubSpot-RateLimit-Daily": str(daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, daily - used_day)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(WINDOW_MS),
            "X-HubSpot-RateLimit-Max": str(burst),
            "X-HubSpot-RateLimit-Remaining": str(max(0, burst - len(self._hits))),
        }

    @staticmethod
    def _trim(window: deque[int], now: int, span: int) -> None:
        while window and window[0] <= now - span:
            window.popleft()

    def _rate_limit(self, is_search: bool) -> tuple[HubSpotError | None, dict[str, str]]:
        """Count an authenticated request; the 429 it gets when over a limit, and the rate
        headers its answer carries."""
        with self._lock:
            now = self.now_ms()
            for window, span in (
                (self._hits, WINDOW_MS),
                (self._seen, WINDOW_MS),
                (self._search_hits, 1000),
                (self._search_seen, 1000),
            ):
                self._trim(window, now, span)
            self._seen.append(now)
            self.max_per_10s = max(self.max_per_10s, len(self._seen))
            if is_search:
                self._search_seen.append(now)
                self.max_search_per_second = max(self.max_search_per_second, len(self._search_seen))
            today = _day(now)
            used_day = self._daily[1] if self._daily[0] == today else 0
            policy: str | None = None
            if self._limits_on:
                if used_day >= DAILY_LIMITS[self.tier]:
                    policy = "DAILY"
                elif len(self._hits) >= BURST_LIMITS[self.tier]:
                    policy = "TEN_SECONDLY_ROLLING"
                elif is_search and len(self._search_hits) >= SEARCH_PER_SECOND:
                    policy = "SECONDLY"
            if policy is None:
                self._hits.append(now)
                if is_search:
                    self._search_hits.append(now)
                self._daily = (today, used_day + 1)
            headers = {} if is_search else self._rate_headers(now)
            return (None if policy is None else self._throttled(policy)), headers

    def _throttled(self, policy: str, retry_after: float | None = None) -> HubSpotError:
        message, group = POLICIES[policy]
        extra = {
            "errorType": "RATE_LIMIT",
            "policyName": policy,
            "groupName": group.format(portal=self.portal_id),
        }
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        error = HubSpotError(429, message, "", extra, headers)
        return error

    def _fault_error(self, fault: _Fault) -> HubSpotError:
        if fault.kind == "throttle" or fault.status == 429:
            return self._throttled(fault.policy, fault.retry_after)
        message, category = {
            400: ("Bad request.", "VALIDATION_ERROR"),
            401: (AUTH_MESSAGE, "INVALID_AUTHENTICATION"),
            403: (SCOPES_MESSAGE, "MISSING_SCOPES"),
            404: (NOT_FOUND, "OBJECT_NOT_FOUND"),
            409: ("Conflict.", "CONFLICT"),
            502: ("Bad Gateway", "INTERNAL_ERROR"),
            503: ("Service Unavailable", "INTERNAL_ERROR"),
            504: ("Gateway Timeout", "INTERNAL_ERROR"),
        }.get(fault.status, ("internal error", "INTERNAL_ERROR"))  # guess: 5xx bodies
        return HubSpotError(fault.status, message, category)

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

    def _handle(
        self,
        method: str,
        path: str,
        query: Query,
        headers: dict[str, str],
        body: bytes,
        fault: _Fault | None,
    ) -> _Reply:
        rate_headers: dict[str, str] = {}
        try:
            refused = self._authenticate(headers.get("authorization"))
            if refused is not None:
                raise refused
            route = None
            known = False
            for route_method, pattern, handler, scopes in ROUTES:
                found = pattern.fullmatch(path)
                if found is None:
                    continue
                known = True
                if route_method == method:
                    route = (handler, scopes, found.groupdict())
                    break
            if route is None:
                if known:
                    raise HubSpotError(405, f"Method {method} is not allowed here.", "")  # guess
                raise _not_found()
            handler, scopes, ids = route
            with self._lock:
                granted = self._scopes
            if not granted.intersection(scopes):
                raise HubSpotError(
                    403,
                    SCOPES_MESSAGE,
                    "MISSING_SCOPES",
                    {
                        "errors": [
                            {
                                "message": "One or more of the following scopes are required.",
                                "context": {"requiredGranularScopes": list(scopes)},
                            }
                        ],
                        "links": {"scopes": "https://developers.hubspot.com/scopes"},
                    },
                )
            throttled, rate_headers = self._rate_limit(
                path.endswith("/search") and "/objects/" in path
            )
            if throttled is not None:
                raise throttled
            if fault is not None and fault.kind != "drop" and fault.when == "before":
                raise self._fault_error(fault)
            if method in WRITE_METHODS and not path.endswith(READ_ONLY_POSTS):
                self._write_hook(method, path)
            ids = {k: unquote(v) for k, v in ids.items()}
            reply: _Reply = getattr(self, handler)(_Call(method, path, ids, query, body))
            if fault is not None and fault.kind != "drop":
                raise self._fault_error(fault)  # carried out, then refused all the same
        except HubSpotError as error:
            reply = _Reply(error.status, error.body(), dict(error.headers))
        except Exception as exc:
            self.internal_errors.append(traceback.format_exc())
            error = HubSpotError(500, f"Emulator bug: {exc!r}", "INTERNAL_ERROR")
            reply = _Reply(500, error.body())
        reply.headers = {**rate_headers, **reply.headers}
        if self._latency:
            self.advance(self._latency)
        return reply


class _Handler(Handler):
    server: TlsServer

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header by the emulator's clock (its timestamps follow that clock too)."""
        return email.utils.formatdate(self.server.emulator.now_ms() / 1000, usegmt=True)

    def _serve(self, method: str) -> None:
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        path = "/" + parts.path.strip("/")  # percent-escapes stay: list names may hold a "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = emulator._received(method, unquote(path), self.path)
        if fault is not None and fault.kind == "drop" and fault.when == "before":
            self._hang_up()
            return
        try:
            reply = emulator._handle(method, path, query, headers, body, fault)
        except Exception as exc:
            emulator.internal_errors.append(traceback.format_exc())
            reply = _Reply(500, HubSpotError(500, repr(exc), "INTERNAL_ERROR").body())
        if fault is not None and fault.kind == "drop":
            self._hang_up()
            return
        self._send(reply)

    def _send(self, reply: _Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-HubSpot-Correlation-Id", str(uuid.uuid4()))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
