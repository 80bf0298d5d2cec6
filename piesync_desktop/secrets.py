"""The only door to the system keyring: passwords and tokens never go to SQLite, files or logs.

A headless machine without a Secret Service gets keyring's ``fail.Keyring``; that is reported as
:class:`KeyringUnavailable` with what to do, never papered over with a plain-text file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keyring
import keyring.errors

from piesync_desktop.engine.errors import SyncError

SERVICE = "piesync-desktop"


class KeyringUnavailable(SyncError):
    """No usable keyring: secrets cannot be kept safely on this machine right now."""

    title = "No keyring available"


def _service(account_key: str) -> str:
    return f"{SERVICE}:{account_key}"


def store_secret(account_key: str, name: str, value: str) -> None:
    try:
        keyring.set_password(_service(account_key), name, value)
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(
            "Could not save the secret in the system keyring "
            f"({exc.__class__.__name__}). Start your desktop's keyring (GNOME Keyring, KWallet) "
            "and try again."
        ) from exc


def load_secret(account_key: str, name: str) -> str | None:
    try:
        return keyring.get_password(_service(account_key), name)
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(
            f"Could not read from the system keyring ({exc.__class__.__name__})."
        ) from exc


def forget_secret(account_key: str, name: str) -> None:
    try:
        keyring.delete_password(_service(account_key), name)
    except keyring.errors.PasswordDeleteError:
        pass
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailable(
            f"Could not remove the secret from the system keyring ({exc.__class__.__name__})."
        ) from exc


@contextmanager
def trial_secret(account_key: str, name: str, value: str) -> Iterator[None]:
    """Save ``value`` for the block (which checks it works); if the block fails, put back what
    was saved before, so a mistyped password never replaces a good one."""
    previous = load_secret(account_key, name)
    store_secret(account_key, name, value)
    try:
        yield
    except BaseException:
        if previous is None:
            forget_secret(account_key, name)
        else:
            store_secret(account_key, name, previous)
        raise
