"""Google Contacts through the People API (v1) as a connector: all of an account's contacts, or
one contact group of them (``google:GROUP@ACCOUNT``; ``google:@ACCOUNT`` for all).

Changes come from ``people.connections.list`` with sync tokens (a full listing when there is no
token or Google says it expired); deleted contacts come back with ``metadata.deleted``. Writes use
the batch methods, at most 200 contacts a call and one call at a time, as Google asks of
mutations for one account. Updates carry the etag the engine read, so a contact someone changed
meanwhile is never overwritten (a conflict: the next run reads it again and merges). Contact
groups are the tags; a group the engine needs ('PieSync Trash') is created when first needed,
and one it no longer needs (a share job's destination removed) is deleted, its contacts kept.
The create key goes into the person's ``clientData``, so a create a crash left unlinked is
found by the next listing rather than made twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from piesync_desktop.engine.connectors.base import AppInfo, Cursor, batched
from piesync_desktop.engine.connectors.google import people
from piesync_desktop.engine.connectors.google.oauth import GoogleSettings, TokenSource
from piesync_desktop.engine.connectors.google.oauth import account_key as oauth_account_key
from piesync_desktop.engine.connectors.http import (
    HttpSettings,
    host_of,
    make_client,
    retry_after,
    transport_error,
)
from piesync_desktop.engine.errors import (
    AuthExpired,
    ConfigError,
    ConnectorError,
    Throttled,
    TransientError,
)
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
BACKOFF_SECONDS = 1.0  # the first wait after a quota answer or a 5xx; doubled each time
BACKOFF_TRIES = 4
BATCH = 200  # Google's limit for batchCreateContacts, batchUpdateContacts and getBatchGet
PAGE_SIZE = 1000
MY_CONTACTS = "contactGroups/myContacts"
SYSTEM_GROUPS = frozenset(
    f"contactGroups/{name}"
    for name in (
        "myContacts", "starred", "friends", "family", "coworkers", "chatBuddies", "all", "blocked"
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class GoogleLocation:
    """``GROUP@ACCOUNT``: a contact group (empty for all contacts) of a signed-in account."""

    group: str
    account: str

    @classmethod
    def parse(cls, location: str) -> GoogleLocation:
        # The account is the last user@domain, so a group's name may hold an "@" of its own.
        head, sep, domain = location.rpartition("@")
        group, sep_user, user = head.rpartition("@")
        account = f"{user}@{domain}"
        if not sep or not sep_user or not user or not domain:
            raise ConfigError(
                f"'google:{location}' does not say which account: write google:@you@gmail.com "
                "for all contacts, or google:GROUP@you@gmail.com for one contact group."
            )
        return cls(group.strip(), account.strip().lower())


class GoogleApiError(ConnectorError):
    """A refusal of the People API, with Google's own message, status code and reason."""

    def __init__(
        self, message: str, status: int, reason: str = "", details: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(message, title="Google refused")
        self.status = status
        self.reason = reason
        self.details = details  # the ``reason`` of each ErrorInfo, e.g. EXPIRED_SYNC_TOKEN


class GoogleContacts:
    """One Google account's contacts (or one of its contact groups)."""

    app: ClassVar[AppInfo] = AppInfo(
        key="google",
        name="Google Contacts",
        description="The contacts of a Google account, or one of its contact groups (labels).",
        capabilities=Capabilities(
            tags=True,
            tag_noun="label",
            deletions=True,
            unsubscribes=False,
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
        settings: GoogleSettings | None = None,
        http: HttpSettings | None = None,
        tokens: Callable[[], str] | None = None,
    ) -> None:
        self._location = location
        self.where = GoogleLocation.parse(location)
        self._settings = settings
        self._http_settings = http
        self._tokens = tokens
        self._source: TokenSource | None = None
        self._client: httpx.Client | None = None
        self.requests = 0
        self._persons: dict[str, dict[str, Any]] = {}  # read or written this run
        self._etags: dict[str, str] = {}
        self._groups: dict[str, str] = {}  # resource name -> name, user groups
        self._groups_read = False  # the labels were listed in this run (not only the cursor)
        self._custom: set[str] = set()
        self._token: str | None = None
        self._scope_group: str | None = None  # resource name of the connection's group
        self._created_keys: dict[str, str] = {}  # create key -> resource name, of persons read
        self._wrote = False  # this run changed the account: the sync token is behind it

    # ------------------------------------------------------------------ protocol

    @property
    def location(self) -> str:
        return self._location

    @property
    def account_label(self) -> str:
        """How the store and the window name the account."""
        return self.where.account

    @property
    def account_key(self) -> str:
        return oauth_account_key(self.where.account)

    def open(self, cursor: Cursor | None = None) -> None:
        known = _known(cursor)
        self._groups = dict(known.get("groups", {}))
        self._custom = set(known.get("custom", ()))
        if known:
            return  # the run's listing is the check: it answers for the account and the group
        self._load_groups()
        self._custom = self._custom_keys()
        if self.where.group and self._group_named(self.where.group) is None:
            raise ConnectorError(
                f"There is no contact group '{self.where.group}' in {self.where.account}'s "
                "Google Contacts. Pick one of: "
                + (", ".join(sorted(self._groups.values())) or "(no groups yet)")
                + ".",
                title="Contact group not found",
            )

    def schema(self) -> AppSchema:
        return people.schema(self._custom)

    def group_names(self) -> list[str]:
        """The account's contact groups (labels) by name, as Google lists them now."""
        self._load_groups()
        return sorted(self._groups.values(), key=str.casefold)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._source is not None:
            self._source.close()
            self._source = None

    def changes(self, cursor: Cursor | None) -> Changes:
        known = _known(cursor)
        self._etags = dict(known.get("etags", {}))
        token = known.get("token")
        full = not token
        try:
            listed = list(self._list(token))
        except _ExpiredSyncToken:
            full = True
            listed = list(self._list(None))
        if self.where.group:
            self._scope()
        self._know_groups_of(listed)
        result = Changes()
        seen: set[str] = set()
        records = []
        for person in listed:
            name = person.get("resourceName", "")
            if not name:
                continue
            deleted = (person.get("metadata") or {}).get("deleted")
            if deleted or not self._in_scope(person):
                if name in self._etags:
                    result.deleted.append(name)
                    self._etags.pop(name, None)
                continue
            seen.add(name)
            if self._etags.get(name) == person.get("etag"):
                continue  # unchanged since the cursor (our own writes included)
            self._enter(person)
            records.append(self._record(person))
        if full:
            gone = set(self._etags) - seen
            result.deleted += sorted(gone)
            for name in gone:
                self._etags.pop(name, None)
        result.total = len(self._etags)
        result.records = records
        return result

    def get(self, ids: Sequence[str]) -> list[Record | ReadFailure]:
        found = self._batch_get(ids)
        out: list[Record | ReadFailure] = []
        for name in ids:
            person = found.get(name)
            if person is None or not self._in_scope(person):
                out.append(ReadFailure(name, "no longer in Google Contacts", gone=True))
            else:
                out.append(self._record(person))
        return out

    def create(self, records: Sequence[NewRecord]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for chunk in batched(list(records), BATCH):
            recovered = self._already_created([new.create_key for new in chunk])
            todo = [new for new in chunk if new.create_key not in recovered]
            results += [recovered[new.create_key] for new in chunk if new.create_key in recovered]
            if not todo:
                continue
            scope = [self._scope()] if self.where.group else []
            groups = {new.create_key: self._group_resources(new.tags) + scope for new in todo}
            contacts = []
            for new in todo:
                person = people.person_fields(new.fields, new.fields.keys())
                person["clientData"] = [{"key": people.CREATE_KEY, "value": new.create_key}]
                person["memberships"] = [
                    {"contactGroupMembership": {"contactGroupResourceName": group}}
                    for group in [MY_CONTACTS, *groups[new.create_key]]
                ]
                contacts.append((new.create_key, {"contactPerson": person}))
            results += self._send_creates(contacts)
        return results

    def _send_creates(self, contacts: Sequence[tuple[str, dict[str, Any]]]) -> list[WriteResult]:
        """One batchCreateContacts; a batch Google refuses whole (one contact it will not take
        fails them all) is sent again a contact at a time, so only that one fails, with
        Google's own words."""
        try:
            answer = self._call(
                "POST",
                "v1/people:batchCreateContacts",
                body={"contacts": [c for _, c in contacts], "readMask": people.PERSON_FIELDS},
                what="saving new contacts",
            )
        except GoogleApiError as exc:
            if exc.status != 400:
                raise
            if len(contacts) == 1:
                return [WriteResult(key=contacts[0][0], error=exc.message)]
            return [result for one in contacts for result in self._send_creates([one])]
        self._wrote = True
        created = answer.get("createdPeople", [])
        pairs = zip(contacts, created, strict=False)
        results = [self._created(key, outcome) for (key, _), outcome in pairs]
        results += [
            WriteResult(key=key, error="Google did not answer")
            for key, _ in contacts[len(created) :]
        ]
        return results

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        missing = [u.id for u in updates if u.id not in self._persons]
        if missing:
            self._batch_get(missing)
        results: dict[str, WriteResult] = {}
        sendable: list[tuple[RecordUpdate, dict[str, Any]]] = []
        for update in updates:
            current = self._persons.get(update.id)
            if current is None:
                results[update.id] = WriteResult(
                    update.id, update.id, "deleted in Google meanwhile"
                )
                continue
            if update.version and current.get("etag") != update.version:
                results[update.id] = _conflict(update.id)
                continue
            sendable.append((update, current))
        # One updateMask a call: Google clears every masked field a contact's body leaves out,
        # so contacts whose changes touch different fields go in different calls.
        by_mask: dict[str, list[tuple[RecordUpdate, dict[str, Any]]]] = {}
        for update, current in sendable:
            if update.fields:
                by_mask.setdefault(people.update_mask(update.fields), []).append((update, current))
        for same_mask in by_mask.values():
            for chunk in batched(same_mask, BATCH):
                results.update(self._send_updates(chunk))
        tag_changes = [(u, c) for u, c in sendable if (u.add_tags or u.remove_tags)]
        for update, _current in tag_changes:
            if update.id in results and (results[update.id].error or results[update.id].conflict):
                continue
            problem = self._change_tags(update.id, update.add_tags, update.remove_tags)
            results[update.id] = (
                WriteResult(update.id, update.id, problem) if problem else self._ok(update.id)
            )
        for update, _current in sendable:
            results.setdefault(update.id, self._ok(update.id))
        return [results[u.id] for u in updates]

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        results = []
        for name in ids:
            try:
                self._call("DELETE", f"v1/{name}:deleteContact", what="deleting a contact")
            except GoogleApiError as exc:
                if exc.status != 404:
                    results.append(WriteResult(name, name, exc.message))
                    continue
            self._etags.pop(name, None)
            self._persons.pop(name, None)
            self._wrote = True
            results.append(WriteResult(name, name))
        return results

    def remove_tag(self, name: str) -> bool:
        """Delete the label ``name`` (a user contact group, never a system one) and keep its
        members: they only lose the membership. False when the account has no such label.

        The members' etags change with it, so the next run reads them again without the tag.
        """
        resource = self._group_named(name)
        if resource is None or not self._delete_group(resource, name):
            self._load_groups()  # made by another app since the cursor, or deleted and made again
            resource = self._group_named(name)
            if resource is None or not self._delete_group(resource, name):
                return False
        if resource == self._scope_group:
            self._scope_group = None
        self._wrote = True
        return True

    def cursor(self) -> Cursor:
        if self._wrote and self._token:
            self._catch_up()
        return {
            "v": CURSOR_VERSION,
            "token": self._token,
            "etags": dict(self._etags),
            "groups": dict(self._groups),
            "custom": sorted(self._custom),
        }

    def _catch_up(self) -> None:
        """Move the sync token past this run's own writes, so the next run is not handed them
        back (ceil(writes / 1,000) requests here instead of there). Only when everything the
        listing shows is ours: a change by someone else keeps the old token, and the next run
        sees it."""
        self._wrote = False
        before = self._token
        try:
            for person in self._list(before):  # read page by page, never held whole
                name = person.get("resourceName", "")
                if (person.get("metadata") or {}).get("deleted"):
                    ours = name not in self._etags
                else:
                    ours = self._etags.get(name) == person.get("etag") or not self._in_scope(person)
                if not ours:
                    self._token = before
                    return
        except (ConnectorError, _ExpiredSyncToken):
            self._token = before

    # ------------------------------------------------------------------ HTTP

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = make_client(self._http_settings_now())
        return self._client

    def _http_settings_now(self) -> HttpSettings:
        if self._http_settings is None:
            self._http_settings = HttpSettings.from_env()
        return self._http_settings

    def _google(self) -> GoogleSettings:
        if self._settings is None:
            self._settings = GoogleSettings.from_env()
        return self._settings

    def _access_token(self) -> str:
        if self._tokens is not None:
            return self._tokens()
        if self._source is None:
            self._source = TokenSource(self.where.account, self._google(), self._http_settings)
        return self._source.access_token()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        what: str,
    ) -> dict[str, Any]:
        url = self._google().people_url.rstrip("/") + "/" + path
        settings = self._http_settings_now()
        for attempt in range(2):  # a second go after a refreshed access token
            token = self._access_token()

            def send(token: str = token) -> httpx.Response:
                self.requests += 1
                try:
                    return self._http().request(
                        method,
                        url,
                        params=params,
                        json=body,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.TransportError as exc:
                    raise transport_error(exc, url, settings) from exc

            response = _with_backoff(send, settings, host_of(url))
            if response.status_code == 401 and attempt == 0 and self._source is not None:
                self._source.invalidate()
                continue
            break
        if response.status_code >= 400:
            raise _api_error(response, what, self.where.account)
        return response.json() if response.content else {}

    # ------------------------------------------------------------------ reading

    def _list(self, token: str | None) -> Iterator[dict[str, Any]]:
        page: str | None = None
        while True:
            params: dict[str, Any] = {
                "personFields": people.PERSON_FIELDS,
                "pageSize": PAGE_SIZE,
                "requestSyncToken": "true",
            }
            if token:
                params["syncToken"] = token
            if page:
                params["pageToken"] = page
            try:
                answer = self._call(
                    "GET", "v1/people/me/connections", params=params, what="listing contacts"
                )
            except GoogleApiError as exc:
                # Google answers 400 with EXPIRED_SYNC_TOKEN in the details (410 once).
                if token and (exc.status == 410 or "EXPIRED_SYNC_TOKEN" in exc.details):
                    raise _ExpiredSyncToken from exc
                raise
            yield from answer.get("connections", [])
            page = answer.get("nextPageToken")
            if not page:
                self._token = answer.get("nextSyncToken") or self._token
                return

    def _custom_keys(self) -> set[str]:
        """The keys of every userDefined field in the account (the custom fields to offer)."""
        keys: set[str] = set()
        page: str | None = None
        while True:
            params: dict[str, Any] = {"personFields": "userDefined", "pageSize": PAGE_SIZE}
            if page:
                params["pageToken"] = page
            answer = self._call(
                "GET", "v1/people/me/connections", params=params, what="listing custom fields"
            )
            for person in answer.get("connections", []):
                keys |= people.custom_keys_of(person)
            page = answer.get("nextPageToken")
            if not page:
                return keys

    def _batch_get(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in batched(list(names), BATCH):
            answer = self._call(
                "GET",
                "v1/people:batchGet",
                params={"resourceNames": list(chunk), "personFields": people.PERSON_FIELDS},
                what="reading contacts",
            )
            for response in answer.get("responses", []):
                person = response.get("person")
                if person and not (person.get("metadata") or {}).get("deleted"):
                    self._enter(person)
                    found[person["resourceName"]] = person
        self._know_groups_of(found.values())
        return found

    def _know_groups_of(self, persons: Iterable[dict[str, Any]]) -> None:
        """Read the labels again when a person belongs to one the cursor does not know (made
        by another app since), so no tag is missed."""
        unknown = {
            group
            for person in persons
            for membership in person.get("memberships", ())
            if (
                group := (membership.get("contactGroupMembership") or {}).get(
                    "contactGroupResourceName"
                )
            )
            and group not in self._groups
            and group not in SYSTEM_GROUPS
        }
        if unknown:
            self._load_groups()

    def _enter(self, person: dict[str, Any]) -> None:
        name = person["resourceName"]
        self._persons[name] = person
        self._etags[name] = person.get("etag", "")
        self._custom |= people.custom_keys_of(person)
        key = people.create_key_of(person)
        if key:
            self._created_keys[key] = name

    def _record(self, person: dict[str, Any]) -> Record:
        return Record(
            person["resourceName"],
            people.fields_of(person),
            people.group_names(person, self._groups),
            person.get("etag") or None,
            create_key=people.create_key_of(person),
        )

    def _in_scope(self, person: dict[str, Any]) -> bool:
        if not self.where.group:
            return True
        groups = {
            (m.get("contactGroupMembership") or {}).get("contactGroupResourceName")
            for m in person.get("memberships", ())
        }
        return self._scope_group in groups

    # ------------------------------------------------------------------ groups

    def _load_groups(self) -> None:
        groups: dict[str, str] = {}
        page: str | None = None
        while True:
            params: dict[str, Any] = {"pageSize": 1000, "groupFields": "name,groupType"}
            if page:
                params["pageToken"] = page
            answer = self._call("GET", "v1/contactGroups", params=params, what="listing labels")
            for group in answer.get("contactGroups", []):
                if group.get("groupType") == "USER_CONTACT_GROUP":
                    groups[group["resourceName"]] = group.get("name", "")
            page = answer.get("nextPageToken")
            if not page:
                break
        self._groups = groups
        self._groups_read = True

    def _scope(self) -> str:
        """The resource name of the connection's contact group."""
        if self._scope_group is None:
            self._scope_group = self._group_named(self.where.group)
        if self._scope_group is None:
            self._load_groups()
            self._scope_group = self._group_named(self.where.group)
        if self._scope_group is None:
            raise ConnectorError(
                f"The contact group '{self.where.group}' is gone from {self.where.account}'s "
                "Google Contacts. Make it again, or connect another group.",
                title="Contact group not found",
            )
        return self._scope_group

    def _group_named(self, name: str) -> str | None:
        """The label of this name; Google's names ignore case (no "team" beside a "Team")."""
        exact = next((r for r, n in self._groups.items() if n == name), None)
        if exact is not None:
            return exact
        folded = name.casefold()
        return next((r for r, n in self._groups.items() if n.casefold() == folded), None)

    def _group_resources(self, names: Iterable[str]) -> list[str]:
        """The groups of these names, made where they do not exist yet."""
        wanted = sorted(set(names))
        if wanted and not self._groups_read:
            # Labels known from the cursor may have been deleted or made since, by their
            # owner or another app: read once per run before writing memberships.
            self._load_groups()
        resources = []
        for name in wanted:
            resource = self._group_named(name)
            if resource is None:
                answer = self._call(
                    "POST",
                    "v1/contactGroups",
                    body={"contactGroup": {"name": name}},
                    what=f"making the label '{name}'",
                )
                resource = answer["resourceName"]
                self._groups[resource] = name
            resources.append(resource)
        return resources

    def _delete_group(self, resource: str, name: str) -> bool:
        """DELETE one user group, its contacts kept; False when Google no longer has it."""
        if resource in SYSTEM_GROUPS:
            return False
        try:
            self._call(
                "DELETE",
                f"v1/{resource}",
                params={"deleteContacts": "false"},
                what=f"removing the label '{name}'",
            )
        except GoogleApiError as exc:
            if exc.status != 404:
                raise
            self._groups.pop(resource, None)
            return False
        self._groups.pop(resource, None)
        return True

    def _change_tags(self, name: str, add: frozenset[str], remove: frozenset[str]) -> str:
        for attempt in range(2):
            try:
                for group in self._group_resources(add):
                    self._modify(group, add=[name])
                for tag_name in remove:
                    group = self._group_named(tag_name)
                    if group is not None:
                        self._modify(group, remove=[name])
            except GoogleApiError as exc:
                if exc.status == 404 and attempt == 0:
                    self._load_groups()  # a label deleted since the cursor: made again
                    continue
                return exc.message
            break
        self._batch_get([name])  # memberships and etag as they are now
        return ""

    def _modify(self, group: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        self._wrote = True
        body: dict[str, Any] = {}
        if add:
            body["resourceNamesToAdd"] = list(add)
        if remove:
            body["resourceNamesToRemove"] = list(remove)
        self._call("POST", f"v1/{group}/members:modify", body=body, what="changing a label")

    # ------------------------------------------------------------------ writing

    def _already_created(self, keys: Sequence[str]) -> dict[str, WriteResult]:
        """Creates a crash left unlinked: persons that carry one of ``keys`` (read this run)."""
        found = {}
        for key in keys:
            person = self._persons.get(self._created_keys.get(key, ""))
            if person is not None:
                found[key] = WriteResult(key, person["resourceName"], record=self._record(person))
        return found

    def _created(self, key: str, outcome: dict[str, Any]) -> WriteResult:
        person = outcome.get("person")
        status = outcome.get("status") or {}
        if not person or (outcome.get("httpStatusCode", 200) >= 300):
            message = status.get("message") or "Google refused to create it"
            return WriteResult(key=key, error=message)
        self._enter(person)
        return WriteResult(key, person["resourceName"], record=self._record(person))

    def _send_updates(
        self, chunk: Sequence[tuple[RecordUpdate, dict[str, Any]]]
    ) -> dict[str, WriteResult]:
        contacts: dict[str, Any] = {}
        mask = people.update_mask(chunk[0][0].fields)  # the same for the whole chunk
        for update, current in chunk:
            after = {**people.fields_of(current), **update.fields}
            keys = people.written_keys(update.fields)
            person = people.person_fields(after, keys, current, update.fields)
            person["etag"] = current.get("etag", "")
            contacts[update.id] = person
        try:
            answer = self._call(
                "POST",
                "v1/people:batchUpdateContacts",
                body={
                    "contacts": contacts,
                    "updateMask": mask,
                    "readMask": people.PERSON_FIELDS,
                },
                what="saving changed contacts",
            )
        except GoogleApiError as exc:
            if exc.status not in (400, 404, 409, 412):
                raise
            # One stale etag fails the whole batch: send them one by one to know which.
            if len(chunk) > 1:
                out: dict[str, WriteResult] = {}
                for one in chunk:
                    out.update(self._send_updates([one]))
                return out
            update = chunk[0][0]
            if exc.status == 404:
                self._persons.pop(update.id, None)
                return {update.id: WriteResult(update.id, update.id, "deleted in Google meanwhile")}
            if "etag" in exc.message.lower() or exc.reason == "FAILED_PRECONDITION":
                self._persons.pop(update.id, None)
                return {update.id: _conflict(update.id)}
            return {update.id: WriteResult(update.id, update.id, exc.message)}
        self._wrote = True
        results: dict[str, WriteResult] = {}
        for update, _current in chunk:
            outcome = (answer.get("updateResult") or {}).get(update.id) or {}
            person = outcome.get("person")
            if person:
                self._enter(person)
                results[update.id] = self._ok(update.id)
            else:
                message = (outcome.get("status") or {}).get("message", "Google did not answer")
                results[update.id] = WriteResult(update.id, update.id, message)
        return results

    def _ok(self, name: str) -> WriteResult:
        person = self._persons.get(name)
        return WriteResult(name, name, record=self._record(person) if person else None)


class _ExpiredSyncToken(Exception):
    """Google no longer knows the sync token we kept: list everything again."""


def _known(cursor: Cursor | None) -> dict[str, Any]:
    if isinstance(cursor, dict) and cursor.get("v") == CURSOR_VERSION:
        return cursor
    return {}


def _conflict(name: str) -> WriteResult:
    return WriteResult(name, name, conflict=True, error="changed in Google since it was read")


def _with_backoff(
    send: Callable[[], httpx.Response], settings: HttpSettings, host: str
) -> httpx.Response:
    """Quota answers (429, RESOURCE_EXHAUSTED) and 5xx tried again with exponential backoff, as
    Google asks (1, 2, 4 s, or the Retry-After Google gives); a quota answer that outlasts that
    is :class:`Throttled`, a 5xx is the caller's to report."""
    delay = BACKOFF_SECONDS
    for attempt in range(BACKOFF_TRIES):
        response = send()
        status = response.status_code
        if status != 429 and status < 500:
            return response
        wait = retry_after(response) if status in (429, 503) else None
        if wait is None:
            wait, delay = delay, delay * 2
        if wait > settings.max_wait or attempt == BACKOFF_TRIES - 1:
            break
        time.sleep(wait)
    if response.status_code == 429:
        wait = retry_after(response)
        raise Throttled(
            f"{host} asked us to slow down (HTTP 429, quota)"
            + (f" for {wait:.0f} seconds" if wait else "")
            + "; the next run goes on where this one stopped.",
            retry_after=wait,
        )
    return response


def _api_error(response: httpx.Response, what: str, account: str) -> ConnectorError:
    try:
        error = response.json().get("error", {})
    except (json.JSONDecodeError, AttributeError):
        error = {}
    message = str(error.get("message") or response.reason_phrase or "no message").strip()
    reason = str(error.get("status") or "")
    details = frozenset(
        str(detail.get("reason"))
        for detail in error.get("details", ()) or ()
        if isinstance(detail, dict) and detail.get("reason")
    )
    if response.status_code == 401:
        return AuthExpired(
            f"Google no longer accepts the sign-in of {account} ({message}). Sign in again."
        )
    if response.status_code >= 500:
        return TransientError(
            f"Google answered {response.status_code} to {what}: {message.rstrip('.')}. "
            "Nothing was lost; the next run tries again.",
            title="Google unavailable",
        )
    return GoogleApiError(
        f"Google refused {what}: {message}", response.status_code, reason, details
    )
