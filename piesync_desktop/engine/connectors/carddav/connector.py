"""One CardDAV address book (iCloud, Fastmail, Nextcloud, mailbox.org, Radicale) as a connector.

Changes come from ``sync-collection`` (RFC 6578) where the server offers it, else from the
collection's ctag and a listing of etags; changed cards are read with ``addressbook-multiget``
in batches. Record ids are the cards' hrefs (relative to the address book), versions their
etags. Creates are ``PUT`` with ``If-None-Match: *`` under the create key's name, so a create
that a crash left unlinked is found again rather than made twice; updates are ``PUT`` with
``If-Match`` on the etag the engine read, and rewrite only the properties an update names
(every other line of the card survives). A 412 is a conflict: the card is read again and merged
by the next run, never overwritten.

The cursor holds the sync token (or ctag) of this run's listing and the etag of every card,
including the ones this run wrote, so the next run skips our own writes and sees everyone
else's. A group card the engine no longer needs (a share job's destination removed) is deleted,
its members' cards untouched, and forgotten by the cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urljoin, urlsplit

from piesync_desktop.engine.connectors.base import AppInfo, Cursor, batched
from piesync_desktop.engine.connectors.carddav import groups
from piesync_desktop.engine.connectors.carddav.discovery import (
    GETCTAG,
    SUPPORTED_REPORTS,
    client_for,
    find_books,
    is_address_book,
    offers_sync_collection,
)
from piesync_desktop.engine.connectors.carddav.location import (
    PASSWORD,
    CardDavLocation,
    TagStyle,
)
from piesync_desktop.engine.connectors.carddav.webdav import (
    CARDDAV,
    DAV,
    CollectionProblem,
    DavClient,
    DavResponse,
    SyncTokenInvalid,
    normalize_href,
    tag,
)
from piesync_desktop.engine.connectors.http import HttpSettings
from piesync_desktop.engine.connectors.vcard_codec import (
    VCARD_SCHEMA,
    VCardError,
    new_card,
    parse_card,
    update_card,
)
from piesync_desktop.engine.errors import AuthExpired, ConnectorError, TransientError
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
MULTIGET_BATCH = 100
ADDRESS_DATA = tag(CARDDAV, "address-data")
GETETAG = tag(DAV, "getetag")
RESOURCETYPE = tag(DAV, "resourcetype")
_SAFE_NAME = "-_.@+"
APPLE_HOSTS = ("icloud.com", "me.com")


@dataclass(slots=True)
class _Card:
    """A card as this run last saw it on the server."""

    etag: str
    text: str


class CardDav:
    """One address book on a CardDAV server."""

    app: ClassVar[AppInfo] = AppInfo(
        key="carddav",
        name="CardDAV",
        description="Any CardDAV server: iCloud, Fastmail, Nextcloud, mailbox.org, Radicale.",
        capabilities=Capabilities(
            tags=True,
            tag_noun="category",
            deletions=True,
            unsubscribes=False,
            custom_fields=False,
            delta=True,
            batch_size=100,
        ),
    )

    def __init__(
        self,
        location: str,
        *,
        password: str | None = None,
        settings: HttpSettings | None = None,
    ) -> None:
        self._location = location
        self.where = CardDavLocation.parse(location)
        self.url = self.where.url
        self._password = password
        self._settings = settings
        self._client: DavClient | None = None
        self._sync_collection = False
        self._unchecked = False  # open() left its check to the run's first request
        self._use_groups = self.where.tag_style is TagStyle.GROUPS
        self._cards: dict[str, _Card] = {}  # read or written this run
        self._etags: dict[str, str] = {}  # every card: the listing plus our writes
        self._uids: dict[str, str] = {}  # card id -> UID
        self._groups: dict[str, groups.Group] = {}  # group card id -> group
        self._group_etags: dict[str, str] = {}
        self._token: str | None = None  # sync token or ctag of this run's listing

    # ------------------------------------------------------------------ protocol

    @property
    def location(self) -> str:
        return self._location

    @property
    def account_key(self) -> str:
        return self.where.account_key

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (the benchmark prints it)."""
        return self._client.requests if self._client else 0

    def open(self, cursor: Cursor | None = None) -> None:
        client = self._connect()
        if _known(cursor).get("mode") == "sync" and _known(cursor).get("token"):
            # sync-collection worked here last time: the run's first request (the changes
            # since that token) shows whether it still does, so no request is spent on it now.
            self._sync_collection = self._unchecked = True
            return
        self._check(client)

    def _check(self, client: DavClient) -> None:
        """That the URL is an address book, and whether it offers sync-collection."""
        self._unchecked = False
        # Only what is cheap to answer: a ctag or a sync token makes Radicale read every card
        # (0.2-0.3 s at 5,000), and a run asks for what it needs of them later anyway.
        listing = client.propfind(self.url, (RESOURCETYPE, SUPPORTED_REPORTS), depth="0")
        answer = next(iter(listing.responses), None)
        if answer is not None and answer.status == 404:  # Xandikos says so inside a 207
            raise CollectionProblem(
                f"There is no address book at {self.url}: it may have been deleted or moved. "
                "Pick the address book again.",
                title="Address book not found",
                status=404,
            )
        if answer is None or not is_address_book(answer):
            raise ConnectorError(self._not_a_book(client), title="Not an address book")
        self._sync_collection = offers_sync_collection(answer)

    def _not_a_book(self, client: DavClient) -> str:
        """Why this URL cannot be synced, naming the address books found from it instead."""
        message = f"{self.url} is not an address book on {self.where.host}."
        try:
            books = find_books(client, self.url)
        except ConnectorError:
            books = []
        if not books:
            return message + " Check the address (your provider's help names it)."
        found = "; ".join(
            f"{book.name}: {self.where.with_url(book.url).spec}" for book in books[:10]
        )
        return f"{message} Address books found there: {found}."

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def schema(self) -> AppSchema:
        return VCARD_SCHEMA

    def changes(self, cursor: Cursor | None) -> Changes:
        client = self._connect()
        known = _known(cursor)
        self._etags = dict(known.get("etags", {}))
        self._uids = dict(known.get("uids", {}))
        self._groups = {
            gid: groups.Group(uid, name, frozenset(members))
            for gid, (uid, name, members) in known.get("groups", {}).items()
        }
        self._group_etags = dict(known.get("group_etags", {}))
        listed, deleted = self._list(client, known)
        result = Changes()
        stale = [cid for cid, etag in listed.items() if self._version(cid) != etag]
        result.deleted = sorted(cid for cid in deleted if cid in self._etags)
        before = dict(self._groups)
        for cid in deleted:
            self._forget(cid)
        fetched = self._fetch(stale, result)
        moved = _moved_members(before, self._groups)
        if moved:  # a group changed: its members' tags did, though their cards did not
            by_uid = {uid: cid for cid, uid in self._uids.items()}
            again = [c for uid in sorted(moved) if (c := by_uid.get(uid)) and c not in self._cards]
            fetched += self._fetch(again, result)
        self._decide_tag_style()
        records = self._records(fetched, result)
        result.total = len(self._etags)
        result.records = records
        return result

    def get(self, ids: Sequence[str]) -> list[Record | ReadFailure]:
        result = Changes()
        fetched = self._fetch(list(ids), result)
        by_id: dict[str, Record | ReadFailure] = {f.id: f for f in result.failures}
        for cid in result.deleted:
            by_id[cid] = ReadFailure(cid, "deleted on the server", gone=True)
        for cid in fetched:
            by_id[cid] = self._record(cid)
        return [by_id.get(cid) or ReadFailure(cid, "not on the server", gone=True) for cid in ids]

    def create(self, records: Sequence[NewRecord]) -> list[WriteResult]:
        client = self._connect()
        results: list[WriteResult] = []
        memberships: dict[str, set[str]] = {}
        for new in records:
            in_card = frozenset() if self._use_groups else new.tags
            text = new_card(new.create_key, new.fields, in_card)
            result = self._put_new(client, new.create_key, text)
            if result.id is not None and self._use_groups:
                for name in new.tags:
                    memberships.setdefault(name, set()).add(new.create_key)
            results.append(result)
        if memberships:
            failed = self._change_groups(
                {name: (uids, set()) for name, uids in memberships.items()}
            )
            if failed:
                # The cards exist now: failing them would leave them unlinked. Stopping the run
                # keeps their creates journalled, so the next run links them and adds them to
                # the group again.
                raise TransientError(
                    f"{self.where.host}: {next(iter(failed.values()))}. The contacts were "
                    "saved; the next run finishes tagging them.",
                    title="Group not saved",
                )
        return [self._with_record(r) for r in results]

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        client = self._connect()
        missing = [u.id for u in updates if u.id not in self._cards]
        gone: set[str] = set()
        if missing:
            result = Changes()
            self._fetch(missing, result)
            gone = set(result.deleted) | {f.id for f in result.failures}
        results: list[WriteResult] = []
        group_changes: dict[str, tuple[set[str], set[str]]] = {}
        for update in updates:
            result = self._update_one(client, update, gone)
            results.append(result)
            if result.error or not self._use_groups:
                continue
            uid = self._uids.get(update.id, "")
            for name in update.add_tags:
                group_changes.setdefault(name, (set(), set()))[0].add(uid)
            for name in update.remove_tags:
                group_changes.setdefault(name, (set(), set()))[1].add(uid)
        if group_changes:
            failed = self._change_groups(group_changes)
            results = [_with_group_error(r, failed, self._uids) for r in results]
        return [self._with_record(r) for r in results]

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        client = self._connect()
        results = []
        for cid in ids:
            answer = client.delete(self._href(cid), self._etags.get(cid) or None)
            if answer.ok or answer.status == 404:
                self._forget(cid)
                results.append(WriteResult(key=cid, id=cid))
            elif answer.status == 412:
                results.append(_conflict(cid))
            else:
                results.append(WriteResult(key=cid, id=cid, error=answer.message))
        return results

    def remove_tag(self, name: str) -> bool:
        """Delete the group card named ``name`` where tags are Apple groups; the cards of its
        members stay as they are. False when there is none, and always where tags are
        CATEGORIES (those go with the last card that carries them)."""
        if self.where.tag_style is TagStyle.CATEGORIES:
            return False
        if self._token is not None and not self._use_groups:
            return False  # this run's listing found no group cards: tags are CATEGORIES here
        client = self._connect()
        found = {
            gid: self._group_etags.get(gid, "")
            for gid, group in self._groups.items()
            if group.name == name
        }
        removed = False
        for gid, etag in (found or self._find_groups(client, name)).items():
            removed = self._delete_group(client, gid, name, etag) or removed
        return removed

    def cursor(self) -> Cursor:
        return {
            "v": CURSOR_VERSION,
            "mode": "sync" if self._sync_collection else "ctag",
            "token": self._token,
            "etags": dict(self._etags),
            "uids": dict(self._uids),
            "groups": {gid: [g.uid, g.name, sorted(g.members)] for gid, g in self._groups.items()},
            "group_etags": dict(self._group_etags),
        }

    # ------------------------------------------------------------------ listing

    def _connect(self) -> DavClient:
        if self._client is None:
            password = self._password
            if password is None and self.where.username:
                from piesync_desktop import secrets  # keyring costs 60 ms to import: only here

                password = secrets.load_secret(self.account_key, PASSWORD)
                if password is None:
                    raise AuthExpired(
                        f"No password is saved for {self.where.username} on {self.where.host}. "
                        "Enter it again (Edit the connection, or connect again from the command "
                        "line)."
                    )
            self._client = client_for(self.where, password, self._settings)
        return self._client

    def _version(self, cid: str) -> str | None:
        return self._etags.get(cid, self._group_etags.get(cid))

    def _list(self, client: DavClient, known: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
        """(listed id -> etag, deleted ids) since the cursor: only the changes where the server
        tells them, else the whole listing against the cursor's etags."""
        mode = "sync" if self._sync_collection else "ctag"
        token = known.get("token") if known.get("mode") == mode else None
        if self._sync_collection:
            try:
                return self._sync_changes(client, token)
            except SyncTokenInvalid:
                if self._unchecked:  # the token, or the address book itself? Ask, then go on.
                    self._check(client)
                    return self._list(client, known)
                return self._sync_changes(client, None)
            except CollectionProblem:
                if not self._unchecked:
                    raise
                self._check(client)  # raises the precise reason when it is not a book now
                return self._list(client, known)
        ctag = self._ctag(client)
        if token and token == ctag:
            self._token = token
            return {}, set()
        self._token = ctag
        listed = self._listing(client)
        everything = set(self._etags) | set(self._group_etags)
        return listed, everything - set(listed)

    def _listing(self, client: DavClient) -> dict[str, str]:
        """Every card of the book (contacts and groups): id -> etag."""
        listing = client.propfind(self.url, (GETETAG, RESOURCETYPE), depth="1")
        return {
            self._id(r.href): r.etag
            for r in listing.responses
            if r.status < 300 and not _is_collection(r) and r.href.rstrip("/") != self._path
        }

    def _sync_changes(
        self, client: DavClient, token: str | None
    ) -> tuple[dict[str, str], set[str]]:
        full = token is None
        listed: dict[str, str] = {}
        deleted: set[str] = set()
        for _round in range(100):  # a server may answer in parts (RFC 6578 section 3.6)
            answer = client.sync_collection(self.url, token)
            truncated = False
            for response in answer.responses:
                if response.href.rstrip("/") == self._path.rstrip("/"):
                    truncated = truncated or response.status == 507
                    continue
                cid = self._id(response.href)
                if response.status == 404:
                    deleted.add(cid)
                    listed.pop(cid, None)
                elif not _is_collection(response):
                    listed[cid] = response.etag
                    deleted.discard(cid)
            token = answer.sync_token or token
            if not truncated or not answer.sync_token:
                break
        self._token = token
        if full:
            everything = set(self._etags) | set(self._group_etags)
            deleted |= everything - set(listed)
        return listed, deleted

    def _ctag(self, client: DavClient) -> str | None:
        answer = client.propfind(self.url, (GETCTAG,), depth="0")
        return next((r.text(GETCTAG) for r in answer.responses if r.text(GETCTAG)), None)

    @property
    def _path(self) -> str:
        return normalize_href(urlsplit(self.url).path)

    def _id(self, href: str) -> str:
        path = normalize_href(href)
        base = self._path
        if path.startswith(base) and len(path) > len(base):
            return unquote(path[len(base) :])
        return unquote(path)

    def _href(self, cid: str) -> str:
        if cid.startswith("/"):
            return urljoin(self.url, quote(cid, safe="/@:+,;=!$&'()*~"))
        return urljoin(self.url, quote(cid, safe="@:+,;=!$&'()*~"))

    def _fetch(self, ids: list[str], result: Changes) -> list[str]:
        """Read ``ids`` in batches; the cards that were read, in order (groups kept aside)."""
        client = self._connect()
        read: list[str] = []
        for chunk in batched(ids, MULTIGET_BATCH):
            answer = client.multiget(self.url, [self._href(cid) for cid in chunk])
            seen: set[str] = set()
            for response in answer.responses:
                cid = self._id(response.href)
                seen.add(cid)
                if response.status == 404:
                    if cid in self._etags:
                        result.deleted.append(cid)
                    self._forget(cid)
                    continue
                text = response.text(ADDRESS_DATA)
                if response.status >= 300 or not text:
                    reason = f"The server would not send this card (HTTP {response.status})."
                    result.failures.append(ReadFailure(cid, reason, cid))
                    continue
                self._enter(cid, response.etag, _crlf(text))
                if cid in self._cards:
                    read.append(cid)
            for cid in chunk:
                if cid not in seen:
                    result.failures.append(
                        ReadFailure(cid, "The server did not send this card when asked.", cid)
                    )
        return read

    def _enter(self, cid: str, etag: str, text: str) -> None:
        if groups.is_group(text):
            self._groups[cid] = groups.parse_group(text)
            self._group_etags[cid] = etag
            self._etags.pop(cid, None)
            return
        self._cards[cid] = _Card(etag, text)
        self._etags[cid] = etag

    def _forget(self, cid: str) -> None:
        self._etags.pop(cid, None)
        self._uids.pop(cid, None)
        self._cards.pop(cid, None)
        self._groups.pop(cid, None)
        self._group_etags.pop(cid, None)

    def _decide_tag_style(self) -> None:
        if self.where.tag_style is TagStyle.AUTO:
            apple = any(self.where.host.endswith(host) for host in APPLE_HOSTS)
            self._use_groups = apple or bool(self._groups)

    def _records(self, fetched: list[str], result: Changes) -> list[Record]:
        records = []
        for cid in fetched:
            outcome = self._record(cid)
            if isinstance(outcome, ReadFailure):
                result.failures.append(outcome)
            else:
                records.append(outcome)
        return records

    def _record(self, cid: str) -> Record | ReadFailure:
        card = self._cards.get(cid)
        if card is None:
            return ReadFailure(cid, "not on the server", gone=True)
        try:
            parsed = parse_card(card.text)
        except VCardError as exc:
            return ReadFailure(cid, f"Cannot read this card: {exc.reason}", cid)
        self._uids[cid] = parsed.uid
        tags = parsed.tags | self._group_names(parsed.uid)
        return Record(cid, parsed.fields, tags, card.etag or None, create_key=parsed.uid or None)

    def _group_names(self, uid: str) -> frozenset[str]:
        if not uid:
            return frozenset()
        return frozenset(g.name for g in self._groups.values() if uid in g.members and g.name)

    # ------------------------------------------------------------------ writing

    def _put_new(self, client: DavClient, key: str, text: str) -> WriteResult:
        stem = quote(key, safe=_SAFE_NAME)[:120] or "contact"
        for attempt in range(5):
            cid = f"{stem}.vcf" if attempt == 0 else f"{stem}-{attempt + 1}.vcf"
            answer = client.put(self._href(cid), text, create=True)
            if answer.ok:
                self._cards[cid] = _Card(answer.etag, text)
                self._etags[cid] = answer.etag
                self._uids[cid] = key
                return WriteResult(key=key, id=cid)
            if answer.status != 412:
                return WriteResult(key=key, error=answer.message)
            # Taken: by this very contact (a run that stopped before linking it), or another.
            result = Changes()
            if self._fetch([cid], result) and self._record(cid).create_key == key:
                return WriteResult(key=key, id=cid)
        return WriteResult(key=key, error=f"No free name on the server for {stem}.vcf")

    def _update_one(self, client: DavClient, update: RecordUpdate, gone: set[str]) -> WriteResult:
        cid = update.id
        card = self._cards.get(cid)
        if card is not None and not card.etag and cid not in gone:
            # The server did not say which version our last write made: read it, so the write
            # below is still conditional.
            self._cards.pop(cid, None)
            result = Changes()
            self._fetch([cid], result)
            gone |= set(result.deleted)
            card = self._cards.get(cid)
        if cid in gone or card is None:
            return WriteResult(key=cid, id=cid, error="deleted on the server meanwhile")
        if update.version and card.etag and update.version != card.etag:
            return _conflict(cid)
        add = frozenset() if self._use_groups else update.add_tags
        try:
            text = update_card(card.text, update.fields, add, update.remove_tags)
        except VCardError as exc:
            return WriteResult(key=cid, id=cid, error=f"Cannot read this card: {exc.reason}")
        except ValueError as exc:
            return WriteResult(key=cid, id=cid, error=str(exc))
        if text == card.text:
            return WriteResult(key=cid, id=cid)
        answer = client.put(self._href(cid), text, etag=card.etag or None)
        if answer.ok:
            self._cards[cid] = _Card(answer.etag, text)
            self._etags[cid] = answer.etag
            return WriteResult(key=cid, id=cid)
        if answer.status == 412:
            self._cards.pop(cid, None)  # read again by the next run
            return _conflict(cid)
        if answer.status == 404:
            self._forget(cid)
            return WriteResult(key=cid, id=cid, error="deleted on the server meanwhile")
        return WriteResult(key=cid, id=cid, error=answer.message)

    def _with_record(self, result: WriteResult) -> WriteResult:
        if result.error or result.conflict or result.id is None:
            return result
        record = self._record(result.id)
        if isinstance(record, Record):
            return WriteResult(key=result.key, id=result.id, record=record)
        return result

    def _change_groups(self, changes: dict[str, tuple[set[str], set[str]]]) -> dict[str, str]:
        """Add and remove members by group name; {uid: reason} for members that could not be."""
        client = self._connect()
        failed: dict[str, str] = {}
        for name, (add, remove) in changes.items():
            add.discard("")
            remove.discard("")
            gid = next((g for g, group in self._groups.items() if group.name == name), None)
            if gid is None:
                if not add:
                    continue
                reason = self._create_group(client, name, add)
            else:
                reason = self._edit_group(client, gid, name, add, remove)
            if reason:
                for uid in add | remove:
                    failed[uid] = f"could not change the group '{name}': {reason}"
        return failed

    def _create_group(self, client: DavClient, name: str, members: set[str]) -> str:
        uid, text = groups.new_group(name, members)
        gid = f"{uid}.vcf"
        answer = client.put(self._href(gid), text, create=True)
        if not answer.ok:
            return answer.message
        self._groups[gid] = groups.parse_group(text)
        self._group_etags[gid] = answer.etag
        return ""

    def _edit_group(
        self, client: DavClient, gid: str, name: str, add: set[str], remove: set[str]
    ) -> str:
        for _attempt in range(3):
            status, text, etag = client.get(self._href(gid))
            if status == 404:  # deleted meanwhile: start it again if it gains members
                self._groups.pop(gid, None)
                self._group_etags.pop(gid, None)
                return self._create_group(client, name, add) if add else ""
            if status >= 300:
                return f"HTTP {status}"
            group = groups.parse_group(text)
            if add <= group.members and not (remove & group.members):
                self._groups[gid], self._group_etags[gid] = group, etag
                return ""
            new_text = groups.with_members(text, add, remove)
            answer = client.put(self._href(gid), new_text, etag=etag or None)
            if answer.ok:
                self._groups[gid] = groups.parse_group(new_text)
                self._group_etags[gid] = answer.etag
                return ""
            if answer.status != 412:
                return answer.message
        return "it kept changing on the server while we edited it"

    def _find_groups(self, client: DavClient, name: str) -> dict[str, str]:
        """The group cards named ``name`` on the server now (id -> etag), for a tag this run
        has not seen. Read aside: what the cursor knows of the book stays as it was."""
        listed = self._listing(client)
        # A card known at the same etag is a contact or another group: only the others are read.
        unknown = [cid for cid, etag in listed.items() if not etag or self._version(cid) != etag]
        found: dict[str, str] = {}
        for chunk in batched(unknown, MULTIGET_BATCH):
            answer = client.multiget(self.url, [self._href(cid) for cid in chunk])
            for response in answer.responses:
                text = response.text(ADDRESS_DATA)
                if response.status < 300 and text and _is_group_named(text, name):
                    found[self._id(response.href)] = response.etag
        return found

    def _delete_group(self, client: DavClient, gid: str, name: str, etag: str) -> bool:
        """DELETE one group card if it is still the group ``name``: with If-Match on its etag,
        read again and tried once more if it changed (412). False when it is gone."""
        for attempt in range(2):
            if not etag:
                status, text, etag = client.get(self._href(gid))
                if status == 404:
                    self._forget(gid)
                    return False
                if status >= 300:
                    raise ConnectorError(
                        f"{self.where.host} would not send the group '{name}' (HTTP {status}), "
                        "so it was not removed. Remove it in your contacts app, or try again.",
                        title="Group not removed",
                    )
                if not _is_group_named(text, name):
                    return False  # renamed or no longer a group: not this tag's any more
            answer = client.delete(self._href(gid), etag or None)
            if answer.ok or answer.status == 404:
                self._forget(gid)
                return answer.ok
            if answer.status != 412 or attempt:
                break
            etag = ""  # changed on the server since it was read: read it again
        if answer.status == 412:
            reason = "it kept changing on the server while we removed it"
        else:
            reason = answer.message
        raise ConnectorError(
            f"{self.where.host} did not remove the group '{name}': {reason}. Remove it in your "
            "contacts app, or try again later.",
            title="Group not removed",
        )


def _is_group_named(text: str, name: str) -> bool:
    return groups.is_group(text) and groups.parse_group(text).name == name


def _known(cursor: Cursor | None) -> dict[str, Any]:
    if isinstance(cursor, dict) and cursor.get("v") == CURSOR_VERSION:
        return cursor
    return {}


def _is_collection(response: DavResponse) -> bool:
    element = response.props.get(RESOURCETYPE)
    return element is not None and element.find(tag(DAV, "collection")) is not None


def _moved_members(before: dict[str, groups.Group], after: dict[str, groups.Group]) -> set[str]:
    """UIDs whose group memberships differ between two views of the groups."""
    moved: set[str] = set()
    for gid in before.keys() | after.keys():
        old, new = before.get(gid), after.get(gid)
        old_members = old.members if old else frozenset()
        new_members = new.members if new else frozenset()
        if old and new and old.name != new.name:
            moved |= old_members | new_members
        else:
            moved |= old_members ^ new_members
    return moved


def _conflict(cid: str) -> WriteResult:
    return WriteResult(
        key=cid, id=cid, conflict=True, error="changed on the server since it was read"
    )


def _with_group_error(
    result: WriteResult, failed: dict[str, str], uids: dict[str, str]
) -> WriteResult:
    uid = uids.get(result.id or "", result.key)
    reason = failed.get(uid)
    if reason is None or result.error:
        return result
    return WriteResult(key=result.key, id=result.id, error=reason)


def _crlf(text: str) -> str:
    """XML parsing turns the card's CRLF line ends into LF (XML 1.0 section 2.11): put them back."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")
