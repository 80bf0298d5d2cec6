"""Where the program keeps its files: one profile folder holding the store and the lock files.

platformdirs' user data dir by default; ``--profile DIR`` or ``PIESYNC_HOME`` point elsewhere
(tests, a second profile, the demo).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "piesync-desktop"
STORE_NAME = "piesync.sqlite3"


def profile_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The profile folder, created (private to the user) if missing."""
    chosen = override or os.environ.get("PIESYNC_HOME")
    path = Path(chosen).expanduser() if chosen else Path(platformdirs.user_data_dir(APP_NAME))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path.resolve()


def store_path(profile: Path) -> Path:
    return profile / STORE_NAME


def locks_dir(profile: Path) -> Path:
    path = profile / "locks"
    path.mkdir(exist_ok=True, mode=0o700)
    return path
