"""Time a vCard folder synced into an Outlook 365 contact folder, against the Graph emulator.

Why this exists: issue 5's benchmark. "10,000 contacts from a vCard folder into an empty
emulated folder, then a sync with nothing changed: wall time and the number of HTTP requests
(target: creates cost at most one request per 20 contacts, a nothing-changed sync costs one
delta request per page of changes)."

Like ``bench/google.py`` (read it first), it puts ``tests/`` on ``sys.path`` and uses the
emulators the connector is tested against as they are (``tests/emulators/ms_identity.py`` and
``graph.py``, wired by ``tests/helpers/outlook_account.py``), all in this process: a memory
keyring, the real browser sign-in (msal, PKCE, loopback; this runner plays the browser), and
``piesync_desktop.cli.main(["--profile", DIR, ...])``. It generates ``--n`` contacts
(``bench/generate.py``), runs ``connect bench --a vcard:FOLDER --b outlook:@ada@contoso.com``
(untimed), then times four syncs: the first (N creates into the empty Contacts folder), nothing
changed, nothing changed again and, unless ``--skip-edits``, 1% edits each side (``jobTitle`` of
1% of the Outlook contacts via ``GraphEmulator.edit_contact``, TITLE of 1% other files via
``edit_fraction``).

Per sync: wall time; Graph requests by method and path (ids as ``{id}``), each ``$batch`` with
its inner requests by kind (read from its body), delta pages split into the listing and the
catch-up ``cursor()`` sends after the run's own writes; answers that were not 2xx (none
expected: no faults are injected, so nothing backs off); token requests; the most mailbox
requests in flight; peak RSS. Checks: N contacts whose emails are the folder's, nothing created
after the first sync, the edits arrived. Targets, printed met/MISSED, never failed on: ``$batch``
requests with creates at most ceil(N/20); one delta request when nothing changed. To see what
was sent, the emulator's ``_top_level`` is wrapped on its instance; nothing under ``tests/`` or
``piesync_desktop/`` is changed.

Usage: ``.venv/bin/python bench/outlook.py [--n N] [--skip-edits] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import keyring

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from generate import Edited, edit_fraction, generate, unfold
from helpers.memory_keyring import MemoryKeyring
from helpers.outlook_account import OutlookAccount
from run import count_marker

from piesync_desktop import cli
from piesync_desktop.engine.connectors.outlook import overflow

CONNECTION = "bench"
EDIT_FRACTION = 0.01
BATCH_LIMIT = 20  # requests in one JSON batch, Graph's limit
SCENARIOS = ("first sync", "nothing changed", "nothing changed again", "1% edits each side")
SUMMARY = re.compile(r"created (\d+) in A, (\d+) in B; updated (\d+) in A, (\d+) in B")
IDS = re.compile(r"[A-Za-z0-9_\-+]{40,}={0,2}")


def pattern(path: str) -> str:
    return IDS.sub("{id}", unquote(urlsplit(path).path).removeprefix("/v1.0"))


@dataclass(slots=True)
class Sent:
    """One top-level request: its kind, its answer's status, and for a batch its inner ones."""

    kind: str
    status: int
    inner: list[str] = field(default_factory=list)
    inner_statuses: list[int] = field(default_factory=list)


def watch(account: OutlookAccount) -> list[Sent]:
    """Wrap the emulator's ``_top_level`` on this instance to log every request it answers."""
    log: list[Sent] = []
    graph: Any = account.graph
    answer = graph._top_level

    def logged(method: str, path: str, query: Any, headers: Any, body: bytes, *rest: Any) -> Any:
        reply = answer(method, path, query, headers, body, *rest)
        sent = Sent(f"{method} {pattern(path)}", reply.status)
        if sent.kind == "POST /$batch" and reply.status == 200:
            inner = json.loads(body)["requests"]
            sent.inner = [f"{r['method']} {pattern(r['url'])}" for r in inner]
            sent.inner_statuses = [r["status"] for r in reply.body["responses"]]
        log.append(sent)
        return reply

    graph._top_level = logged
    return log


@dataclass(slots=True)
class Step:
    name: str
    wall_s: float
    exit_code: int
    output: str
    sent: list[Sent]
    identity: list[str]
    in_flight: int
    peak_mb: float
    checks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def delta(self) -> tuple[int, int]:
        """(listing, catch-up) delta requests: the catch-up comes after the run's batches."""
        first_batch = next((i for i, s in enumerate(self.sent) if s.inner), len(self.sent))
        at = [i for i, s in enumerate(self.sent) if s.kind.endswith("/contacts/delta")]
        return sum(i < first_batch for i in at), sum(i > first_batch for i in at)

    def create_batches(self) -> int:
        return sum(1 for s in self.sent if any(k.startswith("POST ") for k in s.inner))

    def not_ok(self) -> int:
        codes = [s.status for s in self.sent] + [c for s in self.sent for c in s.inner_statuses]
        return sum(1 for c in codes if not 200 <= c < 300)

    def by_kind(self) -> str:
        counts = Counter(s.kind for s in self.sent)
        parts = []
        for kind, n in counts.most_common():
            if kind == "POST /$batch":
                inner = Counter(k for s in self.sent for k in s.inner)
                kinds = ", ".join(f"{m} {k}" for k, m in inner.most_common())
                parts.append(f"{n} POST /$batch ({sum(inner.values())} inside: {kinds})")
            else:
                parts.append(f"{n} {kind}")
        return "; ".join(parts) or "none"

    def tokens(self) -> int:
        return sum(1 for r in self.identity if r.startswith("token"))

    def summary(self) -> tuple[int, ...] | None:
        found = SUMMARY.search(self.output)
        return tuple(int(g) for g in found.groups()) if found else None


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def run(
    account: OutlookAccount, log: list[Sent], profile: Path, name: str, args: list[str]
) -> Step:
    """``cli.main(["--profile", PROFILE, *args])``, timed, with what it sent."""
    log.clear()
    account.graph.clear_requests()
    account.graph.max_in_flight = 0
    before = len(account.identity.requests)
    out, err = io.StringIO(), io.StringIO()
    began = time.perf_counter()
    with contextlib.redirect_stderr(err):
        try:
            code = cli.main(["--profile", str(profile), *args], out=out)
        except Exception:  # a crash is a figure too
            err.write(traceback.format_exc())
            code = -1
    wall, output = time.perf_counter() - began, out.getvalue() + err.getvalue()
    identity, in_flight = account.identity.requests[before:], account.graph.max_in_flight
    step = Step(name, wall, code, output, list(log), identity, in_flight, peak_mb())
    logged, counted = len(step.sent), account.graph.count()
    inner, counted_inner = sum(len(s.inner) for s in step.sent), account.graph.count_inner()
    if (logged, inner) != (counted, counted_inner):
        step.checks.append(f"LOG MISMATCH: {logged}/{inner} logged, {counted}/{counted_inner}")
    status = "ok" if step.ok else f"FAILED (exit {code})"
    listing, catch_up = step.delta()
    print(
        f"  {name:<22} {wall:8.2f} s  {len(step.sent):5d} Graph requests (delta: {listing} "
        f"listing, {catch_up} catch-up), {step.tokens()} token, non-2xx {step.not_ok()}, "
        f"in flight at most {step.in_flight}, peak RSS {step.peak_mb:.0f} MB  {status}",
        flush=True,
    )
    print(f"      Graph: {step.by_kind()}")
    print(f"      identity: {', '.join(step.identity) or 'none'}")
    for line in step.output.strip().splitlines()[-3:]:
        print(f"      says: {line}")
    return step


def emails_of(folder: Path) -> set[str]:
    emails = set()
    for path in folder.glob("*.vcf"):
        for line in unfold(path.read_text("utf-8")):
            head, _, value = line.partition(":")
            if head.split(";", 1)[0].rsplit(".", 1)[-1].upper() == "EMAIL":
                emails.add(value.strip().lower())
    return emails


def contact_emails(contact: dict[str, Any]) -> frozenset[str]:
    return frozenset(
        str(e.get("address", "")).strip().lower() for e in contact.get("emailAddresses") or ()
    )


def check(account: OutlookAccount, step: Step, n: int, expected: set[str]) -> None:
    contacts = account.graph.contacts(account.graph.default_folder_id)
    emails = frozenset().union(*map(contact_emails, contacts))
    missing, extra = len(expected - emails), len(emails - expected)
    good = len(contacts) == n and not missing and not extra
    step.checks.append(
        f"contacts {len(contacts):,}/{n:,}; emails missing {missing}, extra {extra}: "
        + ("all arrived" if good else "MISMATCH")
    )
    if step.name == "first sync":
        kept = sum(
            any(
                p.get("id") == overflow.PROPERTY for p in c.get("singleValueExtendedProperties", ())
            )
            for c in contacts
        )
        step.checks.append(f"contacts with values kept beside them (overflow): {kept:,}")
    made = step.summary()
    want = (0, n) if step.name == "first sync" else (0, 0)
    step.checks.append(
        f"created (in A, in B): {made[:2] if made else 'no summary'}"
        + (", as expected" if made and made[:2] == want else f", EXPECTED {want}")
    )
    for line in step.checks:
        print(f"      check: {line}")


def edit_outlook(account: OutlookAccount, fraction: float, seed: int) -> list[Edited]:
    """Change the jobTitle of ``fraction`` of the Outlook contacts, as another client would."""
    contacts = account.graph.contacts(account.graph.default_folder_id)
    chosen = random.Random(f"outlook-edit:{seed}").sample(contacts, round(len(contacts) * fraction))
    for number, contact in enumerate(chosen):
        account.graph.edit_contact(contact["id"], {"jobTitle": f"bench edit {seed}-{number}"})
    return [Edited(Path(c["id"]), None, contact_emails(c)) for c in chosen]


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def target(step: Step, n: int) -> str:
    if not step.ok:
        return "no figure: the sync failed"
    listing, catch_up = step.delta()
    if step.name == "first sync":
        limit, creates = math.ceil(n / BATCH_LIMIT), step.create_batches()
        return (
            f"$batch with creates {creates} <= {limit}: {verdict(creates <= limit)} (all requests "
            f"{len(step.sent)}: delta {listing} listing + {catch_up} catch-up pages)"
        )
    if step.name.startswith("nothing changed"):
        return (
            f"delta requests {listing + catch_up} = 1: {verdict(listing + catch_up == 1)} "
            f"(delta pages {listing + catch_up}, all requests {len(step.sent)})"
        )
    return "-"


def print_table(steps: dict[str, Step], n: int) -> None:
    rows = [["scenario", "s", "Graph req", "$batch", "inner", "delta", "tokens", "MB", "target"]]
    for step in steps.values():
        listing, catch_up = step.delta()
        rows.append(
            [
                step.name,
                f"{step.wall_s:.2f}" if step.ok else "failed",
                str(len(step.sent)),
                str(sum(1 for s in step.sent if s.kind == "POST /$batch")),
                str(sum(len(s.inner) for s in step.sent)),
                f"{listing}+{catch_up}",
                str(step.tokens()),
                f"{step.peak_mb:.0f}",
                target(step, n),
            ]
        )
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    print(
        f"\n== results: {n:,} contacts, vCard folder -> emulated Outlook folder (delta = listing"
        " + catch-up pages, tokens = token-endpoint requests, MB = peak RSS so far) =="
    )
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    for step in steps.values():
        for line in step.checks:
            print(f"  {step.name}: {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="contacts (default 10000)")
    parser.add_argument("--skip-edits", action="store_true", help="no 1%% edits scenario")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it")
    args = parser.parse_args(argv)
    if args.keep and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: not empty")
    workdir = (args.keep or Path(tempfile.mkdtemp(prefix="bench-outlook-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):  # nothing of a real profile moves
        os.environ[f"XDG_{name}_HOME"] = str(workdir / "xdg" / name.lower())
    keyring.set_keyring(MemoryKeyring())
    folder, profile = workdir / "folder", workdir / "profile"

    began = time.perf_counter()
    generate(folder, args.n, 0)
    print(f"generated {args.n:,} contacts in {time.perf_counter() - began:.1f} s", flush=True)
    expected = emails_of(folder)
    account = OutlookAccount(workdir / "outlook")
    try:
        os.environ.update(account.env)
        os.environ["PIESYNC_HTTP_TIMEOUT"] = "120"
        log = watch(account)
        account.sign_in()
        print(f"signed in as {account.username}; identity: {', '.join(account.identity.requests)}")
        connect = ["connect", CONNECTION, "--a", f"vcard:{folder}", "--b", account.spec()]
        if not run(account, log, profile, "connect", connect).ok:
            print("connect failed: nothing to measure")
            return 0
        steps: dict[str, Step] = {}
        for name in SCENARIOS:
            if name == "1% edits each side":
                if args.skip_edits:
                    break
                in_outlook = edit_outlook(account, EDIT_FRACTION, 1)
                in_folder = edit_fraction(folder, EDIT_FRACTION, 2, exclude=in_outlook)
                print(f"  edited {len(in_outlook)} in Outlook, {len(in_folder)} in the folder")
            step = steps[name] = run(account, log, profile, name, ["sync", CONNECTION])
            if not step.ok:
                print("  the sync failed; its output ends:")
                print("\n".join(step.output.strip().splitlines()[-15:]))
                break
            if name == "1% edits each side":
                to_folder = count_marker(folder, "bench edit 1-")
                contacts = account.graph.contacts(account.graph.default_folder_id)
                to_outlook = sum("bench edit 2-" in str(c.get("jobTitle")) for c in contacts)
                written = step.summary()
                step.checks.append(
                    f"edits arrived: Outlook->folder {to_folder}/{len(in_outlook)}, "
                    f"folder->Outlook {to_outlook}/{len(in_folder)}; updates written (A, B) "
                    f"{written[2:] if written else 'no summary'}"
                )
            check(account, step, args.n, expected)
        print_table(steps, args.n)
        if account.graph.internal_errors:
            print(f"\nthe emulator failed {len(account.graph.internal_errors)} times; the first:")
            print(account.graph.internal_errors[0])
    finally:
        account.close()
        if args.keep:
            print(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
