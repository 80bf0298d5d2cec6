"""Whole syncs between a vCard folder and an Outlook contact folder (the Graph and identity
emulators), through the CLI as a person scripts it: the device-code sign-in, a folder chosen by
name, the first sync both ways, edits each way, categories with 'PieSync Trash', a deletion seen
through the delta, and throttling storms, 500s, dropped connections and an expired delta token in
the middle of a run."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import Cli
from helpers.outlook_account import OutlookAccount

from piesync_desktop.engine.connectors.vcard_codec import parse_card


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OutlookAccount]:
    mailbox = OutlookAccount(tmp_path / "outlook")
    for name, value in mailbox.env.items():
        monkeypatch.setenv(name, value)
    yield mailbox
    mailbox.close()
    assert mailbox.graph.internal_errors == []


def approve_when_asked(account: OutlookAccount) -> threading.Thread:
    """The person types the code the terminal shows on another device, and signs in."""

    def approve() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            codes = account.identity.pending_user_codes()
            if codes:
                account.identity.approve_device(codes[0])
                return
            time.sleep(0.02)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def cli(profile: Path, account: OutlookAccount) -> Cli:
    """The CLI, signed in through `signin outlook` with a device code."""
    run = Cli(profile)
    approve_when_asked(account)
    code, text = run("signin", "outlook")
    assert code == 0, text
    assert "enter the code" in text
    assert f"Signed in as {account.username}" in text
    return run


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "folder"
    path.mkdir()
    return path


def write(folder: Path, name: str, email: str, extra: str = "") -> Path:
    given, _, family = name.partition(" ")
    path = folder / f"{uuid.uuid4().hex}.vcf"
    path.write_text(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{path.stem}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        f"EMAIL;TYPE=INTERNET:{email}\r\n{extra}END:VCARD\r\n",
        encoding="utf-8",
        newline="",
    )
    return path


def contact(given: str, family: str, email: str, **extra: object) -> dict:
    return {
        "givenName": given,
        "surname": family,
        "displayName": f"{given} {family}",
        "emailAddresses": [{"name": email, "address": email}],
        **extra,
    }


def outlook_emails(account: OutlookAccount, folder_id: str | None = None) -> list[str]:
    stored = account.graph.contacts(folder_id or account.graph.default_folder_id)
    return sorted(e["address"].lower() for c in stored for e in c.get("emailAddresses", ()))


def folder_emails(folder: Path) -> list[str]:
    found = []
    for path in folder.glob("*.vcf"):
        found += [i.value for i in parse_card(path.read_text()).fields.get("emails", ())]  # type: ignore[union-attr]
    return sorted(found)


def connect(cli: Cli, folder: Path, outlook: str = "outlook:", *options: str) -> None:
    code, text = cli("connect", "c", "--a", f"vcard:{folder}", "--b", outlook, *options)
    assert code == 0, text


def test_the_sign_in_is_remembered_listed_and_forgotten(
    cli: Cli, account: OutlookAccount, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.json("accounts") == [
        {"app": "outlook", "account": account.username, "connections": []}
    ]
    code, text = cli("signout", "outlook", account.username)
    assert code == 0 and "Signed out" in text
    capsys.readouterr()
    code, _ = cli("connect", "c", "--a", f"vcard:{folder}", "--b", "outlook:")
    error = capsys.readouterr().err
    assert code != 0 and "Sign in again" in error and "Traceback" not in error, error


def test_first_sync_both_ways_then_edits_each_way(
    cli: Cli, folder: Path, account: OutlookAccount
) -> None:
    graph = account.graph
    ann = write(folder, "Ann Lee", "ann@example.org", extra="TITLE:CTO\r\n")
    bob = graph.add_contact(graph.default_folder_id, contact("Bob", "Stone", "bob@example.org"))
    graph.add_contact(graph.default_folder_id, contact("Ann", "Lee", "ANN@example.org"))
    connect(cli, folder)
    code, text = cli("sync", "c")
    assert code == 0, text
    assert folder_emails(folder) == ["ann@example.org", "bob@example.org"]
    assert len(graph.contacts(graph.default_folder_id)) == 2  # Ann paired, not made again
    assert cli.json("health", "c")["in_sync"] == 4
    ann.write_text(ann.read_text().replace("TITLE:CTO", "TITLE:CEO"), newline="")
    graph.edit_contact(bob, {"personalNotes": "Builds things"})
    code, text = cli("sync", "c")
    assert code == 0, text
    outlook_ann = next(
        c for c in graph.contacts(graph.default_folder_id) if c["givenName"] == "Ann"
    )
    assert outlook_ann["jobTitle"] == "CEO"
    [bob_file] = [p for p in folder.glob("*.vcf") if "Bob" in p.read_text()]
    assert parse_card(bob_file.read_text()).fields["notes"] == "Builds things"
    code, text = cli("sync", "c")
    assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text


def test_a_folder_chosen_by_name_is_the_only_one_synced(
    cli: Cli, folder: Path, account: OutlookAccount
) -> None:
    graph = account.graph
    family = graph.add_folder("Family")
    graph.add_contact(family, contact("Ann", "Lee", "ann@example.org"))
    graph.add_contact(graph.default_folder_id, contact("Bob", "Stone", "bob@example.org"))
    write(folder, "Cid Moss", "cid@example.org")
    connect(cli, folder, "outlook:Family")
    code, text = cli("sync", "c")
    assert code == 0, text
    assert folder_emails(folder) == ["ann@example.org", "cid@example.org"]
    assert outlook_emails(account, family) == ["ann@example.org", "cid@example.org"]
    assert outlook_emails(account) == ["bob@example.org"]  # the default folder untouched


def test_a_deletion_in_outlook_tags_the_folder_copy_and_categories_are_tags(
    cli: Cli, folder: Path, account: OutlookAccount
) -> None:
    gone = write(folder, "Ann Lee", "ann@example.org", extra="CATEGORIES:Friends\r\n")
    write(folder, "Bob Stone", "bob@example.org")
    connect(cli, folder, "outlook:", "--sync-deletions")
    assert cli("sync", "c")[0] == 0
    stored = account.graph.contacts(account.graph.default_folder_id)
    ann = next(c for c in stored if c["givenName"] == "Ann")
    bob = next(c for c in stored if c["givenName"] == "Bob")
    assert ann["categories"] == ["Friends"]
    account.graph.delete_contact(bob["id"])
    gone.unlink()
    code, text = cli("sync", "c")
    assert code == 0, text
    [bob_file] = list(folder.glob("*.vcf"))
    assert "PieSync Trash" in parse_card(bob_file.read_text()).tags
    [left] = account.graph.contacts(account.graph.default_folder_id)
    assert "PieSync Trash" in left["categories"]  # Ann's file went: tagged, never deleted


def test_an_etag_race_is_merged_by_the_next_run(
    cli: Cli, folder: Path, account: OutlookAccount
) -> None:
    graph = account.graph
    ann = write(folder, "Ann Lee", "ann@example.org")
    connect(cli, folder)
    assert cli("sync", "c")[0] == 0
    [outlook_ann] = graph.contacts(graph.default_folder_id)
    ann.write_text(ann.read_text().replace("END:VCARD", "TITLE:Ours\r\nEND:VCARD"), newline="")
    graph.before_write(
        lambda method, path: graph.edit_contact(outlook_ann["id"], {"personalNotes": "theirs"})
    )
    code, text = cli("sync", "c")
    assert code == 0, text
    assert cli.json("health", "c")["failing"] == 1
    code, text = cli("sync", "c")
    assert code == 0, text
    merged = graph.contact(outlook_ann["id"]) or {}
    assert merged["jobTitle"] == "Ours"
    assert merged["personalNotes"] == "theirs"
    assert parse_card(ann.read_text()).fields["notes"] == "theirs"
    assert cli.json("health", "c")["failing"] == 0


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (
            lambda g: g.throttle(times=None, retry_after=0, inside_batch=True, after=25),
            "asked us to slow down",
        ),
        (lambda g: g.fail(500, times=None, path_contains="$batch", after=1), "answered 500"),
        (lambda g: g.drop(times=None, path_contains="$batch", after=1, when="after"), "broke off"),
        (lambda g: g.expire_delta_tokens(), ""),
    ],
    ids=["throttling-storm", "500s", "dropped-after-write", "delta-token-expired"],
)
def test_a_run_broken_off_by_outlook_loses_nothing_and_duplicates_nothing(
    cli: Cli, folder: Path, account: OutlookAccount, fault, says: str
) -> None:
    for number in range(50):
        write(folder, f"Person {number:02}", f"p{number:02}@example.org")
    connect(cli, folder)
    if not says:
        assert cli("sync", "c")[0] == 0  # a first sync, so there is a token to expire
        for number in range(50, 55):
            write(folder, f"Person {number:02}", f"p{number:02}@example.org")
        fault(account.graph)
        code, text = cli("sync", "c")
        assert code == 0, text  # an expired token is listed again, not a failure
    else:
        fault(account.graph)
        code, text = cli("sync", "c")
        assert code == 1 and says in text and "Traceback" not in text, text
        account.graph.clear_faults()
        code, text = cli("sync", "c")
        assert code == 0, text
    expected = sorted(f"p{n:02}@example.org" for n in range(len(list(folder.glob("*.vcf")))))
    assert outlook_emails(account) == expected  # each once: nothing lost, nothing twice
    assert folder_emails(folder) == expected
    health = cli.json("health", "c")
    assert health["failing"] == 0
    assert health["in_sync"] == 2 * len(expected)
    code, text = cli("sync", "c")
    assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text, text


def test_a_contact_outlook_refuses_fails_alone_with_a_reason_in_health(
    cli: Cli, folder: Path, account: OutlookAccount
) -> None:
    for number in range(3):
        write(folder, f"Person {number}", f"p{number}@example.org")
    connect(cli, folder)
    account.graph.fail(400, times=1, inside_batch=True, message="Property jobTitle is too long")
    code, text = cli("sync", "c")
    assert code == 0, text
    health = cli.json("health", "c")
    assert health["failing"] == 1
    assert len(account.graph.contacts(account.graph.default_folder_id)) == 2
    failures = json.dumps(cli.json("health", "c")["failure_reasons"])
    assert "too long" in failures
    code, text = cli("sync", "c")  # the refusal was once: the next run creates it
    assert code == 0, text
    assert len(account.graph.contacts(account.graph.default_folder_id)) == 3
