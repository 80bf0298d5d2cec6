"""Errors written for the person, raised at the boundary where a library or OS error is understood.

Each carries a short ``title`` and a ``message`` that says what happened and what to do, so the CLI,
Health and the window can show it as it is. Anything else that escapes is a bug.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error the person is meant to read."""

    title = "Sync failed"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class ConfigError(SyncError):
    """A connection, option or argument that cannot work as given; nothing was changed."""

    title = "Invalid settings"


class ConnectorError(SyncError):
    """An app could not be reached or used for the whole run."""

    title = "App unavailable"


class AuthExpired(ConnectorError):
    """The app refused our credentials: the person must sign in again."""

    title = "Sign in again"


class Throttled(ConnectorError):
    """The app asked us to slow down; ``retry_after`` is in seconds when it said."""

    title = "Throttled"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """A failure worth retrying later (network, 5xx, timeouts)."""

    title = "Temporary failure"


class SafetyBrake(SyncError):
    """A side suddenly lost most of its contacts: the run stopped before writing anything."""

    title = "Sync paused for your confirmation"


class Cancelled(SyncError):
    """The person cancelled the run."""

    title = "Cancelled"
