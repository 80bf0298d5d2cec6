"""Fixtures shared by every test: an in-memory keyring, profiles, stores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import keyring
import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Qt aborts without a screen: with no X display, GUI tests draw offscreen. scripts/test runs the
# suite under Xvfb, so real windows (and a real tray) are tested there.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from helpers.memory_keyring import MemoryKeyring

from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store


@pytest.fixture(autouse=True)
def memory_keyring() -> MemoryKeyring:
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "profile"
    path.mkdir()
    return path


@pytest.fixture
def store(profile: Path) -> Store:
    with Store(profile / "piesync.sqlite3") as opened:
        yield opened


@pytest.fixture
def locks(profile: Path) -> AccountLocks:
    return AccountLocks(profile / "locks")


@pytest.fixture(params=["whole", "lean"])
def both_load_modes(request, monkeypatch):
    """Run a test with everything held in memory, and in the lean way of big address books:
    only the store rows the changes touch, and contacts to create read again as they are sent."""
    from piesync_desktop.engine import sync

    lean = request.param == "lean"
    monkeypatch.setattr(sync, "FULL_LOAD_SHARE", float("inf") if lean else 0.0)
    monkeypatch.setattr(sync, "FULL_RECORDS_KEPT", 0 if lean else 10**9)
    return request.param
