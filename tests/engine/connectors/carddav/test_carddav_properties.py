"""Random creates, edits and deletes in a vCard folder and in a CardDAV address book on a real
Radicale, each followed by a sync through the CLI, checked after every sync: nothing deleted,
paired contacts agree on every mapped field, no email made twice in a side, nothing created again
where the person deleted it, and a second sync writes nothing on either side.

This is where the connector's cursor (sync token and etags), our own writes and other clients'
edits meet; the in-memory machine of tests/engine/test_sync_properties.py covers the engine.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from helpers.dav_servers import DavServer, fresh_name, start_radicale
from helpers.fault_proxy import FaultProxy
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from piesync_desktop.cli import main
from piesync_desktop.engine.connectors.carddav.connector import CardDav
from piesync_desktop.engine.connectors.vcard_codec import escape
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.matching import normalise_email
from piesync_desktop.engine.model import TRASH_TAG, Record
from piesync_desktop.engine.store import Link, Store

SIDES = st.sampled_from(["folder", "book"])
EMAILS = st.sampled_from(["", "ann@x.org", "ANN@x.org", "bob@x.org", "cy@x.org"])
TEXTS = st.sampled_from(["", "Acme", "Ünïcode, Ltd; Co", "Dev", "CTO"])
NAMES = st.sampled_from(["Ann Lee", "Bob Stone", "Zoë Ångström", "Cy"])
TAGS = st.frozensets(st.sampled_from(["vip", "Friends"]), max_size=2)
FIELDS = st.sampled_from(["company", "title", "email", "tags"])
SIDE_KEYS = {"folder": "a", "book": "b"}
OTHER = {"folder": "book", "book": "folder"}
MAPPED = ("full_name", "given_name", "family_name", "company", "title", "emails")


def vcard(uid: str, name: str, email: str, company: str, title: str, tags: frozenset[str]) -> str:
    given, _, family = name.partition(" ")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{uid}", f"FN:{escape(name)}"]
    lines.append(f"N:{escape(family)};{escape(given)};;;")
    if email:
        lines.append(f"EMAIL;TYPE=INTERNET:{email}")
    if company:
        lines.append(f"ORG:{escape(company)}")
    if title:
        lines.append(f"TITLE:{escape(title)}")
    if tags:
        lines.append("CATEGORIES:" + ",".join(sorted(escape(t) for t in tags)))
    return "\r\n".join([*lines, "END:VCARD"]) + "\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    radicale = start_radicale(tmp_path_factory.mktemp("radicale-properties"))
    yield radicale
    radicale.stop()


class FolderAndBook(RuleBasedStateMachine):
    """A two-way connection with Sync Deletions between a folder and a book, driven at random."""

    server: DavServer
    fragment = ""  # how the book keeps tags: "" (its categories) or "#groups"

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.folder = self.dir / "folder"
        self.folder.mkdir()
        self.book_url = self.server.make_addressbook(fresh_name("prop"))
        self.proxy = FaultProxy(self.server)
        self.http = httpx.Client(timeout=10)
        # Per side, the contacts of the other side whose counterpart here the person deleted:
        # none of them may get a counterpart here again.
        self.orphans: dict[str, set[str]] = {"folder": set(), "book": set()}
        self.profile = self.dir / "profile"

    @initialize()
    def connect(self) -> None:
        location = self.proxy.rebase(self.book_url) + self.fragment
        code, text = self.cli(
            "connect", "c", "--a", f"vcard:{self.folder}", "--b", f"carddav:{location}",
            "--sync-deletions",
        )  # fmt: skip
        assert code == 0, text

    def cli(self, *args: str) -> tuple[int, str]:
        out = io.StringIO()
        return main(["--profile", str(self.profile), *args], out), out.getvalue()

    # -- what the person (or another app) does on each side ------------------------------------

    def cards(self, side: str) -> dict[str, Record]:
        """Every contact of a side as a fresh run would read it, by UID."""
        if side == "folder":
            connector: VCardDir | CardDav = VCardDir(str(self.folder))
        else:
            connector = CardDav(self.book_url + self.fragment)
        connector.open()
        return {r.create_key or r.id: r for r in connector.changes(None).records}

    def _ids(self, side: str) -> dict[str, str]:
        return {uid: r.id for uid, r in self.cards(side).items()}

    def put(self, side: str, uid: str, text: str, rid: str | None = None) -> None:
        if side == "folder":
            path = self.folder / (rid or f"{uid}.vcf")
            path.write_text(text, encoding="utf-8", newline="")
            stat = path.stat()  # an edit within the last listing's mtime tick is seen too
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        else:
            answer = self.http.put(self.book_url + (rid or f"{uid}.vcf"), content=text.encode())
            assert answer.status_code in (201, 204), answer.text

    @rule(side=SIDES, name=NAMES, email=EMAILS, company=TEXTS, tags=TAGS)
    def create(self, side: str, name: str, email: str, company: str, tags: frozenset[str]) -> None:
        uid = uuid.uuid4().hex
        self.put(side, uid, vcard(uid, name, email, company, "", tags))

    @precondition(lambda self: any(self.folder.glob("*.vcf")))
    @rule(data=st.data(), side=SIDES, field=FIELDS, text=TEXTS, email=EMAILS, tags=TAGS)
    def edit(self, data, side: str, field: str, text: str, email: str, tags) -> None:
        cards = self.cards(side)
        if not cards:
            return
        uid = data.draw(st.sampled_from(sorted(cards)))
        record = cards[uid]
        values = {
            "name": record.display_name() or "Someone",
            "email": record.first("emails"),
            "company": record.text("company"),
            "title": record.text("title"),
            "tags": record.tags,
        }
        values[field] = {"email": email, "tags": tags}.get(field, text)
        self.put(side, uid, vcard(uid, **values), record.id)  # type: ignore[arg-type]

    @precondition(lambda self: any(self.folder.glob("*.vcf")))
    @rule(data=st.data(), side=SIDES)
    def delete(self, data, side: str) -> None:
        ids = self._ids(side)
        if not ids:
            return
        uid = data.draw(st.sampled_from(sorted(ids)))
        rid = ids[uid]
        if side == "folder":
            (self.folder / rid).unlink()
        else:
            assert self.http.delete(self.book_url + rid).status_code in (200, 204)
        here, there = SIDE_KEYS[side], SIDE_KEYS[OTHER[side]]
        for link in self._links():
            if link.id_on(here) == rid and link.id_on(there):
                self.orphans[side].add(link.id_on(there) or "")

    # -- the sync and what must hold after it ---------------------------------------------------

    @rule()
    def sync(self) -> None:
        before = {side: self.cards(side) for side in ("folder", "book")}
        code, text = self.cli("sync", "c", "--confirm")
        assert code == 0, text
        after = {side: self.cards(side) for side in ("folder", "book")}
        for side in ("folder", "book"):
            assert set(before[side]) <= set(after[side]), f"a contact was deleted in the {side}"
            kept = Counter(self._email(r) for r in before[side].values())
            made = Counter(
                self._email(after[side][u]) for u in set(after[side]) - set(before[side])
            )
            for email, count in made.items():
                assert not email or (count == 1 and not kept[email]), f"{email} made twice"
        self._pairs_agree(after)
        self._never_created_again_where_deleted(before, after)
        folder_files = self._folder_state()
        puts = self.proxy.count("PUT") + self.proxy.count("DELETE")
        code, text = self.cli("sync", "c", "--confirm")
        assert code == 0, text
        assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text, text
        assert self._folder_state() == folder_files
        assert self.proxy.count("PUT") + self.proxy.count("DELETE") == puts

    def _folder_state(self) -> set[tuple[str, int, int]]:
        return {(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in self.folder.glob("*")}

    @staticmethod
    def _email(record: Record) -> str:
        return "" if TRASH_TAG in record.tags else normalise_email(record.first("emails"))

    def _links(self) -> list[Link]:
        with Store(self.profile / "piesync.sqlite3") as store:
            return list(store.links(store.connection("c").id or 0).values())

    def _never_created_again_where_deleted(
        self, before: dict[str, dict[str, Record]], after: dict[str, dict[str, Record]]
    ) -> None:
        """No contact this sync made is the counterpart of one the person deleted there (a
        contact the person adds back with the same email may pair with it: that is theirs)."""
        for side, orphans in self.orphans.items():
            here, there = SIDE_KEYS[side], SIDE_KEYS[OTHER[side]]
            made = {r.id for uid, r in after[side].items() if uid not in before[side]}
            for link in self._links():
                if link.id_on(there) in orphans:
                    assert link.id_on(here) not in made, f"made again in the {side}: {link}"

    def _pairs_agree(self, after: dict[str, dict[str, Record]]) -> None:
        folder = {r.id: r for r in after["folder"].values()}
        book = {r.id: r for r in after["book"].values()}
        for link in self._links():
            if link.deleted_side:
                continue
            a, b = folder.get(link.a_id or ""), book.get(link.b_id or "")
            assert a is not None and b is not None, link
            for key in MAPPED:
                assert str(a.get(key)).strip() == str(b.get(key)).strip(), (key, a, b)
            assert a.tags == b.tags or TRASH_TAG in (a.tags ^ b.tags)

    def teardown(self) -> None:
        self.proxy.close()
        self.http.close()
        shutil.rmtree(self.dir, ignore_errors=True)


FolderAndBook.TestCase.settings = settings(
    max_examples=int(os.environ.get("PIESYNC_CARDDAV_EXAMPLES", "10")),
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class FolderAndGroups(FolderAndBook):
    """The same with the book's tags kept as Apple's group cards (another app still writes
    CATEGORIES, which count as tags too)."""

    fragment = "#groups"


FolderAndGroups.TestCase.settings = FolderAndBook.TestCase.settings


@pytest.mark.parametrize("machine", [FolderAndBook, FolderAndGroups], ids=["categories", "groups"])
def test_random_edits_on_both_sides_keep_the_promises(server: DavServer, machine) -> None:
    machine.server = server
    machine.TestCase("runTest").runTest()
