"""HubSpot through the CLI as a person scripts it: the token given to `signin hubspot` or to
`connect` (from PIESYNC_HUBSPOT_TOKEN), kept in the keyring under its portal, `hubspot:` and
`hubspot:LIST` with the portal filled in, a sync both ways, and signing out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cli import Cli
from helpers.hubspot_account import HubSpotAccount

from piesync_desktop.engine.connectors.hubspot.settings import TOKEN
from piesync_desktop.engine.connectors.vcard_codec import parse_card


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotAccount]:
    portal = HubSpotAccount(tmp_path / "hubspot")
    portal.wait_on_emulator_clock(monkeypatch)
    for name, value in portal.env.items():
        monkeypatch.setenv(name, value)
    yield portal
    portal.close()
    assert portal.api.internal_errors == []


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "folder"
    path.mkdir()
    return path


def write(folder: Path, name: str, email: str) -> Path:
    given, _, family = name.partition(" ")
    path = folder / f"{uuid.uuid4().hex}.vcf"
    path.write_text(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{path.stem}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        f"EMAIL;TYPE=INTERNET:{email}\r\nEND:VCARD\r\n",
        encoding="utf-8",
        newline="",
    )
    return path


def test_signin_keeps_the_token_under_its_portal_and_signout_forgets_it(
    profile: Path, account: HubSpotAccount, memory_keyring
) -> None:
    cli = Cli(profile)
    code, text = cli("signin", "hubspot")
    assert code == 0, text
    assert f"portal {account.portal}" in text and f"hubspot:@{account.portal}" in text
    entry = (f"piesync-desktop:hubspot:{account.portal}", TOKEN)
    assert memory_keyring.secrets[entry] == account.token
    assert cli.json("accounts") == [
        {"app": "hubspot", "account": str(account.portal), "connections": []}
    ]
    code, text = cli("signout", "hubspot", str(account.portal))
    assert code == 0 and "no longer holds its token" in text
    assert entry not in memory_keyring.secrets


def test_a_refused_token_is_one_sentence_and_kept_nowhere(
    profile: Path,
    account: HubSpotAccount,
    memory_keyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PIESYNC_HUBSPOT_TOKEN", "pat-na1-not-a-token")
    code, _ = Cli(profile)("signin", "hubspot")
    error = capsys.readouterr().err
    assert code != 0 and "private" in error.lower() and "Traceback" not in error, error
    assert memory_keyring.secrets == {}


def test_connect_takes_the_token_then_syncs_a_list_both_ways(
    profile: Path, account: HubSpotAccount, folder: Path
) -> None:
    vip = account.api.add_list("VIP")
    bob = account.api.add_contact(
        {"firstname": "Bob", "lastname": "Stone", "email": "bob@example.org"}
    )
    account.api.add_contact({"firstname": "Cy", "lastname": "Young", "email": "cy@example.org"})
    account.api.add_members(vip, [bob])
    write(folder, "Ann Lee", "ann@example.org")
    cli = Cli(profile)
    code, text = cli("connect", "vip", "--a", f"vcard:{folder}", "--b", "hubspot:VIP")
    assert code == 0, text
    assert f"hubspot:VIP@{account.portal}" in text
    code, text = cli("sync", "vip")
    assert code == 0, text
    emails = sorted(
        str(i.value)
        for path in folder.glob("*.vcf")
        for i in parse_card(path.read_text()).fields.get("emails", ())  # type: ignore[union-attr]
    )
    assert emails == ["ann@example.org", "bob@example.org"]  # Cy is not in the list
    members = {
        (account.api.contact(cid) or {})["properties"]["email"] for cid in account.api.members(vip)
    }
    assert members == {"ann@example.org", "bob@example.org"}
    code, text = cli("sync", "vip")
    assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text, text


def test_connect_after_signout_asks_for_the_token_again(
    profile: Path,
    account: HubSpotAccount,
    folder: Path,
    memory_keyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli = Cli(profile)
    assert cli("signin", "hubspot")[0] == 0
    assert cli("signout", "hubspot", str(account.portal))[0] == 0
    # The portal is still known, its token is not: connect takes one as a first connect does.
    code, text = cli("connect", "all", "--a", f"vcard:{folder}", "--b", "hubspot:")
    assert code == 0, text + capsys.readouterr().err
    assert f"hubspot:@{account.portal}" in text
    assert memory_keyring.secrets[(f"piesync-desktop:hubspot:{account.portal}", TOKEN)]
    # Typed in when no PIESYNC_HUBSPOT_TOKEN is set.
    assert cli("signout", "hubspot", str(account.portal))[0] == 0
    monkeypatch.delenv("PIESYNC_HUBSPOT_TOKEN")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: account.token)
    code, text = cli("connect", "again", "--a", f"vcard:{folder}", "--b", "hubspot:")
    assert code == 0, text + capsys.readouterr().err
    code, text = cli("sync", "again")
    assert code == 0, text
