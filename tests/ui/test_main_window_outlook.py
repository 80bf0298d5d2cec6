"""The main window with a connection to an Outlook contact folder (the Graph and identity
emulators): its row after a sync, and a sign-in Microsoft revoked shown in the row as "Sign in
again" with Microsoft's reason."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.outlook_account import OutlookAccount
from PySide6.QtWidgets import QMessageBox

from piesync_desktop import paths
from piesync_desktop.cli import main
from piesync_desktop.ui.connections_model import Column
from piesync_desktop.ui.main_window import MainWindow
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.sync_manager import RunState, SyncManager
from piesync_desktop.ui.tasks import StoreTasks

SHOTS = Path(os.environ.get("PIESYNC_SCREENSHOTS") or "/tmp/shots")


@pytest.fixture
def mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OutlookAccount]:
    account = OutlookAccount(tmp_path / "outlook")
    for name, value in account.env.items():
        monkeypatch.setenv(name, value)
    account.sign_in()
    yield account
    account.close()


@pytest.fixture
def connected(profile: Path, tmp_path: Path, mailbox: OutlookAccount) -> OutlookAccount:
    """A folder of three contacts connected to the mailbox's 'Family' folder."""
    folder = tmp_path / "phone"
    folder.mkdir()
    for number, name in enumerate(("Ann Lee", "Bob Stone", "Cy Young")):
        given, family = name.split()
        (folder / f"{number}.vcf").write_text(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u{number}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
            f"EMAIL:{given.lower()}@example.org\r\nEND:VCARD\r\n",
            newline="",
        )
    mailbox.graph.add_folder("Family")
    code = main(["--profile", str(profile), "connect", "family", "--a", f"vcard:{folder}",
                 "--b", mailbox.spec("Family")])  # fmt: skip
    assert code == 0
    return mailbox


@pytest.fixture
def window(qtbot, profile: Path, connected, monkeypatch) -> Iterator[MainWindow]:
    tasks = StoreTasks(paths.store_path(profile))
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
    scheduler = SyncScheduler(manager)
    shown = MainWindow(tasks, manager, scheduler)
    shown.resize(1280, 800)
    shown.show()
    qtbot.waitUntil(lambda: shown.model.rowCount() == 1)
    yield shown
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    shown.close()
    shown.deleteLater()
    scheduler.stop()
    manager.shutdown()
    tasks.shutdown()


def sync_now(qtbot, window: MainWindow) -> None:
    with qtbot.waitSignal(window.manager.run_finished, timeout=30_000):
        window.sync_action.trigger()
    qtbot.waitUntil(lambda: window.tasks.pending == 0)


def cell(window: MainWindow, column: Column) -> str:
    return window.model.index(0, column).data()


def test_an_outlook_connection_syncs_and_a_revoked_sign_in_says_sign_in_again(
    qtbot, window: MainWindow, connected: OutlookAccount
) -> None:
    window.table.selectRow(0)
    assert cell(window, Column.APPS).endswith(f"Outlook 365 · Family ({connected.username})")
    sync_now(qtbot, window)
    qtbot.waitUntil(lambda: cell(window, Column.IN_SYNC) == "6")
    assert window.manager.status("family").state is RunState.IDLE
    SHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SHOTS / "main-window-outlook.png"))

    connected.identity.revoke_refresh_tokens()  # the person's sessions were revoked
    connected.identity.expire_access_tokens()
    sync_now(qtbot, window)
    assert window.manager.status("family").state is RunState.SIGN_IN
    qtbot.waitUntil(lambda: "Sign in again" in cell(window, Column.STATUS))
    assert connected.username in cell(window, Column.STATUS)
    assert "Traceback" not in cell(window, Column.STATUS)
    window.grab().save(str(SHOTS / "main-window-outlook-sign-in.png"))
