"""HubSpot test fixtures: a portal on the emulator, whose connectors (those the engine opens by
their spec too) wait on the emulator's clock, so waiting out a window costs no real time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.hubspot_account import HubSpotAccount


@pytest.fixture
def portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotAccount]:
    account = HubSpotAccount(tmp_path / "hubspot")
    account.wait_on_emulator_clock(monkeypatch)
    yield account
    account.close()
    assert account.api.internal_errors == []
