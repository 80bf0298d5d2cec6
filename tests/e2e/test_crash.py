"""The process killed right after any single file write, then a normal run: no duplicate, no loss.

Each case runs the real CLI in a child process whose vCard writes are counted; after the Nth
write the process dies on the spot (``os._exit``), as with a power cut between "file written"
and "link saved". The next, normal run must pair what was written and finish the job.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_cli_vcard import Cli, cards, edit, write_card

KILLER = textwrap.dedent("""
    import os, sys
    from piesync_desktop.engine.connectors import vcard_dir
    from piesync_desktop.cli import main

    limit = int(sys.argv[1])
    original = vcard_dir.VCardDir._place
    count = 0

    def write_then_die(self, *args, **kwargs):
        global count
        result = original(self, *args, **kwargs)
        count += 1
        if count >= limit:
            os._exit(9)
        return result

    vcard_dir.VCardDir._place = write_then_die
    sys.exit(main(sys.argv[2:]))
""")

WRITES = 6  # 3 creates in B, 1 in A, 2 updates: every write of the first run is a crash point


def prepare(tmp_path: Path, cli: Cli) -> tuple[Path, Path]:
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    write_card(a, "Ann Lee", "ann@example.com", "TITLE:Dev\r\n")
    write_card(a, "No Mail A", extra="ORG:Acme\r\n")
    write_card(a, "Cy Doe", "cy@example.com")
    write_card(a, "Bob Ray", "bob@example.com", "TITLE:Boss\r\n")
    write_card(b, "Bob Ray", "bob@example.com", "ORG:Bobs\r\n")
    write_card(b, "No Mail B")
    code, text = cli(
        "connect", "book", "--a", f"vcard:{a}", "--b", f"vcard:{b}", "--allow-no-email"
    )
    assert code == 0, text
    return a, b


def names(folder: Path) -> list[str]:
    out = []
    for text in cards(folder).values():
        out += [line[3:] for line in text.splitlines() if line.startswith("FN:")]
    return sorted(out)


@pytest.mark.parametrize("crash_after", range(1, WRITES + 1))
def test_killed_after_any_write_then_normal_run(tmp_path, profile, crash_after):
    cli = Cli(profile)
    a, b = prepare(tmp_path, cli)
    first = subprocess.run(
        [sys.executable, "-c", KILLER, str(crash_after), "--profile", str(profile), "sync"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = ["Ann Lee", "Bob Ray", "Cy Doe", "No Mail A", "No Mail B"]
    assert first.returncode == 9, first.stderr
    code, text = cli("sync")
    assert code == 0, text
    assert names(a) == expected
    assert names(b) == expected
    code, text = cli("sync")
    assert "created 0 in A, 0 in B; updated 0 in A, 0 in B" in text
    # And the pairs made after the crash keep syncing.
    ann = next(p for p in a.glob("*.vcf") if "ann@" in p.read_text(encoding="utf-8"))
    edit(ann, "TITLE:Dev", "TITLE:Lead")
    cli("sync")
    assert sum("TITLE:Lead" in t for t in cards(b).values()) == 1
    bob_a = next(t for t in cards(a).values() if "bob@" in t)
    assert "ORG:Bobs" in bob_a and "TITLE:Boss" in bob_a


def test_the_first_run_makes_exactly_the_counted_writes(tmp_path, profile):
    cli = Cli(profile)
    prepare(tmp_path, cli)
    run = subprocess.run(
        [sys.executable, "-c", KILLER, str(WRITES + 1), "--profile", str(profile), "sync"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "created 1 in A, 3 in B; updated 1 in A, 1 in B" in run.stdout
