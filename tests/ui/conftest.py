"""Fixtures for the window's tests: a profile whose store was filled by a real sync of two real
vCard folders (the demo's address books), and the store-tasks thread the views read through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from piesync_desktop.demo import DemoProfile, build_demo
from piesync_desktop.ui.tasks import StoreTasks


@pytest.fixture
def demo_profile(profile: Path) -> DemoProfile:
    """The demo's profile after its set-up sync (a conflict and a deletion wait for the next)."""
    return build_demo(profile, people=60)


@pytest.fixture
def store_tasks(qtbot, profile: Path) -> Iterator[StoreTasks]:
    tasks = StoreTasks(profile / "piesync.sqlite3")
    yield tasks
    tasks.shutdown()
