"""Whole syncs between a vCard folder and Google Contacts (the People API and OAuth emulators),
through the CLI as a person scripts it: sign-in, first sync, edits each way, groups as tags with
'PieSync Trash', a deletion seen through the sync token, an etag race, custom fields, and quota,
500s, dropped connections and an expired sync token in the middle of a run."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers.cli import Cli
from helpers.google_account import GoogleAccount

from piesync_desktop.engine.connection_setup import (
    SideChoice,
    build_settings,
    check_new_mapping,
    default_setup,
    save_new_connection,
    validate_new_connection,
)
from piesync_desktop.engine.connectors.vcard_codec import parse_card
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleAccount]:
    google = GoogleAccount(tmp_path / "google")
    for name, value in google.env.items():
        monkeypatch.setenv(name, value)
    yield google
    google.close()
    assert google.api.internal_errors == []


@pytest.fixture
def cli(profile: Path, account: GoogleAccount, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI, signed in to the account through `signin google`, the test playing the browser."""
    run = Cli(profile)
    monkeypatch.setattr("webbrowser.open", browser_for(account))
    code, text = run("signin", "google")
    assert code == 0, text
    assert f"Signed in as {account.email}" in text
    return run


def browser_for(account: GoogleAccount):
    """What the system browser does: consent at Google, then follow it back to the loopback."""
    import ssl

    def open_url(url: str) -> bool:
        def visit() -> None:
            context = ssl.create_default_context(cafile=str(account.ca_file))
            with httpx.Client(verify=context) as browser:
                consent = browser.get(url, follow_redirects=False)
            httpx.get(consent.headers["location"])

        threading.Thread(target=visit, daemon=True).start()
        return True

    return open_url


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


def person(given: str, family: str, email: str, **extra: object) -> dict:
    return {
        "names": [{"givenName": given, "familyName": family}],
        "emailAddresses": [{"value": email}],
        **extra,
    }


def google_emails(account: GoogleAccount) -> list[str]:
    return sorted(e["value"] for p in account.api.persons() for e in p.get("emailAddresses", ()))


def folder_emails(folder: Path) -> list[str]:
    found = []
    for path in folder.glob("*.vcf"):
        found += [i.value for i in parse_card(path.read_text()).fields.get("emails", ())]  # type: ignore[union-attr]
    return sorted(found)


def connect(cli: Cli, folder: Path, *options: str) -> None:
    code, text = cli("connect", "c", "--a", f"vcard:{folder}", "--b", "google:", *options)
    assert code == 0, text


def test_sign_in_is_remembered_and_listed(cli: Cli, account: GoogleAccount) -> None:
    code, text = cli("accounts", "--json")
    assert code == 0
    assert json.loads(text) == [{"app": "google", "account": account.email, "connections": []}]


def test_first_sync_both_ways_then_edits_each_way(
    cli: Cli, folder: Path, account: GoogleAccount
) -> None:
    ann = write(folder, "Ann Lee", "ann@example.org", extra="TITLE:CTO\r\n")
    bob = account.api.add_person(person("Bob", "Stone", "bob@example.org"))
    account.api.add_person(person("Ann", "Lee", "ANN@example.org"))  # the same person
    connect(cli, folder)
    code, text = cli("sync", "c")
    assert code == 0, text
    assert folder_emails(folder) == ["ann@example.org", "bob@example.org"]
    assert len(account.api.persons()) == 2  # Ann was paired, not made again
    assert cli.json("health", "c")["in_sync"] == 4
    # An edit each way.
    ann.write_text(ann.read_text().replace("TITLE:CTO", "TITLE:CEO"), newline="")
    account.api.edit_person(bob, {"biographies": [{"value": "Builds things"}]})
    code, text = cli("sync", "c")
    assert code == 0, text
    ann_google = next(p for p in account.api.persons() if "ANN" in json.dumps(p).upper())
    assert ann_google["organizations"][0]["title"] == "CEO"
    [bob_file] = [p for p in folder.glob("*.vcf") if "Bob" in p.read_text()]
    assert parse_card(bob_file.read_text()).fields["notes"] == "Builds things"
    code, text = cli("sync", "c")
    assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text


def test_a_deletion_seen_through_the_sync_token_tags_the_folder_copy(
    cli: Cli, folder: Path, account: GoogleAccount
) -> None:
    gone = write(folder, "Ann Lee", "ann@example.org")
    write(folder, "Bob Stone", "bob@example.org")
    connect(cli, folder, "--sync-deletions")
    assert cli("sync", "c")[0] == 0
    bob = next(p for p in account.api.persons() if "bob@" in json.dumps(p))
    account.api.delete_person(bob["resourceName"])
    gone.unlink()
    code, text = cli("sync", "c")
    assert code == 0, text
    [bob_file] = [p for p in folder.glob("*.vcf")]
    assert "PieSync Trash" in parse_card(bob_file.read_text()).tags
    [trash] = [g for g in account.api.groups() if g.get("name") == "PieSync Trash"]
    [ann] = [p for p in account.api.persons() if "ann@" in json.dumps(p)]
    assert account.api.members(trash["resourceName"]) == [ann["resourceName"]]
    assert len(account.api.persons()) == 1  # nothing deleted on our side


def test_an_etag_race_is_merged_by_the_next_run(
    cli: Cli, folder: Path, account: GoogleAccount
) -> None:
    ann = write(folder, "Ann Lee", "ann@example.org")
    connect(cli, folder)
    assert cli("sync", "c")[0] == 0
    [google_ann] = account.api.persons()
    ann.write_text(ann.read_text().replace("END:VCARD", "TITLE:Ours\r\nEND:VCARD"), newline="")
    account.api.before_write(
        lambda method, path: account.api.edit_person(
            google_ann["resourceName"], {"biographies": [{"value": "theirs"}]}
        )
    )
    code, text = cli("sync", "c")
    assert code == 0, text
    assert cli.json("health", "c")["failing"] == 1
    code, text = cli("sync", "c")
    assert code == 0, text
    merged = account.api.person(google_ann["resourceName"]) or {}
    assert merged["organizations"][0]["title"] == "Ours"
    assert merged["biographies"][0]["value"] == "theirs"
    assert parse_card(ann.read_text()).fields["notes"] == "theirs"
    assert cli.json("health", "c")["failing"] == 0


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (
            lambda api: api.quota(times=None, path_contains="batchCreateContacts", after=1),
            "asked us to slow down",
        ),
        (
            lambda api: api.fail(500, times=None, path_contains="batchCreateContacts", after=1),
            "Google answered 500",
        ),
        (
            lambda api: api.drop(
                times=None, path_contains="batchCreateContacts", after=1, when="after"
            ),
            "broke off",
        ),
        (lambda api: api.expire_sync_tokens(), ""),
    ],
    ids=["quota-storm", "500s", "dropped-after-write", "sync-token-expired"],
)
def test_a_run_broken_off_by_google_loses_nothing_and_duplicates_nothing(
    cli: Cli,
    folder: Path,
    account: GoogleAccount,
    fault,
    says: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from piesync_desktop.engine.connectors.google import connector as google_connector

    monkeypatch.setattr(google_connector, "BATCH", 10)  # three batches for 25 contacts
    for number in range(25):
        write(folder, f"Person {number:02}", f"p{number:02}@example.org")
    connect(cli, folder)
    if not says:
        assert cli("sync", "c")[0] == 0  # a first sync, so there is a token to expire
        for number in range(25, 30):
            write(folder, f"Person {number:02}", f"p{number:02}@example.org")
        fault(account.api)
        code, text = cli("sync", "c")
        assert code == 0, text  # an expired token is listed again, not a failure
    else:
        fault(account.api)
        code, text = cli("sync", "c")
        assert code == 1 and says in text and "Traceback" not in text, text
        account.api.clear_faults()
        code, text = cli("sync", "c")
        assert code == 0, text
    expected = sorted(f"p{n:02}@example.org" for n in range(len(list(folder.glob("*.vcf")))))
    assert google_emails(account) == expected  # each once: nothing lost, nothing twice
    assert folder_emails(folder) == expected
    assert cli.json("health", "c")["failing"] == 0


def test_a_custom_mapping_fills_a_google_custom_field(
    folder: Path, account: GoogleAccount, store: Store, locks: AccountLocks
) -> None:
    account.sign_in()
    write(folder, "Ann Lee", "ann@example.org", extra="TITLE:Drummer\r\n")
    account.api.add_person(
        person("Zed", "Key", "zed@example.org", userDefined=[{"key": "Role", "value": "Bass"}])
    )
    a_spec, b_spec = f"vcard:{folder}", account.spec
    a, b = validate_new_connection(a_spec, b_spec)
    mappings, rules = default_setup(a, b)
    mappings = [m for m in mappings if m.a_field != "title"]
    mappings.append(check_new_mapping(mappings, a.schema(), b.schema(), "title", "custom:Role"))
    a_side, b_side = SideChoice.of(a_spec, a), SideChoice.of(b_spec, b)
    settings = build_settings("c", a_side, b_side, mappings=mappings, rules=rules)
    save_new_connection(store, settings, a_side, b_side)
    settings = store.connection("c")
    run_sync(store, settings, {"a": a, "b": b}, locks)
    ann = next(p for p in account.api.persons() if "ann@" in json.dumps(p))
    assert {(e["key"], e["value"]) for e in ann["userDefined"]} == {("Role", "Drummer")}
    [zed] = [p for p in folder.glob("*.vcf") if "Zed" in p.read_text()]
    assert parse_card(zed.read_text()).fields["title"] == "Bass"
