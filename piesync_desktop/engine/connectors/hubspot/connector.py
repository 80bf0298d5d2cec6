"""HubSpot CRM contacts as a connector: all of a portal's contacts, or the members of one static
list (``hubspot:LIST@PORTAL``; ``hubspot:@PORTAL`` for all). The portal's private-app access token
is kept in the keyring (see :mod:`.settings`); HTTP and rate limits are :mod:`.api`'s, fields and
values :mod:`.properties`'.

Reading. The first run lists every contact (``GET /crm/v3/objects/contacts``, 100 a page; for a
list, its members read in batches). Later runs ask CRM search for the contacts whose
``lastmodifieddate`` is at or after the cursor's high-water mark minus 15 minutes (search results
lag writes, by seconds as a rule but longer for a contact now and then, and not in
lastmodifieddate order), sorted ascending, 200 a page. Each page asks again from the last value
seen (a key set), so a contact changed while we page only moves further on and none is skipped;
a whole page of one value (an import, a bulk edit) is paged through by record id (``EQ`` that
value, ``hs_object_id`` ``GT`` the last id, sorted by it: HubSpot gives ties in no documented
order, and an offset into them skips one whenever another leaves them), then the search goes on
past it. No query pages by offset, so search's cap of 10,000 results of one query is never met.
The cursor keeps each contact's ``lastmodifieddate``, as the Google connector keeps etags: a
contact that comes back with the value the cursor holds (our own writes among them) is no
change. The high-water mark comes from HubSpot's own timestamps only (the newest one a search
showed), never from this machine's clock. Deleted (archived) contacts come from the archived
listing, read only when search's count of all contacts is not the number the cursor knows.

Lists are the tags: the portal's static (MANUAL or SNAPSHOT) contact lists by name; active
(DYNAMIC) lists are HubSpot's to fill and are not tags. Members are read per list (250 a page)
and kept in the cursor; a run reads the lists' definitions (one request) and the members only of
lists whose ``updatedAt`` or size moved, and of all of them once a day in case HubSpot moved
neither. A list the lists search leaves out is asked for by id before its members count as gone.
A contact that joined or left a list is a change. Lists the engine needs ('PieSync Trash',
'PieSync Unsubscribes', any other tag) are made when first needed; one HubSpot will not make
fails the contacts that need it, in HubSpot's words, and nothing else. A ``LIST`` location syncs
that list's members only; the list is a tag of every one of them (as the Google connector
reports its group), so a category of that name in the other app stays, and contacts created
there join it.

A run in which nothing changed costs four requests: the property definitions (the schema, which
also proves the token), one search, the lists' definitions, and a search counting the contacts
(the archived listing, 100 a page, only when the count says some went). The run after one that
wrote N contacts pages through them once more (N/200 searches), skipping them.

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
carrying its key, and the engine links it instead of creating it again. So a batch create is
never sent again after a 5xx or a dropped connection (HubSpot may have carried it out): the run
stops, and the next one links what was made. Once contacts are made nothing raises: a list
membership HubSpot refuses them is kept in the cursor, reported as theirs, asked for again by the
next run, and noted (Health) while HubSpot still refuses it.

HubSpot also refuses a second contact with the same email (409 "Contact already exists.
Existing ID: N"); the existing contact is then read, and never written over unless it carries
this create's own key (the very create, carried out before its answer was lost: adopted). One
outside the connection's list joins the list (its membership only) and the create fails saying
so; one made since this sync began (too new for the search) fails the create likewise; either
way the next run reads it, and the engine pairs the two (Avoid Duplicates) as contacts meeting
for the first time, merging their values. One the connection knows already, or one this sync
made for another contact, fails the create with that reason: HubSpot keeps one contact per email
address.
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
    RecordNote,
    RecordUpdate,
    WriteResult,
)

CURSOR_VERSION = 1
BATCH = 100  # HubSpot's limit of inputs in a batch call, and of a listing page
SEARCH_PAGE = 200  # CRM search's largest page
# Search results lag writes, by seconds as a rule, longer for a contact now and then (and not in
# lastmodifieddate order): ask again from 15 minutes back. Contacts the cursor holds with the
# same lastmodifieddate are skipped, so it costs a page more after a busy quarter of an hour.
SEARCH_MARGIN_MS = 15 * 60_000
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
    """A tag that cannot be a static list (an active list's name, or one HubSpot refused)."""


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
            shared_locations=True,
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
        # HubSpot's clock when this run's reading began, less the search margin: every change
        # before it was searchable by then, so the next run's search starts there.
        self._checked: int | None = None
        self._lists: dict[str, ContactList] = {}  # static lists, with their members
        self._others: dict[str, ContactList] = {}  # active lists, by casefolded name
        self._lists_loaded = False
        self._refreshed = 0.0  # when every list's members were last read (time.time())
        self._scope_id: str | None = None
        # Memberships HubSpot refused for contacts we created (id -> list id -> its words),
        # asked for again by the next run and reported as the contacts' until then.
        self._owed: dict[str, dict[str, str]] = {}
        self._recheck: set[str] = set()  # contacts the next run reads whatever search says
        self._refused_lists: dict[str, str] = {}  # casefolded tag -> why HubSpot made no list
        self._made: set[str] = set()  # create keys of the contacts this connector made

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
            self._owed, self._recheck = {}, set()
            return self._full()
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
                self._owed.pop(cid, None)
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
            "checked": self._checked,
            "seen": dict(self._seen),
            "lists": {lid: info.to_json() for lid, info in self._lists.items()},
            "refreshed": self._refreshed,
            "owed": {cid: dict(lists) for cid, lists in self._owed.items() if lists},
            "recheck": sorted(self._recheck, key=_id_order),
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
        checked = known.get("checked")
        self._checked = int(checked) if isinstance(checked, int) else None
        self._lists = {
            str(lid): ContactList.from_json(str(lid), data)
            for lid, data in (known.get("lists") or {}).items()
        }
        self._lists_loaded = True
        self._refreshed = float(known.get("refreshed") or 0.0)
        self._scope_id = known.get("scope") or None
        self._owed = {
            str(cid): {str(lid): str(words) for lid, words in lists.items()}
            for cid, lists in (known.get("owed") or {}).items()
            if isinstance(lists, dict)
        }
        self._recheck = {str(cid) for cid in known.get("recheck") or ()}

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
        if scope is not None and cid in (scope.members or ()):
            return True
        return self._scope_id in self._owed.get(cid, {})  # made by us, its membership owed

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
        # The location's own list is a tag too (as Google's connector reports its group), so a
        # category of that name in the other app is never taken for one removed here.
        owed = self._owed.get(cid, {})
        tags = frozenset(
            info.name
            for lid, info in self._lists.items()
            if cid in (info.members or ()) or lid in owed
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

    def _full(self) -> Changes:
        """Every contact in scope (a first run)."""
        began = self.api.server_ms
        mark = self._newest()
        self._checked = self._checked_from(began)
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
            self._enter(contact)
            records.append(self._record(contact))
        self._mark = mark
        return Changes(records=records, total=len(self._seen))

    def _delta(self) -> Changes:
        before = dict(self._seen)
        everything = time.time() - self._refreshed > MEMBERS_REFRESH_SECONDS
        moved = self._load_lists(members=True, everything=everything)
        self._resolve_scope()
        notes = self._settle_owed()
        # From where the last run's reading began less the margin, by HubSpot's clock: not
        # from the newest change less the margin, which after a big write would page through
        # all of it on every run until something else changed.
        since = self._checked if self._checked is not None else self._mark - SEARCH_MARGIN_MS
        began = self.api.server_ms
        searched, newest = self._search_since(since)
        self._checked = self._checked_from(began)
        records: dict[str, Record] = {}
        for contact in searched:
            cid = str(contact["id"])
            if not self._in_scope(cid):
                continue  # out of the list: found with the members below
            if self._seen.get(cid) == _lmd(contact) and cid not in moved:
                continue  # unchanged since the cursor (our own writes included)
            self._enter(contact)
            records[cid] = self._record(contact)
        # Contacts that joined or left a list (or the scope) without changing themselves, and
        # those a create met that the search may not show yet.
        wanted = sorted(
            (c for c in moved | self._recheck if c not in records and self._in_scope(c)),
            key=_id_order,
        )
        self._recheck = set()
        found = self._batch_read(wanted)
        for cid in wanted:
            if cid in found:
                self._enter(found[cid])
                records[cid] = self._record(found[cid])
        deleted = {cid for cid in self._seen if not self._in_scope(cid)}
        deleted |= {cid for cid in wanted if cid not in found and cid in self._seen}
        for cid in deleted:
            self._seen.pop(cid, None)
        if self._scope_id is not None or self._live_count() != len(self._seen):
            deleted |= self._archived() & self._seen.keys()
        for cid in deleted:
            self._seen.pop(cid, None)
            records.pop(cid, None)
            self._owed.pop(cid, None)
        self._mark = max(self._mark, newest)
        return Changes(
            records=[records[cid] for cid in sorted(records, key=_id_order)],
            deleted=sorted(deleted & before.keys(), key=_id_order),
            notes=notes,
            total=len(self._seen),
        )

    def _checked_from(self, began: int | None) -> int | None:
        """Where the next run's search starts, for a reading that began at ``began`` (HubSpot's
        clock; None when its answers carry no Date: then the newest change less the margin)."""
        if began is None:
            return None
        return max(0, began - SEARCH_MARGIN_MS)

    def _search_since(self, since: int) -> tuple[list[dict[str, Any]], int]:
        """Contacts whose lastmodifieddate is at or after ``since``, and the newest such value.

        Each page asks again from the last value seen, so a contact changed while we page only
        moves further on. A whole page of one value (an import, a bulk edit) is paged through
        by record id instead (HubSpot orders equal values in no documented way, and an offset
        into them skips one whenever another leaves them), then the search goes on past it."""
        bound = max(0, since)
        newest = 0
        found: dict[str, dict[str, Any]] = {}
        names = self._schema_now().names()
        while True:
            answer = self._search(
                [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(bound)}],
                "lastmodifieddate",
                names,
            )
            results = [r for r in answer.get("results", ()) if isinstance(r, dict)]
            for contact in results:
                found[str(contact["id"])] = contact
                newest = max(newest, _lmd(contact))
            if not _following(answer) or not results:
                return list(found.values()), newest
            last = _lmd(results[-1])
            if last <= bound:
                for contact in self._search_tie(bound, names):
                    found[str(contact["id"])] = contact
                last = bound + 1
            bound = last

    def _search_tie(self, stamp: int, names: Sequence[str]) -> Iterator[dict[str, Any]]:
        """The contacts whose lastmodifieddate is ``stamp``, by record id."""
        after = ""
        while True:
            filters = [{"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(stamp)}]
            if after:
                filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": after})
            answer = self._search(filters, "hs_object_id", names)
            results = [r for r in answer.get("results", ()) if isinstance(r, dict)]
            yield from results
            if not _following(answer) or not results:
                return
            after = str(results[-1]["id"])

    def _search(
        self, filters: list[dict[str, Any]], sort: str, names: Sequence[str]
    ) -> dict[str, Any]:
        return self.api.call(
            "POST",
            CONTACTS + "/search",
            body={
                "filterGroups": [{"filters": filters}],
                "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                "properties": list(names),
                "limit": SEARCH_PAGE,
            },
            what="searching changed contacts",
            search=True,
        )

    def _live_count(self) -> int | None:
        """How many contacts the portal holds (search's total of everything), or None."""
        answer = self.api.call(
            "POST",
            CONTACTS + "/search",
            body={"properties": ["hs_object_id"], "limit": 1},
            what="counting contacts",
            search=True,
        )
        total = answer.get("total")
        return total if isinstance(total, int) else None

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
        found = list(self._search_lists())
        listed = {info.id for info in found}
        # A list the search leaves out may only be missing from its index for a while: asked
        # for by id before its members count as gone.
        found += [info for lid in self._lists if lid not in listed for info in self._confirm(lid)]
        for info in found:
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

    def _confirm(self, list_id: str) -> list[ContactList]:
        """The list ``list_id`` as HubSpot holds it now ([] if it is gone)."""
        try:
            answer = self.api.call("GET", f"{LISTS}/{list_id}", what="reading a list")
        except HubSpotApiError as exc:
            if exc.status == 404:
                return []
            raise
        info = _contact_list(answer.get("list") or {})
        return [info] if info.id == list_id else []

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
        """The static list that is the tag ``name``, made if there is none yet; a list HubSpot
        will not make (or an active list of that name) is a :class:`_ListProblem` of the
        contacts that need it, said once a run."""
        wanted = name.casefold()
        for lid, info in self._lists.items():
            if info.name.casefold() == wanted:
                return lid
        if wanted in self._others:
            raise _ListProblem(self._clash(name))
        if wanted in self._refused_lists:
            raise _ListProblem(self._refused_lists[wanted])
        try:
            info = self._make_list(name)
        except HubSpotApiError as exc:
            problem = f"HubSpot refused to make the list '{name}': {exc.words}"
            self._refused_lists[wanted] = problem
            raise _ListProblem(problem) from exc
        self._lists[info.id] = info
        return info.id

    def _make_list(self, name: str) -> ContactList:
        try:
            answer = self.api.call(
                "POST",
                LISTS,
                body={"name": name, "objectTypeId": CONTACT_TYPE, "processingType": "MANUAL"},
                what=f"making the list '{name}'",
            )
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
                self._others[name.casefold()] = info
                raise _ListProblem(self._clash(name)) from exc
            info.members = self._members_of(info.id)
            return info
        info = _contact_list(answer.get("list") or {})
        info.members = set()
        return info

    def _clash(self, name: str) -> str:
        return (
            f"HubSpot has an active list named '{name}', so the tag '{name}' cannot be a static "
            "list there. Rename one of them."
        )

    def _change_members(
        self,
        changes: Mapping[tuple[str, str], list[str]],
        *,
        keep_going: bool = False,
        record: bool = True,
    ) -> dict[tuple[str, str], str]:
        """``(list id, "add" or "remove")`` -> record ids; what HubSpot refused, by (record id,
        list id), in its words (:data:`GONE` for a contact it says does not exist). With
        ``keep_going`` nothing raises (a problem reaching HubSpot is every unsent change's
        problem); without ``record`` the members kept here are left as they were, so the next
        run sees the change."""
        problems: dict[tuple[str, str], str] = {}
        stopped = ""
        for (lid, verb), ids in changes.items():
            name = self._lists[lid].name
            doing = "adding it to" if verb == "add" else "removing it from"
            plural = "adding contacts to" if verb == "add" else "removing contacts from"
            for chunk in batched(sorted(set(ids), key=_id_order), BATCH):
                if stopped:
                    problems.update({(cid, lid): stopped for cid in chunk})
                    continue
                try:
                    answer = self.api.call(
                        "PUT",
                        f"{LISTS}/{lid}/memberships/{verb}",
                        body=list(chunk),
                        what=f"{plural} the list '{name}'",
                    )
                except HubSpotApiError as exc:
                    words = f"HubSpot refused {doing} the list '{name}': {exc.words}"
                    problems.update({(cid, lid): words for cid in chunk})
                    continue
                except ConnectorError as exc:
                    if not keep_going:
                        raise
                    stopped = exc.message
                    problems.update({(cid, lid): stopped for cid in chunk})
                    continue
                missing = {str(m) for m in answer.get("recordIdsMissing") or ()}
                problems.update({(cid, lid): GONE for cid in chunk if cid in missing})
                members = self._lists[lid].members
                done = [cid for cid in chunk if cid not in missing]
                if record and members is not None:
                    if verb == "add":
                        members.update(done)
                    else:
                        members.difference_update(done)
        return problems

    def _settle_owed(self) -> list[RecordNote]:
        """Ask again for the memberships HubSpot refused contacts we created; a note for each
        contact HubSpot still refuses."""
        changes: dict[tuple[str, str], list[str]] = {}
        for cid, lists in self._owed.items():
            for lid in list(lists):
                info = self._lists.get(lid)
                if info is None or cid in (info.members or ()):
                    del lists[lid]  # the list is gone, or the contact joined it meanwhile
                else:
                    changes.setdefault((lid, "add"), []).append(cid)
        problems = self._change_members(changes, keep_going=True)
        for (lid, _), ids in changes.items():
            for cid in ids:
                words = problems.get((cid, lid))
                if words is None or words == GONE:
                    self._owed[cid].pop(lid, None)
                else:
                    self._owed[cid][lid] = words
        self._owed = {cid: lists for cid, lists in self._owed.items() if lists}
        return [
            RecordNote(cid, "; ".join(lists.values()) + "; the next sync asks again.")
            for cid, lists in sorted(self._owed.items())
        ]

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
        outcomes.update(self._met(duplicates, values))
        # From here on the contacts exist: nothing may raise, or the next run makes them again.
        members: dict[tuple[str, str], list[str]] = {}
        for key, outcome in outcomes.items():
            if isinstance(outcome, dict):
                cid = str(outcome["id"])
                self._made.add(key)
                for lid in lists_of[key]:
                    if cid not in (self._lists[lid].members or ()):
                        members.setdefault((lid, "add"), []).append(cid)
        for (cid, lid), words in self._change_members(members, keep_going=True).items():
            self._owed.setdefault(cid, {})[lid] = words  # asked for again by the next run
        for key, outcome in outcomes.items():
            if isinstance(outcome, dict):
                self._enter(outcome)
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
                repeatable=False,  # a 5xx may come after the contacts were made
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

    def _met(
        self, duplicates: Mapping[str, str | None], values: Mapping[str, dict[str, str]]
    ) -> dict[str, dict[str, Any] | _Refused]:
        """Creates HubSpot refused because a contact has their email address already (409
        "Existing ID: N"). Only a contact carrying the create's own key is adopted: this very
        create, carried out before its answer was lost. Any other is never written over: a
        contact outside the connection's list joins the list (its membership only), and the
        next sync pairs the two (Avoid Duplicates) as contacts meeting for the first time."""
        if not duplicates:
            return {}
        existing = self._batch_read(str(xid) for xid in duplicates.values())
        out: dict[str, dict[str, Any] | _Refused] = {}
        joining: list[tuple[str, str, str]] = []
        for key, xid in duplicates.items():
            contact = existing.get(str(xid))
            if contact is None:
                out[key] = _Refused(f"HubSpot says contact {xid} has this email address already")
                continue
            held = (contact.get("properties") or {}).get(CREATE_KEY) or ""
            email = str((contact.get("properties") or {}).get("email") or "").strip()
            email = email or values[key].get("email", "") or "this email address"
            has = f"HubSpot already has {email} (record {xid})"
            if held == key:
                out[key] = contact  # this very create, carried out before its answer was lost
            elif held and (held in values or held in self._made):
                out[key] = _Refused(
                    f"{has}, made by this sync for another contact with the same email address; "
                    "HubSpot keeps one contact per email address"
                )
            elif str(xid) in self._seen:
                out[key] = _Refused(
                    f"{has} and keeps one contact per email address; turn on Avoid Duplicates "
                    "to pair the two instead"
                )
            elif self._scope_id is not None and not self._in_scope(str(xid)):
                joining.append((key, str(xid), has))
            else:
                self._recheck.add(str(xid))
                out[key] = _Refused(
                    f"{has}, made since this sync began; the next sync pairs the two"
                )
        if joining:
            assert self._scope_id is not None
            scope = self._scope_id
            name = self._lists[scope].name
            problems = self._change_members(
                {(scope, "add"): [xid for _, xid, _ in joining]}, keep_going=True, record=False
            )
            for key, xid, has in joining:
                problem = problems.get((xid, scope))
                if problem:
                    out[key] = _Refused(f"{has}, outside the list '{name}'; {problem}")
                else:
                    self._recheck.add(xid)
                    out[key] = _Refused(
                        f"{has}, outside the list '{name}': it was added to the list, and the "
                        "next sync pairs the two"
                    )
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
                held = contact.get("properties") or {}
                stored = held.get(OVERFLOW)
                # The kept values as merged with the person's edits in HubSpot: written back
                # with this write, so the property never holds what was merged away.
                before = schema.settled(held, properties.kept_of(stored))
                kept = schema.overflow(update.fields, before)
                if properties.encode_kept(kept) != str(stored or "").strip():
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
                if update.id not in (self._lists[lid].members or ()):
                    members.setdefault((lid, "add"), []).append(update.id)
            for lid in removes:
                members.setdefault((lid, "remove"), []).append(update.id)
        for (cid, _), words in self._change_members(members).items():
            if cid not in results:
                self._enter(contacts[cid])
                results[cid] = WriteResult(cid, cid, words)
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


def _following(answer: Mapping[str, Any]) -> str:
    """The paging token of the next page ("" when this one is the last)."""
    return str(((answer.get("paging") or {}).get("next") or {}).get("after") or "")
