"""Random creates, edits, deletions and moves in a vCard folder and in an Outlook contact folder
(the Graph emulator), each followed by a sync through the CLI, checked after every sync: nothing
deleted by the program on either side, paired contacts agree on every mapped field (Outlook read
the connector's way, what it cannot hold restored from beside the contact), an edit made on one
side since the last sync arrives on the other, no email made twice in a side, nothing created
again where the person deleted it (or moved it out of the folder), no contact failing, and a
second sync writes nothing on either side.

The folder side sometimes holds more than Outlook can (a 4th email, a 3rd work phone, a fax, a
second mobile, kinds Outlook has no slot for); the Outlook side is edited as another client would
(categories, job title, notes, company, the email addresses, now and then put back as they were)
and now and then a contact is moved to another folder, and back."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli
from helpers.outlook_account import OutlookAccount
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from piesync_desktop.engine.connectors.outlook import contacts
from piesync_desktop.engine.connectors.outlook.connector import OutlookContacts
from piesync_desktop.engine.connectors.vcard_codec import escape
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.mapping import clean
from piesync_desktop.engine.matching import normalise_email
from piesync_desktop.engine.model import TRASH_TAG, Record
from piesync_desktop.engine.store import Link, Store

SIDES = st.sampled_from(["folder", "outlook"])
ADDRESSES = ["ann@x.org", "ANN@x.org", "bob@x.org", "cy@x.org", "dee@x.org", "eve@x.org"]
EMAIL_KINDS = st.sampled_from(["other", "other", "work", "home"])
# Up to 4 on the folder side: one more than Outlook keeps.
FOLDER_EMAILS = st.lists(
    st.tuples(EMAIL_KINDS, st.sampled_from(ADDRESSES)), max_size=4, unique_by=lambda e: e[1].lower()
)
OUTLOOK_EMAILS = st.lists(st.sampled_from(ADDRESSES), max_size=3, unique_by=str.lower)
NUMBERS = [f"+1 555 01{n:02}" for n in range(1, 9)]
# Work, home and mobile have their slots in Outlook (2, 2 and 1); a fax or a number of no kind
# takes a free one; what finds none is kept beside the contact.
PHONES = st.lists(
    st.tuples(
        st.sampled_from(["work", "work", "home", "mobile", "fax", "other"]),
        st.sampled_from(NUMBERS),
    ),
    max_size=6,
    unique_by=lambda p: p[1],
)
TEXTS = st.sampled_from(["", "Acme", "Ünïcode, Ltd; Co", "CTO"])
NOTES = st.sampled_from(["", "Met at the fair", "Line one\nLine two"])
NAMES = st.sampled_from([("Ann", "Lee"), ("Bob", "Stone"), ("Zoë", "Ångström"), ("Cy", "")])
TAGS = st.frozensets(st.sampled_from(["vip", "Friends"]), max_size=2)
# A new contact: name, emails (at least one: a contact without is not synced), phones, company,
# notes, tags.
PEOPLE = st.tuples(
    NAMES,
    st.lists(
        st.tuples(EMAIL_KINDS, st.sampled_from(ADDRESSES)),
        min_size=1,
        max_size=4,
        unique_by=lambda e: e[1].lower(),
    ),
    PHONES,
    TEXTS,
    NOTES,
    TAGS,
)
FOLDER_FIELDS = st.sampled_from(["name", "emails", "phones", "company", "title", "notes", "tags"])
OUTLOOK_FIELDS = st.sampled_from(
    ["categories", "jobTitle", "personalNotes", "emailAddresses", "companyName"]
)
KEYS = {"folder": "a", "outlook": "b"}
OTHER = {"folder": "outlook", "outlook": "folder"}
# Every field the default mapping syncs between the two: Outlook's schema is the folder's, cut
# to the fields Outlook has a slot for.
MAPPED = tuple(contacts.schema().fields)
# The schema keys an edit of each field rewrites, on either side.
EDITED = {
    "name": ("given_name", "family_name", "full_name"),
    "emails": ("emails",),
    "phones": ("phones",),
    "company": ("company",),
    "title": ("title",),
    "notes": ("notes",),
    "tags": ("tags",),
    "categories": ("tags",),
    "jobTitle": ("title",),
    "personalNotes": ("notes",),
    "emailAddresses": ("emails",),
    "companyName": ("company",),
}
PHONE_TYPES = {"work": "WORK", "home": "HOME", "mobile": "CELL", "fax": "FAX", "pager": "PAGER"}
PHONE_TYPES |= {"main": "MAIN"}


def value_of(record: Record, key: str) -> Any:
    """A field as the engine compares it ('' when empty); the tags without the trash tag."""
    if key == "tags":
        return record.tags - {TRASH_TAG}
    return clean(record.get(key)) or ""


def addresses(value: Any) -> set[str]:
    """Email addresses as Outlook tells them apart: in any case."""
    return {item.value.casefold() for item in value or ()}


class FolderAndOutlook(RuleBasedStateMachine):
    """A two-way connection with Sync Deletions between a folder and Outlook's Contacts folder."""

    account: OutlookAccount
    elsewhere: str  # another contact folder of the mailbox, where contacts are moved out to

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.folder = self.dir / "folder"
        self.folder.mkdir()
        self.cli = Cli(self.dir / "profile")
        self.graph = self.account.graph
        self.orphans: dict[str, set[str]] = {"folder": set(), "outlook": set()}
        # What the person changed since the last sync, per side and contact: key -> the value.
        self.edited: dict[str, dict[str, dict[str, Any]]] = {"folder": {}, "outlook": {}}
        # The email addresses a person removed in Outlook since the last sync, per contact.
        self.removed: dict[str, set[str]] = {}
        self.held: dict[str, list[list[str]]] = {}  # the addresses each held after each sync
        self.dirty = False  # something changed since the last sync
        # Each side's contacts in the order they first appeared. Ids are random (Graph's, and
        # the files the sync makes), so a choice by position in a sorted list would pick
        # another contact each time Hypothesis plays the same steps again.
        self.order: dict[str, dict[str, int]] = {"folder": {}, "outlook": {}}
        self.serial = 0  # names the files this test writes
        # Graph's id of a contact changes when it moves to another folder; the connector asks
        # for immutable ids, the one it was made with. Moved contacts: id now -> immutable id.
        self.immutable: dict[str, str] = {}
        self._reader: OutlookContacts | None = None  # the test's own Outlook connector
        for folder_id in (self.graph.default_folder_id, self.elsewhere):
            for contact in self.graph.contacts(folder_id):
                self.graph.delete_contact(contact["id"])

    @initialize()
    def connect(self) -> None:
        code, text = self.cli(
            "connect", "c", "--a", f"vcard:{self.folder}", "--b", self.account.spec(),
            "--sync-deletions",
        )  # fmt: skip
        assert code == 0, text

    # -- what the person (or another app) does on each side ------------------------------------

    def records(self, side: str) -> dict[str, Record]:
        """Every contact of a side, read by its connector (Outlook's: the whole folder, with
        what it keeps beside each contact put back)."""
        if side == "outlook":
            return {r.id: r for r in self.reader().changes(None).records}
        connector = VCardDir(str(self.folder))
        connector.open()
        return {r.id: r for r in connector.changes(None).records}

    def reader(self) -> OutlookContacts:
        if self._reader is None:
            self._reader = self.account.connector()
            self._reader.open()
        return self._reader

    def read_outlook(self, contact_id: str) -> Record:
        [record] = self.reader().get([contact_id])
        assert isinstance(record, Record), record
        return record

    def ordered(self, side: str) -> list[str]:
        """A side's contact ids, oldest first; those new since the last look (the sync's) in
        the order of their counterparts, else of their content."""
        if side == "folder":
            found = {p.name: p.read_text() for p in self.folder.glob("*.vcf")}
        else:
            found = {c["id"]: repr(sorted(c.items())) for c in self.outlook_contacts()}
        order, theirs = self.order[side], self.order[OTHER[side]]
        new = [rid for rid in found if rid not in order]
        if new:
            counterpart = {
                link.id_on(KEYS[side]): theirs.get(link.id_on(KEYS[OTHER[side]]) or "", -1)
                for link in self._links()
            }
            for rid in sorted(new, key=lambda r: (counterpart.get(r, -1), found[r], r)):
                order[rid] = len(order)
        return sorted(found, key=order.__getitem__)

    def outlook_contacts(self, folder_id: str | None = None) -> list[dict[str, Any]]:
        """A contact folder's contacts (the connection's by default), oldest first, by the ids
        the connector knows them by."""
        return [
            {**c, "id": self.immutable.get(c["id"], c["id"])}
            for c in self.graph.contacts(folder_id or self.graph.default_folder_id)
        ]

    def move(self, contact_id: str, folder_id: str) -> None:
        self.immutable[self.graph.move_contact(contact_id, folder_id)] = contact_id

    @staticmethod
    def pick(data, items: list[Any], label: str) -> Any:
        """One of ``items`` (None if there are none), drawn the same way whatever their number:
        what a sync makes may differ from one playing of the steps to the next (ties between
        random ids), and Hypothesis wants the same draws each time."""
        index = data.draw(st.integers(0, 63), label=label)
        return items[index % len(items)] if items else None

    def write_card(self, rid: str | None, name, emails, phones, company, title, notes, tags) -> str:
        given, family = name
        if rid is None:
            self.serial += 1
            rid = f"{self.serial:03}-{uuid.uuid4().hex[:8]}.vcf"
        path = self.folder / rid
        lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{path.stem}"]
        lines += [f"FN:{escape(' '.join(p for p in name if p))}"]
        lines += [f"N:{escape(family)};{escape(given)};;;"]
        for kind, address in emails:
            extra = f",{kind.upper()}" if kind in ("work", "home") else ""
            lines.append(f"EMAIL;TYPE=INTERNET{extra}:{address}")
        for kind, number in phones:
            kind_type = f";TYPE={PHONE_TYPES[kind]}" if kind in PHONE_TYPES else ""
            lines.append(f"TEL{kind_type}:{number}")
        lines += [f"ORG:{escape(company)}"] if company else []
        lines += [f"TITLE:{escape(title)}"] if title else []
        lines += [f"NOTE:{escape(notes)}"] if notes else []
        lines += ["CATEGORIES:" + ",".join(sorted(tags))] if tags else []
        path.write_text("\r\n".join([*lines, "END:VCARD"]) + "\r\n", newline="")
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        self.order["folder"].setdefault(path.name, len(self.order["folder"]))
        return path.name

    @staticmethod
    def graph_contact(name, emails, phones, company, title, notes, tags) -> dict[str, Any]:
        """A contact as another client writes it: within Outlook's limits."""
        given, family = name
        contact: dict[str, Any] = {"givenName": given, "surname": family}
        contact["emailAddresses"] = [{"name": a, "address": a} for a in emails]
        contact["businessPhones"] = [n for kind, n in phones if kind == "work"][:2]
        contact["homePhones"] = [n for kind, n in phones if kind == "home"][:2]
        mobile = [n for kind, n in phones if kind == "mobile"]
        if mobile:
            contact["mobilePhone"] = mobile[0]
        for prop, text in (("companyName", company), ("jobTitle", title), ("personalNotes", notes)):
            if text:
                contact[prop] = text
        contact["categories"] = sorted(tags)
        return contact

    @initialize(people=st.lists(st.tuples(SIDES, PEOPLE), min_size=1, max_size=3))
    def some_people(self, people) -> None:
        for side, person in people:
            self.create(side, *person)

    @rule(data=st.data(), side=SIDES, person=PEOPLE)
    def create_one(self, data, side: str, person) -> None:
        """A new contact; in Outlook now and then one moved back from the other folder instead
        (a new contact there too: a move gives it a new id)."""
        how = data.draw(st.sampled_from(["new", "new", "moved back"]), label="how")
        moved = [c["id"] for c in self.outlook_contacts(self.elsewhere)]
        moved_id = self.pick(data, moved, "moved")
        if side == "outlook" and how == "moved back" and moved_id:
            self.dirty = True
            self.move(moved_id, self.graph.default_folder_id)
            return
        self.create(side, *person)

    def create(self, side: str, name, emails, phones, company: str, notes: str, tags) -> None:
        self.dirty = True
        if side == "folder":
            self.write_card(None, name, emails, phones, company, "", notes, tags)
        else:
            addresses = [address for _kind, address in emails][:3]
            body = self.graph_contact(name, addresses, phones, company, "", notes, tags)
            new_id = self.graph.add_contact(self.graph.default_folder_id, body)
            self.order["outlook"].setdefault(new_id, len(self.order["outlook"]))

    @rule(
        data=st.data(), field=FOLDER_FIELDS, name=NAMES, emails=FOLDER_EMAILS, phones=PHONES,
        text=TEXTS, notes=NOTES, tags=TAGS,
    )  # fmt: skip
    def edit_in_folder(self, data, field: str, name, emails, phones, text, notes, tags) -> None:
        self.dirty = True
        rid = self.pick(data, self.ordered("folder"), "file")
        if rid is None:
            return
        record = self.records("folder")[rid]
        values: dict[str, Any] = {
            "name": (record.text("given_name"), record.text("family_name")),
            "emails": [(i.kind, i.value) for i in record.get("emails") or ()],
            "phones": [(i.kind, i.value) for i in record.get("phones") or ()],
            "company": record.text("company"),
            "title": record.text("title"),
            "notes": record.text("notes"),
            "tags": record.tags,
        }
        new = {"name": name, "emails": emails, "phones": phones, "notes": notes, "tags": tags}
        values[field] = new.get(field, text)
        self.write_card(rid, **values)
        now = self.records("folder")[rid]
        edits = self.edited["folder"].setdefault(rid, {})
        for key in EDITED[field]:
            edits[key] = value_of(now, key)

    @rule(
        data=st.data(), field=OUTLOOK_FIELDS, emails=OUTLOOK_EMAILS, text=TEXTS, notes=NOTES,
        tags=TAGS,
    )  # fmt: skip
    def edit_in_outlook(self, data, field: str, emails, text: str, notes: str, tags) -> None:
        """Another client's edit of one property; the email addresses now and then put back as
        they were after an earlier sync (a person undoing an edit)."""
        self.dirty = True
        stored = {c["id"]: c for c in self.outlook_contacts()}
        contact_id = self.pick(data, self.ordered("outlook"), "contact")
        undo = data.draw(st.booleans(), label="undo")
        back = self.pick(data, self.held.get(contact_id or "", []), "earlier emails")
        if contact_id is None:
            return
        contact = stored[contact_id]
        if field == "emailAddresses" and undo and back is not None:
            emails = back
        changes = {
            "categories": sorted(tags),
            "jobTitle": text or None,
            "personalNotes": notes or None,
            "emailAddresses": [{"name": a, "address": a} for a in emails],
            "companyName": text or None,
        }
        self.graph.edit_contact(contact["id"], {field: changes[field]})
        [after] = [c for c in self.outlook_contacts() if c["id"] == contact["id"]]
        # An edit that left Outlook showing what it showed cannot be told from no edit.
        was = Record("", contacts.fields_of(contact), contacts.categories_of(contact))
        shown = Record("", contacts.fields_of(after), contacts.categories_of(after))
        now = self.read_outlook(contact["id"])  # what Outlook cannot show put back (overflow)
        edits = self.edited["outlook"].setdefault(contact["id"], {})
        for key in EDITED[field]:
            if value_of(shown, key) != value_of(was, key):
                edits[key] = value_of(now, key)
        if field == "emailAddresses":
            gone = addresses(was.get("emails")) - addresses(shown.get("emails"))
            removed = self.removed.setdefault(contact["id"], set())
            removed -= addresses(shown.get("emails"))
            removed |= gone
            # The person's word: what they left or added is there, what they removed is not.
            assert addresses(shown.get("emails")) <= addresses(now.get("emails")), now
            assert not removed & addresses(now.get("emails")), now

    @rule(data=st.data(), side=SIDES)
    def delete(self, data, side: str) -> None:
        """A contact deleted; in Outlook now and then moved to another folder instead, which
        takes it out of the connection's folder just the same."""
        self.dirty = True
        rid = self.pick(data, self.ordered(side), "contact")
        how = data.draw(st.sampled_from(["delete", "delete", "move"]), label="how")
        if rid is None:
            return
        if side == "folder":
            (self.folder / rid).unlink()
        elif how == "move":
            self.move(rid, self.elsewhere)
        else:
            self.graph.delete_contact(rid)
        here, there = KEYS[side], KEYS[OTHER[side]]
        for link in self._links():
            if link.id_on(here) == rid and link.id_on(there):
                self.orphans[side].add(link.id_on(there) or "")

    # -- the sync and what must hold after it ---------------------------------------------------

    @precondition(lambda self: self.dirty)
    @rule()
    def sync(self) -> None:
        self.dirty = False
        before = {side: self.records(side) for side in ("folder", "outlook")}
        links = {(link.a_id, link.b_id) for link in self._links() if not link.deleted_side}
        self.graph.clear_requests()
        code, text = self.cli("sync", "c", "--confirm")
        assert code == 0, text
        deletes = [r for r in (*self.graph.requests, *self.graph.inner_requests) if "DELETE" in r]
        assert deletes == [], f"the sync deleted in Outlook: {deletes}"
        after = {side: self.records(side) for side in ("folder", "outlook")}
        for side in ("folder", "outlook"):
            assert set(before[side]) <= set(after[side]), f"a contact was deleted in {side}"
            kept = Counter(self._email(r) for r in before[side].values())
            made = [after[side][rid] for rid in set(after[side]) - set(before[side])]
            for email, count in Counter(self._email(r) for r in made).items():
                assert not email or (count == 1 and not kept[email]), f"{email} made twice"
            for record in made:
                for link in self._links():
                    if link.id_on(KEYS[OTHER[side]]) in self.orphans[side]:
                        assert link.id_on(KEYS[side]) != record.id, "made again where deleted"
        self._pairs_agree(after)
        self._edits_arrived(links, after)
        health = self.cli.json("health", "c")
        assert health["failing"] == 0, health
        self.edited = {"folder": {}, "outlook": {}}
        self.removed = {}
        for contact in self.outlook_contacts():
            held = [e["address"] for e in contact.get("emailAddresses") or ()]
            if held not in self.held.setdefault(contact["id"], []):
                self.held[contact["id"]].append(held)
        for side in ("folder", "outlook"):
            self.ordered(side)  # what the sync made takes its place in the order

        files = {(p.name, p.stat().st_mtime_ns, p.read_bytes()) for p in self.folder.glob("*")}
        self.graph.clear_requests()
        code, text = self.cli("sync", "c", "--confirm")
        assert code == 0, text
        assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text, text
        assert {
            (p.name, p.stat().st_mtime_ns, p.read_bytes()) for p in self.folder.glob("*")
        } == files
        writes = [r for r in self.graph.inner_requests if r[0] in ("POST", "PATCH", "DELETE")]
        writes += [r for r in self.graph.requests if r[0] in ("PATCH", "DELETE")]
        writes += [r for r in self.graph.requests if r[0] == "POST" and "$batch" not in r[1]]
        assert writes == [], writes

    def _links(self) -> list[Link]:
        with Store(self.cli.profile / "piesync.sqlite3") as store:
            return list(store.links(store.connection("c").id or 0).values())

    @staticmethod
    def _email(record: Record) -> str:
        return "" if TRASH_TAG in record.tags else normalise_email(record.first("emails"))

    def _pairs_agree(self, after: dict[str, dict[str, Record]]) -> None:
        for link in self._links():
            if link.deleted_side:
                continue
            a, b = after["folder"].get(link.a_id or ""), after["outlook"].get(link.b_id or "")
            assert a is not None and b is not None, link
            for key in MAPPED:
                assert value_of(a, key) == value_of(b, key), (key, a, b)
            assert a.tags == b.tags or TRASH_TAG in (a.tags ^ b.tags), (a, b)

    def _edits_arrived(self, links: set[tuple], after: dict[str, dict[str, Record]]) -> None:
        """A field of a paired contact edited on one side only reaches the other as it reads
        on the side it was edited on."""
        for link in self._links():
            if link.deleted_side or (link.a_id, link.b_id) not in links:
                continue
            ids = {"folder": link.a_id or "", "outlook": link.b_id or ""}
            pair = {side: after[side][ids[side]] for side in ids}
            for side, other in OTHER.items():
                theirs = self.edited[other].get(ids[other], {})
                for key, value in self.edited[side].get(ids[side], {}).items():
                    if key in theirs:
                        continue  # edited on both sides: either may win
                    found = {s: value_of(pair[s], key) for s in pair}
                    assert found == {"folder": value, "outlook": value}, (side, key, value, found)

    def teardown(self) -> None:
        if self._reader is not None:
            self._reader.close()
        shutil.rmtree(self.dir, ignore_errors=True)


FolderAndOutlook.TestCase.settings = settings(
    max_examples=int(os.environ.get("PIESYNC_OUTLOOK_EXAMPLES", "15")),
    stateful_step_count=25,
    deadline=None,
    # No explain phase: its tracing makes each step of a failing case many times slower here.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_random_edits_on_both_sides_keep_the_promises(
    mailbox: OutlookAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in mailbox.env.items():
        monkeypatch.setenv(name, value)
    FolderAndOutlook.account = mailbox
    FolderAndOutlook.elsewhere = mailbox.graph.add_folder("Elsewhere")
    FolderAndOutlook.TestCase("runTest").runTest()
    assert mailbox.graph.internal_errors == []
