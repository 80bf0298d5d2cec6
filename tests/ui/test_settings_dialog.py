"""The Settings dialog over a real store and keyring: it opens with the saved values, saves what
was edited (the secret to the keyring only), shows what the environment sets read-only, and is
opened from the main window's menu."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGroupBox, QLineEdit, QSpinBox

from piesync_desktop import paths
from piesync_desktop.engine.app_settings import IN_KEYRING, save_settings
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.main_window import MainWindow
from piesync_desktop.ui.scheduler import SyncScheduler
from piesync_desktop.ui.settings_dialog import SettingsDialog
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.tasks import StoreTasks

SCREENSHOTS = os.environ.get("PIESYNC_SCREENSHOTS")  # a folder to keep the screenshots in
SECRET = "GOCSPX-s3cr3t-0f-th3-cl13nt"
NEW_SECRET = "GOCSPX-an0th3r-s3cr3t"
CLIENT_ID = "1234-abc.apps.googleusercontent.com"
KEYRING_ENTRY = ("piesync-desktop:settings", "PIESYNC_GOOGLE_CLIENT_SECRET")


@pytest.fixture
def saved(profile: Path) -> Path:
    """A profile whose store already holds a few settings, as an earlier Save left them."""
    path = paths.store_path(profile)
    with Store(path) as store:
        save_settings(
            store,
            {
                "PIESYNC_GOOGLE_CLIENT_ID": CLIENT_ID,
                "PIESYNC_GOOGLE_CLIENT_SECRET": SECRET,
                "PIESYNC_GRAPH_URL": "https://graph.microsoft.us/v1.0",
                "PIESYNC_HTTP_TIMEOUT": "90",
            },
        )
    return path


def open_dialog(qtbot, tasks: StoreTasks, environ: dict[str, str]) -> SettingsDialog:
    dialog = SettingsDialog(tasks, environ=environ)
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitUntil(lambda: dialog.is_loaded)
    return dialog


def save(qtbot, dialog: SettingsDialog) -> list[str]:
    with qtbot.waitSignal(dialog.saved) as done:
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert dialog.result() == QDialog.DialogCode.Accepted
    return done.args[0]


def line(dialog: SettingsDialog, name: str) -> QLineEdit:
    field = dialog.fields[name]
    assert isinstance(field, QLineEdit)
    return field


def store_bytes(profile: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(profile.glob("piesync*")))


def test_it_opens_with_the_saved_values(qtbot, saved: Path, store_tasks: StoreTasks) -> None:
    dialog = open_dialog(qtbot, store_tasks, {})
    assert dialog.windowTitle() == "Settings"
    assert line(dialog, "PIESYNC_GOOGLE_CLIENT_ID").text() == CLIENT_ID
    assert line(dialog, "PIESYNC_GOOGLE_CLIENT_SECRET").text() == SECRET
    assert line(dialog, "PIESYNC_GRAPH_URL").text() == "https://graph.microsoft.us/v1.0"
    assert line(dialog, "PIESYNC_PEOPLE_URL").text() == ""
    assert line(dialog, "PIESYNC_PEOPLE_URL").placeholderText() == "https://people.googleapis.com/"
    timeout = dialog.fields["PIESYNC_HTTP_TIMEOUT"]
    assert isinstance(timeout, QSpinBox) and timeout.value() == 90
    assert dialog.changes() == {}
    assert dialog.save_button.isEnabled()
    titles = [box.title() for box in dialog.findChildren(QGroupBox)]
    assert titles == ["Google", "Microsoft", "HubSpot", "Network"]
    assert dialog.notes == {}  # nothing comes from the environment here
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(Path(SCREENSHOTS) / "settings-dialog.png"))


def test_edits_are_saved_applied_and_shown_when_it_opens_again(
    qtbot, saved: Path, store_tasks: StoreTasks, memory_keyring, tmp_path: Path
) -> None:
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    environ = {"HOME": "/home/me"}
    dialog = open_dialog(qtbot, store_tasks, environ)
    client_id = line(dialog, "PIESYNC_GOOGLE_CLIENT_ID")
    client_id.clear()
    qtbot.keyClicks(client_id, "5678-def.apps.googleusercontent.com")
    secret = line(dialog, "PIESYNC_GOOGLE_CLIENT_SECRET")
    secret.clear()
    qtbot.keyClicks(secret, NEW_SECRET)
    line(dialog, "PIESYNC_GRAPH_URL").clear()  # back to the default: forgotten
    line(dialog, "PIESYNC_CA_BUNDLE").setText(str(bundle))
    dialog.fields["PIESYNC_HTTP_TIMEOUT"].setValue(120)
    applied = save(qtbot, dialog)

    assert applied == [
        "PIESYNC_GOOGLE_CLIENT_ID",
        "PIESYNC_GOOGLE_CLIENT_SECRET",
        "PIESYNC_CA_BUNDLE",
        "PIESYNC_HTTP_TIMEOUT",
    ]
    assert environ["PIESYNC_GOOGLE_CLIENT_ID"] == "5678-def.apps.googleusercontent.com"
    assert environ["PIESYNC_GOOGLE_CLIENT_SECRET"] == NEW_SECRET
    assert environ["PIESYNC_CA_BUNDLE"] == str(bundle)
    assert environ["PIESYNC_HTTP_TIMEOUT"] == "120"
    assert "PIESYNC_GRAPH_URL" not in environ
    with Store(saved) as store:
        assert store.settings() == {
            "PIESYNC_CA_BUNDLE": str(bundle),
            "PIESYNC_GOOGLE_CLIENT_ID": "5678-def.apps.googleusercontent.com",
            "PIESYNC_GOOGLE_CLIENT_SECRET": IN_KEYRING,
            "PIESYNC_HTTP_TIMEOUT": "120",
        }
    assert memory_keyring.secrets == {KEYRING_ENTRY: NEW_SECRET}

    again = open_dialog(qtbot, store_tasks, environ)
    assert line(again, "PIESYNC_GOOGLE_CLIENT_ID").text() == "5678-def.apps.googleusercontent.com"
    assert line(again, "PIESYNC_GOOGLE_CLIENT_SECRET").text() == NEW_SECRET
    assert line(again, "PIESYNC_GRAPH_URL").text() == ""
    assert line(again, "PIESYNC_CA_BUNDLE").text() == str(bundle)
    assert again.fields["PIESYNC_HTTP_TIMEOUT"].value() == 120
    assert again.notes == {}  # the values it applied itself are not "set by your environment"


def test_what_the_environment_sets_is_shown_read_only_and_kept(
    qtbot, saved: Path, store_tasks: StoreTasks
) -> None:
    environ = {
        "PIESYNC_GRAPH_URL": "https://graph.example/v1.0",
        "PIESYNC_HTTP_TIMEOUT": "5",
        "PIESYNC_GOOGLE_CLIENT_SECRET": "from-the-environment",
    }
    dialog = open_dialog(qtbot, store_tasks, environ)
    for name, value in environ.items():
        field = line(dialog, name)  # a plain read-only line, the timeout too
        assert field.isReadOnly()
        assert field.text() == value
        assert dialog.notes[name].text() == f"Set by {name} in your environment."
        assert name not in dialog.editable()
    assert line(dialog, "PIESYNC_GOOGLE_CLIENT_SECRET").echoMode() == QLineEdit.EchoMode.Password
    assert not line(dialog, "PIESYNC_GOOGLE_CLIENT_ID").isReadOnly()
    if SCREENSHOTS:
        dialog.grab().save(str(Path(SCREENSHOTS) / "settings-dialog-environment.png"))

    line(dialog, "PIESYNC_MS_CLIENT_ID").setText("0000-1111")
    assert save(qtbot, dialog) == ["PIESYNC_GOOGLE_CLIENT_ID", "PIESYNC_MS_CLIENT_ID"]
    assert environ["PIESYNC_GRAPH_URL"] == "https://graph.example/v1.0"
    assert environ["PIESYNC_HTTP_TIMEOUT"] == "5"
    assert environ["PIESYNC_GOOGLE_CLIENT_SECRET"] == "from-the-environment"
    with Store(saved) as store:  # the values saved before stay saved, for when it is unset
        settings = store.settings()
    assert settings["PIESYNC_GRAPH_URL"] == "https://graph.microsoft.us/v1.0"
    assert settings["PIESYNC_HTTP_TIMEOUT"] == "90"
    assert settings["PIESYNC_MS_CLIENT_ID"] == "0000-1111"


def test_the_secret_is_a_password_field_and_never_in_the_sqlite_file(
    qtbot, profile: Path, store_tasks: StoreTasks, memory_keyring
) -> None:
    dialog = open_dialog(qtbot, store_tasks, {})
    secret = line(dialog, "PIESYNC_GOOGLE_CLIENT_SECRET")
    assert secret.echoMode() == QLineEdit.EchoMode.Password
    assert line(dialog, "PIESYNC_GOOGLE_CLIENT_ID").echoMode() == QLineEdit.EchoMode.Normal
    qtbot.keyClicks(secret, SECRET)
    qtbot.keyClicks(line(dialog, "PIESYNC_GOOGLE_CLIENT_ID"), CLIENT_ID)
    save(qtbot, dialog)
    assert memory_keyring.secrets == {KEYRING_ENTRY: SECRET}
    store_tasks.shutdown()  # the store closed: everything it wrote is in the files
    data = store_bytes(profile)
    assert CLIENT_ID.encode() in data
    assert SECRET.encode() not in data


def test_a_value_that_cannot_work_is_said_and_nothing_is_saved(
    qtbot, saved: Path, store_tasks: StoreTasks
) -> None:
    environ: dict[str, str] = {}
    dialog = open_dialog(qtbot, store_tasks, environ)
    line(dialog, "PIESYNC_GOOGLE_TOKEN_URL").setText("oauth2.example/token")
    line(dialog, "PIESYNC_GOOGLE_CLIENT_ID").setText("changed")
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.problem.isVisible()
    assert "Token address: oauth2.example/token is not a web address" in dialog.problem.message()
    qtbot.waitUntil(lambda: store_tasks.pending == 0)
    with Store(saved) as store:
        assert store.settings()["PIESYNC_GOOGLE_CLIENT_ID"] == CLIENT_ID
    assert environ == {}
    # put right, it saves
    line(dialog, "PIESYNC_GOOGLE_TOKEN_URL").setText("https://oauth2.example/token")
    assert "PIESYNC_GOOGLE_TOKEN_URL" in save(qtbot, dialog)


def test_cancel_saves_nothing(qtbot, saved: Path, store_tasks: StoreTasks) -> None:
    environ: dict[str, str] = {}
    dialog = open_dialog(qtbot, store_tasks, environ)
    line(dialog, "PIESYNC_GOOGLE_CLIENT_ID").setText("changed")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    assert dialog.result() == QDialog.DialogCode.Rejected
    qtbot.waitUntil(lambda: store_tasks.pending == 0)
    with Store(saved) as store:
        assert store.settings()["PIESYNC_GOOGLE_CLIENT_ID"] == CLIENT_ID
    assert environ == {}


def test_the_main_window_menu_opens_the_settings(
    qtbot, saved: Path, profile: Path, monkeypatch
) -> None:
    monkeypatch.delenv("PIESYNC_GOOGLE_CLIENT_ID", raising=False)
    tasks = StoreTasks(paths.store_path(profile))
    manager = SyncManager(paths.store_path(profile), paths.locks_dir(profile))
    window = MainWindow(tasks, manager, SyncScheduler(manager))
    qtbot.addWidget(window)
    window.show()
    [menu] = [a.menu() for a in window.menuBar().actions() if a.text() == "&Connections"]
    assert "Settings…" in [a.text() for a in menu.actions()]
    window.settings_action.trigger()
    dialog = window.settings_dialog
    assert dialog is not None and dialog.isVisible() and dialog.parent() is window
    qtbot.waitUntil(lambda: dialog.is_loaded)
    assert line(dialog, "PIESYNC_GOOGLE_CLIENT_ID").text() == CLIENT_ID
    window.settings_action.trigger()  # one at a time
    assert window.findChildren(SettingsDialog) == [dialog]
    dialog.reject()
    assert window.settings_dialog is None
    qtbot.waitUntil(lambda: tasks.pending == 0)
    tasks.shutdown()
    manager.shutdown()
