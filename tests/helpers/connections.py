"""Connections saved the way the CLI's connect saves one, for tests that start from a store."""

from __future__ import annotations

from pathlib import Path

from piesync_desktop.engine.connection_setup import (
    SideChoice,
    build_settings,
    default_setup,
    save_new_connection,
    validate_new_connection,
)
from piesync_desktop.engine.store import Store


def save_connection(store_path: Path, name: str, a_spec: str, b_spec: str) -> None:
    """A connection with both sides opened for real, the default mapping and rules."""
    a, b = validate_new_connection(a_spec, b_spec)
    mappings, rules = default_setup(a, b)
    left, right = SideChoice.of(a_spec, a), SideChoice.of(b_spec, b)
    settings = build_settings(name, left, right, mappings=mappings, rules=rules)
    with Store(store_path) as store:
        save_new_connection(store, settings, left, right)
