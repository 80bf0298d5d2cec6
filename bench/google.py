"""Time a vCard folder synced into Google Contacts, against the loopback People API emulator.

Why this exists: issue 6's benchmark. "10,000 contacts from a vCard folder into an empty
emulated account, then a sync with nothing changed: wall time and requests (target: creates
cost at most one request per 200 contacts; a nothing-changed sync costs one request)."

Why a bench imports ``tests/``: benchmarks normally stand on their own, but the only faithful
Google we have is the pair of emulators the connector is tested against
(``tests/emulators/google_oauth.py`` and ``tests/emulators/people.py``, stateful, over TLS with
a throwaway certificate authority, wired together by ``tests/helpers/google_account.py``). So
this runner puts ``tests/`` on ``sys.path`` explicitly and uses them as they are; nothing under
``tests/`` or ``piesync_desktop/`` is changed by it.

What it does, all in this one process (so an in-memory keyring can hold the refresh token the
sign-in saves, and the emulators' request logs can be read between steps):

1. generates ``--n`` contacts into a folder with ``bench/generate.py``;
2. starts both emulators (``GoogleAccount``), sets their ``PIESYNC_*`` variables in
   ``os.environ`` (``PIESYNC_HTTP_TIMEOUT`` raised to 120 s, as ``bench/carddav.py`` does),
   installs a memory keyring with ``keyring.set_keyring`` and signs in through the real loopback
   flow (PKCE, the redirect to 127.0.0.1), this runner playing the browser;
3. ``piesync_desktop.cli.main(["--profile", DIR, "connect", ...])`` with
   ``--a vcard:FOLDER --b google:@EMAIL`` (untimed, its requests printed);
4. times ``cli.main([... "sync", "bench"])``: the first sync (N creates into the empty
   account), a sync with nothing changed, a second one with nothing changed (the steady state,
   see the README), and, unless ``--skip-edits``, 1% edits on each side (TITLE of 1% of the
   persons changed in the emulator with ``edit_person``, of 1% other files with
   ``edit_fraction``) and a sync.

For each sync it prints wall time, People API requests by method and path (and, for listings,
how many carried a sync token and a page token), OAuth token requests (separately), the
emulator's own time answering, by kind of request (summed over its request threads), the time
Python's cycle collector took (``gc.callbacks``, all threads), and this process's peak RSS so
far (``getrusage``; the process holds the emulators and their N persons too). The targets are
printed with met/MISSED: creates at most ceil(N/200) ``batchCreateContacts`` requests (all
requests printed beside it); a nothing-changed sync one People API request. It checks that all
N contacts arrived (persons in the emulator, their emails against the folder's), that the syncs
after the first created nothing, how many edits reached the other side and how many updates
were written beyond the edits. It prints figures only and never fails on a target.
``--cprofile`` profiles the first sync (the main thread only) and prints the top functions.

Limits of running in one process: the emulators' request threads share the GIL and the cycle
collector with the sync, and the peak RSS includes them (about 30 MB of Python objects for the
emulator's 10,000 persons, measured apart with ``tracemalloc``).

Usage: ``.venv/bin/python bench/google.py`` (see ``--help`` for the flags).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import math
import os
import pstats
import random
import re
import resource
import shutil
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import keyring

# bench/ for the generator; tests/ for the emulators (see the module docstring).
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from emulators import people as people_emulator
from generate import Edited, edit_fraction, generate, unfold
from helpers.google_account import GoogleAccount
from helpers.memory_keyring import MemoryKeyring
from run import count_marker

from piesync_desktop import cli

BENCH = Path(__file__).resolve().parent
CONNECTION = "bench"
EDIT_FRACTION = 0.01
BATCH_LIMIT = 200  # contacts per batchCreateContacts, Google's limit
HTTP_TIMEOUT = "120"
SCENARIOS = ("first sync", "nothing changed", "nothing changed again", "1% edits each side")
SUMMARY = re.compile(r"created (\d+) in A, (\d+) in B; updated (\d+) in A, (\d+) in B")
PATH_IDS = (
    (re.compile(r"/people/c\d+"), "/people/{id}"),
    (re.compile(r"/contactGroups/[0-9a-f]{16}"), "/contactGroups/{id}"),
)


class ServerClock:
    """Seconds the People emulator spent answering, by kind of request (from reading a request
    to writing its answer, summed over its request threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: Counter[str] = Counter()

    def add(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.seconds[kind] += seconds

    def take(self) -> Counter[str]:
        with self._lock:
            taken, self.seconds = self.seconds, Counter()
            return taken


class CollectorClock:
    """Seconds spent in Python's cycle collector (every thread of the process: the sync's and
    the emulators'), from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.passes = 0
        self._began = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began
            self.passes += 1

    def take(self) -> tuple[float, int]:
        taken = (self.seconds, self.passes)
        self.seconds, self.passes = 0.0, 0
        return taken


def time_the_emulator(account: GoogleAccount) -> ServerClock:
    """Wrap the People emulator's request handler so its answer times are summed.

    A subclass of its handler is given to its server (``RequestHandlerClass``); the emulator
    itself is not changed.
    """
    clock = ServerClock()
    base: Any = people_emulator._Handler

    class TimedHandler(base):  # type: ignore[misc, valid-type]
        def _serve(self, method: str) -> None:
            began = time.perf_counter()
            try:
                super()._serve(method)
            finally:
                kind = f"{method} {normalised(urlsplit(self.path).path)}"
                clock.add(kind, time.perf_counter() - began)

    account.api._server.RequestHandlerClass = TimedHandler
    return clock


@dataclass(slots=True)
class Step:
    """One command run in-process, with what it cost."""

    name: str
    wall_s: float
    exit_code: int
    output: str
    api: list[tuple[str, str]]
    queries: list[dict[str, list[str]]]
    oauth: list[str]
    server: Counter[str]
    gc_s: float
    gc_passes: int
    peak_mb: float
    rss_before_mb: float
    rss_after_mb: float
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def server_s(self) -> float:
        return sum(self.server.values())

    def server_by_path(self) -> str:
        return ", ".join(f"{what} {s:.2f} s" for what, s in self.server.most_common()) or "none"

    def listings(self) -> str:
        """What the listing requests asked: with a sync token, with a page token."""
        asked = [
            q
            for (_, path), q in zip(self.api, self.queries, strict=True)
            if path.endswith("/people/me/connections")
        ]
        if not asked:
            return ""
        sync = sum(1 for q in asked if "syncToken" in q)
        paged = sum(1 for q in asked if "pageToken" in q)
        return f"{len(asked)} listings: {sync} with a syncToken, {paged} with a pageToken"

    def by_path(self) -> str:
        counts = Counter(f"{method} {normalised(path)}" for method, path in self.api)
        return ", ".join(f"{n} {what}" for what, n in counts.most_common()) or "none"

    def count(self, path_contains: str) -> int:
        return sum(1 for _, path in self.api if path_contains in path)

    def created(self) -> tuple[int, int] | None:
        """(created in A, created in B) as the CLI's summary line says."""
        found = SUMMARY.search(self.output)
        return (int(found[1]), int(found[2])) if found else None

    def updated(self) -> tuple[int, int] | None:
        """(updated in A, updated in B) as the CLI's summary line says."""
        found = SUMMARY.search(self.output)
        return (int(found[3]), int(found[4])) if found else None


def normalised(path: str) -> str:
    for pattern, replacement in PATH_IDS:
        path = pattern.sub(replacement, path)
    return path


def peak_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux), in 10^6 B."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def rss_mb() -> float:
    """This process's resident memory now, in 10^6 bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


class Runner:
    """The account, the profile and the folder; runs CLI commands and keeps their figures."""

    def __init__(self, workdir: Path, account: GoogleAccount, clock: ServerClock) -> None:
        self.workdir = workdir
        self.account = account
        self.clock = clock
        self.collector = CollectorClock()
        self.profile = workdir / "profile"
        self.folder = workdir / "folder"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.steps: dict[str, Step] = {}

    def cli(self, name: str, args: Sequence[str], profiler: cProfile.Profile | None = None) -> Step:
        """``cli.main(["--profile", PROFILE, *args])``, timed, with the requests it sent."""
        self.account.api.clear_requests()
        oauth_before = len(self.account.oauth.requests)
        self.clock.take()
        self.collector.take()
        out, err = io.StringIO(), io.StringIO()
        rss_before = rss_mb()
        argv = ["--profile", str(self.profile), *args]
        began = time.perf_counter()
        with contextlib.redirect_stderr(err):
            if profiler is not None:
                profiler.enable()
            try:
                code = cli.main(argv, out=out)
            except Exception:  # a crash of ours is a figure too: say it, go on to the table
                err.write(traceback.format_exc())
                code = -1
            finally:
                if profiler is not None:
                    profiler.disable()
        wall = time.perf_counter() - began
        server = self.clock.take()
        gc_s, gc_passes = self.collector.take()
        step = Step(
            name=name,
            wall_s=wall,
            exit_code=code,
            output=out.getvalue() + err.getvalue(),
            api=self.account.api.requests,
            queries=self.account.api.queries,
            oauth=self.account.oauth.requests[oauth_before:],
            server=server,
            gc_s=gc_s,
            gc_passes=gc_passes,
            peak_mb=peak_mb(),
            rss_before_mb=rss_before,
            rss_after_mb=rss_mb(),
        )
        self.steps[name] = step
        label = name.replace(" ", "-").replace("%", "pc")
        (self.logs / f"{label}.log").write_text(step.output, "utf-8")
        (self.logs / f"{label}.requests").write_text(
            "".join(f"{method} {path}\n" for method, path in step.api), "utf-8"
        )
        return step


def report(step: Step) -> None:
    status = "ok" if step.ok else f"FAILED (exit {step.exit_code})"
    print(
        f"  {step.name:<22} {step.wall_s:8.2f} s  {len(step.api):5d} People API requests, "
        f"{len(step.oauth)} OAuth  emulator {step.server_s:6.2f} s  "
        f"peak RSS {step.peak_mb:5.0f} MB (RSS {step.rss_before_mb:.0f} -> "
        f"{step.rss_after_mb:.0f} MB)  {status}",
        flush=True,
    )
    print(f"      People API: {step.by_path()}")
    if step.listings():
        print(f"      {step.listings()}")
    print(f"      emulator: {step.server_by_path()}")
    print(f"      cycle collector: {step.gc_s:.2f} s in {step.gc_passes} passes")
    print(f"      OAuth: {', '.join(f'{n} {w}' for w, n in Counter(step.oauth).items()) or 'none'}")
    for line in step.output.strip().splitlines()[-3:]:
        print(f"      says: {line}")


# ---------------------------------------------------------------------------
# Checks and edits
# ---------------------------------------------------------------------------


def folder_emails(folder: Path) -> set[str]:
    """Every email address of the folder's contacts, lowercased."""
    emails = set()
    for path in folder.glob("*.vcf"):
        for line in unfold(path.read_text("utf-8")):
            head, _, value = line.partition(":")
            if head.split(";", 1)[0].rsplit(".", 1)[-1].upper() == "EMAIL":
                emails.add(value.strip().lower())
    return emails


def account_emails(account: GoogleAccount) -> tuple[int, set[str]]:
    """How many persons the emulator holds, and all their email addresses, lowercased."""
    persons = account.api.persons()
    emails = {
        str(entry.get("value", "")).strip().lower()
        for person in persons
        for entry in person.get("emailAddresses", ())
    }
    return len(persons), emails


def check_arrived(runner: Runner, step: Step, n: int, expected: set[str]) -> None:
    persons, emails = account_emails(runner.account)
    missing = len(expected - emails)
    extra = len(emails - expected)
    verdict = "all arrived" if persons == n and not missing and not extra else "MISMATCH"
    step.checks.append(
        f"persons {persons:,}/{n:,}; emails missing {missing}, extra {extra}: {verdict}"
    )
    created = step.created()
    if step.name == "first sync":
        made = "as expected" if created == (0, n) else "NOT ALL"
        step.checks.append(f"created (in A, in B): {created}, {made}")
    else:
        made = "nothing created" if created == (0, 0) else f"CREATED {created}"
        step.checks.append(f"{made}; batchCreateContacts {step.count(':batchCreateContacts')}")
    for line in step.checks:
        print(f"      check: {line}")


def edit_in_account(account: GoogleAccount, fraction: float, seed: int) -> list[Edited]:
    """Change the job title of ``fraction`` of the persons, as another Google client would."""
    persons = account.api.persons()
    rng = random.Random(f"google-edit:{seed}")
    chosen = rng.sample(persons, round(len(persons) * fraction))
    edited = []
    for number, person in enumerate(chosen):
        first = dict((person.get("organizations") or [{}])[0])
        for output_only in ("metadata", "formattedType"):
            first.pop(output_only, None)
        first["title"] = f"bench edit {seed}-{number}"
        account.api.edit_person(person["resourceName"], {"organizations": [first]})
        emails = frozenset(
            str(e.get("value", "")).strip().lower() for e in person.get("emailAddresses", ())
        )
        edited.append(Edited(Path(person["resourceName"]), None, emails))
    return edited


def titles_in_account(account: GoogleAccount, marker: str) -> int:
    return sum(
        1
        for person in account.api.persons()
        if any(marker in str(o.get("title", "")) for o in person.get("organizations", ()))
    )


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def targets(steps: dict[str, Step], n: int) -> dict[str, str]:
    limit = math.ceil(n / BATCH_LIMIT)
    out = {}
    for name, step in steps.items():
        if not step.ok:
            out[name] = "no figure: the sync failed"
    first = steps.get("first sync")
    if first is not None and first.ok:
        creates = first.count(":batchCreateContacts")
        out["first sync"] = (
            f"batchCreateContacts {creates} <= {limit}: {verdict(creates <= limit)} "
            f"(all requests {len(first.api)}, {n / max(1, len(first.api)):.0f} contacts a request)"
        )
    for name in ("nothing changed", "nothing changed again"):
        step = steps.get(name)
        if step is not None and step.ok:
            out[name] = f"People API requests {len(step.api)} = 1: {verdict(len(step.api) == 1)}"
    return out


def print_table(steps: dict[str, Step], n: int) -> None:
    goals = targets(steps, n)
    header = ["scenario", "s", "API req", "OAuth req", "emulator s", "GC s", "peak MB"]
    header.append("target")
    rows = [header]
    for name in SCENARIOS:
        step = steps.get(name)
        if step is None:
            continue
        rows.append(
            [
                name,
                f"{step.wall_s:.2f}" if step.ok else "failed",
                str(len(step.api)),
                str(len(step.oauth)),
                f"{step.server_s:.2f}",
                f"{step.gc_s:.2f}",
                f"{step.peak_mb:.0f}",
                goals.get(name, "-"),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(
        f"\n== results: {n:,} contacts, vCard folder -> emulated Google account "
        "(API req = People API requests, OAuth req = token requests, emulator s = its answer "
        "time, GC s = cycle collector, peak MB = this process's peak RSS so far, 10^6 bytes) =="
    )
    for position, row in enumerate(rows):
        print(
            "  ".join(
                c.ljust(w) if i in (0, len(row) - 1) else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if position == 0:
            print("  ".join("-" * width for width in widths))
    for name in SCENARIOS:
        step = steps.get(name)
        if step is not None:
            print(f"  {name}: {step.by_path()}")
            for line in step.checks:
                print(f"    {line}")


def print_profile(profiler: cProfile.Profile, path: Path, top: int) -> None:
    profiler.dump_stats(str(path))
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n== cProfile of the first sync (main thread only), by {order} ({path}) ==")
        body = text.getvalue()
        print(body[body.find("   ncalls") :].rstrip())


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="contacts (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--workdir", type=Path, help="work dir (default bench/work/google)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir afterwards")
    parser.add_argument("--skip-edits", action="store_true", help="no 1%% edits scenario")
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="profile the first sync with cProfile (slower; stats in WORKDIR/first-sync.prof)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    workdir = (args.workdir or BENCH / "work" / "google").resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):  # nothing of a real profile moves
        os.environ[f"XDG_{name}_HOME"] = str(workdir / "xdg" / name.lower())
    keyring.set_keyring(MemoryKeyring())

    began = time.perf_counter()
    generate(workdir / "folder", args.n, args.seed)
    print(f"generated {args.n:,} contacts in {time.perf_counter() - began:.1f} s", flush=True)
    expected = folder_emails(workdir / "folder")

    account = GoogleAccount(workdir / "google")
    try:
        os.environ.update(account.env)
        os.environ["PIESYNC_HTTP_TIMEOUT"] = HTTP_TIMEOUT
        clock = time_the_emulator(account)
        runner = Runner(workdir, account, clock)
        began = time.perf_counter()
        account.sign_in()
        print(
            f"signed in as {account.email} through the loopback flow in "
            f"{time.perf_counter() - began:.2f} s (OAuth: {', '.join(account.oauth.requests)}); "
            f"People API at {account.api.url}",
            flush=True,
        )
        connect = runner.cli(
            "connect",
            ["connect", CONNECTION, "--a", f"vcard:{runner.folder}", "--b", account.spec],
        )
        report(connect)
        if not connect.ok:
            print("connect failed: nothing to measure")
            return 0
        profiler = cProfile.Profile() if args.cprofile else None
        sync = ["sync", CONNECTION]
        for name in SCENARIOS:
            if name == "1% edits each side":
                if args.skip_edits:
                    break
                began = time.perf_counter()
                in_account = edit_in_account(account, EDIT_FRACTION, args.seed + 1)
                in_folder = edit_fraction(
                    runner.folder, EDIT_FRACTION, args.seed + 2, exclude=in_account
                )
                print(
                    f"  edited {len(in_account)} persons in the emulator, {len(in_folder)} other "
                    f"contacts in the folder ({time.perf_counter() - began:.1f} s)"
                )
            step = runner.cli(name, sync, profiler if name == "first sync" else None)
            report(step)
            if not step.ok:
                tail = "\n".join(step.output.strip().splitlines()[-15:])
                print(f"  the sync failed; the end of its output:\n{tail}")
                break
            if name == "1% edits each side":
                written = step.updated()
                if written is not None:
                    extra = written[0] - len(in_account), written[1] - len(in_folder)
                    step.checks.append(
                        f"updates written: folder {written[0]} ({len(in_account)} edited in "
                        f"Google), Google {written[1]} ({len(in_folder)} edited in the folder)"
                        + (f": {extra[0]} + {extra[1]} MORE than edited" if any(extra) else "")
                    )
                to_folder = count_marker(runner.folder, f"bench edit {args.seed + 1}-")
                to_account = titles_in_account(account, f"bench edit {args.seed + 2}-")
                step.checks.append(
                    f"edits propagated: Google->folder {to_folder}/{len(in_account)}, "
                    f"folder->Google {to_account}/{len(in_folder)}"
                )
            check_arrived(runner, step, args.n, expected)
        print_table(runner.steps, args.n)
        if account.api.internal_errors:
            print(f"\nthe emulator failed {len(account.api.internal_errors)} times; the first:")
            print(account.api.internal_errors[0])
        if profiler is not None:
            print_profile(profiler, workdir / "first-sync.prof", 30)
    finally:
        account.close()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
