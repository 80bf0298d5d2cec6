"""The headless commands: the same engine and store as the window, for terminals and scripts.

Scripts depend on this spelling: ``connect``, ``sync``, ``health``, ``trash``, ``connections``.
Bad arguments, a missing folder or an unknown connection print one clear line and exit 2 with
nothing changed; ``sync`` exits 0 when its runs completed (per-contact failures included) and 1
with a one-line reason when a run could not complete.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from piesync_desktop import paths
from piesync_desktop.engine.app_settings import apply_saved_settings
from piesync_desktop.engine.connection import (
    SHARE_INTERVAL_MINUTES,
    ConnectionSettings,
    Direction,
    Side,
)
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.errors import ConfigError, SyncError
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import RunSummary, Store, TrashDecision
from piesync_desktop.engine.sync import RunOptions, run_sync

if TYPE_CHECKING:
    from piesync_desktop.engine import health

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command line that cannot be carried out as written."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line for the person instead of usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="piesync-desktop", description="Keep your contacts in sync between the apps you use."
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="profile folder (default: PIESYNC_HOME or the user data folder)",
    )
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    connect = commands.add_parser("connect", help="create a connection between two apps")
    connect.add_argument("name")
    connect.add_argument("--a", required=True, metavar="APP:LOCATION")
    connect.add_argument("--b", required=True, metavar="APP:LOCATION")
    connect.add_argument(
        "--direction", choices=[d.value for d in Direction], default=Direction.TWO_WAY.value
    )
    connect.add_argument(
        "--winner",
        choices=["a", "b"],
        default="a",
        help="the app whose value wins a conflict (default a)",
    )
    connect.add_argument(
        "--sync-deletions",
        action="store_true",
        help="tag 'PieSync Trash' on the other side when a contact is deleted",
    )
    connect.add_argument(
        "--sync-unsubscribes",
        action="store_true",
        help="tag 'PieSync Unsubscribes' on the other side",
    )
    connect.add_argument(
        "--allow-no-email",
        action="store_true",
        help="turn Avoid Duplicates off: contacts without email sync too",
    )

    sync = commands.add_parser(
        "sync", help="sync connections and share jobs now (all when none is named)"
    )
    sync.add_argument("names", nargs="*", metavar="NAME")
    sync.add_argument(
        "--due",
        action="store_true",
        help="only those whose interval has passed since their last run (for cron)",
    )
    sync.add_argument(
        "--confirm",
        action="store_true",
        help="go on although a side lost most of its contacts (safety brake)",
    )

    show = commands.add_parser("health", help="the sync status of every contact")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    show.add_argument("--search", default="", help="only contacts matching name, email or id")

    trash = commands.add_parser(
        "trash", help="'PieSync Trash' candidates, where and when; keep or delete them"
    )
    trash.add_argument("name")
    trash.add_argument("--json", action="store_true")
    trash.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="ID",
        help="keep this contact: 'PieSync Trash' is removed at the next sync",
    )
    trash.add_argument(
        "--delete",
        action="append",
        default=[],
        metavar="ID",
        help="delete this contact where it remains, at the next sync (asks first on a terminal)",
    )
    trash.add_argument(
        "--undo",
        action="append",
        default=[],
        metavar="ID",
        help="withdraw a decision the next sync has not carried out yet",
    )
    trash.add_argument("--yes", action="store_true", help="do not ask before --delete")

    listing = commands.add_parser("connections", help="list connections")
    listing.add_argument("--json", action="store_true")

    remove = commands.add_parser("remove", help="forget a connection (never touches contacts)")
    remove.add_argument("name")

    share = commands.add_parser(
        "share",
        help="share a group of one account, one way, with other accounts (a share job); "
        "new destinations are synced at once",
    )
    share.add_argument("name")
    share.add_argument("--source", metavar="APP:LOCATION", help="where the group is (new job)")
    share.add_argument("--group", help="the group, label or category to share (new job)")
    share.add_argument(
        "--to",
        action="append",
        default=[],
        metavar="APP:LOCATION",
        help="a destination account (repeat for several)",
    )
    share.add_argument(
        "--interval",
        type=int,
        metavar="MINUTES",
        help=f"how often the job runs (default {SHARE_INTERVAL_MINUTES}: daily)",
    )

    unshare = commands.add_parser(
        "share-remove",
        help="remove a destination from a share job: deletes the copies the job made there",
    )
    unshare.add_argument("name")
    unshare.add_argument(
        "--to", metavar="APP:LOCATION", help="the destination (without: forget an empty job)"
    )
    unshare.add_argument("--yes", action="store_true", help="do not ask first")

    shares = commands.add_parser("shares", help="list share jobs and their destinations")
    shares.add_argument("--json", action="store_true")

    signin = commands.add_parser(
        "signin", help="sign in to an app's account (google, outlook, hubspot)"
    )
    signin.add_argument("app", choices=["google", "outlook", "hubspot"])
    signin.add_argument(
        "--no-browser",
        action="store_true",
        help="google: only print the address to open elsewhere",
    )
    signin.add_argument(
        "--browser",
        action="store_true",
        help="outlook: sign in in this machine's browser instead of with a device code",
    )

    signout = commands.add_parser("signout", help="sign out of an account and forget its token")
    signout.add_argument("app", choices=["google", "outlook", "hubspot"])
    signout.add_argument("account", metavar="EMAIL|PORTAL")

    accounts = commands.add_parser("accounts", help="list the accounts signed in or connected")
    accounts.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help(out)
            return EXIT_OK
        profile = paths.profile_dir(args.profile)
        with Store(paths.store_path(profile)) as store:
            apply_saved_settings(store)  # the Settings dialog's values, where the env has none
            handler = _HANDLERS[args.command]
            return handler(args, store, profile, out)
    except UsageError as exc:
        print(f"piesync-desktop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"piesync-desktop: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except SyncError as exc:
        print(f"piesync-desktop: {exc.message}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        print(
            "piesync-desktop: interrupted; nothing is lost, the next sync goes on.", file=sys.stderr
        )
        return 130


def _connect(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine import connection_setup  # a sync, run most, needs none of it

    args.a, args.b = _with_account(args.a, store), _with_account(args.b, store)
    with _trial_passwords([args.a, args.b]):
        a, b = connection_setup.validate_new_connection(args.a, args.b)
    mappings, rules = connection_setup.default_setup(a, b)
    a_side = connection_setup.SideChoice.of(args.a, a)
    b_side = connection_setup.SideChoice.of(args.b, b)
    settings = connection_setup.build_settings(
        args.name,
        a_side,
        b_side,
        direction=Direction(args.direction),
        winner=Side(args.winner),
        avoid_duplicates=not args.allow_no_email,
        sync_deletions=args.sync_deletions,
        sync_unsubscribes=args.sync_unsubscribes,
        mappings=mappings,
        rules=rules,
    )
    connection_setup.save_new_connection(store, settings, a_side, b_side)
    print(
        f"Connection '{settings.name}' created: {args.a} {_arrow(settings.direction)} "
        f"{args.b}. Run: piesync-desktop sync {settings.name}",
        file=out,
    )
    return EXIT_OK


@contextmanager
def _trial_passwords(specs: Sequence[str]) -> Iterator[None]:
    """The passwords of the CardDAV sides, from PIESYNC_CARDDAV_PASSWORD or typed in, saved in
    the keyring while the sides are checked and kept only if the check passes. An account whose
    password the keyring holds already (another connection uses it) is not asked again."""
    from piesync_desktop import secrets
    from piesync_desktop.engine.connectors.base import parse_spec
    from piesync_desktop.engine.connectors.carddav.location import PASSWORD, CardDavLocation

    with ExitStack() as trials:
        for spec in specs:
            app, location = parse_spec(spec)
            if app != "carddav":
                continue
            where = CardDavLocation.parse(location)
            if not where.username:
                continue
            password = os.environ.get("PIESYNC_CARDDAV_PASSWORD")
            if password is None:
                if secrets.load_secret(where.account_key, PASSWORD) is not None:
                    continue
                if not sys.stdin.isatty():
                    raise UsageError(
                        f"no password for {where.username} on {where.host}: set "
                        "PIESYNC_CARDDAV_PASSWORD, or run connect in a terminal to type it"
                    )
                password = getpass.getpass(f"Password for {where.username} on {where.host}: ")
            trials.enter_context(secrets.trial_secret(where.account_key, PASSWORD, password))
        yield


def _print_json(data: object, out: TextIO) -> int:
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")
    return EXIT_OK


def _arrow(direction: Direction) -> str:
    return {Direction.TWO_WAY: "<->", Direction.A_TO_B: "->", Direction.B_TO_A: "<-"}[direction]


def _sync(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    if args.names:
        chosen = [c for name in args.names for c in _connections_named(store, name)]
    else:
        chosen = [c for c in store.connections() if not c.paused]
        if not chosen:
            print(
                "No connections yet. Create one with: piesync-desktop connect NAME "
                "--a APP:LOCATION --b APP:LOCATION",
                file=out,
            )
            return EXIT_OK
    if args.due:
        from piesync_desktop.engine.schedule import due_connections

        due = {c.id for c in due_connections(store, time.time())}
        chosen = [c for c in chosen if c.id in due]
        if not chosen:
            print("Nothing is due.", file=out)
    return _run(chosen, store, profile, out, confirm=args.confirm)


def _connections_named(store: Store, name: str) -> list[ConnectionSettings]:
    """The connection ``name``, or the destinations of the share job ``name``."""
    if name in store.connection_names():
        return [store.connection(name)]
    if any(job.name == name for job in store.share_jobs()):
        job = store.share_job(name)
        every = store.job_destinations(job.id or 0)
        if not every:
            raise ConfigError(f"Share job '{name}' has no destination yet: add one with --to.")
        destinations = [c for c in every if not c.paused]
        if not destinations:
            raise ConfigError(
                f"Every destination of share job '{name}' is paused (a removal not finished: "
                "run share-remove again)."
            )
        return destinations
    return [store.connection(name)]  # the error names the connections there are


def _run(
    chosen: Sequence[ConnectionSettings],
    store: Store,
    profile: Path,
    out: TextIO,
    confirm: bool = False,
) -> int:
    """Run each connection once; one that fails is reported and the others go on."""
    locks = AccountLocks(paths.locks_dir(profile))
    status = EXIT_OK
    for settings in chosen:
        bar = _ProgressBar(settings.name) if sys.stderr.isatty() else None
        options = RunOptions(
            confirm=confirm,
            progress=bar.update if bar else None,
            on_wait=_waiting(settings.name),
        )
        connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
        try:
            summary = run_sync(store, settings, connectors, locks, options)
        except SyncError as exc:
            if bar:
                bar.done()
            print(f"{settings.name}: {exc.title}: {exc.message}", file=out)
            status = EXIT_RUN_FAILED
            continue
        if bar:
            bar.done()
        print(_summary_line(settings, summary), file=out)
    return status


def _summary_line(settings: ConnectionSettings, summary: RunSummary) -> str:
    c, u = summary.created, summary.updated
    counts = summary.counts
    if settings.share is not None:
        line = (
            f"{settings.name}: {c['b']} copies made, {u['b']} updated; "
            f"{counts.get('failing', 0)} failing"
        )
        if counts.get("failing"):
            line += f" (see: piesync-desktop health '{settings.name}')"
        return line
    line = (
        f"{settings.name}: created {c['a']} in A, {c['b']} in B; updated {u['a']} in A, "
        f"{u['b']} in B; {counts.get('in_sync', 0)} in sync, "
        f"{counts.get('excluded', 0)} excluded, {counts.get('duplicate', 0)} duplicates, "
        f"{counts.get('failing', 0)} failing"
    )
    if counts.get("failing"):
        line += f" (see: piesync-desktop health {settings.name})"
    return line


class _ProgressBar:
    """A one-line progress display on a terminal."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last = 0.0

    def update(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        if total:
            width = 30
            filled = int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.name}: {phase} [{bar}] {done}/{total}"
        else:
            text = f"{self.name}: {phase}..."
        sys.stderr.write("\r\x1b[K" + text[:120])
        sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


def _health(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine import health  # a sync, run most, needs none of it

    if args.name not in store.connection_names() and any(
        job.name == args.name for job in store.share_jobs()
    ):
        return _job_health(args, store, out)
    settings = store.connection(args.name)
    data = health.report(store, settings, search=args.search)
    if args.json:
        return _print_json(data, out)
    if settings.share is not None:
        tag_noun = open_connector(settings.b_spec).app.capabilities.tag_noun
        print(settings.share.note(tag_noun), file=out)
    print(
        f"{settings.name}: {data['in_sync']} in sync, {data['excluded']} excluded, "
        f"{data['duplicates']} duplicates, {data['failing']} failing",
        file=out,
    )
    run = data["last_run"]
    if run:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started_at"]))
        print(f"Last sync {when}: {run['status']} {run['message']}".rstrip(), file=out)
    for side in ("a", "b"):
        act = data["actions"][side]
        print(f"  {side.upper()}: {act['created']} created, {act['updated']} updated", file=out)
    if data["failure_reasons"]:
        print("Failure reasons:", file=out)
        for item in data["failure_reasons"]:
            print(f"  {item['count']:>5}  {item['reason']}", file=out)
    for contact in data["contacts"]:
        if contact["state"] != "in_sync" or args.search:
            reason = f" - {contact['reason']}" if contact["reason"] else ""
            email = f" <{contact['email']}>" if contact["email"] else ""
            print(
                f"  [{contact['state']}] {contact['side'].upper()} {contact['name']}{email} "
                f"({contact['id']}){reason}",
                file=out,
            )
    return EXIT_OK


def _job_health(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    """A share job's Health: each destination's state, and the job's own timeline."""
    from piesync_desktop.engine import health

    job = store.share_job(args.name)
    destinations = []
    for settings in store.job_destinations(job.id or 0):
        data = health.report(store, settings, search=args.search)
        destinations.append({"connection": settings.name, "to": settings.b_spec, **data})
    timeline = [asdict(event) for event in store.share_events(job.id or 0)]
    if args.json:
        return _print_json(
            {"job": asdict(job), "destinations": destinations, "timeline": timeline}, out
        )
    print(
        f"Share job '{job.name}': '{job.group}' of {job.source_spec}, every "
        f"{job.interval_minutes} minutes",
        file=out,
    )
    print(job.role().note(), file=out)
    if not destinations:
        print(
            "No destinations: add one with piesync-desktop share NAME --to APP:LOCATION", file=out
        )
    for data in destinations:
        run = data["last_run"]
        last = "never synced"
        if run:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run["started_at"]))
            last = f"last sync {when}: {run['status']} {run['message']}".rstrip()
        print(
            f"  {data['to']}: {data['in_sync']} in sync, {data['failing']} failing; {last}",
            file=out,
        )
        for item in data["failure_reasons"]:
            print(f"    {item['count']:>5}  {item['reason']}", file=out)
    if timeline:
        print("Timeline:", file=out)
    for event in timeline:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(event["at"]))
        name = f" {event['name']}" if event["name"] else ""
        detail = f" - {event['detail']}" if event["detail"] else ""
        print(f"  {when} {event['destination']}:{name} {event['action']}{detail}", file=out)
    return EXIT_OK


_DECISION_TEXT = {
    TrashDecision.KEEP: "Keep at next sync",
    TrashDecision.DELETE: "Delete at next sync",
}


def _trash(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine import health  # a sync, run most, needs none of it

    settings = store.connection(args.name)
    items = health.trash(store, settings.id or 0)
    choices = [
        *((TrashDecision.KEEP, ident) for ident in args.keep),
        *((TrashDecision.DELETE, ident) for ident in args.delete),
        *((None, ident) for ident in args.undo),
    ]
    if choices:
        _decide(args, store, settings, items, choices, out)
        if not args.json:
            return EXIT_OK
        items = health.trash(store, settings.id or 0)
    if args.json:
        return _print_json([asdict(item) for item in items], out)
    if not items:
        print(f"{settings.name}: nothing to review.", file=out)
    for item in items:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.deleted_at))
        tag = "tagged 'PieSync Trash'" if item.tagged else "not tagged"
        email = f" <{item.email}>" if item.email else ""
        decision = f"; {_DECISION_TEXT[TrashDecision(item.decision)]}" if item.decision else ""
        gone = (
            f"out of '{settings.share.group}' (or deleted) in"
            if settings.share is not None
            else "deleted in"
        )
        print(
            f"{item.side.upper()} {item.name}{email} ({item.id}): {gone} "
            f"{item.deleted_in.upper()} on {when}, {tag}{decision}",
            file=out,
        )
    return EXIT_OK


def _decide(
    args: argparse.Namespace,
    store: Store,
    settings: ConnectionSettings,
    items: list[health.TrashCandidate],
    choices: list[tuple[TrashDecision | None, str]],
    out: TextIO,
) -> None:
    """Record Trash review decisions: all of them, or none when one cannot be made."""
    named = [ident for _, ident in choices]
    twice = sorted({ident for ident in named if named.count(ident) > 1})
    if twice:
        raise UsageError(f"{', '.join(twice)} named more than once; choose one decision each")
    chosen = [(decision, _trash_item(items, ident, settings.name)) for decision, ident in choices]
    if args.delete and not args.yes and sys.stdin.isatty():
        confirmed = []
        for decision, item in chosen:
            if decision is TrashDecision.DELETE:
                out.write(f"Delete {item.name} in {item.app}? [y/N] ")
                out.flush()
                if sys.stdin.readline().strip().lower() not in ("y", "yes"):
                    print(f"Not deleted: {item.name} stays as it is.", file=out)
                    continue
            confirmed.append((decision, item))
        chosen = confirmed
    with store.transaction():
        for decision, item in chosen:
            store.decide_trash(settings.id or 0, item.side, item.id, decision)
    for decision, item in chosen:
        if decision is None:
            print(f"{item.name} in {item.app}: decision withdrawn.", file=out)
            continue
        verb = "keep" if decision is TrashDecision.KEEP else "delete"
        print(
            f"{item.name} in {item.app}: {verb}, carried out at the next sync "
            f"(piesync-desktop sync {settings.name}).",
            file=out,
        )


def _trash_item(
    items: list[health.TrashCandidate], ident: str, connection: str
) -> health.TrashCandidate:
    """The candidate named ``ident`` (its id, or ``a:ID`` / ``b:ID`` when both sides have it)."""
    found = [item for item in items if item.id == ident]
    side, sep, rest = ident.partition(":")
    if not found and sep and side.lower() in ("a", "b"):
        found = [item for item in items if item.side == side.lower() and item.id == rest]
    if len(found) > 1:
        raise ConfigError(
            f"{ident} names a contact in A and one in B of '{connection}': "
            f"write a:{ident} or b:{ident}."
        )
    if not found:
        raise ConfigError(
            f"No contact {ident} waits in the Trash review of '{connection}' "
            f"(see: piesync-desktop trash {connection})."
        )
    return found[0]


def _connections(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine import health  # a sync, run most, needs none of it

    rows = []
    for settings in store.own_connections():
        cid = settings.id or 0
        rows.append(
            {
                "name": settings.name,
                "a": settings.a_spec,
                "b": settings.b_spec,
                "direction": settings.direction.value,
                "winner": settings.winner.value,
                "avoid_duplicates": settings.avoid_duplicates,
                "sync_deletions": settings.sync_deletions,
                "sync_unsubscribes": settings.sync_unsubscribes,
                "paused": settings.paused,
                "counts": health.counts(store, cid),
                "last_run": health.last_run(store, cid),
            }
        )
    if args.json:
        return _print_json(rows, out)
    if not rows:
        print("No connections yet.", file=out)
    for row in rows:
        run = row["last_run"]
        last = run["status"] if run else "never synced"
        print(
            f"{row['name']}: {row['a']} {_arrow(Direction(row['direction']))} {row['b']} "
            f"({last}; {row['counts']['in_sync']} in sync)",
            file=out,
        )
    return EXIT_OK


def _remove(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    share = store.connection(args.name).share
    if share is not None:
        raise UsageError(
            f"'{args.name}' is a destination of share job '{share.job_name}': remove it with "
            f"piesync-desktop share-remove '{share.job_name}' --to APP:LOCATION"
        )
    store.remove_connection(args.name)
    print(f"Connection '{args.name}' removed. No contact was deleted in either app.", file=out)
    return EXIT_OK


def _signin(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    if args.app == "outlook":
        return _signin_outlook(args, store, out)
    if args.app == "hubspot":
        portal = _hubspot_token(store)
        print(
            f"Signed in to HubSpot portal {portal}. Connect all its contacts as "
            f"hubspot:@{portal}, or one static list as hubspot:LIST@{portal}",
            file=out,
        )
        return EXIT_OK
    import webbrowser

    from piesync_desktop.engine.connectors.google import oauth

    settings = oauth.GoogleSettings.from_env()
    with oauth.LoopbackSignIn(settings) as flow:
        print(f"Open this address in a browser to sign in to Google:\n\n  {flow.url}\n", file=out)
        if not args.no_browser:
            webbrowser.open(flow.url)
        print("Waiting for Google (Ctrl+C to stop)...", file=out)
        out.flush()
        tokens = flow.wait()
    oauth.save_sign_in(tokens)
    store.ensure_account("google", oauth.account_key(tokens.account), tokens.account)
    print(f"Signed in as {tokens.account}. Connect it as google:@{tokens.account}", file=out)
    return EXIT_OK


def _signin_outlook(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    """A device code in the terminal (the person signs in on any device), or with --browser
    this machine's browser and a loopback redirect."""
    import webbrowser

    from piesync_desktop.engine.connectors.http import HttpSettings
    from piesync_desktop.engine.connectors.outlook import signin

    accounts = signin.MicrosoftAccounts(signin.OutlookSettings.from_env(), HttpSettings.from_env())
    try:
        if args.browser:
            with accounts.start_browser_sign_in() as flow:
                print(
                    f"Open this address in a browser to sign in to Microsoft:\n\n  {flow.url}\n",
                    file=out,
                )
                webbrowser.open(flow.url)
                print("Waiting for Microsoft (Ctrl+C to stop)...", file=out)
                out.flush()
                signed_in = flow.wait()
        else:
            with accounts.start_device_sign_in() as device:
                print(
                    f"To sign in, open {device.verification_uri} on any device and enter the "
                    f"code {device.user_code}\n",
                    file=out,
                )
                print("Waiting for Microsoft (Ctrl+C to stop)...", file=out)
                out.flush()
                signed_in = device.wait()
    finally:
        accounts.close()
    label = signed_in.username
    store.ensure_account("outlook", signin.account_key(signed_in.username), label)
    print(
        f"Signed in as {signed_in.username}. Connect its Contacts folder as "
        f"outlook:@{signed_in.username}, or another folder as outlook:FOLDER@{signed_in.username}",
        file=out,
    )
    return EXIT_OK


def _signout(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    if args.app == "hubspot":
        return _signout_hubspot(args, out)
    if args.app == "outlook":
        from piesync_desktop.engine.connectors.http import HttpSettings
        from piesync_desktop.engine.connectors.outlook import signin

        accounts = signin.MicrosoftAccounts(
            signin.OutlookSettings.from_env(), HttpSettings.from_env()
        )
        try:
            held = accounts.sign_out(args.account)
        finally:
            accounts.close()
        account = args.account.strip().lower()
        print(
            f"Signed out of {account}: this computer no longer holds its sign-in."
            if held
            else f"This computer held no sign-in of {account}.",
            file=out,
        )
        return EXIT_OK
    from piesync_desktop.engine.connectors.google import oauth

    result = oauth.sign_out(args.account, oauth.GoogleSettings.from_env())
    print(result.message, file=out)
    return EXIT_OK


def _accounts(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine.connection_setup import connected_accounts

    found = connected_accounts(store)
    if args.json:
        return _print_json(
            [
                {
                    "app": a.app,
                    "account": a.label,
                    "connections": sorted({u.connection for u in a.used_by}),
                }
                for a in found
            ],
            out,
        )
    if not found:
        print(
            "No accounts yet. Sign in with: piesync-desktop signin google (or outlook, hubspot)",
            file=out,
        )
    for account in found:
        used = sorted({u.connection for u in account.used_by})
        where = f" (in {', '.join(used)})" if used else ""
        print(f"{account.app}: {account.label}{where}", file=out)
    return EXIT_OK


ACCOUNT_APPS = {"google": "Google", "outlook": "Microsoft", "hubspot": "HubSpot"}


def _hubspot_token(store: Store) -> int:
    """A private app's access token (PIESYNC_HUBSPOT_TOKEN, or typed in without echo), checked
    with HubSpot and kept in the keyring under the portal it belongs to; the portal's number."""
    from piesync_desktop import secrets
    from piesync_desktop.engine.connectors.http import HttpSettings
    from piesync_desktop.engine.connectors.hubspot.connector import portal_of
    from piesync_desktop.engine.connectors.hubspot.settings import (
        TOKEN,
        HubSpotSettings,
        account_key,
    )

    token = os.environ.get("PIESYNC_HUBSPOT_TOKEN", "").strip()
    if not token:
        if not sys.stdin.isatty():
            raise UsageError(
                "no HubSpot token: set PIESYNC_HUBSPOT_TOKEN to a private app's access token, "
                "or run this in a terminal to paste it"
            )
        token = getpass.getpass("HubSpot private-app access token: ").strip()
    if not token:
        raise UsageError("no token given: paste the private app's access token")
    portal = portal_of(token, HubSpotSettings.from_env(), HttpSettings.for_setup())
    secrets.store_secret(account_key(portal), TOKEN, token)
    store.ensure_account("hubspot", account_key(portal), str(portal))
    return portal


def _signout_hubspot(args: argparse.Namespace, out: TextIO) -> int:
    from piesync_desktop import secrets
    from piesync_desktop.engine.connectors.hubspot.settings import TOKEN, account_key

    portal = args.account.strip()
    if not portal.isdigit():
        raise UsageError("hubspot: give the portal's number (its Hub ID), as accounts lists it")
    held = secrets.load_secret(account_key(portal), TOKEN) is not None
    secrets.forget_secret(account_key(portal), TOKEN)
    print(
        f"Signed out of HubSpot portal {portal}: this computer no longer holds its token."
        if held
        else f"This computer held no token of HubSpot portal {portal}.",
        file=out,
    )
    return EXIT_OK


def _with_account(spec: str, store: Store) -> str:
    """``google:``/``google:GROUP``, ``outlook:``/``outlook:FOLDER`` and ``hubspot:``/
    ``hubspot:LIST`` with the one signed-in account of that app filled in; for HubSpot, the
    portal of the token asked for (see :func:`_hubspot_token`) when none is known, or when the
    one known has no token kept (signed out)."""
    app, _, location = spec.partition(":")
    if app not in ACCOUNT_APPS or "@" in location:
        return spec
    from piesync_desktop.engine.connection_setup import connected_accounts

    prefix = f"{app}:"
    emails = sorted(a.key[len(prefix) :] for a in connected_accounts(store) if a.app == app)
    if app == "hubspot" and len(emails) <= 1:
        from piesync_desktop import secrets
        from piesync_desktop.engine.connectors.hubspot.settings import TOKEN, account_key

        if not emails or secrets.load_secret(account_key(emails[0]), TOKEN) is None:
            # The token comes with connect, as a password: the first time, and after signout.
            emails = [str(_hubspot_token(store))]
    if not emails:
        raise UsageError(
            f"no {ACCOUNT_APPS[app]} account is signed in: run piesync-desktop signin {app}"
        )
    if len(emails) > 1:
        what = "PORTAL" if app == "hubspot" else "EMAIL"
        raise UsageError(
            f"several {ACCOUNT_APPS[app]} accounts are signed in; write {spec}@{what} with one "
            "of: " + ", ".join(emails)
        )
    return f"{spec}@{emails[0]}"


def _share(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine import share

    if args.interval is not None and args.interval < 1:
        raise UsageError("--interval is at least 1 minute")
    new = args.name not in {job.name for job in store.share_jobs()}
    if new:
        if not args.source or not args.group or not args.to:
            raise UsageError("a new share job needs --source, --group and at least one --to")
        source = _with_account(args.source, store)
        interval = args.interval or SHARE_INTERVAL_MINUTES
        job = share.create_job(store, args.name, source, args.group, interval)
    else:
        job = store.share_job(args.name)
        if args.source and _with_account(args.source, store) != job.source_spec:
            raise UsageError(f"share job '{job.name}' shares from {job.source_spec}")
        if args.group and args.group.strip() != job.group:
            raise UsageError(f"share job '{job.name}' shares the group '{job.group}'")
        if args.interval is not None:
            store.set_share_interval(job.id or 0, args.interval)
            print(f"Share job '{job.name}' now runs every {args.interval} minutes.", file=out)
    added: list[ConnectionSettings] = []
    try:
        with _trial_passwords([job.source_spec, *args.to]):
            for spec in args.to:
                added.append(share.add_destination(store, job, _with_account(spec, store)))
    except (ConfigError, UsageError):
        for settings in added:  # nothing ran yet: the command changes nothing after all
            store.remove_connection(settings.name)
        if new:
            store.remove_share_job(job.id or 0)
        raise
    verb = "created" if new else "changed"
    print(
        f"Share job '{job.name}' {verb}: '{job.group}' of {job.source_spec} to "
        f"{len(store.job_destinations(job.id or 0))} destinations.",
        file=out,
    )
    return _run(added, store, profile, out)  # a new destination is synced at once


def _share_remove(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine import share

    job = store.share_job(args.name)
    if args.to is None:
        if store.job_destinations(job.id or 0):
            raise UsageError(f"say which destination of '{job.name}' to remove (--to)")
        store.remove_share_job(job.id or 0)
        print(f"Share job '{job.name}' removed; it had no destination left.", file=out)
        return EXIT_OK
    destination = share.find_destination(store, job, _with_account(args.to, store))
    plan = share.plan_removal(store, job, destination, open_connector(destination.b_spec))
    for line in plan.describe():
        print(line, file=out)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("removing a destination deletes contacts there: add --yes to confirm")
        if input("Remove it? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Nothing was changed.", file=out)
            return EXIT_OK
    locks = AccountLocks(paths.locks_dir(profile))
    result = share.carry_out_removal(
        store, plan, open_connector(destination.b_spec), locks, on_wait=_waiting(destination.name)
    )
    if not result.complete:
        for problem in result.problems:
            print(f"{destination.name}: {problem}", file=out)
        print(
            f"The destination stays in '{job.name}', paused; run share-remove again to finish.",
            file=out,
        )
        return EXIT_RUN_FAILED
    print(
        f"{plan.label} removed from '{job.name}': {len(result.deleted)} copies deleted, "
        f"{len(result.kept)} of its own contacts left '{job.group}' and stayed.",
        file=out,
    )
    return EXIT_OK


def _waiting(name: str) -> Callable[[str], None]:
    return lambda other: print(f"{name}: waiting for connection {other}", file=sys.stderr)


def _shares(args: argparse.Namespace, store: Store, profile: Path, out: TextIO) -> int:
    from piesync_desktop.engine import health

    rows = []
    for job in store.share_jobs():
        destinations = []
        for settings in store.job_destinations(job.id or 0):
            cid = settings.id or 0
            destinations.append(
                {
                    "connection": settings.name,
                    "to": settings.b_spec,
                    "paused": settings.paused,
                    "counts": health.counts(store, cid),
                    "last_run": health.last_run(store, cid),
                }
            )
        rows.append(
            {
                "name": job.name,
                "source": job.source_spec,
                "group": job.group,
                "reference_tag": job.role().reference_tag,
                "interval_minutes": job.interval_minutes,
                "destinations": destinations,
            }
        )
    if args.json:
        return _print_json(rows, out)
    if not rows:
        print("No share jobs yet.", file=out)
    for row in rows:
        print(
            f"{row['name']}: '{row['group']}' of {row['source']}, every "
            f"{row['interval_minutes']} minutes",
            file=out,
        )
        for dest in row["destinations"]:
            run = dest["last_run"]
            last = run["status"] if run else "never synced"
            print(f"  -> {dest['to']} ({last}; {dest['counts']['in_sync']} in sync)", file=out)
    return EXIT_OK


_HANDLERS = {
    "signin": _signin,
    "signout": _signout,
    "accounts": _accounts,
    "connect": _connect,
    "sync": _sync,
    "health": _health,
    "trash": _trash,
    "connections": _connections,
    "remove": _remove,
    "share": _share,
    "share-remove": _share_remove,
    "shares": _shares,
}
