"""Which sides a direction reads and writes, and who wins in a one-way connection."""

from __future__ import annotations

import pytest

from piesync_desktop.engine.connection import ConnectionSettings, Direction, Side


@pytest.mark.parametrize(
    ("direction", "writes_a", "writes_b"),
    [
        (Direction.TWO_WAY, True, True),
        (Direction.A_TO_B, False, True),
        (Direction.B_TO_A, True, False),
    ],
)
def test_direction_writes_and_reads(direction, writes_a, writes_b):
    assert direction.writes(Side.A) is writes_a
    assert direction.writes(Side.B) is writes_b
    assert direction.reads_from(Side.A) is writes_b
    assert direction.reads_from(Side.B) is writes_a


@pytest.mark.parametrize(
    ("direction", "winner", "expected"),
    [
        (Direction.TWO_WAY, Side.B, Side.B),
        (Direction.A_TO_B, Side.B, Side.A),
        (Direction.B_TO_A, Side.A, Side.B),
    ],
)
def test_the_source_of_a_one_way_connection_always_wins(direction, winner, expected):
    settings = ConnectionSettings("x", "vcard:/a", "vcard:/b", direction=direction, winner=winner)
    assert settings.effective_winner() is expected
    assert Side.A.other is Side.B and Side.B.other is Side.A
