"""Where the profile lives: --profile, then PIESYNC_HOME, then the user data folder."""

from __future__ import annotations

import stat

from piesync_desktop import paths


def test_override_wins_and_is_created_private(tmp_path, monkeypatch):
    monkeypatch.setenv("PIESYNC_HOME", str(tmp_path / "from-env"))
    chosen = paths.profile_dir(tmp_path / "given")
    assert chosen == (tmp_path / "given").resolve()
    assert stat.S_IMODE(chosen.stat().st_mode) == 0o700
    assert not (tmp_path / "from-env").exists()


def test_environment_then_user_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PIESYNC_HOME", str(tmp_path / "from-env"))
    assert paths.profile_dir() == (tmp_path / "from-env").resolve()
    monkeypatch.delenv("PIESYNC_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.profile_dir() == (tmp_path / "xdg" / "piesync-desktop").resolve()
    assert paths.store_path(paths.profile_dir()).name == "piesync.sqlite3"
