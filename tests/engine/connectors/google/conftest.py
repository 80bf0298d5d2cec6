"""Google's backoff in tests: the same steps, in milliseconds instead of seconds."""

from __future__ import annotations

import pytest

from piesync_desktop.engine.connectors.google import connector


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connector, "BACKOFF_SECONDS", 0.01)
