"""The Qt binding keeps Python's reference counts right across signals.

PySide6 6.12.0 dropped one reference per argument delivered to a plain Python callable: after a
few thousand ``toggled(bool)`` signals, Python 3.11 aborted ("deallocating True or False"). The
pinned version must not do that.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QCheckBox


def test_signal_arguments_keep_their_references(qtbot) -> None:
    box = QCheckBox()
    qtbot.addWidget(box)
    seen: list[bool] = []
    box.toggled.connect(lambda checked: seen.append(checked))
    before = sys.getrefcount(True) + sys.getrefcount(False)
    for number in range(2000):
        box.setChecked(number % 2 == 0)
    after = sys.getrefcount(True) + sys.getrefcount(False)
    assert len(seen) == 2000
    assert after - before == 2000  # each kept argument holds exactly one reference
