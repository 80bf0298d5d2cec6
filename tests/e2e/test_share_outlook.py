"""Share jobs with Outlook 365 mailboxes end to end, through the CLI (issue 8).

Ada's vCard folder shares its group 'Team' with Bob's Outlook Contacts folder (the Graph and
Microsoft identity emulators, signed in through real msal with the test playing the browser),
and Bob's own Outlook folder shares its 'Team' category into a vCard folder. To Outlook the tags
are a contact's ``categories``. What is checked is what the mailbox holds on the emulator itself,
not what our connector reads back: the group's contacts copied with the categories Team and
gSync1 (and no other of the source's), kept as the source has them, Bob's own contacts never
written (same changeKey), a contact leaving the group tagged 'PieSync Trash', a removed
destination left with Bob's own contacts only and without the job's category, and a mailbox that
fails failing alone.
"""

from __future__ import annotations

import os
import re
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli
from helpers.outlook_account import OutlookAccount

from piesync_desktop.engine.connectors.outlook import graph as outlook_graph
from piesync_desktop.engine.model import TRASH_TAG

BOB = "bob@contoso.com"
DEST = f"Team → Outlook 365 '{BOB}'"  # the destination's connection: job, app and account
WRITES = ("POST", "PATCH", "DELETE")


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OutlookAccount]:
    """Bob's mailbox on the emulators, signed in (its tokens in this test's keyring), the
    program pointed at it; Graph's backoff in milliseconds."""
    mailbox = OutlookAccount(tmp_path / "outlook", username=BOB)
    for name, value in mailbox.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(outlook_graph, "BACKOFF_SECONDS", 0.01)
    mailbox.sign_in()
    yield mailbox
    mailbox.close()
    assert mailbox.graph.internal_errors == []


@pytest.fixture
def cli(profile: Path, account: OutlookAccount) -> Cli:
    return Cli(profile)


# -- vCard folders ----------------------------------------------------------------------------

CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
    "{extra}END:VCARD\r\n"
)


def card(folder: Path, name: str, extra: str = "") -> Path:
    uid = uuid.uuid4().hex
    given, _, family = name.partition(" ")
    path = folder / f"{uid}.vcf"
    text = CARD.format(uid=uid, name=name, given=given, family=family, extra=extra)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # as written: CRLF line ends kept


def edit(path: Path, old: str, new: str) -> None:
    text = read(path)
    assert old in text, (old, text)
    path.write_text(text.replace(old, new), encoding="utf-8", newline="")
    stat = path.stat()  # an edit within the same mtime tick is still seen
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def card_categories(text: str) -> set[str]:
    found = re.search(r"\nCATEGORIES:([^\r\n]*)\r?\n", text)
    return set(found.group(1).split(",")) if found else set()


def cards_named(folder: Path, name: str) -> list[str]:
    return [t for t in (read(p) for p in sorted(folder.glob("*.vcf"))) if f"\nFN:{name}\r" in t]


# -- what Bob's mailbox holds, read on the emulator -------------------------------------------


def outlook_contact(given: str, family: str, email: str = "", **extra: Any) -> dict:
    data: dict[str, Any] = {"givenName": given, "surname": family}
    data["displayName"] = f"{given} {family}"
    if email:
        data["emailAddresses"] = [{"name": email, "address": email}]
    return {**data, **extra}


def held(account: OutlookAccount) -> list[dict]:
    """Bob's Contacts folder as Graph holds it."""
    return account.graph.contacts(account.graph.default_folder_id)


def named(account: OutlookAccount, name: str) -> list[dict]:
    return [c for c in held(account) if c.get("displayName") == name]


def the(account: OutlookAccount, name: str) -> dict:
    [found] = named(account, name)
    return found


def categories(contact: dict) -> set[str]:
    return set(contact.get("categories") or ())


def emails(contact: dict) -> list[str]:
    return [e["address"] for e in contact.get("emailAddresses") or ()]


def writes(account: OutlookAccount) -> list[tuple[str, str]]:
    """Every write sent to the mailbox (inside batches or not) since the log was cleared."""
    top = [(m, p) for m, p in account.graph.requests if m in WRITES and "$batch" not in p]
    return top + [(m, p) for m, p in account.graph.inner_requests if m in WRITES]


def lines_of(text: str) -> dict[str, str]:
    return {line.split(":", 1)[0]: line for line in text.splitlines() if ":" in line}


@pytest.fixture
def setup(tmp_path: Path, account: OutlookAccount) -> types.SimpleNamespace:
    """Ada's folder: Ann (Team and Family), Bob Stone (Team) and Cat (Family only); Bob's
    mailbox: 'Mine Self' (his own, in a category Team of his) and 'Own Ann' (Ann's email, in no
    category)."""
    source, other = tmp_path / "source", tmp_path / "other"
    source.mkdir()
    other.mkdir()
    ann = card(
        source,
        "Ann Lee",
        "EMAIL;TYPE=INTERNET:ann@acme.com\r\nTEL;TYPE=CELL:+3225550101\r\n"
        "CATEGORIES:Team,Family\r\n",
    )
    bobby = card(source, "Bob Stone", "EMAIL;TYPE=INTERNET:bob@acme.com\r\nCATEGORIES:Team\r\n")
    cat = card(source, "Cat Moss", "EMAIL;TYPE=INTERNET:cat@acme.com\r\nCATEGORIES:Family\r\n")
    graph = account.graph
    mine = graph.add_contact(
        graph.default_folder_id,
        outlook_contact("Mine", "Self", "mine@bob.org", categories=["Team"], jobTitle="Chef"),
    )
    own = graph.add_contact(
        graph.default_folder_id,
        outlook_contact("Own", "Ann", "ann@acme.com", mobilePhone="+3200000000"),
    )
    return types.SimpleNamespace(
        source=source, other=other, ann=ann, bob=bobby, cat=cat, mine=mine, own=own
    )


def share(cli: Cli, setup: types.SimpleNamespace, *destinations: str) -> str:
    code, text = cli(
        "share",
        "Team",
        "--source",
        f"vcard:{setup.source}",
        "--group",
        "Team",
        *[arg for spec in destinations for arg in ("--to", spec)],
    )
    assert code == 0, text
    return text


# -- the tests ----------------------------------------------------------------------------------


def test_a_vcard_group_is_copied_into_outlook_with_team_and_gsync1_only(cli, account, setup):
    before = {c["id"]: c for c in held(account)}
    text = share(cli, setup, account.spec())
    assert "Share job 'Team' created" in text and "2 copies made" in text, text
    ann, bobby = the(account, "Ann Lee"), the(account, "Bob Stone")
    for copy in (ann, bobby):
        assert categories(copy) == {"Team", "gSync1"}  # Family stays Ada's own
    assert emails(ann) == ["ann@acme.com"] and ann["mobilePhone"] == "+3225550101"
    assert emails(bobby) == ["bob@acme.com"]
    assert not named(account, "Cat Moss")
    assert len(held(account)) == 4  # the two copies and Bob's two own contacts
    # Bob's own contacts are exactly as they were: same changeKey, never written
    for contact_id, was in before.items():
        assert account.graph.contact(contact_id) == was
    assert the(account, "Own Ann")["mobilePhone"] == "+3200000000"  # same email, never paired
    [job] = cli.json("shares")
    assert job["reference_tag"] == "gSync1" and job["source"] == f"vcard:{setup.source}"
    assert [d["to"] for d in job["destinations"]] == [account.spec()]
    code, text = cli("health", DEST)
    assert code == 0 and "carries the category 'gSync1'" in text, text


@pytest.mark.usefixtures("both_load_modes")
def test_an_outlook_edit_to_a_copy_is_undone_and_source_edits_follow(cli, account, setup):
    share(cli, setup, account.spec())
    graph = account.graph
    copy = the(account, "Ann Lee")
    # Bob edits the phone, and moves the copy from Team to a category of his own
    graph.edit_contact(
        copy["id"], {"mobilePhone": "+3299999999", "categories": ["gSync1", "Private"]}
    )
    code, text = cli("sync", "Team")
    assert code == 0 and "1 updated" in text, text
    restored = the(account, "Ann Lee")
    assert restored["id"] == copy["id"] and restored["mobilePhone"] == "+3225550101"
    assert categories(restored) == {"Team", "gSync1", "Private"}  # his own category may stay
    edit(setup.ann, "TEL;TYPE=CELL:+3225550101", "TEL;TYPE=CELL:+3225550202")
    edit(setup.cat, "CATEGORIES:Family", "CATEGORIES:Family,Team")  # Cat joins Team
    code, text = cli("sync", "Team")
    assert code == 0 and "1 copies made, 1 updated" in text, text
    assert the(account, "Ann Lee")["mobilePhone"] == "+3225550202"
    assert categories(the(account, "Cat Moss")) == {"Team", "gSync1"}
    own = graph.contact(setup.own)
    assert own is not None and own["mobilePhone"] == "+3200000000"  # never paired, never touched
    assert len(held(account)) == 5


def test_the_owners_own_contact_in_team_is_never_changed(cli, account, setup):
    share(cli, setup, account.spec())
    account.graph.edit_contact(setup.mine, {"jobTitle": "Head chef"})
    before = account.graph.contact(setup.mine)
    account.graph.clear_requests()
    code, text = cli("sync", "Team")
    assert code == 0, text
    assert account.graph.contact(setup.mine) == before  # not written: same changeKey, same fields
    assert writes(account) == []
    data = cli.json("health", DEST)
    assert "Mine Self" not in {c["name"] for c in data["contacts"]}  # nothing of the job's


def test_a_contact_leaving_team_keeps_only_gsync1_and_piesync_trash_in_outlook(cli, account, setup):
    share(cli, setup, account.spec())
    edit(setup.bob, "CATEGORIES:Team", "CATEGORIES:Old")
    code, text = cli("sync", "Team")
    assert code == 0, text
    copy = the(account, "Bob Stone")
    assert categories(copy) == {"gSync1", TRASH_TAG}  # out of the group, kept for review
    assert emails(copy) == ["bob@acme.com"]
    [item] = cli.json("trash", DEST)
    assert item["name"] == "Bob Stone" and item["tagged"] and item["side"] == "b"


def test_removing_outlook_deletes_the_copies_and_takes_bobs_contact_out_of_team(
    cli, account, setup
):
    share(cli, setup, account.spec(), f"vcard:{setup.other}")
    own_before = account.graph.contact(setup.own)
    mine_before = account.graph.contact(setup.mine)
    assert own_before is not None and mine_before is not None
    code, text = cli("share-remove", "Team", "--to", account.spec(), "--yes")
    assert code == 0, text
    assert "These 2 contacts the job made there are deleted" in text, text
    assert "2 copies deleted, 1 of its own contacts left 'Team' and stayed" in text, text
    # on the mailbox: the copies are gone, Bob's contacts stay
    assert {c["displayName"] for c in held(account)} == {"Mine Self", "Own Ann"}
    mine = account.graph.contact(setup.mine)
    assert mine is not None and categories(mine) == set()  # no longer in Team, still there
    assert emails(mine) == ["mine@bob.org"] and mine["jobTitle"] == "Chef"
    assert account.graph.contact(setup.own) == own_before  # untouched: same changeKey
    # the other destination goes on
    assert len(list(setup.other.glob("*.vcf"))) == 2
    [job] = cli.json("shares")
    assert [d["to"] for d in job["destinations"]] == [f"vcard:{setup.other}"]
    code, text = cli("sync")
    assert code == 0, text
    assert {c["displayName"] for c in held(account)} == {"Mine Self", "Own Ann"}  # none back


def test_an_outlook_category_shared_into_a_vcard_folder(cli, account, tmp_path):
    graph = account.graph
    graph.add_contact(
        graph.default_folder_id,
        outlook_contact(
            "Ann", "Lee", "ann@acme.com", mobilePhone="+3225550101", categories=["Team", "Family"]
        ),
    )
    graph.add_contact(graph.default_folder_id, outlook_contact("Bob", "Stone", categories=["Team"]))
    graph.add_contact(
        graph.default_folder_id,
        outlook_contact("Cat", "Moss", "cat@acme.com", categories=["Family"]),
    )
    folder = tmp_path / "folder"
    folder.mkdir()
    own = card(folder, "Dee Own", "EMAIL:dee@own.org\r\nCATEGORIES:Team\r\n")
    own_text = read(own)
    before = held(account)
    graph.clear_requests()
    code, text = cli(
        "share", "Team", "--source", account.spec(), "--group", "Team", "--to", f"vcard:{folder}"
    )
    assert code == 0 and "2 copies made" in text, text
    copies = [read(p) for p in folder.glob("*.vcf") if p != own]
    assert len(copies) == 2
    for copy in copies:
        assert card_categories(copy) == {"Team", "gSync1"}
        assert "Family" not in copy
    [ann] = cards_named(folder, "Ann Lee")
    assert "ann@acme.com" in ann and "+3225550101" in ann
    assert cards_named(folder, "Bob Stone") and not cards_named(folder, "Cat Moss")
    assert read(own) == own_text  # the folder owner's card is not touched
    # one way: nothing written to the source mailbox
    assert writes(account) == [] and held(account) == before
    [job] = cli.json("shares")
    assert job["source"] == account.spec() and job["reference_tag"] == "gSync1"


def test_an_outlook_destination_answering_503_then_500_fails_alone(cli, account, setup):
    share(cli, setup, account.spec(), f"vcard:{setup.other}")
    graph = account.graph
    vcard_dest = f"Team → vCard folder '{setup.other.name}'"
    said = []
    phone = "+3225550101"
    for status, new in ((503, "+3225550303"), (500, "+3225550404")):
        edit(setup.ann, f"TEL;TYPE=CELL:{phone}", f"TEL;TYPE=CELL:{new}")
        phone = new
        graph.fail(status, times=None)  # Bob's mailbox is down, the folder is fine
        code, text = cli("sync")
        graph.clear_faults()
        assert code == 1, text
        lines = lines_of(text)
        outlook_line = lines[DEST]
        assert f"Outlook answered {status}" in outlook_line, text
        assert "the next run tries again" in outlook_line, text
        said.append(outlook_line)
        assert "1 updated" in lines[vcard_dest], text
        [ann] = cards_named(setup.other, "Ann Lee")
        assert f"TEL;TYPE=CELL:{phone}" in ann
        assert the(account, "Ann Lee")["mobilePhone"] == "+3225550101"  # not reached
    code, text = cli("sync")
    assert code == 0 and "1 updated" in lines_of(text)[DEST], text
    assert the(account, "Ann Lee")["mobilePhone"] == "+3225550404"
    assert categories(the(account, "Ann Lee")) == {"Team", "gSync1"}
    # the line reads as one clear sentence: Graph's own words are not followed by a second dot
    for line in said:
        assert ".." not in line, line
