"""The program as a person starts it: the real main window on its own X screen, one instance per
profile, closing without a tray, and the command line choosing between window and CLI."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from piesync_desktop.__main__ import wants_window
from piesync_desktop.demo import DemoProfile

SCREENSHOTS = os.environ.get("PIESYNC_SCREENSHOTS")  # a folder to keep the screenshots in


@pytest.mark.parametrize(
    ("argv", "window"),
    [
        ([], True),
        (["--demo"], True),
        (["--profile", "/tmp/p"], True),
        (["--profile=/tmp/p", "--demo"], True),
        (["sync"], False),
        (["--profile", "/tmp/p", "health", "work"], False),
        (["--help"], False),
    ],
)
def test_no_command_opens_the_window(argv: list[str], window: bool) -> None:
    assert wants_window(argv) is window


@pytest.fixture
def x_screen() -> Iterator[str]:
    """A fresh Xvfb screen of 1280x800 with no tray on it."""
    for tool in ("Xvfb", "xdotool", "import"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/test installs it (xvfb, xdotool, imagemagick)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    yield f":{number}"
    server.terminate()
    server.wait(10)


def wait_for(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def windows_named(display: str, name: str) -> list[str]:
    found = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", name],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
    )
    return found.stdout.split()


def screenshot(display: str, path: Path) -> Path:
    subprocess.run(
        ["import", "-window", "root", str(path)], env={**os.environ, "DISPLAY": display}, check=True
    )
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SCREENSHOTS) / path.name)
    return path


def distinct_colours(path: Path) -> int:
    out = subprocess.run(
        ["identify", "-format", "%k", str(path)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def completed_runs(profile: Path) -> int:
    with sqlite3.connect(profile / "piesync.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0]


def test_the_real_window_opens_syncs_and_quits_without_a_tray(
    x_screen: str, demo_profile: DemoProfile, tmp_path: Path
) -> None:
    env = {**os.environ, "DISPLAY": x_screen, "PIESYNC_HOME": str(demo_profile.profile)}
    env.pop("QT_QPA_PLATFORM", None)
    before = completed_runs(demo_profile.profile)
    program = subprocess.Popen(
        [sys.executable, "-m", "piesync_desktop"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: windows_named(x_screen, "PieSync Desktop"), what="the main window")
        wait_for(lambda: completed_runs(demo_profile.profile) > before, what="the sync at start-up")
        assert "PieSync Trash" in (demo_profile.folder_a / "work-4.vcf").read_text()
        time.sleep(1.0)  # the window reloads its rows after the run
        shot = screenshot(x_screen, tmp_path / "main-window.png")
        assert distinct_colours(shot) > 50  # a drawn window, not an empty screen

        again = subprocess.run(
            [sys.executable, "-m", "piesync_desktop"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert again.returncode == 0
        assert "already running" in again.stdout
        assert program.poll() is None

        window = windows_named(x_screen, "PieSync Desktop")[0]
        subprocess.run(["xdotool", "key", "--window", window, "ctrl+q"], env=env, check=True)
        wait_for(lambda: windows_named(x_screen, "Quit PieSync Desktop"), what="the quit question")
        screenshot(x_screen, tmp_path / "quit-question.png")
        question = windows_named(x_screen, "Quit PieSync Desktop")[-1]
        subprocess.run(["xdotool", "windowfocus", "--sync", question], env=env, check=True)
        subprocess.run(["xdotool", "key", "Return"], env=env, check=True)
        assert program.wait(30) == 0
    finally:
        if program.poll() is None:
            program.send_signal(signal.SIGTERM)
            program.wait(10)
    errors = program.stderr.read() if program.stderr else ""
    assert "Traceback" not in errors


def test_without_a_screen_it_says_so_instead_of_aborting(profile: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    result = subprocess.run(
        [sys.executable, "-m", "piesync_desktop", "--profile", str(profile)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no screen" in result.stderr and "--help" in result.stderr
    assert "Traceback" not in result.stderr
