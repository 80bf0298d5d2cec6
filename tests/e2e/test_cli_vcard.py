"""End to end through the CLI on real folders of .vcf files: what a person scripting it sees."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from helpers.cli import Cli

CARD = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
    "{email}{extra}END:VCARD\r\n"
)

pytestmark = pytest.mark.usefixtures("both_load_modes")


def write_card(
    folder: Path,
    name: str,
    email: str = "",
    extra: str = "",
    uid: str | None = None,
    filename: str | None = None,
) -> Path:
    uid = uid or uuid.uuid4().hex
    given, _, family = name.partition(" ")
    path = folder / (filename or f"{uid}.vcf")
    email_line = f"EMAIL;TYPE=INTERNET:{email}\r\n" if email else ""
    path.write_text(
        CARD.format(uid=uid, name=name, family=family, given=given, email=email_line, extra=extra),
        encoding="utf-8",
        newline="",
    )
    return path


def cards(folder: Path) -> dict[str, str]:
    """File name -> text of every card in a folder."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.vcf"))}


def find(folder: Path, needle: str) -> str:
    found = [text for text in cards(folder).values() if needle.lower() in text.lower()]
    assert len(found) == 1, f"{needle}: {len(found)} cards"
    return found[0]


def touch_later(path: Path) -> None:
    """Make an edit visible even within the same mtime tick."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    return a, b


@pytest.fixture
def cli(profile: Path) -> Cli:
    return Cli(profile)


def connect(cli: Cli, folders: tuple[Path, Path], *options: str) -> None:
    a, b = folders
    code, text = cli("connect", "book", "--a", f"vcard:{a}", "--b", f"vcard:{b}", *options)
    assert code == 0, text


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8", newline="")
    touch_later(path)


def test_first_sync_both_ways_then_nothing_to_do(cli, folders):
    a, b = folders
    write_card(a, "Ann Lee", "ann@example.com", "ORG:Acme\r\n")
    write_card(b, "Bob Ray", "bob@example.com")
    write_card(b, "Ann Lee", "ANN@example.com", "TITLE:CEO\r\n")
    connect(cli, folders)
    code, text = cli("sync")
    assert code == 0
    assert "created 1 in A, 0 in B" in text
    assert "TITLE:CEO" in find(a, "ann@") and "ORG:Acme" in find(b, "ann@")
    assert len(cards(a)) == 2 and len(cards(b)) == 2
    before = {**cards(a), **cards(b)}
    code, text = cli("sync", "book")
    assert code == 0 and "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text
    assert {**cards(a), **cards(b)} == before


def test_health_json_shape_and_reasons(cli, folders):
    a, _b = folders
    write_card(a, "No Mail")
    write_card(a, "Dup One", "dup@example.com", filename="1.vcf")
    write_card(a, "Dup Two", "DUP@example.com", filename="2.vcf")
    write_card(a, "Fine", "fine@example.com")
    connect(cli, folders)
    cli("sync")
    data = cli.json("health", "book")
    assert {data["in_sync"], data["excluded"], data["duplicates"], data["failing"]} >= {0}
    assert data["excluded"] == 1 and data["duplicates"] == 1 and data["failing"] == 0
    assert data["in_sync"] == 4  # two in A, their two copies in B
    by_name = {c["name"]: c for c in data["contacts"]}
    assert by_name["No Mail"]["state"] == "excluded"
    assert "No email address" in by_name["No Mail"]["reason"]
    assert by_name["Dup Two"]["state"] == "duplicate"
    assert set(by_name["Fine"]) == {"side", "id", "name", "email", "state", "reason"}
    assert data["actions"] == {"a": {"created": 0, "updated": 0}, "b": {"created": 2, "updated": 0}}
    assert data["timeline"] and data["timeline"][0]["at"] >= data["timeline"][-1]["at"]
    found = cli.json("health", "book", "--search", "fine@example")
    assert {c["name"] for c in found["contacts"]} == {"Fine"}


def test_edits_each_way_and_unknown_properties_survive(cli, folders):
    a, b = folders
    card = write_card(
        a,
        "Ann Lee",
        "ann@example.com",
        "X-CUSTOM;X-PARAM=1:keep me\r\nitem1.TEL:+32 9 123\r\n"
        "item1.X-ABLabel:Office\r\nPHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=\r\n",
    )
    connect(cli, folders)
    cli("sync")
    copy = next(b.glob("*.vcf"))
    edit(copy, "FN:Ann Lee", "FN:Ann Lee-Smith")
    cli("sync")
    text = card.read_text(encoding="utf-8")
    assert "FN:Ann Lee-Smith" in text
    for kept in (
        "X-CUSTOM;X-PARAM=1:keep me",
        "item1.X-ABLabel:Office",
        "PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=",
    ):
        assert kept in text
    edit(
        card,
        "EMAIL;TYPE=INTERNET:ann@example.com",
        "EMAIL;TYPE=INTERNET:ann@example.com\r\nTITLE:Boss",
    )
    cli("sync")
    assert "TITLE:Boss" in copy.read_text(encoding="utf-8")


def test_conflict_winner_and_one_way(cli, folders):
    a, b = folders
    card = write_card(a, "Ann Lee", "ann@example.com", "TITLE:Dev\r\n")
    connect(cli, folders, "--winner", "b")
    cli("sync")
    copy = next(b.glob("*.vcf"))
    edit(card, "TITLE:Dev", "TITLE:From A")
    edit(copy, "TITLE:Dev", "TITLE:From B")
    cli("sync")
    assert "TITLE:From B" in card.read_text(encoding="utf-8")


def test_one_way_never_writes_source_and_hides_target_only(cli, folders):
    a, b = folders
    source = write_card(a, "Ann Lee", "ann@example.com")
    write_card(b, "Only Target", "t@example.com")
    connect(cli, folders, "--direction", "a-to-b")
    before = source.read_text(encoding="utf-8")
    cli("sync")
    assert len(cards(a)) == 1 and source.read_text(encoding="utf-8") == before
    assert len(cards(b)) == 2
    names = {c["name"] for c in cli.json("health", "book")["contacts"]}
    assert "Only Target" not in names and "Ann Lee" in names


def test_deletion_with_sync_deletions_tags_trash_and_trash_lists_it(cli, folders):
    a, b = folders
    gone = write_card(a, "Gone Soon", "gone@example.com")
    write_card(a, "Stays", "stays@example.com")
    connect(cli, folders, "--sync-deletions")
    cli("sync")
    gone.unlink()
    code, _ = cli("sync")
    assert code == 0
    copy = find(b, "gone@")
    assert "PieSync Trash" in copy
    trash = cli.json("trash", "book")
    assert [(t["name"], t["side"], t["deleted_in"], t["tagged"]) for t in trash] == [
        ("Gone Soon", "b", "a", True)
    ]
    cli("sync")
    assert len(cards(a)) == 1  # never created again where it was deleted
    assert len(cards(b)) == 2  # never deleted


def test_unparseable_file_is_reported_and_never_rewritten(cli, folders):
    a, _b = folders
    broken = a / "broken.vcf"
    broken.write_bytes(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Half a card\r\n")
    write_card(a, "Fine", "fine@example.com")
    connect(cli, folders)
    code, text = cli("sync")
    assert code == 0 and "1 failing" in text
    data = cli.json("health", "book")
    failing = [c for c in data["contacts"] if c["state"] == "failing"]
    assert [c["id"] for c in failing] == ["broken.vcf"]
    assert "broken.vcf" in failing[0]["reason"]
    assert data["failure_reasons"][0]["count"] == 1
    assert broken.read_bytes() == b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Half a card\r\n"


def test_two_files_with_the_same_uid_never_stop_a_run(cli, folders):
    a, b = folders
    write_card(a, "Twin One", "one@example.com", uid="same", filename="one.vcf")
    write_card(a, "Twin Two", "two@example.com", uid="same", filename="two.vcf")
    connect(cli, folders)
    code, _ = cli("sync")
    assert code == 0
    assert len(cards(b)) == 2
    data = cli.json("health", "book")
    notes = [c["reason"] for c in data["contacts"] if c["side"] == "a"]
    assert all("UID" in note for note in notes), notes


def test_safety_brake_then_confirm(cli, folders):
    a, b = folders
    for i in range(12):
        write_card(a, f"Person {i}", f"p{i}@example.com")
    connect(cli, folders, "--sync-deletions")
    cli("sync")
    for path in list(a.glob("*.vcf"))[:9]:
        path.unlink()
    before = cards(b)
    code, text = cli("sync")
    assert code == 1 and "lost 9 of its 12" in text
    assert cards(b) == before
    code, text = cli("sync", "--confirm")
    assert code == 0
    assert sum("PieSync Trash" in t for t in cards(b).values()) == 9


def test_bad_arguments_exit_2_with_one_line_and_change_nothing(cli, folders, tmp_path):
    a, _ = folders
    for args, needle in [
        (("connect", "x", "--a", "vcard:/does/not/exist", "--b", f"vcard:{a}"), "does not exist"),
        (("connect", "x", "--a", "nosuchapp:foo", "--b", f"vcard:{a}"), "Unknown app"),
        (("connect", "x", "--a", "novalue", "--b", f"vcard:{a}"), "APP:LOCATION"),
        (("sync", "nope"), "No connection named 'nope'"),
        (("health", "nope"), "No connection named 'nope'"),
        (("connect", "x", "--a", f"vcard:{a}"), "required"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "piesync_desktop", "--profile", str(cli.profile), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert needle in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert cli.json("connections") == []


def test_connections_listing(cli, folders):
    connect(cli, folders, "--direction", "b-to-a", "--winner", "b")
    rows = cli.json("connections")
    assert [(r["name"], r["direction"], r["winner"], r["avoid_duplicates"]) for r in rows] == [
        ("book", "b-to-a", "b", True)
    ]


def test_allow_no_email_syncs_contacts_without_email(cli, folders):
    a, b = folders
    write_card(a, "No Mail", extra="ORG:Acme\r\n")
    connect(cli, folders, "--allow-no-email")
    cli("sync")
    assert "ORG:Acme" in find(b, "No Mail")
    cli("sync")
    assert len(cards(b)) == 1
