"""The main window with a connection to a CardDAV book on a real Radicale: its row while it syncs
and after, and a refused password shown in the row with what to do (and in the tray's words)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.dav_servers import DavServer, fresh_name, start_radicale
from PySide6.QtWidgets import QMessageBox

from piesync_desktop import paths, secrets
from piesync_desktop.cli import main
from piesync_desktop.engine.connectors.carddav.location import PASSWORD, CardDavLocation
from piesync_desktop.ui.connections_model import Column
from piesync_desktop.ui.main_window import MainWindow
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.sync_manager import RunState, SyncManager
from piesync_desktop.ui.tasks import StoreTasks

SHOTS = Path(os.environ.get("PIESYNC_SCREENSHOTS") or "/tmp/shots")


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[DavServer]:
    server = start_radicale(tmp_path / "radicale", auth=True)
    yield server
    server.stop()


@pytest.fixture
def connected(profile: Path, tmp_path: Path, radicale: DavServer, monkeypatch) -> CardDavLocation:
    """A folder of three contacts connected to an empty book of alice's."""
    folder = tmp_path / "phone"
    folder.mkdir()
    for number, name in enumerate(("Ann Lee", "Bob Stone", "Cy Young")):
        given, family = name.split()
        (folder / f"{number}.vcf").write_text(
            f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u{number}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
            f"EMAIL:{given.lower()}@example.org\r\nEND:VCARD\r\n",
            newline="",
        )
    book = CardDavLocation(radicale.make_addressbook(fresh_name("work")), "alice")
    monkeypatch.setenv("PIESYNC_CARDDAV_PASSWORD", "s3cret pass")
    code = main(["--profile", str(profile), "connect", "work", "--a", f"vcard:{folder}",
                 "--b", book.spec])  # fmt: skip
    assert code == 0
    return book


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


def test_a_carddav_connection_syncs_and_a_refused_password_says_what_to_do(
    qtbot, window: MainWindow, connected: CardDavLocation, memory_keyring
) -> None:
    window.table.selectRow(0)
    assert cell(window, Column.APPS).endswith(
        f"CardDAV · {connected.url.split('/')[-2]} on 127.0.0.1"
    )
    sync_now(qtbot, window)
    qtbot.waitUntil(lambda: cell(window, Column.IN_SYNC) == "6")
    assert window.manager.status("work").state is RunState.IDLE
    SHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SHOTS / "main-window-carddav.png"))

    secrets.store_secret(connected.account_key, PASSWORD, "an old one")  # changed on the server
    sync_now(qtbot, window)
    status = window.manager.status("work")
    assert status.state is RunState.SIGN_IN
    qtbot.waitUntil(lambda: "Sign in again" in cell(window, Column.STATUS))
    assert "refused the user name or password of alice" in cell(window, Column.STATUS)
    assert "Traceback" not in cell(window, Column.STATUS)
    window.grab().save(str(SHOTS / "main-window-carddav-sign-in.png"))
