"""Time a vCard folder synced into a HubSpot portal, against the HubSpot emulator.

Why this exists: issue 7's benchmark. "10,000 contacts into an empty emulated account, then a
sync with nothing changed; wall time and requests (target: creates cost at most one request per
100 contacts)."

Like ``bench/outlook.py`` (read ``bench/google.py`` first), it puts ``tests/`` on ``sys.path`` and
uses the emulator the connector is tested against as it is (``tests/emulators/hubspot.py``, wired
by ``tests/helpers/hubspot_account.py``), all in this process: a memory keyring,
``PIESYNC_HTTP_TIMEOUT=120`` and ``piesync_desktop.cli.main(["--profile", DIR, ...])``. It
generates ``--n`` contacts (``bench/generate.py``), runs ``connect bench --a vcard:FOLDER --b
hubspot:`` (untimed; the CLI takes the private app's token from PIESYNC_HUBSPOT_TOKEN and learns
the portal), then times four syncs: the first (N creates into the empty portal), nothing changed,
nothing changed again and, unless ``--skip-edits``, 1% edits each side (``jobtitle`` of 1% of
the HubSpot contacts via ``HubSpotEmulator.edit_contact``, TITLE of 1% other files via
``edit_fraction``).

HubSpot's rate limits are on in the emulator (the tier's burst limit per 10 s, 5 searches a
second) and time is real by default, so the wall time includes what the connector's limiter
waits to keep under them. ``--fake-time`` gives every connector the account's limiter on the
emulator's clock instead (as ``HubSpotAccount.wait_on_emulator_clock`` does in the tests): its
waits move that clock, and the wall time leaves them out (they are printed apart). In real time
the connector module's ``RateLimiter`` is wrapped only to read how long each one waited.

Per sync: wall time; the seconds the limiters waited; requests by method and path (ids as
``{id}``) and by kind; answers that were not 2xx with HubSpot's words, 429s among them (none
expected: the limiter keeps under the limits); the most requests in any 10 s and searches in any
second the emulator saw (windows reaching back into the previous run count); the emulator's own
time answering, by kind; peak RSS. Checks: the portal holds N contacts, one per file, with an
email of that file; nothing created after the first sync; the edits arrived. Target, printed
met/MISSED, never failed on: batch/create requests at most ceil(N/100). To see each request's
query and status, the emulator's ``_handle`` is wrapped on its instance; nothing under
``tests/`` or ``piesync_desktop/`` is changed.

Usage: ``.venv/bin/python bench/hubspot.py [--n N] [--tier T] [--fake-time] [--skip-edits]
[--keep DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import keyring
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from emulators.hubspot import BURST_LIMITS
from generate import Edited, edit_fraction, generate, unfold
from helpers.hubspot_account import HubSpotAccount
from helpers.memory_keyring import MemoryKeyring
from run import count_marker

from piesync_desktop import cli
from piesync_desktop.engine.connectors.hubspot import api as hubspot_api
from piesync_desktop.engine.connectors.hubspot import connector as hubspot_connector

CONNECTION = "bench"
EDIT_FRACTION = 0.01
BATCH_LIMIT = 100  # inputs in one batch call, HubSpot's limit
SCENARIOS = ("first sync", "nothing changed", "nothing changed again", "1% edits each side")
SUMMARY = re.compile(r"created (\d+) in A, (\d+) in B; updated (\d+) in A, (\d+) in B")
IDS = ((re.compile(r"/name/[^/]+"), "/name/{name}"), (re.compile(r"/\d+(?=/|$)"), "/{id}"))
KINDS = (  # how requests are counted, in this order
    *("batch/create", "batch/update", "batch/read", "batch/archive", "search", "lists"),
    *("memberships", "properties", "listing", "archived listing", "account", "other"),
)


@dataclass(slots=True)
class Sent:
    """One request the emulator answered: ``METHOD /path`` with ids as ``{id}``, its kind, its
    status and the seconds the emulator took."""

    what: str
    kind: str
    status: int
    seconds: float
    words: str = ""  # for an error: HubSpot's policyName or category, and message


def pattern(method: str, path: str, query: dict[str, list[str]]) -> str:
    path = unquote(path)
    for found, replacement in IDS:
        path = found.sub(replacement, path)
    archived = path == "/crm/v3/objects/contacts" and query.get("archived", [""])[0] == "true"
    return f"{method} {path}" + ("?archived=true" if archived else "")


def kind_of(what: str) -> str:
    path = what.split(" ", 1)[1]
    if "/objects/contacts/batch/" in path:
        return path.rsplit("/objects/contacts/", 1)[1]
    if path.endswith("/objects/contacts/search"):
        return "search"
    if path.startswith("/crm/v3/objects/contacts"):
        return "archived listing" if path.endswith("?archived=true") else "listing"
    if path.startswith("/crm/v3/lists"):
        return "memberships" if "/memberships" in path else "lists"
    if path.startswith("/crm/v3/properties"):
        return "properties"
    return "account" if path.startswith("/account-info") else "other"


def watch(account: HubSpotAccount) -> list[Sent]:
    """Wrap the emulator's ``_handle`` on this instance to log every request it answers."""
    log: list[Sent] = []
    lock = threading.Lock()
    emulator: Any = account.api
    answer = emulator._handle

    def logged(method: str, path: str, query: Any, headers: Any, body: bytes, *rest: Any) -> Any:
        began = time.perf_counter()
        reply = answer(method, path, query, headers, body, *rest)
        seconds, what = time.perf_counter() - began, pattern(method, path, query)
        words = ""
        if reply.status >= 400 and isinstance(reply.body, dict):
            policy = reply.body.get("policyName") or reply.body.get("category")
            words = ": ".join(str(w) for w in (policy, reply.body.get("message")) if w)
        with lock:
            log.append(Sent(what, kind_of(what), reply.status, seconds, words))
        return reply

    emulator._handle = logged
    return log


class Limiters:
    """How long the connectors' rate limiters waited: every one made (real time), or the
    account's one limiter on the emulator's clock (``--fake-time``)."""

    def __init__(self, account: HubSpotAccount, fake_time: bool) -> None:
        self.patch = pytest.MonkeyPatch()
        self.made: list[hubspot_api.RateLimiter] = []
        if fake_time:
            account.wait_on_emulator_clock(self.patch)
            self.made.append(account.limiter)
        else:

            def recording(*args: Any, **kwargs: Any) -> hubspot_api.RateLimiter:
                limiter = hubspot_api.RateLimiter(*args, **kwargs)
                self.made.append(limiter)
                return limiter

            self.patch.setattr(hubspot_connector, "RateLimiter", recording)

    def waited(self) -> float:
        return sum(limiter.waited for limiter in self.made)

    def close(self) -> None:
        self.patch.undo()


@dataclass(slots=True)
class Step:
    name: str
    wall_s: float
    waited_s: float
    exit_code: int
    output: str
    sent: list[Sent]
    max_per_10s: int
    max_search_per_s: int
    peak_mb: float
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def count(self, kind: str) -> int:
        return sum(1 for s in self.sent if s.kind == kind)

    def throttled(self) -> int:
        return sum(1 for s in self.sent if s.status == 429)

    def not_ok(self) -> Counter[str]:
        return Counter(
            f"{s.status} to {s.what} ({s.words or 'no body'})"
            for s in self.sent
            if not 200 <= s.status < 300
        )

    def by_kind(self) -> str:
        counts = Counter(s.kind for s in self.sent)
        return ", ".join(f"{counts[k]} {k}" for k in KINDS if counts[k]) or "none"

    def by_path(self) -> str:
        counts = Counter(s.what for s in self.sent)
        return "; ".join(f"{n} {what}" for what, n in counts.most_common()) or "none"

    def emulator_s(self) -> float:
        return sum(s.seconds for s in self.sent)

    def emulator_by_kind(self) -> str:
        seconds: Counter[str] = Counter()
        for s in self.sent:
            seconds[s.kind] += s.seconds
        return ", ".join(f"{k} {t:.2f} s" for k, t in seconds.most_common()) or "none"

    def summary(self) -> tuple[int, ...] | None:
        found = SUMMARY.search(self.output)
        return tuple(int(g) for g in found.groups()) if found else None


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def run(
    account: HubSpotAccount,
    log: list[Sent],
    limiters: Limiters,
    profile: Path,
    name: str,
    args: list[str],
) -> Step:
    """``cli.main(["--profile", PROFILE, *args])``, timed, with what it sent."""
    log.clear()
    account.api.clear_requests()
    account.api.max_per_10s = account.api.max_search_per_second = 0
    waited = limiters.waited()
    out, err = io.StringIO(), io.StringIO()
    began = time.perf_counter()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main(["--profile", str(profile), *args], out=out)
        except Exception:  # a crash is a figure too
            err.write(traceback.format_exc())
            code = -1
    wall, output = time.perf_counter() - began, out.getvalue() + err.getvalue()
    step = Step(
        name,
        wall,
        limiters.waited() - waited,
        code,
        output,
        list(log),
        account.api.max_per_10s,
        account.api.max_search_per_second,
        peak_mb(),
    )
    if len(step.sent) != account.api.count():
        step.checks.append(f"LOG MISMATCH: {len(step.sent)} logged, {account.api.count()} counted")
    status = "ok" if step.ok else f"FAILED (exit {code})"
    print(
        f"  {name:<22} {wall:8.2f} s (limiter waited {step.waited_s:.2f} s)  {len(step.sent):5d} "
        f"requests, 429 {step.throttled()}, at most {step.max_per_10s} in 10 s and "
        f"{step.max_search_per_s} searches in 1 s, emulator {step.emulator_s():.2f} s, "
        f"peak RSS {step.peak_mb:.0f} MB  {status}",
        flush=True,
    )
    print(f"      kinds: {step.by_kind()}")
    print(f"      paths: {step.by_path()}")
    print(f"      emulator's time: {step.emulator_by_kind()}")
    for answer, times in step.not_ok().items():
        print(f"      not 2xx: {times} x {answer}")
    for line in step.output.strip().splitlines()[-3:]:
        print(f"      says: {line}")
    return step


def emails_by_file(folder: Path) -> dict[str, frozenset[str]]:
    found = {}
    for path in folder.glob("*.vcf"):
        emails = set()
        for line in unfold(path.read_text("utf-8")):
            head, _, value = line.partition(":")
            if head.split(";", 1)[0].rsplit(".", 1)[-1].upper() == "EMAIL":
                emails.add(value.strip().lower())
        found[path.name] = frozenset(emails)
    return found


def contact_email(contact: dict[str, Any]) -> str:
    return str((contact.get("properties") or {}).get("email") or "").strip().lower()


def check(account: HubSpotAccount, step: Step, n: int, files: dict[str, frozenset[str]]) -> None:
    contacts = account.api.contacts()
    emails = Counter(contact_email(c) for c in contacts)
    owner = {email: name for name, those in files.items() for email in those}
    matched = {owner[e] for e in emails if e in owner}
    missing, extra = len(files) - len(matched), sum(1 for e in emails if e not in owner)
    twice = sum(k - 1 for k in emails.values() if k > 1) + sum(
        1 for name in matched if sum(emails[e] for e in files[name]) > 1
    )
    good = len(contacts) == n and not missing and not extra and not twice
    step.checks.append(
        f"contacts {len(contacts):,}/{n:,}; files without their contact {missing}, emails of "
        f"no file {extra}, a file's contact twice {twice}: "
        + ("all arrived" if good else "MISMATCH")
    )
    made = step.summary()
    want = (0, n) if step.name == "first sync" else (0, 0)
    step.checks.append(
        f"created (in A, in B): {made[:2] if made else 'no summary'}"
        + (", as expected" if made and made[:2] == want else f", EXPECTED {want}")
    )
    for line in step.checks:
        print(f"      check: {line}")


def edit_hubspot(account: HubSpotAccount, fraction: float, seed: int) -> list[Edited]:
    """Change the jobtitle of ``fraction`` of the contacts, as another HubSpot client would."""
    contacts = account.api.contacts()
    chosen = random.Random(f"hubspot-edit:{seed}").sample(contacts, round(len(contacts) * fraction))
    for number, contact in enumerate(chosen):
        account.api.edit_contact(contact["id"], {"jobtitle": f"bench edit {seed}-{number}"})
    return [Edited(Path(str(c["id"])), None, frozenset({contact_email(c)})) for c in chosen]


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def target(step: Step, n: int) -> str:
    if not step.ok:
        return "no figure: the sync failed"
    if step.name == "first sync":
        limit, creates = math.ceil(n / BATCH_LIMIT), step.count("batch/create")
        return (
            f"batch/create {creates} <= {limit}: {verdict(creates <= limit)} "
            f"(all requests {len(step.sent)}: {step.by_kind()})"
        )
    return "-"


def print_table(steps: dict[str, Step], n: int, args: argparse.Namespace) -> None:
    head = ["scenario", "s", "waited", "req", "create", "update", "read", "search", "lists"]
    rows = [[*head, "members", "props", "archived", "429", "10s", "srch/s", "MB", "target"]]
    for step in steps.values():
        rows.append(
            [
                step.name,
                f"{step.wall_s:.2f}" if step.ok else "failed",
                f"{step.waited_s:.2f}",
                str(len(step.sent)),
                *(
                    str(step.count(k))
                    for k in ("batch/create", "batch/update", "batch/read", "search", "lists")
                ),
                *(str(step.count(k)) for k in ("memberships", "properties", "archived listing")),
                str(step.throttled()),
                str(step.max_per_10s),
                str(step.max_search_per_s),
                f"{step.peak_mb:.0f}",
                target(step, n),
            ]
        )
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    clock = "fake (emulator's clock)" if args.fake_time else "real"
    print(
        f"\n== results: {n:,} contacts, vCard folder -> emulated HubSpot portal ({args.tier}, "
        f"{BURST_LIMITS[args.tier]} per 10 s, time {clock}; waited = the limiter's waits, "
        "10s / srch/s = most requests in 10 s / searches in 1 s, MB = peak RSS so far) =="
    )
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for step in steps.values():
        for line in step.checks:
            print(f"  {step.name}: {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="contacts (default 10000)")
    parser.add_argument(
        "--tier", choices=sorted(BURST_LIMITS), default="professional", help="the portal's tier"
    )
    parser.add_argument(
        "--fake-time", action="store_true", help="wait on the emulator's clock, not for real"
    )
    parser.add_argument("--skip-edits", action="store_true", help="no 1%% edits scenario")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it")
    args = parser.parse_args(argv)
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: not empty")
    workdir = (args.keep or Path(tempfile.mkdtemp(prefix="bench-hubspot-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):  # nothing of a real profile moves
        os.environ[f"XDG_{name}_HOME"] = str(workdir / "xdg" / name.lower())
    keyring.set_keyring(MemoryKeyring())
    folder, profile = workdir / "folder", workdir / "profile"

    began = time.perf_counter()
    generate(folder, args.n, 0)
    print(f"generated {args.n:,} contacts in {time.perf_counter() - began:.1f} s", flush=True)
    files = emails_by_file(folder)
    account = HubSpotAccount(workdir / "hubspot", tier=args.tier)
    limiters = Limiters(account, args.fake_time)
    try:
        os.environ.update(account.env)
        os.environ["PIESYNC_HTTP_TIMEOUT"] = "120"
        account.api.rate_limits(enabled=True)
        log = watch(account)
        print(
            f"portal {account.portal}, tier {args.tier} ({BURST_LIMITS[args.tier]} requests per "
            f"10 s), rate limits on, time {'fake' if args.fake_time else 'real'}"
        )
        connect = ["connect", CONNECTION, "--a", f"vcard:{folder}", "--b", "hubspot:"]
        if not run(account, log, limiters, profile, "connect", connect).ok:
            print("connect failed: nothing to measure")
            return 0
        steps: dict[str, Step] = {}
        for name in SCENARIOS:
            if name == "1% edits each side":
                if args.skip_edits:
                    break
                in_hubspot = edit_hubspot(account, EDIT_FRACTION, 1)
                in_folder = edit_fraction(folder, EDIT_FRACTION, 2, exclude=in_hubspot)
                print(f"  edited {len(in_hubspot)} in HubSpot, {len(in_folder)} in the folder")
            step = steps[name] = run(account, log, limiters, profile, name, ["sync", CONNECTION])
            if not step.ok:
                print("  the sync failed; its output ends:")
                print("\n".join(step.output.strip().splitlines()[-15:]))
                break
            if name == "1% edits each side":
                to_folder = count_marker(folder, "bench edit 1-")
                to_hubspot = sum(
                    "bench edit 2-" in str((c.get("properties") or {}).get("jobtitle"))
                    for c in account.api.contacts()
                )
                written = step.summary()
                step.checks.append(
                    f"edits arrived: HubSpot->folder {to_folder}/{len(in_hubspot)}, "
                    f"folder->HubSpot {to_hubspot}/{len(in_folder)}; updates written (A, B) "
                    f"{written[2:] if written else 'no summary'}"
                )
            check(account, step, args.n, files)
        print_table(steps, args.n, args)
        if account.api.internal_errors:
            print(f"\nthe emulator failed {len(account.api.internal_errors)} times; the first:")
            print(account.api.internal_errors[0])
    finally:
        limiters.close()
        account.close()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
