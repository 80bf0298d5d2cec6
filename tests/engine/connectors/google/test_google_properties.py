"""Random creates, edits and deletes in a vCard folder and in Google Contacts (the emulators),
each followed by a sync through the CLI, checked after every sync: nothing deleted, paired
contacts agree on every mapped field, no email made twice in a side, nothing created again where
the person deleted it, and a second sync writes nothing on either side."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import pytest
from helpers.cli import Cli
from helpers.google_account import GoogleAccount
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from piesync_desktop.engine.connectors.vcard_codec import escape
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.matching import normalise_email
from piesync_desktop.engine.model import TRASH_TAG, Record
from piesync_desktop.engine.store import Link, Store

SIDES = st.sampled_from(["folder", "google"])
EMAILS = st.sampled_from(["", "ann@x.org", "ANN@x.org", "bob@x.org", "cy@x.org"])
TEXTS = st.sampled_from(["", "Acme", "Ünïcode, Ltd; Co", "CTO"])
NAMES = st.sampled_from([("Ann", "Lee"), ("Bob", "Stone"), ("Zoë", "Ångström"), ("Cy", "")])
TAGS = st.frozensets(st.sampled_from(["vip", "Friends"]), max_size=2)
FIELDS = st.sampled_from(["company", "title", "email", "tags"])
KEYS = {"folder": "a", "google": "b"}
OTHER = {"folder": "google", "google": "folder"}
MAPPED = ("given_name", "family_name", "company", "title", "emails")


class FolderAndGoogle(RuleBasedStateMachine):
    """A two-way connection with Sync Deletions between a folder and a Google account."""

    account: GoogleAccount

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp())
        self.folder = self.dir / "folder"
        self.folder.mkdir()
        self.cli = Cli(self.dir / "profile")
        self.orphans: dict[str, set[str]] = {"folder": set(), "google": set()}
        for person in self.account.api.persons():
            self.account.api.delete_person(person["resourceName"])

    @initialize()
    def connect(self) -> None:
        code, text = self.cli(
            "connect", "c", "--a", f"vcard:{self.folder}", "--b", self.account.spec,
            "--sync-deletions",
        )  # fmt: skip
        assert code == 0, text

    # -- what the person (or another app) does on each side ------------------------------------

    def records(self, side: str) -> dict[str, Record]:
        folder = side == "folder"
        connector = VCardDir(str(self.folder)) if folder else self.account.connector()
        connector.open()
        return {r.id: r for r in connector.changes(None).records}

    def _group(self, name: str) -> str:
        for group in self.account.api.groups():
            if group.get("name") == name:
                return group["resourceName"]
        return self.account.api.add_group(name)

    def put(self, side: str, rid: str | None, name, email, company, title, tags) -> None:
        given, family = name
        if side == "folder":
            path = self.folder / (rid or f"{uuid.uuid4().hex}.vcf")
            lines = ["BEGIN:VCARD", "VERSION:3.0", f"UID:{path.stem}"]
            lines += [f"FN:{escape(' '.join(p for p in name if p))}"]
            lines += [f"N:{escape(family)};{escape(given)};;;"]
            lines += [f"EMAIL:{email}"] if email else []
            lines += [f"ORG:{escape(company)}"] if company else []
            lines += [f"TITLE:{escape(title)}"] if title else []
            lines += ["CATEGORIES:" + ",".join(sorted(tags))] if tags else []
            path.write_text("\r\n".join([*lines, "END:VCARD"]) + "\r\n", newline="")
            stat = path.stat()
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
            return
        person: dict = {"names": [{"givenName": given, "familyName": family}]}
        person["emailAddresses"] = [{"value": email}] if email else []
        organization = {k: v for k, v in (("name", company), ("title", title)) if v}
        person["organizations"] = [organization] if organization else []
        person["memberships"] = [
            {"contactGroupMembership": {"contactGroupResourceName": group}}
            for group in ["contactGroups/myContacts", *(self._group(t) for t in sorted(tags))]
        ]
        if rid is None:
            self.account.api.add_person(person)
        else:
            self.account.api.edit_person(rid, person)

    @rule(side=SIDES, name=NAMES, email=EMAILS, company=TEXTS, tags=TAGS)
    def create(self, side: str, name, email: str, company: str, tags) -> None:
        self.put(side, None, name, email, company, "", tags)

    @precondition(lambda self: any(self.folder.glob("*.vcf")))
    @rule(data=st.data(), side=SIDES, field=FIELDS, text=TEXTS, email=EMAILS, tags=TAGS)
    def edit(self, data, side: str, field: str, text: str, email: str, tags) -> None:
        records = self.records(side)
        if not records:
            return
        rid = data.draw(st.sampled_from(sorted(records)))
        record = records[rid]
        values = {
            "name": (record.text("given_name"), record.text("family_name")),
            "email": record.first("emails"),
            "company": record.text("company"),
            "title": record.text("title"),
            "tags": record.tags,
        }
        values[field] = {"email": email, "tags": tags}.get(field, text)
        self.put(side, rid, **values)

    @precondition(lambda self: any(self.folder.glob("*.vcf")))
    @rule(data=st.data(), side=SIDES)
    def delete(self, data, side: str) -> None:
        records = self.records(side)
        if not records:
            return
        rid = data.draw(st.sampled_from(sorted(records)))
        if side == "folder":
            (self.folder / rid).unlink()
        else:
            self.account.api.delete_person(rid)
        here, there = KEYS[side], KEYS[OTHER[side]]
        for link in self._links():
            if link.id_on(here) == rid and link.id_on(there):
                self.orphans[side].add(link.id_on(there) or "")

    # -- the sync and what must hold after it ---------------------------------------------------

    @rule()
    def sync(self) -> None:
        before = {side: self.records(side) for side in ("folder", "google")}
        code, text = self.cli("sync", "c", "--confirm")
        assert code == 0, text
        after = {side: self.records(side) for side in ("folder", "google")}
        for side in ("folder", "google"):
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
        files = {(p.name, p.stat().st_mtime_ns) for p in self.folder.glob("*")}
        self.account.api.clear_requests()
        code, text = self.cli("sync", "c", "--confirm")
        assert code == 0, text
        assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text, text
        assert {(p.name, p.stat().st_mtime_ns) for p in self.folder.glob("*")} == files
        writes = sum(self.account.api.count("POST", path) for path in ("batch", "members"))
        assert writes == 0

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
            a, b = after["folder"].get(link.a_id or ""), after["google"].get(link.b_id or "")
            assert a is not None and b is not None, link
            for key in MAPPED:
                assert str(a.get(key)).strip() == str(b.get(key)).strip(), (key, a, b)
            assert a.tags == b.tags or TRASH_TAG in (a.tags ^ b.tags)

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


FolderAndGoogle.TestCase.settings = settings(
    max_examples=int(os.environ.get("PIESYNC_GOOGLE_EXAMPLES", "15")),
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def test_random_edits_on_both_sides_keep_the_promises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = GoogleAccount(tmp_path / "google")
    for name, value in account.env.items():
        monkeypatch.setenv(name, value)
    try:
        account.sign_in()
        FolderAndGoogle.account = account
        FolderAndGoogle.TestCase("runTest").runTest()
    finally:
        account.close()
    assert account.api.internal_errors == []
