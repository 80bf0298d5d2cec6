"""Trash review from the command line, on real folders of .vcf files: list the candidates, keep or
delete them (carried out by the next sync), and one-line errors that change nothing."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_vcard import Cli, cards, find, write_card

pytestmark = pytest.mark.usefixtures("both_load_modes")


@pytest.fixture
def cli(profile: Path) -> Cli:
    return Cli(profile)


@pytest.fixture
def book(cli: Cli, tmp_path: Path) -> tuple[Path, Path]:
    """Ann and Cy deleted in A after a first sync: their copies in B are in 'PieSync Trash'."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    ann = write_card(a, "Ann Gone", "ann@example.com")
    cy = write_card(a, "Cy Gone", "cy@example.com")
    write_card(a, "Bob Stays", "bob@example.com")
    code, text = cli(
        "connect", "book", "--a", f"vcard:{a}", "--b", f"vcard:{b}", "--sync-deletions"
    )
    assert code == 0, text
    cli("sync")
    ann.unlink()
    cy.unlink()
    cli("sync")
    assert "PieSync Trash" in find(b, "ann@") and "PieSync Trash" in find(b, "cy@")
    return a, b


def ids(cli: Cli) -> dict[str, str]:
    """Candidate name -> id, from ``trash --json``."""
    return {item["name"]: item["id"] for item in cli.json("trash", "book")}


def decisions(cli: Cli) -> dict[str, str | None]:
    return {item["name"]: item["decision"] for item in cli.json("trash", "book")}


class Terminal(io.StringIO):
    """Standard input as a person at a terminal answers."""

    def isatty(self) -> bool:
        return True


def test_keep_and_delete_are_recorded_then_carried_out_by_the_next_sync(cli, book):
    a, b = book
    before = cards(b)
    named = ids(cli)
    code, text = cli("trash", "book", "--keep", named["Ann Gone"], "--delete", named["Cy Gone"])
    assert code == 0, text
    assert f"Ann Gone in vCard folder ({b}): keep, carried out at the next sync" in text
    assert f"Cy Gone in vCard folder ({b}): delete, carried out at the next sync" in text
    assert cards(b) == before  # deciding writes nothing
    assert decisions(cli) == {"Ann Gone": "keep", "Cy Gone": "delete"}
    code, listing = cli("trash", "book")
    assert "Keep at next sync" in listing and "Delete at next sync" in listing

    code, _ = cli("sync")

    assert code == 0
    assert "PieSync Trash" not in find(b, "ann@")
    assert not any("cy@" in text for text in cards(b).values())
    assert cli.json("trash", "book") == []
    actions = [row["action"] for row in cli.json("health", "book")["timeline"]]
    assert "kept (Trash review)" in actions
    assert "deleted in vCard folder (Trash review)" in actions
    after = {**cards(a), **cards(b)}
    cli("sync")
    cli("sync")
    assert {**cards(a), **cards(b)} == after  # nothing created again, nothing tagged again
    assert len(cards(a)) == 1 and len(cards(b)) == 2


def test_json_shows_where_when_and_the_decision(cli, book):
    a, b = book
    items = cli.json("trash", "book")
    assert sorted(i["name"] for i in items) == ["Ann Gone", "Cy Gone"]
    for item in items:
        assert item["connection"] == "book"
        assert (item["side"], item["deleted_in"], item["tagged"]) == ("b", "a", True)
        assert item["app"] == f"vCard folder ({b})"
        assert item["deleted_app"] == f"vCard folder ({a})"
        assert item["decision"] is None and item["deleted_at"] > 0


def test_delete_asks_on_a_terminal(cli, book, monkeypatch):
    _a, b = book
    named = ids(cli)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, text = cli("trash", "book", "--delete", named["Cy Gone"])
    assert code == 0
    assert f"Delete Cy Gone in vCard folder ({b})? [y/N]" in text
    assert "Not deleted" in text
    assert decisions(cli)["Cy Gone"] is None
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    code, text = cli("trash", "book", "--delete", named["Cy Gone"])
    assert code == 0 and "delete, carried out at the next sync" in text
    assert decisions(cli)["Cy Gone"] == "delete"
    monkeypatch.setattr(sys, "stdin", Terminal(""))  # --yes never reads the terminal
    code, _ = cli("trash", "book", "--delete", named["Ann Gone"], "--yes")
    assert code == 0 and decisions(cli)["Ann Gone"] == "delete"


def test_undo_withdraws_a_decision_before_the_sync(cli, book):
    _a, b = book
    named = ids(cli)
    cli("trash", "book", "--delete", named["Cy Gone"], "--yes")
    code, text = cli("trash", "book", "--undo", named["Cy Gone"])
    assert code == 0 and "decision withdrawn" in text
    assert decisions(cli) == {"Ann Gone": None, "Cy Gone": None}
    cli("sync")
    assert "PieSync Trash" in find(b, "cy@")  # still there, still in the trash


def test_errors_are_one_line_exit_2_and_change_nothing(cli, book):
    _a, b = book
    named = ids(cli)
    bob_b = next(p.name for p in b.glob("*.vcf") if "bob@" in p.read_text(encoding="utf-8"))
    ann = named["Ann Gone"]
    for args, needle in [
        (("--keep", ann, "--delete", "nope.vcf"), "No contact nope.vcf waits"),
        (("--delete", bob_b), f"No contact {bob_b} waits"),  # in sync: not in the review
        (("--keep", ann, "--delete", ann), "named more than once"),
        (("--keep", "c:" + ann), "No contact c:"),
    ]:
        command = [sys.executable, "-m", "piesync_desktop", "--profile", str(cli.profile)]
        result = subprocess.run(
            [*command, "trash", "book", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert needle in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    code, _ = cli("trash", "nope", "--keep", ann)
    assert code == 2
    assert decisions(cli) == {"Ann Gone": None, "Cy Gone": None}


def test_a_side_prefix_names_the_contact_when_both_sides_have_its_id(cli, tmp_path):
    """vCard ids are file names: A and B may each hold a deleted pair's file of the same name."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    write_card(a, "Ann In A", "ann@example.com", filename="same.vcf")
    write_card(b, "Bo In B", "bo@example.com", filename="same.vcf")
    cli("connect", "book", "--a", f"vcard:{a}", "--b", f"vcard:{b}", "--sync-deletions")
    cli("sync")
    ann_b = next(p for p in b.glob("*.vcf") if "ann@" in p.read_text(encoding="utf-8"))
    bo_a = next(p for p in a.glob("*.vcf") if "bo@" in p.read_text(encoding="utf-8"))
    ann_b.unlink()
    bo_a.unlink()
    cli("sync")
    assert sorted((i["side"], i["id"]) for i in cli.json("trash", "book")) == [
        ("a", "same.vcf"),
        ("b", "same.vcf"),
    ]
    code, _ = cli("trash", "book", "--keep", "same.vcf")
    assert code == 2
    code, _ = cli("trash", "book", "--keep", "b:same.vcf")
    assert code == 0
    assert decisions(cli) == {"Ann In A": None, "Bo In B": "keep"}
