"""Outlook 365 contacts through Microsoft Graph as a connector: one contact folder of a signed-in
account (``outlook:FOLDER@ACCOUNT``; ``outlook:@ACCOUNT`` is the default Contacts folder).

Authorization is per folder, as PieSync had it: a connection covers one folder, and several
connections may share one signed-in account. Changes come from the folder's delta query
(``@odata.nextLink`` pages up to an ``@odata.deltaLink``); a contact deleted or moved out of the
folder comes back ``@removed``; an expired delta token (410) lists the folder again and works out
deletions from the cursor. Writes go in JSON batches of 20 (see :mod:`.graph`); updates carry the
contact's etag in ``If-Match``, so a contact someone changed meanwhile is never overwritten (a
conflict: the next run reads it again and merges). Categories are the tags. The create key goes
into a named extended property of the contact, so a create a crash left unlinked is found again
by the next delta rather than made twice. Outlook reports no unsubscribes and has no custom fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from piesync_desktop.engine.connectors.base import AppInfo, Cursor
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.outlook import contacts, overflow
from piesync_desktop.engine.connectors.outlook.graph import (
    BATCH_LIMIT,
    BatchRequest,
    BatchResponse,
    GraphClient,
    GraphError,
)
from piesync_desktop.engine.connectors.outlook.signin import OutlookSettings, TokenSource
from piesync_desktop.engine.connectors.outlook.signin import account_key as signin_account_key
from piesync_desktop.engine.errors import ConfigError, ConnectorError, TransientError
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
PAGE_SIZE = 200  # Prefer: odata.maxpagesize for delta pages
LIST_PAGE = 1000  # $top of a plain listing
RESYNC_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
FEW = 200  # up to this many contacts have their extended properties read one by one (batched)
# A named MAPI property in a GUID of our own: Graph's "String {guid} Name name" form.
CREATE_KEY_PROPERTY = "String {6f1c6a2e-43b5-4a4e-9d0a-5e7c1f0b9a31} Name piesync-create-key"
EXPAND = (
    f"singleValueExtendedProperties($filter=id eq '{CREATE_KEY_PROPERTY}' "
    f"or id eq '{overflow.PROPERTY}')"
)


@dataclass(frozen=True, slots=True)
class OutlookLocation:
    """``FOLDER@ACCOUNT``: a contact folder by its name (empty: the default Contacts folder)."""

    folder: str
    account: str

    @classmethod
    def parse(cls, location: str) -> OutlookLocation:
        head, sep, domain = location.rpartition("@")
        folder, sep_user, user = head.rpartition("@")
        if not sep or not sep_user or not user or not domain:
            raise ConfigError(
                f"'outlook:{location}' does not say which account: write "
                "outlook:@you@example.com for the Contacts folder, or "
                "outlook:FOLDER@you@example.com for another contact folder."
            )
        return cls(folder.strip(), f"{user}@{domain}".strip().lower())


@dataclass(frozen=True, slots=True)
class ContactFolder:
    """A contact folder of the mailbox: ``path`` names a child folder after its parents."""

    id: str
    name: str
    path: str
    default: bool = False


class OutlookContacts:
    """One contact folder of an Outlook 365 mailbox."""

    app: ClassVar[AppInfo] = AppInfo(
        key="outlook",
        name="Outlook 365",
        description="One contact folder of an Outlook 365 (Microsoft 365) mailbox.",
        capabilities=Capabilities(
            tags=True,
            tag_noun="category",
            deletions=True,
            unsubscribes=False,
            custom_fields=False,
            delta=True,
            batch_size=BATCH_LIMIT,
        ),
    )

    def __init__(
        self,
        location: str,
        *,
        settings: OutlookSettings | None = None,
        http: HttpSettings | None = None,
        tokens: Callable[[], str] | None = None,
    ) -> None:
        self._location = location
        self.where = OutlookLocation.parse(location)
        self._settings = settings
        self._http_settings = http
        self._tokens = tokens
        self._source: TokenSource | None = None
        self._graph: GraphClient | None = None
        self._folder_id: str | None = None
        self._delta: str | None = None  # the deltaLink the next listing starts from
        self._keys: dict[str, str] = {}  # contact id -> changeKey, as we last saw or wrote it
        self._contacts: dict[str, dict[str, Any]] = {}  # read or written this run
        self._created_keys: dict[str, str] = {}  # create key -> contact id, of contacts read
        self._wrote = False

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
        return signin_account_key(self.where.account)

    @property
    def requests(self) -> int:
        return self._graph.requests if self._graph is not None else 0

    def open(self, cursor: Cursor | None = None) -> None:
        known = _known(cursor)
        if known.get("folder"):
            self._folder_id = known["folder"]
            return  # the run's delta is the check: it answers for the account and the folder
        self._folder_id = self._find_folder().id

    def schema(self) -> AppSchema:
        return contacts.schema()

    def folders(self) -> list[ContactFolder]:
        """The mailbox's contact folders: the default Contacts folder first, then the others
        by path."""
        found: list[ContactFolder] = []
        default = self._client().call(
            "GET", "/me/contactFolders/contacts", what="reading the Contacts folder"
        )
        found.append(ContactFolder(default["id"], default.get("displayName", ""), "", True))
        self._walk(default["id"], "", found, {default["id"]})
        tops = self._list_folders("/me/contactFolders")
        for folder in tops:
            if folder["id"] in {f.id for f in found}:
                continue
            path = folder.get("displayName", "")
            found.append(ContactFolder(folder["id"], path, path))
            self._walk(folder["id"], path, found, {f.id for f in found})
        return [found[0], *sorted(found[1:], key=lambda f: f.path.casefold())]

    def folder_names(self) -> list[str]:
        """How the folders are named in ``outlook:FOLDER@ACCOUNT`` (the default one as '')."""
        return [f.path for f in self.folders()]

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None
        if self._source is not None:
            self._source.close()
            self._source = None

    def changes(self, cursor: Cursor | None) -> Changes:
        known = _known(cursor)
        self._keys = dict(known.get("keys", {}))
        link = known.get("delta")
        if self._folder_id is None:
            self._folder_id = known.get("folder") or self._find_folder().id
        full = not link
        try:
            listed = self._listing(link)
        except _DeltaExpired:
            full, listed = True, self._listing_again()
        except _FolderGone:
            # Deleted and made again under the same name, it is another folder to Graph: list
            # it whole; the contacts of the old one are gone (by absence, below).
            self._folder_id = self._find_folder().id
            full, listed = True, self._listing_again()
        self._attach_properties(listed)
        result = Changes()
        seen: set[str] = set()
        records: dict[str, Record] = {}
        for item in listed:
            contact_id = str(item.get("id", ""))
            if not contact_id:
                continue
            if "@removed" in item or (item.get("parentFolderId") not in (None, self._folder_id)):
                seen.discard(contact_id)
                records.pop(contact_id, None)
                if contact_id in self._keys:
                    result.deleted.append(contact_id)
                    self._keys.pop(contact_id, None)
                continue
            seen.add(contact_id)
            if self._keys.get(contact_id) == item.get("changeKey"):
                continue  # unchanged since the cursor (our own writes included)
            self._enter(item)
            records[contact_id] = self._record(item)
        if full:
            gone = set(self._keys) - seen - set(records)
            result.deleted += sorted(gone)
            for contact_id in gone:
                self._keys.pop(contact_id, None)
        result.records = list(records.values())
        result.notes = [
            RecordNote(
                record.id,
                "; ".join(problems) + " (piesync-desktop keeps it beside the contact)",
            )
            for record in result.records
            if (problems := contacts.dropped(record.fields))
        ]
        result.total = len(self._keys)
        return result

    def get(self, ids: Sequence[str]) -> list[Record | ReadFailure]:
        found, problems = self._read(ids)
        out: list[Record | ReadFailure] = []
        for contact_id in ids:
            item = found.get(contact_id)
            if contact_id in problems:
                out.append(ReadFailure(contact_id, problems[contact_id]))
            elif item is None:
                out.append(ReadFailure(contact_id, "no longer in the Outlook folder", gone=True))
            else:
                out.append(self._record(item))
        return out

    def create(self, records: Sequence[NewRecord]) -> list[WriteResult]:
        recovered = {
            new.create_key: result
            for new in records
            if (result := self._already_created(new.create_key)) is not None
        }
        todo = [new for new in records if new.create_key not in recovered]
        requests = []
        for number, new in enumerate(todo):
            body = contacts.contact_body(new.fields, new.fields.keys())
            body["categories"] = sorted(new.tags)
            body["singleValueExtendedProperties"] = _properties(
                new.create_key, overflow.encode(overflow.overflow_of(new.fields))
            )
            requests.append(
                BatchRequest(str(number + 1), "POST", f"{self._folder_path()}/contacts", body)
            )
        answers = self._client().batch(requests, what="saving new contacts")
        results = dict(recovered)
        for new, request in zip(todo, requests, strict=True):
            answer = answers[request.id]
            if answer.ok and isinstance(answer.body, dict) and answer.body.get("id"):
                self._wrote = True
                contact = dict(answer.body)
                contact["singleValueExtendedProperties"] = request.body[
                    "singleValueExtendedProperties"
                ]
                self._enter(contact)
                results[new.create_key] = WriteResult(
                    new.create_key, contact["id"], record=self._record(contact)
                )
            elif answer.ok:
                raise TransientError(
                    "Outlook saved a new contact without saying which it is. Nothing was lost; "
                    "the next run finds it, and makes none twice.",
                    title="Outlook unavailable",
                )
            else:
                results[new.create_key] = WriteResult(
                    new.create_key, error=_refusal(answer, "create it")
                )
        return [results[new.create_key] for new in records]

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        missing = [u.id for u in updates if u.id not in self._contacts]
        problems = self._read(missing)[1] if missing else {}
        results: dict[str, WriteResult] = {}
        requests: list[tuple[RecordUpdate, BatchRequest]] = []
        for update in updates:
            current = self._contacts.get(update.id)
            if update.id in problems:
                results[update.id] = WriteResult(update.id, update.id, problems[update.id])
                continue
            if current is None:
                results[update.id] = WriteResult(
                    update.id, update.id, "deleted in Outlook meanwhile"
                )
                continue
            if update.version and current.get("changeKey") != update.version:
                results[update.id] = _conflict(update.id)
                continue
            body: dict[str, Any] = {}
            properties: list[dict[str, str]] = []
            if update.fields:
                after = {**self._fields(current), **update.fields}
                written = contacts.written_keys(update.fields)
                body = contacts.contact_body(after, written, current)
                # Kept values change only for the fields this write rewrites: Outlook still
                # holds what it held of the others, so what is kept of them stays as it was.
                was = overflow.decode(overflow.of_contact(current))
                now = {key: value for key, value in was.items() if key not in written}
                now |= overflow.overflow_of({k: v for k, v in after.items() if k in written})
                kept = overflow.encode(now)
                if kept != overflow.of_contact(current):
                    properties = [{"id": overflow.PROPERTY, "value": kept}]
                    body["singleValueExtendedProperties"] = properties
            if update.add_tags or update.remove_tags:
                tags = (contacts.categories_of(current) | update.add_tags) - update.remove_tags
                body["categories"] = sorted(tags)
            if not body:
                results[update.id] = self._ok(update.id)
                continue
            headers = {"If-Match": str(current.get("@odata.etag") or "")}
            request = BatchRequest(
                str(len(requests) + 1), "PATCH", f"/me/contacts/{_q(update.id)}", body, headers
            )
            requests.append((update, request))
        answers = self._client().batch([r for _, r in requests], what="saving changed contacts")
        for update, request in requests:
            answer = answers[request.id]
            if answer.ok and isinstance(answer.body, dict):
                self._wrote = True
                contact = {**self._contacts[update.id], **answer.body}
                written = (request.body or {}).get("singleValueExtendedProperties")
                if written:
                    contact["singleValueExtendedProperties"] = [
                        *(
                            p
                            for p in self._contacts[update.id].get("singleValueExtendedProperties")
                            or ()
                            if str(p.get("id", "")).lower() != overflow.PROPERTY.lower()
                        ),
                        *written,
                    ]
                self._enter(contact)
                results[update.id] = self._ok(update.id)
            elif answer.status == 412:
                self._contacts.pop(update.id, None)
                results[update.id] = _conflict(update.id)
            elif answer.status == 404:
                self._contacts.pop(update.id, None)
                results[update.id] = WriteResult(
                    update.id, update.id, "deleted in Outlook meanwhile"
                )
            else:
                results[update.id] = WriteResult(
                    update.id, update.id, _refusal(answer, "save the change")
                )
        return [results[u.id] for u in updates]

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        requests = [
            BatchRequest(str(n + 1), "DELETE", f"/me/contacts/{_q(contact_id)}")
            for n, contact_id in enumerate(ids)
        ]
        answers = self._client().batch(requests, what="deleting contacts")
        results = []
        for contact_id, request in zip(ids, requests, strict=True):
            answer = answers[request.id]
            if answer.ok or answer.status == 404:
                self._wrote = True
                self._keys.pop(contact_id, None)
                self._contacts.pop(contact_id, None)
                results.append(WriteResult(contact_id, contact_id))
            else:
                results.append(WriteResult(contact_id, contact_id, _refusal(answer, "delete it")))
        return results

    def cursor(self) -> Cursor:
        if self._wrote and self._delta:
            self._catch_up()
        return {
            "v": CURSOR_VERSION,
            "folder": self._folder_id,
            "delta": self._delta,
            "keys": dict(self._keys),
        }

    def _catch_up(self) -> None:
        """Move the delta link past this run's own writes, so the next run is not handed them
        back. Only when everything the delta shows is ours: a change by someone else keeps the
        old link, and the next run sees it."""
        self._wrote = False
        before = self._delta
        try:
            for item in self._pages(before):
                contact_id = str(item.get("id", ""))
                if "@removed" in item:
                    ours = contact_id not in self._keys
                else:
                    ours = self._keys.get(contact_id) == item.get("changeKey")
                if not ours:
                    self._delta = before
                    return
        except (ConnectorError, _DeltaExpired):
            self._delta = before

    # ------------------------------------------------------------------ Graph

    def _outlook(self) -> OutlookSettings:
        if self._settings is None:
            self._settings = OutlookSettings.from_env()
        return self._settings

    def _client(self) -> GraphClient:
        if self._graph is None:
            if self._http_settings is None:
                self._http_settings = HttpSettings.from_env()
            self._graph = GraphClient(
                self._outlook().graph_url, self._token, self._http_settings, self.where.account
            )
        return self._graph

    def _token(self, refresh: bool) -> str:
        if self._tokens is not None:
            return self._tokens()
        if self._source is None:
            self._source = TokenSource(self.where.account, self._outlook(), self._http_settings)
        if refresh:
            self._source.invalidate()
        return self._source.access_token()

    def _folder_path(self) -> str:
        if self._folder_id is None:
            self._folder_id = self._find_folder().id
        return f"/me/contactFolders/{_q(self._folder_id)}"

    def _list_folders(self, path: str) -> list[dict[str, Any]]:
        return [
            folder
            for page in self._client().pages(
                path, what="listing contact folders", params={"$top": 100}
            )
            for folder in page.get("value", ())
        ]

    def _walk(self, parent: str, path: str, found: list[ContactFolder], seen: set[str]) -> None:
        for child in self._list_folders(f"/me/contactFolders/{_q(parent)}/childFolders"):
            if child["id"] in seen:
                continue
            seen.add(child["id"])
            name = child.get("displayName", "")
            child_path = f"{path}/{name}" if path else name
            found.append(ContactFolder(child["id"], name, child_path))
            self._walk(child["id"], child_path, found, seen)

    def _find_folder(self) -> ContactFolder:
        folders = self.folders()
        wanted = self.where.folder.strip("/").casefold()
        if not wanted:
            return folders[0]
        matches = [f for f in folders if f.path.casefold() == wanted]
        matches = matches or [f for f in folders if f.name.casefold() == wanted]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(f.path for f in folders[1:]) or "(no other folders)"
        if matches:
            raise ConfigError(
                f"Several contact folders of {self.where.account} are called "
                f"'{self.where.folder}': write its path, one of "
                + ", ".join(f.path for f in matches)
                + ".",
            )
        raise ConnectorError(
            f"There is no contact folder '{self.where.folder}' in {self.where.account}'s "
            f"Outlook. The default folder is outlook:@{self.where.account}; the others are: "
            f"{names}.",
            title="Contact folder not found",
        )

    def _listing(self, link: str | None) -> list[dict[str, Any]]:
        return list(self._pages(link))

    def _listing_again(self) -> list[dict[str, Any]]:
        """The whole folder, once Graph forgot where our delta stood."""
        try:
            return self._listing(None)
        except _DeltaExpired as exc:
            raise TransientError(
                f"Outlook lost track of the changes in {self.where.account}'s folder twice in a "
                "row. Nothing was lost; the next run tries again.",
                title="Outlook unavailable",
            ) from exc
        except _FolderGone as exc:
            raise ConnectorError(
                f"The contact folder '{self.where.folder or 'Contacts'}' is gone from "
                f"{self.where.account}'s Outlook. Make a folder of that name again (the next "
                "run syncs it), or remove this connection and connect another folder.",
                title="Contact folder not found",
            ) from exc

    def _pages(self, link: str | None) -> Iterator[dict[str, Any]]:
        """The delta's items from ``link`` (the whole folder when None); sets ``_delta``."""
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        if link:
            path, params = link, None
        else:
            path = f"{self._folder_path()}/contacts/delta"
            params = {"$select": contacts.SELECT}
        try:
            for page in self._client().pages(
                path, what="listing changed contacts", params=params, headers=headers
            ):
                yield from page.get("value", ())
                if page.get("@odata.deltaLink"):
                    self._delta = page["@odata.deltaLink"]
        except GraphError as exc:
            if exc.status == 410 or exc.code.casefold() in RESYNC_CODES:
                raise _DeltaExpired from exc
            if exc.status == 404:
                raise _FolderGone from exc
            raise

    def _attach_properties(self, listed: list[dict[str, Any]]) -> None:
        """Our extended properties (the create key, the values kept beside a contact) on the
        listed contacts that changed: Graph's delta cannot expand them. A new contact may be a
        create of a run that crashed; a changed one may hold kept values, written by this
        connection or another one on the folder, so what is there now is read, never assumed.
        Up to :data:`FEW` contacts are read in batches of GETs; more, by listing the folder."""
        wanted = [
            str(item["id"])
            for item in listed
            if item.get("id")
            and "@removed" not in item
            and item.get("parentFolderId") in (None, self._folder_id)
            and self._keys.get(item["id"]) != item.get("changeKey")
        ]
        if not wanted:
            return
        if len(wanted) <= FEW:
            query = f"?$select=id&$expand={EXPAND}"
            requests = [
                BatchRequest(str(n + 1), "GET", f"/me/contacts/{_q(contact_id)}{query}")
                for n, contact_id in enumerate(wanted)
            ]
            answers = self._client().batch(requests, what="reading contacts")
            properties: dict[str, list[Any]] = {}
            for contact_id, request in zip(wanted, requests, strict=True):
                answer = answers[request.id]
                if answer.status == 404:
                    continue  # deleted since the delta: the next one says so
                if not answer.ok or not isinstance(answer.body, dict):
                    raise TransientError(
                        f"Outlook would not let us read a changed contact ({answer.message()}), "
                        "so this run cannot tell which of them it made itself. Nothing was "
                        "lost; the next run tries again.",
                        title="Outlook unavailable",
                    )
                properties[contact_id] = answer.body.get("singleValueExtendedProperties") or []
        else:
            properties = {
                str(item.get("id")): item.get("singleValueExtendedProperties") or []
                for page in self._client().pages(
                    f"{self._folder_path()}/contacts",
                    what="reading contacts",
                    params={"$select": "id", "$expand": EXPAND, "$top": LIST_PAGE},
                )
                for item in page.get("value", ())
            }
        for item in listed:
            contact_id = str(item.get("id", ""))
            if contact_id in properties:
                item["singleValueExtendedProperties"] = properties[contact_id]

    def _read(self, ids: Iterable[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """The contacts of ``ids`` still in the folder, and why the others that are there
        could not be read (a missing or moved one is in neither)."""
        wanted = list(dict.fromkeys(ids))
        query = f"?$select={contacts.SELECT}&$expand={EXPAND}"
        requests = [
            BatchRequest(str(n + 1), "GET", f"/me/contacts/{_q(contact_id)}{query}")
            for n, contact_id in enumerate(wanted)
        ]
        answers = self._client().batch(requests, what="reading contacts")
        found: dict[str, dict[str, Any]] = {}
        problems: dict[str, str] = {}
        for contact_id, request in zip(wanted, requests, strict=True):
            answer = answers[request.id]
            if answer.status == 404:
                continue
            if not answer.ok or not isinstance(answer.body, dict):
                problems[contact_id] = _refusal(answer, "let us read it")
                continue
            item = answer.body
            item.setdefault("singleValueExtendedProperties", [])  # expanded: none of ours
            if item.get("parentFolderId") not in (None, self._folder_id):
                continue  # moved to another folder: no longer this connection's
            self._enter(item)
            found[contact_id] = item
        return found, problems

    # ------------------------------------------------------------------ records

    def _enter(self, item: dict[str, Any]) -> None:
        contact_id = item["id"]
        self._contacts[contact_id] = item
        self._keys[contact_id] = str(item.get("changeKey") or "")
        key = _create_key_of(item)
        if key:
            self._created_keys[key] = contact_id

    def _fields(self, item: dict[str, Any]) -> dict[str, Any]:
        """The contact's fields, with what Outlook could not hold put back (see overflow)."""
        kept = overflow.decode(overflow.of_contact(item))
        return overflow.restored(contacts.fields_of(item), kept)

    def _record(self, item: dict[str, Any]) -> Record:
        return Record(
            item["id"],
            self._fields(item),
            contacts.categories_of(item),
            item.get("changeKey") or None,
            create_key=_create_key_of(item),
        )

    def _ok(self, contact_id: str) -> WriteResult:
        item = self._contacts.get(contact_id)
        return WriteResult(
            contact_id, contact_id, record=self._record(item) if item is not None else None
        )

    def _already_created(self, key: str) -> WriteResult | None:
        item = self._contacts.get(self._created_keys.get(key, ""))
        if item is None:
            return None
        return WriteResult(key, item["id"], record=self._record(item))


class _DeltaExpired(Exception):
    """Graph no longer knows the delta token we kept: list the folder again."""


class _FolderGone(Exception):
    """The folder's id is unknown to Graph now (deleted, or deleted and made again)."""


def _known(cursor: Cursor | None) -> dict[str, Any]:
    if isinstance(cursor, dict) and cursor.get("v") == CURSOR_VERSION:
        return cursor
    return {}


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _create_key_of(item: dict[str, Any]) -> str | None:
    for prop in item.get("singleValueExtendedProperties") or ():
        if (
            isinstance(prop, dict)
            and str(prop.get("id", "")).lower() == CREATE_KEY_PROPERTY.lower()
        ):
            return str(prop.get("value") or "") or None
    return None


def _properties(create_key: str, kept: str) -> list[dict[str, str]]:
    properties = [{"id": CREATE_KEY_PROPERTY, "value": create_key}]
    if kept:
        properties.append({"id": overflow.PROPERTY, "value": kept})
    return properties


def _conflict(contact_id: str) -> WriteResult:
    return WriteResult(
        contact_id, contact_id, conflict=True, error="changed in Outlook since it was read"
    )


def _refusal(answer: BatchResponse, doing: str) -> str:
    return f"Outlook would not {doing}: {answer.message()}"
