"""HubSpot CRM contacts as a connector: all of a portal's contacts, or the members of one static
list (``hubspot:LIST@PORTAL``; ``hubspot:@PORTAL`` for all). The portal's private-app access token
is kept in the keyring (see :mod:`.settings`); HTTP and rate limits are :mod:`.api`'s, fields and
values :mod:`.properties`'.

Reading. The first run lists every contact (``GET /crm/v3/objects/contacts``, 100 a page; for a
list, its members read in batches). Later runs ask CRM search for the contacts whose
``lastmodifieddate`` is at or after the cursor's high-water mark minus a minute (search results
lag writes by seconds), sorted ascending, 200 a page. Each page asks again from the last value
seen (a key set), so a contact changed while we page only moves further on and none is skipped;
only a page of equal timestamps pages by offset, and if that would pass search's cap of 10,000
results the run lists everything instead. The cursor keeps each contact's ``lastmodifieddate``,
as the Google connector keeps etags: a contact that comes back with the value the cursor holds
(our own writes among them) is no change. The high-water mark comes from HubSpot's own
timestamps only (the newest one a search showed), never from this machine's clock. Deleted
(archived) contacts come from the archived listing; a full listing also finds them by absence.

Lists are the tags: the portal's static (MANUAL or SNAPSHOT) contact lists by name; active
(DYNAMIC) lists are HubSpot's to fill and are not tags. Members are read per list (250 a page)
and kept in the cursor; a run reads the lists' definitions (one request) and the members only of
lists whose ``updatedAt`` or size moved, and of all of them once a day in case HubSpot moved
neither. A contact that joined or left a list is a change. Lists the engine needs ('PieSync
Trash', 'PieSync Unsubscribes', any other tag) are made when first needed. A ``LIST`` location
syncs that list's members only (the list is not a tag of theirs); contacts created there join it.

A run in which nothing changed costs four requests: the property definitions (the schema, which
also proves the token), one search, the lists' definitions, and one page of the archived listing
(one more per 100 contacts archived in the last 90 days, which is as long as HubSpot keeps them).
The run after one that wrote N contacts pages through them once more (N/200 searches), skipping
them.

Writing. Creates go 100 a call with multi-status errors (each input's ``objectWriteTraceId`` is
its create key), so a contact HubSpot refuses fails alone, with HubSpot's words; updates go 100 a
call all or nothing, and a refused batch is halved until only the refused contacts fail. HubSpot
updates take no etag: a batch read before each batch of updates compares every contact's
``lastmodifieddate`` with the version the engine read, and a contact someone changed meanwhile is
a conflict (read again and merged by the next run), never overwritten; what is left is the moment
between that read and the write. HubSpot keeps a contact for us only with an email address:
``emails`` is required, so the engine refuses such a create with that reason, and so does the
connector if asked.

Creates never happen twice. The create key goes into a hidden custom contact property,
``piesync_create_key``, made once per portal (with ``piesync_overflow``, see :mod:`.properties`)
when the first write needs it: a create a crash left unlinked comes back in the next run's search
carrying its key, and the engine links it instead of creating it again. HubSpot also refuses a
second contact with the same email (409 "Contact already exists. Existing ID: N"); the existing
contact is then read. Carrying the same create key, it is this very create sent again, and is
adopted. Unknown to this connection (outside its list, or too new for the search), it is the same
person, and the create becomes an update of it (HubSpot's own upsert by email), joining the list.
Known to the connection already, the create fails with that reason: HubSpot keeps one contact per
email address.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from piesync_desktop.engine.connectors.base import AppInfo, Cursor, batched
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.hubspot import properties
from piesync_desktop.engine.connectors.hubspot.api import (
    HubSpotApi,
    HubSpotApiError,
    RateLimiter,
    error_words,
    existing_id,
    instant_ms,
    issues_of,
)
from piesync_desktop.engine.connectors.hubspot.properties import (
    CREATE_KEY,
    OVERFLOW,
    ContactSchema,
)
from piesync_desktop.engine.connectors.hubspot.settings import (
    TOKEN,
    TOKEN_HELP,
    HubSpotLocation,
    HubSpotSettings,
)
from piesync_desktop.engine.connectors.hubspot.settings import account_key as portal_key
from piesync_desktop.engine.errors import AuthExpired, ConnectorError
from piesync_desktop.engine.model import (
    AppSchema,
    Capabilities,
    Changes,
    NewRecord,
    ReadFailure,
    Record,
    RecordUpdate,
    WriteResult,
)

CURSOR_VERSION = 1
BATCH = 100  # HubSpot's limit of inputs in a batch call, and of a listing page
SEARCH_PAGE = 200  # CRM search's largest page
SEARCH_CAP = 10_000  # CRM search shows at most this many results of one query
SEARCH_MARGIN_MS = 60_000  # search results lag writes by seconds: ask again from a minute back
MEMBERSHIP_PAGE = 250
LISTS_PAGE = 500
MEMBERS_REFRESH_SECONDS = 24 * 3600  # read every list's members again at least this often
URL_BUDGET = 6_000  # characters of ``properties`` a listing's URL may carry (HubSpot says 414)
CONTACTS = "/crm/v3/objects/contacts"
LISTS = "/crm/v3/lists"
ACCOUNT = "/account-info/v3/details"
CONTACT_TYPE = "0-1"
STATIC_KINDS = frozenset({"MANUAL", "SNAPSHOT"})
NO_EMAIL = "HubSpot needs an email address to create a contact"
GONE = "deleted in HubSpot meanwhile"
NO_ANSWER = "HubSpot did not answer for it"


@dataclass(slots=True)
class ContactList:
    """A contact list of the portal; ``members`` (record ids) once read, for static lists."""

    id: str
    name: str
    kind: str  # processingType: MANUAL, SNAPSHOT or DYNAMIC
    updated: str = ""
    size: int = -1
    members: set[str] | None = None

    @property
    def static(self) -> bool:
        return self.kind in STATIC_KINDS

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "updated": self.updated,
            "size": self.size,
            "members": sorted(self.members or (), key=_id_order),
        }

    @classmethod
    def from_json(cls, list_id: str, data: Mapping[str, Any]) -> ContactList:
        return cls(
            list_id,
            str(data.get("name", "")),
            str(data.get("kind", "MANUAL")),
            str(data.get("updated", "")),
            int(data.get("size", -1)),
            {str(m) for m in data.get("members", ())},
        )


@dataclass(frozen=True, slots=True)
class _Refused:
    """Why HubSpot did not write one contact (``existing``: the contact a 409 named)."""

    message: str
    existing: str | None = None


class _ListProblem(Exception):
    """A tag that cannot be a static list (its name is an active list's)."""


class _SearchCapped(Exception):
    """The search would pass its 10,000 results: list everything instead."""


def portal_of(
    token: str, settings: HubSpotSettings | None = None, http: HttpSettings | None = None
) -> int:
    """The portal a private-app access token belongs to (``GET /account-info/v3/details``), for
    the CLI and the wizard to learn before saving the token; a refused token raises
    :class:`AuthExpired` with what to do."""
    settings = settings or HubSpotSettings.from_env()
    api = HubSpotApi(
        settings.api_url,
        token.strip(),
        http or HttpSettings.for_setup(),
        portal=None,
        limiter=RateLimiter(),
    )
    try:
        answer = api.call("GET", ACCOUNT, what="reading the account's details")
    finally:
        api.close()
    portal = answer.get("portalId")
    if not isinstance(portal, int) and not str(portal or "").isdigit():
        raise ConnectorError("HubSpot did not say which portal the access token belongs to.")
    return int(portal)


class HubSpotContacts:
    """One HubSpot portal's contacts (or one static list of them)."""

    app: ClassVar[AppInfo] = AppInfo(
        key="hubspot",
        name="HubSpot",
        description="The contacts of a HubSpot CRM portal, or one static list of them.",
        capabilities=Capabilities(
            tags=True,
            tag_noun="list",
            deletions=True,
            unsubscribes=True,
            custom_fields=True,
            delta=True,
            batch_size=BATCH,
        ),
    )

    def __init__(
        self,
        location: str,
        *,
        settings: HubSpotSettings | None = None,
        http: HttpSettings | None = None,
        token: str | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._location = location
        self.where = HubSpotLocation.parse(location)
        self._limiter = limiter
        self._settings = settings
        self._http_settings = http
        self._token = token
        self._api: HubSpotApi | None = None
        self._definitions: list[dict[str, Any]] = []
        self._schema: ContactSchema | None = None
        self._seen: dict[str, int] = {}  # id -> lastmodifieddate (ms), of every contact in scope
        self._mark = 0  # the newest lastmodifieddate a search showed
        self._lists: dict[str, ContactList] = {}  # static lists, with their members
        self._others: dict[str, ContactList] = {}  # active lists, by casefolded name
        self._lists_loaded = False
        self._refreshed = 0.0  # when every list's members were last read (time.time())
        self._scope_id: str | None = None

    # ------------------------------------------------------------------ protocol

    @property
    def location(self) -> str:
        return self._location

    @property
    def account_label(self) -> str:
        """How the store and the window name the account."""
        return str(self.where.portal)

    @property
    def account_key(self) -> str:
        return portal_key(self.where.portal)

    @property
    def requests(self) -> int:
        return self._api.requests if self._api is not None else 0

    @property
    def api(self) -> HubSpotApi:
        """The HTTP client (made on first use, with the portal's token from the keyring)."""
        if self._api is None:
            settings = self._settings or HubSpotSettings.from_env()
            self._api = HubSpotApi(
                settings.api_url,
                self._token_now(),
                self._http_settings or HttpSettings.from_env(),
                portal=self.where.portal,
                limiter=self._limiter or RateLimiter(),
            )
        return self._api

    def open(self, cursor: Cursor | None = None) -> None:
        self._load_schema()  # proves the token on every run, and the schema is needed anyway
        known = self._known(cursor)
        if known:
            self._restore(known)
            return  # the run's search and lists answer for the rest
        answer = self.api.call("GET", ACCOUNT, what="reading the account's details")
        if str(answer.get("portalId")) != str(self.where.portal):
            raise ConnectorError(
                f"The access token kept for HubSpot portal {self.where.portal} belongs to portal "
                f"{answer.get('portalId')}. {TOKEN_HELP}",
                title="Wrong HubSpot portal",
            )
        if self.where.list_name:
            self._load_lists(members=False)
            self._resolve_scope()

    def schema(self) -> AppSchema:
        return self._schema_now().app

    def list_names(self) -> list[str]:
        """The portal's static contact lists by name, as HubSpot lists them now."""
        self._load_lists(members=False)
        return sorted((info.name for info in self._lists.values()), key=str.casefold)

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

    def changes(self, cursor: Cursor | None) -> Changes:
        self._schema_now()
        known = self._known(cursor)
        if not known:
            self._seen, self._lists, self._lists_loaded, self._mark = {}, {}, False, 0
            return self._full(None)
        self._restore(known)
        return self._delta()

    def get(self, ids: Sequence[str]) -> list[Record | ReadFailure]:
        self._ensure_lists()
        found = self._batch_read(ids)
        out: list[Record | ReadFailure] = []
        for cid in ids:
            contact = found.get(cid)
            if contact is None or not self._in_scope(cid):
                out.append(ReadFailure(cid, self._gone_words(), gone=True))
                continue
            self._enter(contact)
            out.append(self._record(contact))
        return out

    def create(self, records: Sequence[NewRecord]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        todo: list[NewRecord] = []
        for new in records:
            if properties.first_text(new.fields.get("emails", "")):
                todo.append(new)
            else:
                results[new.create_key] = WriteResult(new.create_key, error=NO_EMAIL)
        if todo:
            self._ensure_lists()
            self._ensure_own_properties()
        for chunk in batched(todo, BATCH):
            results.update(self._create_chunk(chunk))
        return [results[new.create_key] for new in records]

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        self._ensure_lists()
        results: dict[str, WriteResult] = {}
        for chunk in batched(list(updates), BATCH):
            results.update(self._update_chunk(chunk))
        return [results[u.id] for u in updates]

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        for chunk in batched(list(ids), BATCH):
            try:
                self.api.call(
                    "POST",
                    CONTACTS + "/batch/archive",
                    body={"inputs": [{"id": cid} for cid in chunk]},
                    what="deleting contacts",
                )
            except HubSpotApiError as exc:
                results.update({cid: WriteResult(cid, cid, exc.words) for cid in chunk})
                continue
            for cid in chunk:
                self._seen.pop(cid, None)
                for info in self._lists.values():
                    (info.members or set()).discard(cid)
                results[cid] = WriteResult(cid, cid)
        return [results[cid] for cid in ids]

    def cursor(self) -> Cursor:
        return {
            "v": CURSOR_VERSION,
            "portal": self.where.portal,
            "list": self.where.list_name,
            "scope": self._scope_id,
            "mark": self._mark,
            "seen": dict(self._seen),
            "lists": {lid: info.to_json() for lid, info in self._lists.items()},
            "refreshed": self._refreshed,
        }

    # ------------------------------------------------------------------ state

    def _known(self, cursor: Cursor | None) -> dict[str, Any]:
        if (
            isinstance(cursor, dict)
            and cursor.get("v") == CURSOR_VERSION
            and cursor.get("portal") == self.where.portal
            and cursor.get("list") == self.where.list_name
        ):
            return cursor
        return {}

    def _restore(self, known: Mapping[str, Any]) -> None:
        self._seen = {str(k): int(v) for k, v in (known.get("seen") or {}).items()}
        self._mark = int(known.get("mark") or 0)
        self._lists = {
            str(lid): ContactList.from_json(str(lid), data)
            for lid, data in (known.get("lists") or {}).items()
        }
        self._lists_loaded = True
        self._refreshed = float(known.get("refreshed") or 0.0)
        self._scope_id = known.get("scope") or None

    def _token_now(self) -> str:
        if self._token is None:
            from piesync_desktop import secrets  # keyring costs 60 ms to import: only here

            self._token = secrets.load_secret(self.account_key, TOKEN) or ""
        if not self._token:
            raise AuthExpired(
                f"No access token is kept for HubSpot portal {self.where.portal}. {TOKEN_HELP}"
            )
        return self._token

    def _load_schema(self) -> None:
        answer = self.api.call("GET", "/crm/v3/properties/contacts", what="reading contact fields")
        self._definitions = [d for d in answer.get("results", ()) if isinstance(d, dict)]
        self._schema = ContactSchema.of(self._definitions)

    def _schema_now(self) -> ContactSchema:
        if self._schema is None:
            self._load_schema()
        assert self._schema is not None
        return self._schema

    def _ensure_own_properties(self) -> None:
        """Make the hidden properties that hold create keys and kept values, once per portal."""
        schema = self._schema_now()
        missing = [name for name in properties.OWN_DEFINITIONS if name not in schema.properties]
        for name in missing:
            definition = properties.OWN_DEFINITIONS[name]
            try:
                made = self.api.call(
                    "POST",
                    "/crm/v3/properties/contacts",
                    body=definition,
                    what=f"making the contact property '{definition['label']}'",
                )
            except HubSpotApiError as exc:
                if exc.status != 409:  # made meanwhile by another run: as good
                    raise
                made = definition
            self._definitions.append(made)
        if missing:
            self._schema = ContactSchema.of(self._definitions)

    def _in_scope(self, cid: str) -> bool:
        if self._scope_id is None:
            return True
        scope = self._lists.get(self._scope_id)
        return scope is not None and cid in (scope.members or ())

    def _gone_words(self) -> str:
        if self.where.list_name:
            return f"no longer in the HubSpot list '{self.where.list_name}'"
        return "no longer in HubSpot"

    def _enter(self, contact: dict[str, Any]) -> None:
        cid = str(contact["id"])
        self._seen[cid] = _lmd(contact)

    def _record(self, contact: Mapping[str, Any]) -> Record:
        cid = str(contact["id"])
        values = contact.get("properties") or {}
        schema = self._schema_now()
        fields = schema.restored(schema.fields_of(values), properties.kept_of(values.get(OVERFLOW)))
        tags = frozenset(
            info.name
            for lid, info in self._lists.items()
            if lid != self._scope_id and cid in (info.members or ())
        )
        return Record(
            cid,
            fields,
            tags,
            str(_lmd(contact)),
            unsubscribed=str(values.get("hs_email_optout") or "").lower() == "true",
            create_key=str(values.get(CREATE_KEY) or "") or None,
        )

    # ------------------------------------------------------------------ reading

    def _full(self, before: dict[str, int] | None, moved: set[str] | None = None) -> Changes:
        """Every contact in scope. With ``before`` (the cursor's view, when a delta could not be
        had: the lists are then read already, ``moved`` their changes), only what changed is
        returned, and those it knew that are not listed are deleted."""
        mark = self._newest()
        if before is None:
            self._load_lists(members=True)
        self._resolve_scope()
        if self._scope_id is not None:
            scope = self._lists[self._scope_id]
            found = self._batch_read(sorted(scope.members or (), key=_id_order))
            listed: Iterable[dict[str, Any]] = (found[cid] for cid in sorted(found, key=_id_order))
        else:
            listed = self._list_all()
        self._seen = {}
        records = []
        for contact in listed:
            cid = str(contact["id"])
            self._enter(contact)
            if before is None or before.get(cid) != self._seen[cid] or cid in (moved or ()):
                records.append(self._record(contact))
        result = Changes(records=records, total=len(self._seen))
        if before is not None:
            result.deleted = sorted(set(before) - set(self._seen), key=_id_order)
        self._mark = mark
        return result

    def _delta(self) -> Changes:
        before = dict(self._seen)
        everything = time.time() - self._refreshed > MEMBERS_REFRESH_SECONDS
        moved = self._load_lists(members=True, everything=everything)
        self._resolve_scope()
        try:
            searched, newest = self._search_since(self._mark - SEARCH_MARGIN_MS)
        except _SearchCapped:
            return self._full(before, moved)
        records: dict[str, Record] = {}
        for contact in searched:
            cid = str(contact["id"])
            if not self._in_scope(cid):
                continue  # out of the list: found with the members below
            if self._seen.get(cid) == _lmd(contact) and cid not in moved:
                continue  # unchanged since the cursor (our own writes included)
            self._enter(contact)
            records[cid] = self._record(contact)
        # Contacts that joined or left a list (or the scope) without changing themselves.
        wanted = sorted((c for c in moved if c not in records and self._in_scope(c)), key=_id_order)
        found = self._batch_read(wanted)
        for cid in wanted:
            if cid in found:
                self._enter(found[cid])
                records[cid] = self._record(found[cid])
        deleted = {cid for cid in self._seen if not self._in_scope(cid)}
        deleted |= {cid for cid in wanted if cid not in found and cid in self._seen}
        deleted |= self._archived() & self._seen.keys()
        for cid in deleted:
            self._seen.pop(cid, None)
            records.pop(cid, None)
        self._mark = max(self._mark, newest)
        return Changes(
            records=[records[cid] for cid in sorted(records, key=_id_order)],
            deleted=sorted(deleted & before.keys(), key=_id_order),
            total=len(self._seen),
        )

    def _search_since(self, since: int) -> tuple[list[dict[str, Any]], int]:
        """Contacts whose lastmodifieddate is at or after ``since``, and the newest such value."""
        bound = max(0, since)
        newest = 0
        after = 0
        found: dict[str, dict[str, Any]] = {}
        names = self._schema_now().names()
        while True:
            body: dict[str, Any] = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "lastmodifieddate",
                                "operator": "GTE",
                                "value": str(bound),
                            }
                        ]
                    }
                ],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": names,
                "limit": SEARCH_PAGE,
            }
            if after:
                body["after"] = str(after)
            answer = self.api.call(
                "POST", CONTACTS + "/search", body=body, what="searching changed contacts",
                search=True,
            )  # fmt: skip
            results = [r for r in answer.get("results", ()) if isinstance(r, dict)]
            for contact in results:
                found[str(contact["id"])] = contact
                newest = max(newest, _lmd(contact))
            following = ((answer.get("paging") or {}).get("next") or {}).get("after")
            if not following or not results:
                return list(found.values()), newest
            last = _lmd(results[-1])
            if last > bound:  # ask again from the last value: stable while contacts change
                bound, after = last, 0
                continue
            after = int(following)  # a page of one timestamp: page through it by offset
            if after >= SEARCH_CAP:
                raise _SearchCapped

    def _newest(self) -> int:
        """The newest lastmodifieddate search shows now (where the next delta starts from)."""
        answer = self.api.call(
            "POST",
            CONTACTS + "/search",
            body={
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
                "properties": ["lastmodifieddate"],
                "limit": 1,
            },
            what="searching contacts",
            search=True,
        )
        return max((_lmd(r) for r in answer.get("results", ()) if isinstance(r, dict)), default=0)

    def _list_all(self) -> Iterator[dict[str, Any]]:
        names = ",".join(self._schema_now().names())
        ids_only = len(names) > URL_BUDGET  # HubSpot answers 414 past about 8,000: read by batch
        params: dict[str, Any] = {
            "limit": BATCH,
            "properties": "lastmodifieddate" if ids_only else names,
        }
        while True:
            page = self.api.call("GET", CONTACTS, params=params, what="listing contacts")
            results = [r for r in page.get("results", ()) if isinstance(r, dict)]
            if ids_only:
                full = self._batch_read([str(r["id"]) for r in results])
                yield from (full[str(r["id"])] for r in results if str(r["id"]) in full)
            else:
                yield from results
            following = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not following:
                return
            params["after"] = following

    def _archived(self) -> set[str]:
        """Every archived contact's id (HubSpot keeps them 90 days)."""
        found: set[str] = set()
        params: dict[str, Any] = {"archived": "true", "limit": BATCH, "properties": "hs_object_id"}
        while True:
            page = self.api.call("GET", CONTACTS, params=params, what="listing deleted contacts")
            found |= {str(r["id"]) for r in page.get("results", ()) if isinstance(r, dict)}
            following = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not following:
                return found
            params["after"] = following

    def _batch_read(
        self, ids: Iterable[str], names: Sequence[str] | None = None
    ) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        wanted = list(names) if names is not None else self._schema_now().names()
        for chunk in batched(list(dict.fromkeys(ids)), BATCH):
            answer = self.api.call(
                "POST",
                CONTACTS + "/batch/read",
                body={"inputs": [{"id": cid} for cid in chunk], "properties": wanted},
                what="reading contacts",
            )
            for contact in answer.get("results", ()):
                if isinstance(contact, dict) and not contact.get("archived"):
                    found[str(contact["id"])] = contact
        return found

    # ------------------------------------------------------------------ lists

    def _ensure_lists(self) -> None:
        if not self._lists_loaded:
            self._load_lists(members=True, everything=True)
        if self.where.list_name and self._scope_id is None:
            self._resolve_scope()

    def _load_lists(self, *, members: bool, everything: bool = True) -> set[str]:
        """Read the lists' definitions (and, with ``members``, the members of those that moved,
        or of all with ``everything``); the ids of contacts that joined or left one."""
        moved: set[str] = set()
        fresh: dict[str, ContactList] = {}
        others: dict[str, ContactList] = {}
        for info in self._search_lists():
            if not info.static:
                others[info.name.casefold()] = info
                continue
            old = self._lists.get(info.id)
            same = (
                old is not None
                and old.members is not None
                and not everything
                and (old.updated, old.size, old.name) == (info.updated, info.size, info.name)
            )
            if same and old is not None:
                info.members = old.members
            elif members:
                info.members = self._members_of(info.id)
            elif old is not None:
                info.members = old.members
            if old is not None and old.members is not None and info.members is not None:
                changed = old.members ^ info.members
                moved |= (old.members | info.members) if old.name != info.name else changed
            elif old is None and self._lists_loaded and info.members:
                moved |= info.members  # a list made since the cursor
            fresh[info.id] = info
        for lid, old in self._lists.items():
            if lid not in fresh and old.members:
                moved |= old.members  # a list deleted since the cursor
        self._lists, self._others = fresh, others
        if members:
            self._lists_loaded = True
            if everything:
                self._refreshed = time.time()
        return moved

    def _search_lists(self) -> Iterator[ContactList]:
        offset = 0
        while True:
            answer = self.api.call(
                "POST",
                LISTS + "/search",
                body={"query": "", "count": LISTS_PAGE, "offset": offset},
                what="listing the portal's lists",
            )
            page = [item for item in answer.get("lists", ()) if isinstance(item, dict)]
            for item in page:
                if str(item.get("objectTypeId", CONTACT_TYPE)) != CONTACT_TYPE:
                    continue
                yield _contact_list(item)
            if not answer.get("hasMore") or not page:
                return
            offset = int(answer.get("offset") or offset + len(page))

    def _members_of(self, list_id: str) -> set[str]:
        members: set[str] = set()
        params: dict[str, Any] = {"limit": MEMBERSHIP_PAGE}
        while True:
            page = self.api.call(
                "GET", f"{LISTS}/{list_id}/memberships", params=params,
                what="reading a list's members",
            )  # fmt: skip
            members |= {str(r["recordId"]) for r in page.get("results", ()) if isinstance(r, dict)}
            following = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not following:
                return members
            params["after"] = following

    def _resolve_scope(self) -> None:
        """The connection's list (by the id the cursor knows, else by name)."""
        if not self.where.list_name:
            self._scope_id = None
            return
        if self._scope_id in self._lists:
            return
        wanted = self.where.list_name.casefold()
        found = next((i for i in self._lists.values() if i.name.casefold() == wanted), None)
        if found is not None:
            if found.members is None and self._lists_loaded:
                found.members = self._members_of(found.id)
            self._scope_id = found.id
            return
        portal = self.where.portal
        if wanted in self._others:
            raise ConnectorError(
                f"'{self.where.list_name}' is an active list in HubSpot portal {portal}: "
                "HubSpot's filters decide its members, so contacts cannot be added to it. "
                "Connect a static list, or all contacts.",
                title="Not a static list",
            )
        if self._scope_id is not None:
            raise ConnectorError(
                f"The static list '{self.where.list_name}' is gone from HubSpot portal {portal}. "
                "Make it again, or connect another list.",
                title="List not found",
            )
        names = sorted((i.name for i in self._lists.values()), key=str.casefold)
        raise ConnectorError(
            f"There is no static list '{self.where.list_name}' in HubSpot portal {portal}. "
            "Pick one of: " + (", ".join(names) or "(no static lists yet)") + ".",
            title="List not found",
        )

    def _list_id(self, name: str) -> str:
        """The static list that is the tag ``name``, made if there is none yet."""
        wanted = name.casefold()
        for lid, info in self._lists.items():
            if info.name.casefold() == wanted:
                return lid
        if wanted in self._others:
            raise _ListProblem(self._clash(name))
        try:
            answer = self.api.call(
                "POST",
                LISTS,
                body={"name": name, "objectTypeId": CONTACT_TYPE, "processingType": "MANUAL"},
                what=f"making the list '{name}'",
            )
            info = _contact_list(answer.get("list") or {})
            info.members = set()
        except HubSpotApiError as exc:
            if exc.status != 409 and "DUPLICATE" not in exc.sub_category.upper():
                raise
            # Made meanwhile by someone else (or an active list of that name): use it if static.
            existing = self.api.call(
                "GET",
                f"{LISTS}/object-type-id/{CONTACT_TYPE}/name/{quote(name, safe='')}",
                what=f"reading the list '{name}'",
            )
            info = _contact_list(existing.get("list") or {})
            if not info.static:
                self._others[wanted] = info
                raise _ListProblem(self._clash(name)) from exc
            info.members = self._members_of(info.id)
        self._lists[info.id] = info
        return info.id

    def _clash(self, name: str) -> str:
        return (
            f"HubSpot has an active list named '{name}', so the tag '{name}' cannot be a static "
            "list there. Rename one of them."
        )

    def _change_members(self, changes: Mapping[tuple[str, str], list[str]]) -> None:
        """``(list id, "add" or "remove")`` -> record ids."""
        for (lid, verb), ids in changes.items():
            name = self._lists[lid].name
            for chunk in batched(sorted(set(ids), key=_id_order), BATCH):
                self.api.call(
                    "PUT",
                    f"{LISTS}/{lid}/memberships/{verb}",
                    body=list(chunk),
                    what=f"{'adding contacts to' if verb == 'add' else 'removing contacts from'} "
                    f"the list '{name}'",
                )
                members = self._lists[lid].members
                if members is not None:
                    if verb == "add":
                        members.update(chunk)
                    else:
                        members.difference_update(chunk)

    # ------------------------------------------------------------------ writing

    def _create_chunk(self, chunk: Sequence[NewRecord]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        lists_of: dict[str, list[str]] = {}
        values: dict[str, dict[str, str]] = {}
        schema = self._schema_now()
        for new in chunk:
            try:
                lists_of[new.create_key] = [self._list_id(tag) for tag in sorted(new.tags)]
            except _ListProblem as problem:
                results[new.create_key] = WriteResult(new.create_key, error=str(problem))
                continue
            if self._scope_id is not None:
                lists_of[new.create_key].append(self._scope_id)
            written = schema.properties_of(new.fields, clear=False)
            written[CREATE_KEY] = new.create_key
            kept = schema.overflow(new.fields, {})
            if kept:
                written[OVERFLOW] = properties.encode_kept(kept)
            values[new.create_key] = written
        outcomes = self._send_creates(list(values.items()))
        duplicates = {
            key: outcome.existing
            for key, outcome in outcomes.items()
            if isinstance(outcome, _Refused) and outcome.existing
        }
        outcomes.update(self._adopt(duplicates, values))
        members: dict[tuple[str, str], list[str]] = {}
        for key, outcome in outcomes.items():
            if isinstance(outcome, dict):
                self._enter(outcome)
                for lid in lists_of[key]:
                    members.setdefault((lid, "add"), []).append(str(outcome["id"]))
        self._change_members(members)
        for key, outcome in outcomes.items():
            if isinstance(outcome, dict):
                cid = str(outcome["id"])
                results[key] = WriteResult(key, cid, record=self._record(outcome))
            else:
                results[key] = WriteResult(key, error=outcome.message)
        return results

    def _send_creates(
        self, items: Sequence[tuple[str, dict[str, str]]]
    ) -> dict[str, dict[str, Any] | _Refused]:
        """One batch create with multi-status errors: each input's create key is its
        objectWriteTraceId. Should HubSpot refuse the batch whole all the same, it is halved
        until only the refused contacts fail."""
        if not items:
            return {}
        try:
            answer = self.api.call(
                "POST",
                CONTACTS + "/batch/create",
                body={
                    "inputs": [
                        {"properties": written, "objectWriteTraceId": key} for key, written in items
                    ]
                },
                what="saving new contacts",
            )
        except HubSpotApiError as exc:
            if exc.status not in (400, 409):
                raise
            if len(items) == 1:
                return {items[0][0]: self._refused(exc.body)}
            half = len(items) // 2
            return {**self._send_creates(items[:half]), **self._send_creates(items[half:])}
        out: dict[str, dict[str, Any] | _Refused] = {}
        keys = {key for key, _ in items}
        for contact in answer.get("results", ()):
            if not isinstance(contact, dict):
                continue
            key = contact.get("objectWriteTraceId") or (contact.get("properties") or {}).get(
                CREATE_KEY
            )
            if key in keys:
                out[str(key)] = contact
        for error in answer.get("errors", ()):
            if not isinstance(error, dict):
                continue
            for key in (error.get("context") or {}).get("objectWriteTraceId") or ():
                if key in keys:
                    out[str(key)] = self._refused(error)
        for key, _ in items:
            out.setdefault(key, _Refused(NO_ANSWER))
        return out

    def _adopt(
        self, duplicates: Mapping[str, str | None], values: Mapping[str, dict[str, str]]
    ) -> dict[str, dict[str, Any] | _Refused]:
        """Creates HubSpot refused because a contact has their email (see the module's words)."""
        if not duplicates:
            return {}
        existing = self._batch_read(str(xid) for xid in duplicates.values())
        out: dict[str, dict[str, Any] | _Refused] = {}
        upserts: list[tuple[str, str]] = []
        for key, xid in duplicates.items():
            contact = existing.get(str(xid))
            if contact is None:
                out[key] = _Refused(f"HubSpot says contact {xid} has this email address already")
            elif (contact.get("properties") or {}).get(CREATE_KEY) == key:
                out[key] = contact  # this very create, carried out before its answer was lost
            elif str(xid) in self._seen:
                out[key] = _Refused(
                    f"HubSpot already has a contact with this email address (record {xid}) and "
                    "keeps one contact per email address; turn on Avoid Duplicates to pair the "
                    "two instead"
                )
            else:
                upserts.append((key, str(xid)))
        written = self._send_updates([(xid, dict(values[key])) for key, xid in upserts])
        for key, xid in upserts:
            outcome = written.get(xid, _Refused(NO_ANSWER))
            out[key] = _merged(existing[xid], outcome) if isinstance(outcome, dict) else outcome
        return out

    def _update_chunk(self, chunk: Sequence[RecordUpdate]) -> dict[str, WriteResult]:
        results: dict[str, WriteResult] = {}
        current = self._batch_read(u.id for u in chunk)
        schema = self._schema_now()
        sendable: list[RecordUpdate] = []
        contacts: dict[str, dict[str, Any]] = {}
        payloads: list[tuple[str, dict[str, str]]] = []
        for update in chunk:
            contact = current.get(update.id)
            if contact is None or not self._in_scope(update.id):
                results[update.id] = WriteResult(update.id, update.id, GONE)
                continue
            expected = _version(update.version) if update.version else self._seen.get(update.id)
            if expected is not None and _lmd(contact) != expected:
                # Left unentered: the next run sees it changed, reads it and merges.
                results[update.id] = WriteResult(
                    update.id, update.id, "changed in HubSpot since it was read", conflict=True
                )
                continue
            sendable.append(update)
            contacts[update.id] = contact
            if update.fields:
                written = schema.properties_of(update.fields, clear=True)
                before = properties.kept_of((contact.get("properties") or {}).get(OVERFLOW))
                kept = schema.overflow(update.fields, before)
                if kept != before:
                    written[OVERFLOW] = properties.encode_kept(kept)
                if written:
                    payloads.append((update.id, written))
        if any(OVERFLOW in written for _, written in payloads):
            self._ensure_own_properties()
        for part in batched(payloads, BATCH):
            for cid, outcome in self._send_updates(part).items():
                if isinstance(outcome, _Refused):
                    results[cid] = WriteResult(cid, cid, outcome.message)
                else:
                    contacts[cid] = _merged(contacts[cid], outcome)
        members: dict[tuple[str, str], list[str]] = {}
        for update in sendable:
            if update.id in results:
                continue
            try:
                adds = [self._list_id(tag) for tag in sorted(update.add_tags)]
            except _ListProblem as problem:
                results[update.id] = WriteResult(update.id, update.id, str(problem))
                continue
            removes = [
                lid
                for lid, info in self._lists.items()
                if info.name in update.remove_tags and lid != self._scope_id
            ]
            for lid in adds:
                members.setdefault((lid, "add"), []).append(update.id)
            for lid in removes:
                members.setdefault((lid, "remove"), []).append(update.id)
        self._change_members(members)
        for update in sendable:
            if update.id not in results:
                self._enter(contacts[update.id])
                results[update.id] = WriteResult(
                    update.id, update.id, record=self._record(contacts[update.id])
                )
        return results

    def _send_updates(
        self, items: Sequence[tuple[str, dict[str, str]]]
    ) -> dict[str, dict[str, Any] | _Refused]:
        """One batch update; a batch HubSpot refuses whole (one invalid input refuses them all)
        is halved until only the refused contacts fail, each with HubSpot's words."""
        if not items:
            return {}
        try:
            answer = self.api.call(
                "POST",
                CONTACTS + "/batch/update",
                body={"inputs": [{"id": cid, "properties": written} for cid, written in items]},
                what="saving changed contacts",
            )
        except HubSpotApiError as exc:
            if exc.status not in (400, 404, 409):
                raise
            if len(items) == 1:
                refused = _Refused(GONE) if exc.status == 404 else self._refused(exc.body)
                return {items[0][0]: refused}
            half = len(items) // 2
            return {**self._send_updates(items[:half]), **self._send_updates(items[half:])}
        out: dict[str, dict[str, Any] | _Refused] = {
            str(c["id"]): c for c in answer.get("results", ()) if isinstance(c, dict)
        }
        for cid, _ in items:
            out.setdefault(cid, _Refused(NO_ANSWER))
        return out

    def _refused(self, entry: Mapping[str, Any]) -> _Refused:
        """HubSpot's words for one refused input, the properties it names by their labels."""
        schema = self._schema_now()
        issues = issues_of(entry)
        if issues:
            message = "; ".join(
                f"{schema.label(issue.name)}: {issue.message}" if issue.name else issue.message
                for issue in issues
            )
        else:
            message = error_words(entry, "HubSpot refused it")
        return _Refused(message, existing_id(error_words(entry, "")))


def _contact_list(item: Mapping[str, Any]) -> ContactList:
    extra = item.get("additionalProperties") or {}
    size = item.get("size", extra.get("hs_list_size", -1))
    return ContactList(
        str(item.get("listId") or ""),
        str(item.get("name") or ""),
        str(item.get("processingType") or "MANUAL"),
        str(item.get("updatedAt") or ""),
        int(size) if str(size).lstrip("-").isdigit() else -1,
    )


def _merged(contact: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    """``contact`` with the properties (and timestamps) a write's answer carries."""
    merged = dict(contact)
    merged["properties"] = {
        **(contact.get("properties") or {}),
        **(answer.get("properties") or {}),
    }
    if answer.get("updatedAt"):
        merged["updatedAt"] = answer["updatedAt"]
    return merged


def _lmd(contact: Mapping[str, Any]) -> int:
    values = contact.get("properties") or {}
    found = instant_ms(values.get("lastmodifieddate")) or instant_ms(contact.get("updatedAt"))
    return found or 0


def _version(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _id_order(cid: str) -> tuple[int, str]:
    return (len(cid), cid)
