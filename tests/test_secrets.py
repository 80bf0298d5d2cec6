"""The keyring door: secrets round-trip; a missing keyring is said clearly, never worked around."""

from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail

from piesync_desktop import secrets


def test_secret_round_trip_and_forget(memory_keyring):
    secrets.store_secret("carddav:https://me@dav.example/", "password", "s3cret")
    assert secrets.load_secret("carddav:https://me@dav.example/", "password") == "s3cret"
    assert memory_keyring.secrets == {
        ("piesync-desktop:carddav:https://me@dav.example/", "password"): "s3cret"
    }
    secrets.forget_secret("carddav:https://me@dav.example/", "password")
    assert secrets.load_secret("carddav:https://me@dav.example/", "password") is None
    secrets.forget_secret("carddav:https://me@dav.example/", "password")  # twice is fine


def test_no_keyring_is_a_clear_error_and_nothing_is_written_elsewhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(secrets.KeyringUnavailable, match="Start your desktop's keyring"):
        secrets.store_secret("acct", "token", "value")
    with pytest.raises(secrets.KeyringUnavailable):
        secrets.load_secret("acct", "token")
    assert list(tmp_path.iterdir()) == []
