"""Per-account locks: a second holder of a shared account waits, says for whom, can cancel."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from piesync_desktop.engine import locks as locks_module
from piesync_desktop.engine.errors import Cancelled
from piesync_desktop.engine.locks import AccountLocks

WAIT = 5.0  # generous upper bound for anything that should happen promptly


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks_module, "POLL_SECONDS", 0.01)


class Contender(threading.Thread):
    """Takes the locks in another thread and keeps them until told to let go."""

    def __init__(
        self,
        locks: AccountLocks,
        keys: Sequence[str],
        holder: str,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.locks, self.keys, self.name_ = locks, keys, holder
        self.cancelled = cancelled
        self.waits: list[str] = []
        self.waiting = threading.Event()
        self.acquired = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None

    def on_wait(self, other: str) -> None:
        self.waits.append(other)
        self.waiting.set()

    def run(self) -> None:
        try:
            with self.locks.hold(self.keys, self.name_, self.on_wait, self.cancelled):
                self.acquired.set()
                self.release.wait(WAIT)
        except BaseException as exc:
            self.error = exc


def test_overlapping_accounts_wait_for_the_first_holder(locks: AccountLocks) -> None:
    with locks.hold(["vcard:/a", "vcard:/b"], "Work contacts"):
        second = Contender(locks, ["vcard:/b", "vcard:/c"], "Newsletter")
        second.start()
        assert second.waiting.wait(WAIT)
        assert not second.acquired.wait(0.2)  # still blocked after several polls
        assert second.waits == ["Work contacts"]  # said once, with the holder's name
        assert locks.holder("vcard:/b") == "Work contacts"
    assert second.acquired.wait(WAIT)  # released: the second one goes on
    assert locks.holder("vcard:/b") == "Newsletter"
    assert locks.holder("vcard:/c") == "Newsletter"
    assert locks.holder("vcard:/a") is None
    second.release.set()
    second.join(WAIT)
    assert second.error is None
    assert second.waits == ["Work contacts"]
    assert locks.holder("vcard:/b") is None


def test_disjoint_accounts_do_not_block(locks: AccountLocks) -> None:
    with locks.hold(["vcard:/a"], "first"):
        other = Contender(locks, ["vcard:/b"], "second")
        other.start()
        assert other.acquired.wait(WAIT)
        assert other.waits == []
        assert locks.holder("vcard:/a") == "first"
        assert locks.holder("vcard:/b") == "second"
        other.release.set()
        other.join(WAIT)
    assert other.error is None


def test_cancel_while_waiting_raises_cancelled_and_frees_what_it_held(
    locks: AccountLocks,
) -> None:
    stop = threading.Event()
    with locks.hold(["vcard:/b"], "first"):
        # "vcard:/a" sorts first, so the waiter holds it while it waits for "vcard:/b"
        waiter = Contender(locks, ["vcard:/b", "vcard:/a"], "second", cancelled=stop.is_set)
        waiter.start()
        assert waiter.waiting.wait(WAIT)
        assert locks.holder("vcard:/a") == "second"
        stop.set()
        waiter.join(WAIT)
        assert not waiter.is_alive()
        assert isinstance(waiter.error, Cancelled)
        assert "Cancelled while waiting" in str(waiter.error)
        assert not waiter.acquired.is_set()
        assert locks.holder("vcard:/a") is None  # released on the way out
        assert locks.holder("vcard:/b") == "first"  # the first holder is untouched
    assert locks.holder("vcard:/b") is None


def test_cancelled_is_not_consulted_when_the_lock_is_free(locks: AccountLocks) -> None:
    with locks.hold(["vcard:/a"], "first", cancelled=lambda: True):
        assert locks.holder("vcard:/a") == "first"


def test_holder_reports_the_holder(locks: AccountLocks) -> None:
    assert locks.holder("never used") is None
    with locks.hold(["k1"], "Connection one"):
        assert locks.holder("k1") == "Connection one"
        assert locks.holder("k2") is None
    assert locks.holder("k1") is None  # the name is still in the file, but nobody holds it
    with locks.hold(["k1"], "Two"):
        assert locks.holder("k1") == "Two"  # the old, longer name was truncated away


def test_the_same_account_twice_in_one_hold_does_not_deadlock(locks: AccountLocks) -> None:
    with locks.hold(["k", "k", "K"], "me"):
        assert locks.holder("k") == "me"
        assert locks.holder("K") == "me"


def test_lock_files_are_private_and_per_account(locks: AccountLocks) -> None:
    with locks.hold(["a", "b"], "me"):
        files = sorted(locks.folder.glob("*.lock"))
        assert len(files) == 2
        assert all(f.stat().st_mode & 0o077 == 0 for f in files)


def test_lock_held_by_another_process_is_freed_when_it_dies(locks: AccountLocks) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from piesync_desktop.engine.locks import AccountLocks\n"
        "with AccountLocks(Path(sys.argv[1])).hold(['shared'], 'CLI sync'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(locks.folder)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert locks.holder("shared") == "CLI sync"
        waiter = Contender(locks, ["shared"], "window")
        waiter.start()
        assert waiter.waiting.wait(WAIT)
        assert waiter.waits == ["CLI sync"]
    finally:
        child.kill()
        child.wait(WAIT)
    assert waiter.acquired.wait(WAIT)  # a crash never leaves an account locked
    waiter.release.set()
    waiter.join(WAIT)
    assert waiter.error is None
