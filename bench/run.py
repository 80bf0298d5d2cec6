"""Time piesync-desktop and vdirsyncer syncing two vdirs of N contacts, and print the figures.

Three scenarios are run for each tool, each on its own copy of the same generated folders:

1. first sync: folder A holds N contacts, folder B is empty;
2. nothing changed: a second sync right after the first;
3. 1% edits each side: the TITLE of 1% of the contacts is changed in A, and of a different 1%
   in B, then one more sync.

For each timed sync the runner reports wall time, contacts per second (N / wall time) and the
peak resident memory of the sync process (``ru_maxrss`` from ``wait4``, which covers that
process and any child it waited for). This prints figures only: it never fails on a target.

Usage: ``.venv/bin/python bench/run.py --n 100000`` (see ``--help`` for the flags).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import edit_fraction, generate

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_OURS = REPO / ".venv" / "bin" / "piesync-desktop"
BENCH_VENV = BENCH / ".venv"
VDIRSYNCER_SPEC = "vdirsyncer==0.19.3"

SCENARIOS = ("first sync", "nothing changed", "1% edits each side")
EDIT_FRACTION = 0.01
TARGET_N = 100_000
TARGET_SECONDS = {"nothing changed": 2.0, "1% edits each side": 3.0}
TARGET_PEAK_MB = 400.0


# ---------------------------------------------------------------------------
# Measuring one command
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Measure:
    """One timed run of one command."""

    wall_s: float
    peak_mb: float
    returncode: int
    timed_out: bool = False
    log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def measure(
    command: Sequence[str], log: Path, env: dict[str, str], timeout: float, stdin: str = ""
) -> Measure:
    """Run ``command`` once, its output to ``log``; time it and read its own peak RSS.

    ``os.wait4`` returns the resource usage of that one child (and of the children it waited
    for), so a figure is never the maximum of several earlier runs, as
    ``getrusage(RUSAGE_CHILDREN)`` would be.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        began = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            process.send_signal(signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        if stdin and process.stdin is not None:
            try:
                process.stdin.write(stdin.encode())
                process.stdin.close()
            except BrokenPipeError:
                pass
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measure(
        wall_s=wall,
        peak_mb=usage.ru_maxrss * 1024 / 1e6,  # Linux reports kibibytes
        returncode=process.returncode,
        timed_out=fired.is_set(),
        log=log,
    )


def tail(path: Path | None, lines: int = 15) -> str:
    """The last lines of a log, indented, for error reports."""
    if path is None or not path.exists():
        return ""
    text = path.read_text("utf-8", errors="replace").rstrip().splitlines()[-lines:]
    return "\n".join("    | " + line for line in text)


# ---------------------------------------------------------------------------
# The two tools
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class Tool:
    """How to set up and run one sync tool on the folders in ``root``."""

    name: str
    root: Path
    setup: Callable[[Tool], list[str]]  # returns the sync command, after any untimed setup
    env: dict[str, str]
    timeout: float
    results: dict[str, Measure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def folder_a(self) -> Path:
        return self.root / "A"

    @property
    def folder_b(self) -> Path:
        return self.root / "B"

    def run(self, command: Sequence[str], label: str, stdin: str = "") -> Measure:
        log = self.root / "logs" / f"{label.replace(' ', '-').replace('%', 'pc')}.log"
        return measure(command, log, self.env, self.timeout, stdin)


def ours_setup(command: Sequence[str]) -> Callable[[Tool], list[str]]:
    """Set up a ``bench`` connection with our CLI (untimed) and return the sync command."""

    def setup(tool: Tool) -> list[str]:
        profile = tool.root / "profile"
        base = [*command, "--profile", str(profile)]
        connect = [
            *base,
            *("connect", "bench", "--a", f"vcard:{tool.folder_a}", "--b", f"vcard:{tool.folder_b}"),
        ]
        result = tool.run(connect, "connect")
        if not result.ok:
            raise SetupError(f"`{shlex.join(connect)}` failed", result)
        return [*base, "sync", "bench"]

    return setup


def vdirsyncer_config(tool: Tool) -> str:
    """A vdirsyncer config pairing the two folders directly (no collections), A wins."""
    quote = json.dumps
    return f"""[general]
status_path = {quote(str(tool.root / "status") + "/")}

[pair bench]
a = "bench_a"
b = "bench_b"
collections = null
conflict_resolution = "a wins"

[storage bench_a]
type = "filesystem"
path = {quote(str(tool.folder_a) + "/")}
fileext = ".vcf"

[storage bench_b]
type = "filesystem"
path = {quote(str(tool.folder_b) + "/")}
fileext = ".vcf"
"""


def vdirsyncer_setup(executable: Path) -> Callable[[Tool], list[str]]:
    """Write the config, run ``discover`` (untimed, prompts answered yes), return the sync."""

    def setup(tool: Tool) -> list[str]:
        config = tool.root / "config"
        config.write_text(vdirsyncer_config(tool), "utf-8")
        discover = [str(executable), "-c", str(config), "discover"]
        result = tool.run(discover, "discover", stdin="y\n" * 20)
        if not result.ok:
            raise SetupError(f"`{shlex.join(discover)}` failed", result)
        return [str(executable), "-c", str(config), "sync"]

    return setup


class SetupError(Exception):
    """A tool could not be set up; carries the failed run for its log."""

    def __init__(self, message: str, result: Measure) -> None:
        super().__init__(message)
        self.result = result


def ensure_vdirsyncer() -> Path:
    """The vdirsyncer executable of ``bench/.venv``, creating that venv on first use."""
    executable = BENCH_VENV / "bin" / "vdirsyncer"
    if executable.exists():
        return executable
    print(f"creating {BENCH_VENV} with {VDIRSYNCER_SPEC} (first run only)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(BENCH_VENV / "bin" / "pip"), "install", "--quiet", VDIRSYNCER_SPEC]
    subprocess.run(pip, check=True)
    return executable


def ours_answers(command: Sequence[str], env: dict[str, str]) -> str | None:
    """None if our CLI answers ``--help``; otherwise why not, in a few lines."""
    if not shutil.which(command[0]) and not Path(command[0]).exists():
        return f"{command[0]} does not exist (is the CLI installed in the main venv?)"
    try:
        done = subprocess.run(
            [*command, "--help"], capture_output=True, text=True, env=env, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`{shlex.join([*command, '--help'])}` could not run: {error}"
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()[-10:]
        lines = "\n".join("    | " + line for line in output)
        return f"`{shlex.join([*command, '--help'])}` exited {done.returncode}:\n{lines}"
    return None


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


def count_vcf(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.vcf"))


def count_marker(folder: Path, marker: str) -> int:
    """How many .vcf files of ``folder`` contain ``marker`` (after unfolding)."""
    needle = marker.encode()
    found = 0
    for path in folder.glob("*.vcf"):
        raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n ", b"")
        found += needle in raw
    return found


def run_tool(tool: Tool, source: Path, n: int, seed: int) -> None:
    """Copy the corpus, set up, then time the three scenarios; results land in ``tool``."""
    print(f"\n== {tool.name} ==", flush=True)
    shutil.copytree(source, tool.folder_a)
    tool.folder_b.mkdir(parents=True)
    try:
        sync = tool.setup(tool)
    except SetupError as error:
        tool.notes.append(f"setup failed: {error}\n{tail(error.result.log)}")
        print(tool.notes[-1], flush=True)
        return
    edits = (0, 0)
    for scenario in SCENARIOS:
        if scenario == "1% edits each side":
            edits = edit_both_sides(tool, seed)
        settle()
        result = tool.run(sync, scenario)
        tool.results[scenario] = result
        report_step(tool, scenario, result, n)
        if not result.ok:
            tool.notes.append(f"{scenario}: sync failed (exit {result.returncode})")
            print(tail(result.log), flush=True)
            return
    check_edits(tool, seed, edits)


def settle() -> None:
    """Write every dirty page to disk, so no timed sync pays for the setup's writes.

    Without this, the hundreds of MB just copied into A are still being written back when a
    sync starts, and a tool that flushes the whole file system (``syncfs``) pays for them.
    """
    os.sync()


def edit_both_sides(tool: Tool, seed: int) -> tuple[int, int]:
    """Edit the TITLE of 1% of the contacts in A and of a different 1% in B."""
    began = time.perf_counter()
    in_a = edit_fraction(tool.folder_a, EDIT_FRACTION, seed + 1)
    in_b = edit_fraction(tool.folder_b, EDIT_FRACTION, seed + 2, exclude=in_a)
    elapsed = time.perf_counter() - began
    print(f"  edited {len(in_a)} contacts in A, {len(in_b)} others in B ({elapsed:.1f} s)")
    return len(in_a), len(in_b)


def check_edits(tool: Tool, seed: int, edits: tuple[int, int]) -> None:
    """Say how many edits reached the other side (a sanity figure, not a test)."""
    a_to_b = count_marker(tool.folder_b, f"bench edit {seed + 1}-")
    b_to_a = count_marker(tool.folder_a, f"bench edit {seed + 2}-")
    line = f"edits propagated: A→B {a_to_b}/{edits[0]}, B→A {b_to_a}/{edits[1]}"
    print(f"  {line}")
    tool.notes.append(line)


def report_step(tool: Tool, scenario: str, result: Measure, n: int) -> None:
    status = "ok" if result.ok else ("TIMED OUT" if result.timed_out else "FAILED")
    counts = f"A={count_vcf(tool.folder_a)} B={count_vcf(tool.folder_b)} files"
    print(
        f"  {scenario:<20} {result.wall_s:8.2f} s {n / result.wall_s:10.0f} contacts/s "
        f"{result.peak_mb:7.1f} MB  {status}  ({counts})",
        flush=True,
    )


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def cells(result: Measure | None, n: int) -> list[str]:
    if result is None:
        return ["-", "-", "-"]
    if not result.ok:
        return ["failed", "-", "-"]
    return [f"{result.wall_s:.2f}", f"{n / result.wall_s:,.0f}", f"{result.peak_mb:.0f}"]


def ratio(ours: Measure | None, theirs: Measure | None) -> str:
    if ours is None or theirs is None or not ours.ok or not theirs.ok:
        return "-"
    return f"{ours.wall_s / theirs.wall_s:.2f}"


def target(scenario: str, ours: Measure | None, theirs: Measure | None) -> str:
    """The target for our figure in this scenario, and whether this run met it."""
    if scenario == "first sync":
        wanted = "time <= vdirsyncer's"
    else:
        wanted = f"time <= {TARGET_SECONDS[scenario]:g} s"
    if ours is None or not ours.ok:
        return f"{wanted}; RSS <= {TARGET_PEAK_MB:g} MB: no figure"
    if scenario != "first sync":
        met: bool | None = ours.wall_s <= TARGET_SECONDS[scenario]
    else:
        met = None if theirs is None or not theirs.ok else ours.wall_s <= theirs.wall_s
    time_verdict = "n/a" if met is None else ("target met" if met else "MISSED")
    rss_verdict = "target met" if ours.peak_mb <= TARGET_PEAK_MB else "MISSED"
    return f"{wanted}: {time_verdict}; RSS <= {TARGET_PEAK_MB:g} MB: {rss_verdict}"


def print_table(ours: Tool | None, theirs: Tool | None, n: int) -> None:
    header = ["scenario", "ours s", "ours c/s", "ours MB", "vds s", "vds c/s", "vds MB"]
    header += ["ours/vds", "our target (at N=100,000)"]
    rows = [header]
    for scenario in SCENARIOS:
        mine = ours.results.get(scenario) if ours else None
        other = theirs.results.get(scenario) if theirs else None
        verdict = target(scenario, mine, other)
        rows.append([scenario, *cells(mine, n), *cells(other, n), ratio(mine, other), verdict])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(f"\n== results, N = {n:,} (vds = vdirsyncer, MB = 10^6 bytes of peak RSS) ==")
    for position, row in enumerate(rows):
        line = "  ".join(
            cell.ljust(width) if i in (0, len(row) - 1) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        print(line.rstrip())
        if position == 0:
            print("  ".join("-" * width for width in widths))
    if n != TARGET_N:
        print(f"(the targets are set for N = {TARGET_N:,}; at N = {n:,} they are only a hint)")
    for tool in (ours, theirs):
        for note in tool.notes if tool else ():
            print(f"{tool.name}: {note.splitlines()[0]}")


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=TARGET_N, help="contacts (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--workdir", type=Path, help="work dir (default bench/work/n<N>)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument("--skip-ours", action="store_true", help="do not run piesync-desktop")
    parser.add_argument("--skip-vdirsyncer", action="store_true", help="do not run vdirsyncer")
    parser.add_argument(
        "--ours", default=str(DEFAULT_OURS), help=f"our CLI command (default {DEFAULT_OURS})"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds before a command is killed"
    )
    return parser.parse_args(argv)


def bench_env(workdir: Path) -> dict[str, str]:
    """The environment of the tools: XDG folders inside the work dir, so no real profile moves.

    Both tools run from compiled bytecode, as installed programs do (pip compiles a package when
    it installs it): Python keeps it under the work dir, so the repository gets no __pycache__.
    The untimed set-up commands compile it; without it, our CLI compiled its own sources on
    every timed run (about 0.1 s here) while vdirsyncer read its installed bytecode.
    """
    env = dict(os.environ)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(workdir / "xdg" / name.lower())
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def fsync_probe(folder: Path, count: int = 200) -> float:
    """Median milliseconds to write and fsync one small file in ``folder`` (disk speed hint).

    Both tools fsync every contact they write, so a first sync is mostly bound by this figure,
    which varies a lot on a shared virtual disk.
    """
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for number in range(count):
        began = time.perf_counter()
        with (folder / f"{number}.probe").open("wb") as handle:
            handle.write(b"x" * 1000)
            handle.flush()
            os.fsync(handle.fileno())
        samples.append(time.perf_counter() - began)
    shutil.rmtree(folder)
    return sorted(samples)[count // 2] * 1000


def make_corpus(workdir: Path, n: int, seed: int) -> Path:
    source = workdir / "source"
    began = time.perf_counter()
    generate(source, n, seed)
    print(f"generated {n:,} contacts in {time.perf_counter() - began:.1f} s ({source})")
    return source


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    workdir = (args.workdir or BENCH / "work" / f"n{args.n}").resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    env = bench_env(workdir)
    ours_command = shlex.split(args.ours)
    ours = theirs = None
    if not args.skip_ours:
        problem = ours_answers(ours_command, env)
        if problem:
            print(f"piesync-desktop will not be measured: {problem}", flush=True)
        else:
            ours = Tool(
                "piesync-desktop", workdir / "ours", ours_setup(ours_command), env, args.timeout
            )
    if not args.skip_vdirsyncer:
        setup = vdirsyncer_setup(ensure_vdirsyncer())
        theirs = Tool("vdirsyncer", workdir / "vdirsyncer", setup, env, args.timeout)
    try:
        source = make_corpus(workdir, args.n, args.seed)
        before = fsync_probe(workdir / "probe")
        for tool in (ours, theirs):
            if tool is not None:
                run_tool(tool, source, args.n, args.seed)
        after = fsync_probe(workdir / "probe")
        print_table(ours, theirs, args.n)
        print(
            f"disk: write+fsync of a small file took {before:.2f} ms before, {after:.2f} ms after"
        )
    finally:
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
