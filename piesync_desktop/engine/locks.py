"""Per-account locks shared by the window, the tray and the CLI (separate processes included).

Two connections that touch the same account never sync at the same time: each run takes an
``fcntl`` lock on one file per account in the profile's ``locks`` folder, writing its connection
name there so the one that waits can say "waiting for connection <name>". The OS frees the lock
when a process dies, so a crash never leaves an account locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from piesync_desktop.engine.errors import Cancelled

POLL_SECONDS = 0.2


class AccountLocks:
    """Lock files for the accounts of one profile."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, account_key: str) -> Path:
        digest = hashlib.sha1(account_key.encode()).hexdigest()[:16]
        return self.folder / f"{digest}.lock"

    @contextlib.contextmanager
    def hold(
        self,
        account_keys: Sequence[str],
        holder: str,
        on_wait: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[None]:
        """Hold every account's lock (in a fixed order, so two runs never deadlock)."""
        files: list[int] = []
        try:
            for key in sorted(set(account_keys)):
                files.append(self._acquire(key, holder, on_wait, cancelled))
            yield
        finally:
            for fd in reversed(files):
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _acquire(
        self,
        key: str,
        holder: str,
        on_wait: Callable[[str], None] | None,
        cancelled: Callable[[], bool] | None,
    ) -> int:
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o600)
        told = ""
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
                if on_wait and other != told:
                    on_wait(other or "another connection")
                    told = other
                if cancelled and cancelled():
                    os.close(fd)
                    raise Cancelled("Cancelled while waiting for another connection.") from None
                time.sleep(POLL_SECONDS)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
            return fd

    def holder(self, account_key: str) -> str | None:
        """The connection holding an account's lock now, if any."""
        path = self._path(account_key)
        if not path.exists():
            return None
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "?"
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)
