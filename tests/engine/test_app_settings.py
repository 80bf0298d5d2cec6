"""The program's settings: saved in the store (a secret in the keyring), applied to the process
environment where the person's environment does not set them, by the CLI as by the window."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from helpers.cli import Cli
from keyring.backends import fail

from piesync_desktop.engine.app_settings import (
    APPLIED_VARIABLE,
    IN_KEYRING,
    SETTINGS,
    apply_saved_settings,
    save_settings,
    saved_settings,
    set_by_environment,
)
from piesync_desktop.engine.connectors import http
from piesync_desktop.engine.connectors.google import oauth
from piesync_desktop.engine.connectors.hubspot import settings as hubspot_settings
from piesync_desktop.engine.connectors.outlook import signin
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.store import Store
from piesync_desktop.secrets import KeyringUnavailable

SECRET = "GOCSPX-tH1s-1s-th3-s3cr3t"
CLIENT_ID = "1234-abc.apps.googleusercontent.com"
KEYRING_ENTRY = ("piesync-desktop:settings", "PIESYNC_GOOGLE_CLIENT_SECRET")
NAMES = [s.name for s in SETTINGS]


@pytest.fixture
def clean_environ(monkeypatch) -> Iterator[os._Environ[str]]:
    """``os.environ`` without any of the settings; what a test put there goes afterwards."""
    for name in [*NAMES, APPLIED_VARIABLE]:
        monkeypatch.delenv(name, raising=False)
    yield os.environ
    for name in [*NAMES, APPLIED_VARIABLE]:
        os.environ.pop(name, None)


def store_bytes(profile: Path) -> bytes:
    """Every byte of the store's files (the database, its WAL and shared memory, backups)."""
    return b"".join(path.read_bytes() for path in sorted(profile.glob("piesync*")))


def test_the_settings_are_the_ones_the_connectors_read() -> None:
    assert NAMES == [
        "PIESYNC_GOOGLE_CLIENT_ID",
        "PIESYNC_GOOGLE_CLIENT_SECRET",
        "PIESYNC_GOOGLE_AUTH_URL",
        "PIESYNC_GOOGLE_TOKEN_URL",
        "PIESYNC_GOOGLE_REVOKE_URL",
        "PIESYNC_PEOPLE_URL",
        "PIESYNC_MS_CLIENT_ID",
        "PIESYNC_MS_AUTHORITY",
        "PIESYNC_GRAPH_URL",
        "PIESYNC_HUBSPOT_URL",
        "PIESYNC_CA_BUNDLE",
        "PIESYNC_HTTP_TIMEOUT",
    ]
    assert [s.name for s in SETTINGS if s.secret] == ["PIESYNC_GOOGLE_CLIENT_SECRET"]
    assert all(s.label and s.help.endswith(".") for s in SETTINGS)
    defaults = {s.name: s.default for s in SETTINGS}  # what the dialog shows as "not set"
    assert defaults["PIESYNC_GOOGLE_AUTH_URL"] == oauth.AUTH_URL
    assert defaults["PIESYNC_GOOGLE_TOKEN_URL"] == oauth.TOKEN_URL
    assert defaults["PIESYNC_GOOGLE_REVOKE_URL"] == oauth.REVOKE_URL
    assert defaults["PIESYNC_PEOPLE_URL"] == oauth.PEOPLE_URL
    assert defaults["PIESYNC_MS_AUTHORITY"] == signin.AUTHORITY
    assert defaults["PIESYNC_GRAPH_URL"] == signin.GRAPH_URL
    assert defaults["PIESYNC_HUBSPOT_URL"] == hubspot_settings.DEFAULT_URL
    assert float(defaults["PIESYNC_HTTP_TIMEOUT"]) == http.READ_TIMEOUT


def test_saved_values_reach_the_environment_only_where_it_does_not_set_them(
    store: Store,
) -> None:
    save_settings(
        store,
        {
            "PIESYNC_GOOGLE_CLIENT_ID": CLIENT_ID,
            "PIESYNC_GOOGLE_CLIENT_SECRET": SECRET,
            "PIESYNC_PEOPLE_URL": "https://people.example/",
            "PIESYNC_HTTP_TIMEOUT": "90",
        },
    )
    environ = {"PIESYNC_HTTP_TIMEOUT": "5", "PIESYNC_PEOPLE_URL": "", "HOME": "/home/me"}
    applied = apply_saved_settings(store, environ)
    assert applied == ["PIESYNC_GOOGLE_CLIENT_ID", "PIESYNC_GOOGLE_CLIENT_SECRET"]
    assert environ["PIESYNC_GOOGLE_CLIENT_ID"] == CLIENT_ID
    assert environ["PIESYNC_GOOGLE_CLIENT_SECRET"] == SECRET
    assert environ["PIESYNC_HTTP_TIMEOUT"] == "5"  # the environment wins
    assert environ["PIESYNC_PEOPLE_URL"] == ""  # even set to nothing: the default, not the saved
    assert environ["HOME"] == "/home/me"
    assert set_by_environment(environ) == {"PIESYNC_HTTP_TIMEOUT": "5", "PIESYNC_PEOPLE_URL": ""}
    # what the connectors then read
    google = oauth.GoogleSettings.from_env(environ)
    assert (google.client_id, google.client_secret) == (CLIENT_ID, SECRET)
    assert google.people_url == oauth.PEOPLE_URL
    assert http.HttpSettings.from_env(environ).read_timeout == 5.0


def test_apply_writes_into_the_process_environment_by_default(
    store: Store, clean_environ, tmp_path: Path
) -> None:
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    save_settings(store, {"PIESYNC_CA_BUNDLE": str(bundle), "PIESYNC_HTTP_TIMEOUT": "120"})
    os.environ["PIESYNC_HTTP_TIMEOUT"] = "7"
    assert apply_saved_settings(store) == ["PIESYNC_CA_BUNDLE"]
    assert os.environ["PIESYNC_CA_BUNDLE"] == str(bundle)
    assert os.environ["PIESYNC_HTTP_TIMEOUT"] == "7"
    run = http.HttpSettings.from_env()  # reads os.environ, as every connector does
    assert (run.ca_bundle, run.read_timeout) == (str(bundle), 7.0)


def test_the_secret_is_in_the_keyring_and_not_in_the_sqlite_file(
    store: Store, profile: Path, memory_keyring
) -> None:
    save_settings(store, {"PIESYNC_GOOGLE_CLIENT_SECRET": SECRET, "PIESYNC_GOOGLE_CLIENT_ID": "x"})
    assert memory_keyring.secrets == {KEYRING_ENTRY: SECRET}
    assert store.settings() == {
        "PIESYNC_GOOGLE_CLIENT_ID": "x",
        "PIESYNC_GOOGLE_CLIENT_SECRET": IN_KEYRING,
    }
    assert saved_settings(store).values["PIESYNC_GOOGLE_CLIENT_SECRET"] == SECRET
    data = store_bytes(profile)
    assert b"PIESYNC_GOOGLE_CLIENT_ID" in data  # the files were read...
    assert SECRET.encode() not in data  # ...and the secret is in none of them
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert SECRET.encode() not in store_bytes(profile)


def test_a_secret_row_is_never_read_as_the_secret(store: Store, memory_keyring) -> None:
    store.save_settings({"PIESYNC_GOOGLE_CLIENT_SECRET": "planted-in-sqlite"})
    assert saved_settings(store).values == {}
    assert apply_saved_settings(store, environ := {}) == []
    assert environ == {}


def test_an_empty_value_deletes_the_setting(store: Store, memory_keyring) -> None:
    save_settings(
        store,
        {
            "PIESYNC_GOOGLE_CLIENT_SECRET": SECRET,
            "PIESYNC_GRAPH_URL": "https://graph.microsoft.us/v1.0",
            "PIESYNC_MS_CLIENT_ID": "0000-1111",
        },
    )
    save_settings(store, {"PIESYNC_GOOGLE_CLIENT_SECRET": "", "PIESYNC_GRAPH_URL": "  "})
    assert store.settings() == {"PIESYNC_MS_CLIENT_ID": "0000-1111"}
    assert memory_keyring.secrets == {}
    assert saved_settings(store).values == {"PIESYNC_MS_CLIENT_ID": "0000-1111"}


def test_applying_again_replaces_its_own_values_and_never_the_persons(store: Store) -> None:
    save_settings(
        store,
        {
            "PIESYNC_GOOGLE_CLIENT_ID": CLIENT_ID,
            "PIESYNC_GOOGLE_CLIENT_SECRET": SECRET,
            "PIESYNC_HTTP_TIMEOUT": "90",
        },
    )
    environ = {"PIESYNC_GRAPH_URL": "https://graph.example/v1.0"}
    apply_saved_settings(store, environ)
    # The Settings dialog saves: one value changed, one removed, one added, one the environment
    # sets (the dialog shows it read-only, but the store may hold an older value for it).
    save_settings(
        store,
        {
            "PIESYNC_GOOGLE_CLIENT_ID": "5678-def.apps.googleusercontent.com",
            "PIESYNC_GOOGLE_CLIENT_SECRET": "",
            "PIESYNC_MS_CLIENT_ID": "0000-1111",
            "PIESYNC_GRAPH_URL": "https://graph.microsoft.com/beta",
        },
    )
    applied = apply_saved_settings(store, environ)
    assert applied == ["PIESYNC_GOOGLE_CLIENT_ID", "PIESYNC_MS_CLIENT_ID", "PIESYNC_HTTP_TIMEOUT"]
    assert {k: v for k, v in environ.items() if k != APPLIED_VARIABLE} == {
        "PIESYNC_GOOGLE_CLIENT_ID": "5678-def.apps.googleusercontent.com",
        "PIESYNC_MS_CLIENT_ID": "0000-1111",
        "PIESYNC_HTTP_TIMEOUT": "90",
        "PIESYNC_GRAPH_URL": "https://graph.example/v1.0",
    }
    assert set_by_environment(environ) == {"PIESYNC_GRAPH_URL": "https://graph.example/v1.0"}
    # everything forgotten: the environment is as the person left it
    save_settings(store, {name: "" for name in NAMES})
    assert apply_saved_settings(store, environ) == []
    assert environ == {"PIESYNC_GRAPH_URL": "https://graph.example/v1.0"}


def test_nothing_saved_leaves_the_environment_untouched(store: Store) -> None:
    environ = {"PATH": "/usr/bin"}
    assert apply_saved_settings(store, environ) == []
    assert environ == {"PATH": "/usr/bin"}


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("PIESYNC_GOOGLE_TOKEN_URL", "oauth2.googleapis.com/token", "starts with https://"),
        ("PIESYNC_PEOPLE_URL", "ftp://people.example/", "starts with https://"),
        ("PIESYNC_HTTP_TIMEOUT", "soon", "number of seconds"),
        ("PIESYNC_HTTP_TIMEOUT", "0", "number of seconds"),
        ("PIESYNC_HTTP_TIMEOUT", "-5", "number of seconds"),
        ("PIESYNC_CA_BUNDLE", "/nowhere/ca.pem", "no file at /nowhere/ca.pem"),
        ("PIESYNC_HOME", "/tmp", "not a setting"),
    ],
)
def test_a_value_that_cannot_work_saves_nothing(
    store: Store, memory_keyring, name: str, value: str, said: str
) -> None:
    with pytest.raises(ConfigError, match=said):
        save_settings(store, {"PIESYNC_GOOGLE_CLIENT_SECRET": SECRET, name: value})
    assert store.settings() == {}
    assert memory_keyring.secrets == {}


def test_values_are_trimmed_and_a_file_path_expanded(
    store: Store, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ca.pem").write_text("pem")
    save_settings(
        store, {"PIESYNC_CA_BUNDLE": "~/ca.pem", "PIESYNC_GOOGLE_CLIENT_ID": f"  {CLIENT_ID}\n"}
    )
    assert store.settings() == {
        "PIESYNC_CA_BUNDLE": str(tmp_path / "ca.pem"),
        "PIESYNC_GOOGLE_CLIENT_ID": CLIENT_ID,
    }


def test_without_a_keyring_the_other_settings_still_apply(store: Store, memory_keyring) -> None:
    save_settings(store, {"PIESYNC_GOOGLE_CLIENT_SECRET": SECRET, "PIESYNC_MS_CLIENT_ID": "m"})
    keyring.set_keyring(fail.Keyring())
    saved = saved_settings(store)
    assert saved.values == {"PIESYNC_MS_CLIENT_ID": "m"}
    assert "keyring" in saved.problem
    environ: dict[str, str] = {}
    assert apply_saved_settings(store, environ) == ["PIESYNC_MS_CLIENT_ID"]
    # and saving a secret says so, with nothing half-saved
    with pytest.raises(KeyringUnavailable):
        save_settings(store, {"PIESYNC_GOOGLE_CLIENT_SECRET": "new", "PIESYNC_MS_CLIENT_ID": "n"})
    assert store.settings()["PIESYNC_MS_CLIENT_ID"] == "m"


def test_a_secret_the_keyring_cannot_give_now_keeps_what_was_applied(
    store: Store, memory_keyring
) -> None:
    save_settings(store, {"PIESYNC_GOOGLE_CLIENT_SECRET": SECRET})
    environ: dict[str, str] = {}
    apply_saved_settings(store, environ)
    keyring.set_keyring(fail.Keyring())
    assert apply_saved_settings(store, environ) == ["PIESYNC_GOOGLE_CLIENT_SECRET"]
    assert environ["PIESYNC_GOOGLE_CLIENT_SECRET"] == SECRET


def test_the_cli_applies_the_saved_settings_after_opening_the_store(
    profile: Path, clean_environ, memory_keyring
) -> None:
    with Store(profile / "piesync.sqlite3") as store:
        save_settings(
            store,
            {
                "PIESYNC_GOOGLE_CLIENT_ID": CLIENT_ID,
                "PIESYNC_GOOGLE_CLIENT_SECRET": SECRET,
                "PIESYNC_HTTP_TIMEOUT": "45",
            },
        )
    os.environ["PIESYNC_HTTP_TIMEOUT"] = "3"
    code, _out = Cli(profile)("connections")
    assert code == 0
    assert os.environ["PIESYNC_GOOGLE_CLIENT_ID"] == CLIENT_ID
    assert os.environ["PIESYNC_GOOGLE_CLIENT_SECRET"] == SECRET
    assert os.environ["PIESYNC_HTTP_TIMEOUT"] == "3"


def test_the_engine_module_needs_neither_qt_nor_the_keyring_to_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import piesync_desktop.engine.app_settings; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'keyring')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
