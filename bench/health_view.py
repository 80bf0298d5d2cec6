"""Time the Health view on a connection of N contacts a side, and print the figures.

The runner fills a profile's store directly, as a sync of two address books of N contacts would
have left it: the record index of both sides (names and emails from ``generate.py``'s contacts;
most in sync, some excluded, duplicates and failing with a few reasons), the FTS5 search index
(filled by the store's own triggers), run summaries and the timeline (the store keeps its latest
50,000 rows). Then, with ``QT_QPA_PLATFORM=offscreen``, it measures:

- **open**: from creating ``HealthView`` until its counters and the first page of its contact
  list are shown (the header, actions, failure reasons and timeline arrive in the same round);
- **search**: from a keystroke in the search bar (the debounce timer fired at once, so the
  figure is the view's own latency, not the ~150 ms it waits for the person to stop typing)
  until the first page of results is shown, for a few queries;
- **scroll**: fetching the next page of the list at the end of what is loaded.

It prints figures against the targets (open <= 1 s, search <= 100 ms at N = 100,000) and never
fails on them. Usage: ``.venv/bin/python bench/health_view.py --n 100000`` (``--help``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import contact, unfold
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from piesync_desktop.engine.connection import ConnectionSettings, Direction
from piesync_desktop.engine.store import ACTIVITY_KEEP, SCHEMA_VERSION, RecordState, Store
from piesync_desktop.ui.health import HealthView
from piesync_desktop.ui.health_models import PAGE, ContactQuery
from piesync_desktop.ui.tasks import StoreTasks

TARGET_N = 100_000
TARGET_OPEN_S = 1.0
TARGET_SEARCH_S = 0.100
CONNECTION = "bench: work and phone"
FAILURE_REASONS = (
    "Phone refused to create it: 400 Bad Request: field 'phone' must be E.164",
    "Phone refused to create it: required field 'last name' is missing",
    "Phone refused the update: 409 Conflict",
    "Its counterpart in Phone cannot be read: the file is not a vCard",
)
EXCLUDED_NO_RULE = "Does not match any rule of this connection."
EXCLUDED_NO_EMAIL = (
    "No email address (Avoid Duplicates is on: contacts are matched on email). Add an email, "
    "or turn Avoid Duplicates off."
)


def person(index: int, seed: int) -> tuple[str, str, str]:
    """(uid, formatted name, first email) of generated contact ``index``."""
    uid, text = contact(seed, index)
    name = email = ""
    for line in unfold(text):
        if line.startswith("FN:") and not name:
            name = line[3:].replace("\\,", ",").replace("\\;", ";")
        elif line.startswith("EMAIL") and not email:
            email = line.split(":", 1)[1]
    return uid, name, email


def state_of(index: int) -> tuple[str, str]:
    """The state and reason of contact ``index``: ~95% in sync, the rest in the other lists."""
    bucket = index % 100
    if bucket < 2:
        return RecordState.EXCLUDED, EXCLUDED_NO_EMAIL
    if bucket == 2:
        return RecordState.EXCLUDED, EXCLUDED_NO_RULE
    if bucket == 3:
        return RecordState.DUPLICATE, "Same email as another contact; only that one is synced."
    if bucket == 4:
        return RecordState.FAILING, FAILURE_REASONS[(index // 100) % len(FAILURE_REASONS)]
    return RecordState.IN_SYNC, ""


def build_store(path: Path, n: int, seed: int = 0) -> None:
    """A store holding one two-way connection of ``n`` contacts a side, as after its syncs."""
    people = [person(index, seed) for index in range(n)]
    with Store(path) as store:
        a = store.ensure_account("vcard", "vcard:/bench/work", "/bench/work")
        b = store.ensure_account("vcard", "vcard:/bench/phone", "/bench/phone")
        settings = ConnectionSettings(
            CONNECTION, "vcard:/bench/work", "vcard:/bench/phone", Direction.TWO_WAY
        )
        cid = store.add_connection(settings, a, b)
        now = time.time()
        with store.transaction() as db:
            for side, prefix in (("a", ""), ("b", "phone-")):
                rows = []
                for index, (uid, name, email) in enumerate(people):
                    state, reason = state_of(index)
                    if email and reason == EXCLUDED_NO_EMAIL:
                        email = ""
                    link = (
                        index + 1 if state in (RecordState.IN_SYNC, RecordState.FAILING) else None
                    )
                    rows.append(
                        (
                            cid,
                            side,
                            prefix + uid,
                            state,
                            reason,
                            name,
                            email,
                            email.lower(),
                            link,
                            now,
                        )
                    )
                db.executemany(
                    """INSERT INTO records (connection_id, side, rid, state, reason, name, email,
                       match_key, link_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    rows,
                )
            first = db.execute(
                """INSERT INTO runs (connection_id, started_at, finished_at, status, created_a,
                   created_b, failed) VALUES (?, ?, ?, 'completed', ?, ?, ?)""",
                (cid, now - 3600, now - 3500, n // 3, n // 2, n // 100),
            ).lastrowid
            second = db.execute(
                """INSERT INTO runs (connection_id, started_at, finished_at, status, updated_a,
                   updated_b, failed) VALUES (?, ?, ?, 'completed', ?, ?, ?)""",
                (cid, now - 60, now - 58, n // 100, n // 100, n // 100),
            ).lastrowid
            activity = []
            created = min(n // 2, ACTIVITY_KEEP - n // 50)
            for index in range(created):  # the tail of the first run: creates in the phone
                uid, name, email = people[index]
                at = now - 3500 - (created - index) * 0.001
                activity.append((cid, first, at, "a", uid, name, email, "in_sync", "created in B"))
                activity.append(
                    (cid, first, at, "b", "phone-" + uid, name, email, "in_sync", "created")
                )
            rng = random.Random(seed)
            for index in rng.sample(range(n), n // 100):  # the second run: updates each way
                uid, name, email = people[index]
                side, rid = ("a", uid) if index % 2 else ("b", "phone-" + uid)
                activity.append(
                    (cid, second, now - 59, side, rid, name, email, "in_sync", "updated")
                )
            db.executemany(
                """INSERT INTO activity (connection_id, run_id, at, side, rid, name, email, state,
                   action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                activity[-ACTIVITY_KEEP:],
            )


# ---------------------------------------------------------------------------
# Measuring the view
# ---------------------------------------------------------------------------


def wait_for(signal: Any, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Run the event loop until ``done()`` holds, looking each time ``signal`` fires."""
    deadline = time.perf_counter() + timeout_s
    while not done():  # a loop can end with done() false again (see time_query): wait on
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError(f"nothing after {timeout_s:.0f} s")
        loop = QEventLoop()

        def check(*_args: object, loop: QEventLoop = loop) -> None:
            if done():
                loop.quit()

        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        signal.connect(check)
        timer.start(int(remaining * 1000) + 1)
        loop.exec()
        timer.stop()
        signal.disconnect(check)


def drain(tasks: StoreTasks) -> None:
    """Let every read asked for answer (so one figure never pays for another's leftovers)."""
    while tasks.pending:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)


def time_open(tasks: StoreTasks) -> tuple[float, HealthView]:
    """Seconds from creating the view until its counters and first page are painted."""
    start = time.perf_counter()
    view = HealthView(tasks, CONNECTION)
    view.resize(1280, 800)
    view.show()
    shown = {"loaded": False}
    view.loaded.connect(lambda: shown.update(loaded=True))
    wait_for(view.loaded, lambda: shown["loaded"])
    view.repaint()
    return time.perf_counter() - start, view


def time_query(view: HealthView, act: Callable[[], None], wanted: Callable[[], bool]) -> float:
    """Seconds from ``act()`` until the list's first page for it is painted.

    Only the first page is waited for: the table may go on to fetch the next page at once
    (a list shown after one scrolled to its end), which the person does not wait for.
    """
    model = view.contacts_model
    arrived = {"page": False}

    def first_page() -> None:
        if wanted():
            arrived["page"] = True

    model.loaded.connect(first_page)
    start = time.perf_counter()
    act()
    wait_for(model.loaded, lambda: arrived["page"])
    model.loaded.disconnect(first_page)
    view.contacts_table.viewport().repaint()
    view.caption.repaint()
    return time.perf_counter() - start


def show_everyone(view: HealthView, tasks: StoreTasks) -> None:
    """Clear the search and let the whole list load, untimed."""
    view.search.setText("")
    view.search_timer.setInterval(0)
    deadline = time.perf_counter() + 60
    while view.search_timer.isActive() or not model_idle(view) or tasks.pending:
        if time.perf_counter() > deadline:
            raise TimeoutError("the unfiltered list did not load in 60 s")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)


def time_search(view: HealthView, text: str) -> tuple[float, float, int]:
    """(seconds to the first page, seconds to the count, how many) for typing ``text``."""
    model = view.contacts_model
    view.search_timer.setInterval(0)  # the view's own latency, without the typing pause
    start = time.perf_counter()
    page = time_query(view, lambda: view.search.setText(text), lambda: model.query.search == text)
    wait_for(model.total_changed, lambda: model.total is not None)
    view.caption.repaint()
    counted = time.perf_counter() - start
    return page, counted, model.total or 0


def time_scroll(view: HealthView, pages: int) -> list[float]:
    """Seconds for each next page fetched at the end of the list as it is scrolled."""
    model, table = view.contacts_model, view.contacts_table
    figures = []
    for _ in range(pages):
        if not model.has_more:
            break
        rows = model.rowCount()
        start = time.perf_counter()
        table.scrollToBottom()
        wait_for(model.rowsInserted, lambda n=rows: model.rowCount() > n)
        table.viewport().repaint()
        figures.append(time.perf_counter() - start)
    return figures


def summary(values: Sequence[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):.0f} ms (min {ms[0]:.0f}, max {ms[-1]:.0f}, n={len(ms)})"


def verdict(seconds: float, target: float, n: int) -> str:
    if n != TARGET_N:
        return f"(target {target * 1000:.0f} ms at N = {TARGET_N:,})"
    return "target met" if seconds <= target else "MISSED"


def measure(store_path: Path, n: int, opens: int, queries: Sequence[str], repeats: int) -> None:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    tasks = StoreTasks(store_path)
    try:
        tasks.submit(lambda store: store.connection(CONNECTION))  # the program's store is open
        drain(tasks)
        open_times = []
        view: HealthView | None = None
        for _ in range(opens):
            seconds, view = time_open(tasks)
            open_times.append(seconds)
            drain(tasks)
            view.close()
            view.deleteLater()
            drain(tasks)
        first, rest = open_times[0], open_times[1:] or open_times
        print("\nopen (create HealthView -> counters and first page painted), target <= 1 s:")
        print(f"  first open {first * 1000:.0f} ms  {verdict(first, TARGET_OPEN_S, n)}")
        print(f"  again      {summary(rest)}  {verdict(max(rest), TARGET_OPEN_S, n)}")

        seconds, view = time_open(tasks)
        drain(tasks)
        print(
            "\nsearch (keystroke, debounce fired at once -> first page painted), target <= 100 ms:"
        )
        print(f"  {'query':<24} {'contacts':>9} {'first page':>11} {'count shown':>12}  verdict")
        for text in queries:
            pages, counts = [], []
            total = 0
            for _ in range(repeats):
                show_everyone(view, tasks)
                page, counted, total = time_search(view, text)
                drain(tasks)
                pages.append(page)
                counts.append(counted)
            page_ms = statistics.median(pages)
            count_ms = statistics.median(counts)
            print(
                f"  {text!r:<24} {total:>9,} {page_ms * 1000:>8.0f} ms {count_ms * 1000:>9.0f} ms"
                f"  {verdict(page_ms, TARGET_SEARCH_S, n)}"
            )

        show_everyone(view, tasks)
        scroll = time_scroll(view, 10)
        print(f"\nscroll (next page of {PAGE} at the end of the list): {summary(scroll)}")

        print("\nfilters (click -> first page painted):")
        reasons = view.reasons_model
        clicks: list[tuple[str, Callable[[], None], Callable[[], bool]]] = [
            (
                "In sync counter",
                lambda: view.show_state("in_sync"),
                lambda: view.contacts_model.query.state == "in_sync",
            ),
            (
                "Failing counter",
                lambda: view.show_state("failing"),
                lambda: view.contacts_model.query.state == "failing",
            ),
            (
                "a failure reason",
                lambda: view.show_reason(reasons.reason(0)),
                lambda: view.contacts_model.query.reason is not None,
            ),
            (
                "created in B",
                lambda: view.show_action("b", "created"),
                lambda: view.contacts_model.query.action == ("b", "created"),
            ),
            (
                "all contacts",
                view.show_all,
                lambda: view.contacts_model.query == ContactQuery(),
            ),
        ]
        for label, act, wanted in clicks:
            seconds = time_query(view, act, wanted)
            drain(tasks)
            print(f"  {label:<18} {seconds * 1000:6.0f} ms")
        view.close()
        drain(tasks)
    finally:
        tasks.shutdown()
    del app


def model_idle(view: HealthView) -> bool:
    return view.contacts_model.query.search == "" and not view.contacts_model.loading


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=TARGET_N, help="contacts a side (100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where the store goes (default bench/work/health-n<N>); an existing one is reused",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument("--opens", type=int, default=5, help="times the view is opened (5)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each search (3)")
    parser.add_argument(
        "--query", action="append", help="a search to time (repeatable; default: a set)"
    )
    return parser.parse_args(argv)


DEFAULT_QUERIES = (
    "a",
    "e",
    "x",
    "ma",
    "mar",
    "van der",
    "müller",
    "gmail",
    "phone-3",
    "maria",
    "nobody-here",
)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    workdir = args.workdir or Path(__file__).resolve().parent / "work" / f"health-n{args.n}"
    workdir.mkdir(parents=True, exist_ok=True)
    store_path = workdir / "piesync.sqlite3"
    marker = workdir / "built"
    wanted = f"n={args.n} seed={args.seed} schema={SCHEMA_VERSION}"  # a new schema: built again
    if args.rebuild or not marker.exists() or marker.read_text() != wanted:
        for stale in [*workdir.glob("piesync.sqlite3*"), *workdir.glob("piesync.v*.bak")]:
            stale.unlink()
        start = time.perf_counter()
        build_store(store_path, args.n, args.seed)
        marker.write_text(wanted)
        print(f"store built in {time.perf_counter() - start:.1f} s (not a figure of the view)")
    else:
        print(f"reusing the store in {workdir} ({wanted})")
    size = sum(p.stat().st_size for p in workdir.glob("piesync.sqlite3*")) / 1e6
    print(
        f"Health view, N = {args.n:,} contacts a side ({2 * args.n:,} records), "
        f"store {size:.0f} MB, {os.cpu_count()} cores, "
        f"QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}"
    )
    queries = args.query or list(DEFAULT_QUERIES)
    measure(store_path, args.n, max(1, args.opens), queries, max(1, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
