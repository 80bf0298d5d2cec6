"""Time a share job: one source folder's group pushed to several destination folders.

A source vdir of N generated contacts, a fraction of them in the group "Team" (their CATEGORIES
get it), and D empty destination folders. Three timed CLI runs on one profile:

1. ``share``: the job is created and every destination gets its copies at once;
2. ``sync Team``: nothing changed, every destination looks again;
3. ``sync Team`` after 1% of the source's group members were edited (their TITLE).

Each run is checked (copies per destination with Team and gSync1, the edits arrived) and its
wall time, contacts per second and peak memory are printed. Figures only: it never fails on a
target. Usage: ``.venv/bin/python bench/share.py --n 20000 --destinations 3``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import edit_fraction, generate
from run import DEFAULT_OURS, Measure, measure, tail

GROUP = "Team"


def put_in_group(folder: Path, share: float) -> int:
    """Add the group to the CATEGORIES of every ``1/share``-th card; how many are in it."""
    step = max(1, round(1 / share))
    members = 0
    for index, path in enumerate(sorted(folder.glob("*.vcf"))):
        if index % step:
            continue
        text = path.read_bytes().decode("utf-8")
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(newline)
        at = next((i for i, line in enumerate(lines) if line.startswith("CATEGORIES:")), None)
        if at is None:
            lines.insert(lines.index("END:VCARD"), f"CATEGORIES:{GROUP}")
        else:
            lines[at] += f",{GROUP}"
        path.write_bytes(newline.join(lines).encode("utf-8"))
        members += 1
    return members


def in_group(folder: Path) -> list[Path]:
    found = []
    for path in folder.glob("*.vcf"):
        text = path.read_bytes().decode("utf-8")
        if any(
            line.startswith("CATEGORIES:") and GROUP in line.split(":", 1)[1].split(",")
            for line in text.splitlines()
        ):
            found.append(path)
    return found


def copies(folder: Path) -> tuple[int, int]:
    """(cards, cards carrying both the group and gSync1) of a destination."""
    cards = list(folder.glob("*.vcf"))
    tagged = 0
    for path in cards:
        for line in path.read_bytes().decode("utf-8").splitlines():
            if line.startswith("CATEGORIES:"):
                names = set(line.split(":", 1)[1].split(","))
                tagged += {GROUP, "gSync1"} <= names
    return len(cards), tagged


def marked(folder: Path, marker: str) -> int:
    return sum(marker in p.read_bytes().decode("utf-8") for p in folder.glob("*.vcf"))


def report(label: str, result: Measure, members: int) -> None:
    rate = members / result.wall_s if result.wall_s else 0.0
    status = "ok" if result.ok else f"FAILED (exit {result.returncode})"
    print(
        f"  {label:<22} {result.wall_s:8.2f} s  {rate:9.0f} shared contacts/s  "
        f"{result.peak_mb:7.1f} MB peak  {status}"
    )
    if not result.ok:
        print(tail(result.log))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="contacts in the source")
    parser.add_argument("--share", type=float, default=0.25, help="part of them in the group")
    parser.add_argument("--destinations", type=int, default=3)
    parser.add_argument("--ours", default=str(DEFAULT_OURS), help="the piesync-desktop command")
    parser.add_argument("--keep", action="store_true", help="keep the folders")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="share-bench-"))
    try:
        source = root / "source"
        generate(source, args.n, seed=1)
        members = put_in_group(source, args.share)
        destinations = [root / f"dest-{i}" for i in range(1, args.destinations + 1)]
        for folder in destinations:
            folder.mkdir()
        env = {**os.environ, "PIESYNC_HOME": str(root / "profile")}
        cli = [args.ours]
        print(
            f"share job: {args.n} contacts, {members} in '{GROUP}', "
            f"{args.destinations} destination folders"
        )
        targets = [arg for folder in destinations for arg in ("--to", f"vcard:{folder}")]
        first = measure(
            [*cli, "share", GROUP, "--source", f"vcard:{source}", "--group", GROUP, *targets],
            root / "logs" / "first.log",
            env,
            timeout=3600,
        )
        report("created, first copies", first, members * args.destinations)
        for folder in destinations:
            cards, tagged = copies(folder)
            print(f"    {folder.name}: {cards} cards, {tagged} with {GROUP} and gSync1")
        quiet = measure([*cli, "sync", GROUP], root / "logs" / "quiet.log", env, timeout=3600)
        report("nothing changed", quiet, members * args.destinations)
        group_dir = root / "group-view"
        group_dir.mkdir()
        for path in in_group(source):
            shutil.copy2(path, group_dir / path.name)
        edited = edit_fraction(group_dir, 0.01, seed=7)  # 1% of the group's members
        for edit in edited:
            shutil.copy2(edit.path, source / edit.path.name)
        edits = measure([*cli, "sync", GROUP], root / "logs" / "edits.log", env, timeout=3600)
        report("1% of the group edited", edits, members * args.destinations)
        for folder in destinations:
            print(f"    {folder.name}: {marked(folder, 'bench edit 7-')} of {len(edited)} edits")
    finally:
        if args.keep:
            print(f"folders kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
