"""Share jobs between Google accounts end to end, through the CLI (issue 8).

Ada shares her label 'Team' with Bob's and Cy's Google Contacts: three accounts signed in on the
OAuth emulator, each with its own People API state behind the one API address. What is checked
is what each account holds on the emulator itself, not what our connector reads back: the
label's contacts copied with the labels Team and gSync1, kept as the source has them, the
destination owner's own contacts never touched, a removed destination left with its own contacts
and without the job's labels, and one account that fails not stopping the others.
"""

from __future__ import annotations

import re
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import Cli
from helpers.google_accounts import GoogleAccounts

from piesync_desktop.engine.connectors.google import connector as google_connector
from piesync_desktop.engine.connectors.google.oauth import save_sign_in
from piesync_desktop.engine.model import TRASH_TAG
from piesync_desktop.engine.store import Store

ADA, BOB, CY = "ada@example.com", "bob@example.com", "cy@example.com"
MY_CONTACTS = "contactGroups/myContacts"


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GoogleAccounts, list]]:
    """Ada, Bob and Cy signed in once for the module (their tokens kept aside, not saved: each
    test has a keyring of its own)."""
    accounts = GoogleAccounts(tmp_path_factory.mktemp("google"), [ADA, BOB, CY])
    tokens = [accounts.sign_in(email, save=False) for email in (ADA, BOB, CY)]
    yield accounts, tokens
    accounts.close()


@pytest.fixture
def google(
    signed_in: tuple[GoogleAccounts, list], memory_keyring, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GoogleAccounts]:
    """Ada (the source), Bob and Cy, signed in, their accounts empty; Google's backoff in
    milliseconds."""
    accounts, tokens = signed_in
    accounts.reset()
    for each in tokens:
        save_sign_in(each)
    for name, value in accounts.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(google_connector, "BACKOFF_SECONDS", 0.01)
    yield accounts
    assert accounts.internal_errors() == []


@pytest.fixture
def cli(profile: Path, google: GoogleAccounts) -> Cli:
    return Cli(profile)


def person(name: str, email: str = "", phone: str = "", groups: tuple[str, ...] = ()) -> dict:
    given, _, family = name.partition(" ")
    data: dict[str, Any] = {"names": [{"givenName": given, "familyName": family}]}
    if email:
        data["emailAddresses"] = [{"value": email, "type": "work"}]
    if phone:
        data["phoneNumbers"] = [{"value": phone, "type": "mobile"}]
    if groups:
        data["memberships"] = [
            {"contactGroupMembership": {"contactGroupResourceName": g}} for g in groups
        ]
    return data


@pytest.fixture
def people(google: GoogleAccounts) -> types.SimpleNamespace:
    """Ada's Team (Ann, with Family too, and Bob without an email) and Family (Cat); Bob's own
    'Own Ann' (Ann's email, in no label) and 'Mine Self' (Ann's email too, in a label Team of
    his own)."""
    ada, bob = google.api[ADA], google.api[BOB]
    team, family = ada.add_group("Team"), ada.add_group("Family")
    ann = ada.add_person(person("Ann Lee", "ann@acme.com", "+3225550101", (team, family)))
    bobby = ada.add_person(person("Bob Stone", groups=(team,)))
    cat = ada.add_person(person("Cat Moss", "cat@acme.com", groups=(family,)))
    bob_team = bob.add_group("Team")
    own = bob.add_person(person("Own Ann", "ann@acme.com", "+3200000000"))
    mine = bob.add_person(person("Mine Self", "ann@acme.com", groups=(bob_team,)))
    return types.SimpleNamespace(
        team=team, family=family, ann=ann, bob=bobby, cat=cat, own=own, mine=mine
    )


# -- what an account holds, read on the emulator ---------------------------------------------


def display(p: dict) -> str:
    return p["names"][0]["displayName"] if p.get("names") else ""


def named(google: GoogleAccounts, email: str, name: str) -> list[dict]:
    return [p for p in google.api[email].persons() if display(p) == name]


def the(google: GoogleAccounts, email: str, name: str) -> dict:
    [found] = named(google, email, name)
    return found


def labels(google: GoogleAccounts, email: str, p: dict) -> set[str]:
    """The names of a contact's groups there, 'myContacts' included."""
    names = {g["resourceName"]: g["name"] for g in google.api[email].groups()}
    return {
        names[m["contactGroupMembership"]["contactGroupResourceName"]]
        for m in p.get("memberships", ())
        if "contactGroupMembership" in m
    }


def label_names(google: GoogleAccounts, email: str) -> set[str]:
    return {g["name"] for g in google.api[email].groups() if g["groupType"] == "USER_CONTACT_GROUP"}


def delete_label(api: Any, resource: str) -> None:
    """contactGroups.delete as the person's other client calls it (the contacts stay)."""
    api._delete_group({"deleteContacts": ["false"]}, b"", {"id": resource.split("/", 1)[1]})


def phones(p: dict) -> list[str]:
    return [item["value"] for item in p.get("phoneNumbers", ())]


def emails(p: dict) -> list[str]:
    return [item["value"] for item in p.get("emailAddresses", ())]


def share(cli: Cli, *destinations: str) -> str:
    code, text = cli(
        "share",
        "Team",
        "--source",
        f"google:@{ADA}",
        "--group",
        "Team",
        *[arg for spec in destinations for arg in ("--to", spec)],
    )
    assert code == 0, text
    return text


def dest(email: str) -> str:
    """The name of a destination's connection: the job, the app and the account."""
    return f"Team → Google Contacts '{email}'"


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # as written: CRLF line ends kept


def categories(text: str) -> set[str]:
    found = re.search(r"\nCATEGORIES:([^\r\n]*)\r?\n", text)
    return set(found.group(1).split(",")) if found else set()


def lines_of(text: str) -> dict[str, str]:
    return {line.split(":", 1)[0]: line for line in text.splitlines() if ":" in line}


# -- the tests -----------------------------------------------------------------------------------


def test_a_new_job_copies_the_label_with_team_and_gsync1_into_each_account(cli, google, people):
    bob_before = {p["resourceName"]: p for p in google.api[BOB].persons()}
    text = share(cli, f"google:@{BOB}", f"google:@{CY}")
    assert "Share job 'Team' created" in text and text.count("2 copies made") == 2, text
    for email in (BOB, CY):
        ann, bobby = the(google, email, "Ann Lee"), the(google, email, "Bob Stone")
        for copy in (ann, bobby):
            # on the account itself: in its contacts, in Team and in gSync1, in no other label
            assert labels(google, email, copy) == {"myContacts", "Team", "gSync1"}
            assert copy["resourceName"] in google.api[email].members(MY_CONTACTS)
        assert emails(ann) == ["ann@acme.com"] and phones(ann) == ["+3225550101"]
        assert not named(google, email, "Cat Moss")  # Family is Ada's own
        assert "Family" not in label_names(google, email)
    assert label_names(google, CY) == {"Team", "gSync1"}
    assert label_names(google, BOB) == {"Team", "gSync1"}  # Bob's own Team is the one used
    # Bob's own contacts are exactly as they were (same etag: not written at all)
    for name, before in bob_before.items():
        assert google.api[BOB].person(name) == before
    assert len(google.api[BOB].persons()) == 4 and len(google.api[CY].persons()) == 2
    assert len(google.api[ADA].persons()) == 3  # one way: nothing written to the source
    [job] = cli.json("shares")
    assert job["reference_tag"] == "gSync1" and job["source"] == f"google:@{ADA}"
    assert [d["to"] for d in job["destinations"]] == [f"google:@{BOB}", f"google:@{CY}"]


@pytest.mark.usefixtures("both_load_modes")
def test_destination_edits_are_overwritten_and_source_edits_follow(cli, google, people):
    share(cli, f"google:@{BOB}")
    bob = google.api[BOB]
    copy = the(google, BOB, "Ann Lee")
    groups = {g.get("name"): g["resourceName"] for g in bob.groups()}
    private = bob.add_group("Private")
    bob.edit_person(  # Bob edits the phone, and moves the copy from Team to a label of his
        copy["resourceName"],
        {
            "phoneNumbers": [{"value": "+3299999999"}],
            "memberships": [
                {"contactGroupMembership": {"contactGroupResourceName": g}}
                for g in (MY_CONTACTS, groups["gSync1"], private)
            ],
        },
    )
    code, text = cli("sync", "Team")
    assert code == 0 and "1 updated" in text, text
    restored = the(google, BOB, "Ann Lee")
    assert phones(restored) == ["+3225550101"]
    assert labels(google, BOB, restored) == {"myContacts", "Team", "gSync1", "Private"}
    ada = google.api[ADA]
    ada.edit_person(people.ann, {"phoneNumbers": [{"value": "+3225550202", "type": "mobile"}]})
    ada.edit_person(  # Cat joins Team
        people.cat,
        {
            "memberships": [
                {"contactGroupMembership": {"contactGroupResourceName": g}}
                for g in (MY_CONTACTS, people.family, people.team)
            ]
        },
    )
    code, text = cli("sync", "Team")
    assert code == 0 and "1 copies made, 1 updated" in text, text
    assert phones(the(google, BOB, "Ann Lee")) == ["+3225550202"]
    assert labels(google, BOB, the(google, BOB, "Cat Moss")) == {"myContacts", "Team", "gSync1"}
    own = google.api[BOB].person(people.own)
    assert own is not None and phones(own) == ["+3200000000"]  # same email, never paired


def test_the_owners_own_contact_in_team_is_never_changed(cli, google, people):
    share(cli, f"google:@{BOB}")
    bob = google.api[BOB]
    bob.edit_person(people.mine, {"organizations": [{"name": "Chef & Co"}]})
    before = bob.person(people.mine)
    code, text = cli("sync", "Team")
    assert code == 0, text
    assert bob.person(people.mine) == before  # not written: same etag, same fields
    assert labels(google, BOB, before) == {"myContacts", "Team"}
    data = cli.json("health", dest(BOB))
    assert "Mine Self" not in {c["name"] for c in data["contacts"]}  # nothing of the job's


def test_a_contact_taken_out_of_the_label_leaves_it_in_the_destination_too(cli, google, people):
    share(cli, f"google:@{BOB}")
    google.api[ADA].edit_person(
        people.bob,
        {"memberships": [{"contactGroupMembership": {"contactGroupResourceName": MY_CONTACTS}}]},
    )
    code, text = cli("sync", "Team")
    assert code == 0, text
    copy = the(google, BOB, "Bob Stone")
    assert labels(google, BOB, copy) == {"myContacts", "gSync1", TRASH_TAG}


def test_a_destination_added_later_is_synced_at_once(cli, google, people):
    share(cli, f"google:@{BOB}")
    assert google.api[CY].persons() == []
    code, text = cli("share", "Team", "--to", f"google:@{CY}")
    assert code == 0, text
    assert "Share job 'Team' changed" in text and "2 copies made" in text, text
    for name in ("Ann Lee", "Bob Stone"):
        assert labels(google, CY, the(google, CY, name)) == {"myContacts", "Team", "gSync1"}


def test_another_label_of_the_source_or_of_a_destination_account_is_refused(
    cli, google, people, capsys
):
    share(cli, f"google:@{BOB}")
    before = {email: len(google.api[email].persons()) for email in (ADA, BOB)}
    # Its copies would be in 'Team' of Ada's account, and shared again at the next run.
    code, _ = cli("share", "Team", "--to", f"google:Family@{ADA}")
    assert code == 2 and "account of the job's source" in capsys.readouterr().err
    # Two sets of copies in Bob's account would each take the other's for its own.
    code, _ = cli("share", "Team", "--to", f"google:Team@{BOB}")
    assert code == 2 and "already a destination of 'Team' in that account" in (
        capsys.readouterr().err
    )
    assert {email: len(google.api[email].persons()) for email in (ADA, BOB)} == before
    assert len(cli.json("shares")[0]["destinations"]) == 1


def test_removing_a_destination_deletes_the_copies_and_the_labels_and_keeps_the_own_contact(
    cli, google, people
):
    share(cli, f"google:@{BOB}", f"google:@{CY}")
    bob = google.api[BOB]
    bob.clear_requests()
    code, text = cli("share-remove", "Team", "--to", f"google:@{BOB}", "--yes")
    assert code == 0, text
    assert "2 copies deleted, 1 of its own contacts left 'Team' and stayed" in text, text
    left = {display(p) for p in bob.persons()}
    assert left == {"Own Ann", "Mine Self"}  # the copies are gone, the owner's contacts stay
    mine = bob.person(people.mine)
    assert mine is not None and emails(mine) == ["ann@acme.com"]
    assert labels(google, BOB, mine) == {"myContacts"}  # in his contacts, no longer in Team
    assert label_names(google, BOB) == set()  # Team and gSync1 are gone from the account
    deleted = [path for method, path in bob.requests if method == "DELETE"]
    assert sum(path.startswith("/v1/contactGroups/") for path in deleted) == 2, bob.requests
    # the other destination goes on as it was
    assert {display(p) for p in google.api[CY].persons()} == {"Ann Lee", "Bob Stone"}
    assert label_names(google, CY) == {"Team", "gSync1"}
    [job] = cli.json("shares")
    assert [d["to"] for d in job["destinations"]] == [f"google:@{CY}"]
    code, text = cli("sync")
    assert code == 0, text
    assert {display(p) for p in bob.persons()} == {"Own Ann", "Mine Self"}  # nothing comes back


def test_an_account_google_fails_fails_alone_with_a_clear_line(cli, google, people):
    share(cli, f"google:@{BOB}", f"google:@{CY}")
    google.api[ADA].edit_person(
        people.ann, {"phoneNumbers": [{"value": "+3225550404", "type": "mobile"}]}
    )
    google.api[BOB].fail(500, times=None)  # Bob's account is down, Cy's is fine
    code, text = cli("sync")
    assert code == 1, text
    lines = lines_of(text)
    bob_line = lines[dest(BOB)]
    assert "Google answered 500" in bob_line and "the next run tries again" in bob_line, text
    assert "1 updated" in lines[dest(CY)], text
    assert phones(the(google, CY, "Ann Lee")) == ["+3225550404"]
    google.api[BOB].clear_faults()
    code, text = cli("sync")
    assert code == 0 and phones(the(google, BOB, "Ann Lee")) == ["+3225550404"], text


def test_a_revoked_account_fails_alone_and_says_to_sign_in_again(cli, google, people):
    share(cli, f"google:@{BOB}", f"google:@{CY}")
    google.api[ADA].edit_person(
        people.ann, {"phoneNumbers": [{"value": "+3225550505", "type": "mobile"}]}
    )
    google.revoke(CY)
    code, text = cli("sync", "Team")
    assert code == 1, text
    lines = lines_of(text)
    cy_line = lines[dest(CY)]
    assert CY in cy_line and "Sign in again" in cy_line, text
    assert "1 updated" in lines[dest(BOB)], text
    assert phones(the(google, BOB, "Ann Lee")) == ["+3225550505"]
    assert phones(the(google, CY, "Ann Lee")) == ["+3225550101"]


def test_a_google_label_shared_into_a_vcard_folder(cli, google, people, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    own = folder / f"{uuid.uuid4().hex}.vcf"
    own_text = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:own-1\r\nFN:Dee Own\r\nN:Own;Dee;;;\r\n"
        "EMAIL:dee@own.org\r\nCATEGORIES:Team\r\nEND:VCARD\r\n"
    )
    own.write_text(own_text, encoding="utf-8", newline="")
    text = share(cli, f"vcard:{folder}")
    assert "2 copies made" in text, text
    cards = {p.name: read(p) for p in folder.glob("*.vcf")}
    copies = [t for name, t in cards.items() if name != own.name]
    assert len(copies) == 2
    for card in copies:
        assert categories(card) == {"Team", "gSync1"}
        assert "Family" not in card and "Cat Moss" not in card
    [ann] = [t for t in copies if "FN:Ann Lee" in t]
    assert "ann@acme.com" in ann and "+3225550101" in ann
    assert read(own) == own_text
    code, text = cli("share-remove", "Team", "--to", f"vcard:{folder}", "--yes")
    assert code == 0, text
    assert "2 copies deleted, 1 of its own contacts left 'Team' and stayed" in text, text
    [left] = list(folder.glob("*.vcf"))
    kept = read(left)
    assert left == own and "dee@own.org" in kept and "CATEGORIES" not in kept
    assert len(google.api[ADA].persons()) == 3 and label_names(google, ADA) == {"Team", "Family"}


def test_a_removal_google_stops_half_way_is_finished_by_removing_again(
    cli, google, people, profile, capsys
):
    share(cli, f"google:@{BOB}")
    bob = google.api[BOB]
    bob.fail(500, times=None, method="DELETE", after=1)  # one copy goes, then Google is down
    code, first = cli("share-remove", "Team", "--to", f"google:@{BOB}", "--yes")
    assert code == 1
    first += capsys.readouterr().err
    assert "Google answered 500" in first
    assert len([p for p in bob.persons() if labels(google, BOB, p) >= {"gSync1"}]) == 1
    [job] = cli.json("shares")
    [destination] = job["destinations"]
    assert destination["paused"]  # still in the job, paused: no run makes copies meanwhile
    bob.clear_faults()
    code, text = cli("share-remove", "Team", "--to", f"google:@{BOB}", "--yes")
    assert code == 0, text
    assert {display(p) for p in bob.persons()} == {"Own Ann", "Mine Self"}
    assert label_names(google, BOB) == set()
    with Store(profile / "piesync.sqlite3") as store:
        events = store.share_events(store.share_job("Team").id or 0)
    # the job's timeline tells of both copies deleted, the one of the first go included
    deleted = sorted(e.name for e in events if e.action.startswith("deleted"))
    assert deleted == ["Ann Lee", "Bob Stone"], [(e.action, e.name) for e in events]
    # and the first go said, as a refusal does, that the removal is to be run again
    assert "run share-remove again" in first, first


def test_a_destination_label_of_other_letters_is_the_group_there(cli, google, people):
    cy = google.api[CY]
    theirs = cy.add_group("team")  # Cy's own label, in small letters
    cy.add_person(person("Cy Own", "cy@own.org", groups=(theirs,)))
    text = share(cli, f"google:@{CY}")
    assert "2 copies made" in text and "0 failing" in text, text
    for name in ("Ann Lee", "Bob Stone"):
        assert labels(google, CY, the(google, CY, name)) == {"myContacts", "team", "gSync1"}


def test_the_owner_deleting_the_label_team_gets_it_made_again(cli, google, people):
    share(cli, f"google:@{CY}")
    cy = google.api[CY]
    [team] = [g["resourceName"] for g in cy.groups() if g.get("name") == "Team"]
    delete_label(cy, team)  # Cy deletes the label in Google Contacts, keeping its contacts
    assert label_names(google, CY) == {"gSync1"}
    code, text = cli("sync", "Team")
    failing = [
        c["reason"] for c in cli.json("health", dest(CY))["contacts"] if c["state"] == "failing"
    ]
    assert code == 0 and "2 updated" in text and "0 failing" in text, (text, failing)
    for name in ("Ann Lee", "Bob Stone"):
        assert labels(google, CY, the(google, CY, name)) == {"myContacts", "Team", "gSync1"}
