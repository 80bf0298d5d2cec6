"""The program's icons, read from ``resources/icons`` (SVG, so they stay sharp at any scale)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICONS = RESOURCES / "icons"

STATE_ICONS = {
    "in_sync": "state-in-sync",
    "excluded": "state-excluded",
    "duplicate": "state-duplicate",
    "failing": "state-failing",
}


@cache
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg``; an empty icon (never an error) if it is missing."""
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def app_icon(app_key: str) -> QIcon:
    """The logo of an app of the catalogue (``vcard``, ``carddav``, ``outlook``, ...)."""
    return icon(f"app-{app_key}")


def state_icon(state: str) -> QIcon:
    """The symbol Health shows for a contact state: check, excluded, double, red warning."""
    return icon(STATE_ICONS.get(state, "state-excluded"))
