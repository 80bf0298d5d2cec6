"""Which connections are due to run, by the store's memory of their last runs.

The window's scheduler (``ui/scheduler.py``) and ``sync --due`` (for cron or a systemd timer)
both ask here, so a share job that runs daily stays daily across restarts of the program.
"""

from __future__ import annotations

from piesync_desktop.engine.connection import ConnectionSettings
from piesync_desktop.engine.store import Store


def next_run(settings: ConnectionSettings, last_started: float | None) -> float:
    """When a connection is due (0: at once, it never ran)."""
    if last_started is None:
        return 0.0
    return last_started + settings.interval_minutes * 60


def due_connections(store: Store, now: float) -> list[ConnectionSettings]:
    """The connections, share destinations included, not paused and due at ``now``."""
    last = store.last_run_times()
    return [
        settings
        for settings in store.connections()
        if not settings.paused and next_run(settings, last.get(settings.id or 0)) <= now
    ]
