"""Outlook test fixtures: a signed-in mailbox on the two emulators, and quick waits (the same
steps as in a run, in milliseconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.outlook_account import OutlookAccount

from piesync_desktop.engine.connectors.outlook import graph, signin


@pytest.fixture(autouse=True)
def quick_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(signin, "DEVICE_POLL_FLOOR", 0.05)


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[OutlookAccount]:
    """A mailbox signed in through the browser flow (the test playing the browser)."""
    account = OutlookAccount(tmp_path / "outlook")
    account.sign_in()
    yield account
    account.close()
    assert account.graph.internal_errors == []
