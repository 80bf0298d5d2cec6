"""Authorization of a vCard folder: which folder of .vcf files, checked and counted off the GUI
thread, with the folders other connections already sync offered for reuse."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from piesync_desktop.engine.connection_setup import ConnectedAccount, open_side
from piesync_desktop.engine.connectors.base import parse_spec
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.authorization import AuthorizationContext, AuthorizationWidget
from piesync_desktop.ui.wizard.background import JobContext
from piesync_desktop.ui.wizard.common import explanation, problem_palette

APP_KEY = "vcard"
CHECK_DELAY_MS = 300  # after the last keystroke


@dataclass(frozen=True, slots=True)
class FolderCheck:
    """What a folder turned out to be: usable or not, and how many cards it holds."""

    path: str
    usable: bool
    cards: int = 0
    message: str = ""


def folder_spec(path: str) -> str:
    return f"{APP_KEY}:{path}" if path else ""


def inspect_folder(path: str, ctx: JobContext) -> FolderCheck:
    """Check the folder can be synced, and count its .vcf files."""
    try:
        open_side(folder_spec(path))
    except ConfigError as exc:
        return FolderCheck(path, False, message=exc.message)
    cards = 0
    try:
        with os.scandir(path) as entries:
            for number, entry in enumerate(entries):
                name = entry.name
                if name.lower().endswith(".vcf") and not name.startswith("."):
                    cards += entry.is_file()
                if number % 1000 == 0:
                    ctx.check()
    except OSError as exc:
        return FolderCheck(path, False, message=f"Cannot list {path}: {exc.strerror}.")
    if cards == 0:
        message = (
            "No .vcf files in this folder yet: the contacts of the other app will be written here."
        )
    elif cards == 1:
        message = "1 contact (.vcf file) in this folder."
    else:
        message = f"{cards:,} contacts (.vcf files) in this folder."
    return FolderCheck(path, True, cards, message)


class VCardFolderAuthorization(AuthorizationWidget):
    """A folder picker (a line edit and a Choose button) that says how many cards it holds."""

    def __init__(self, context: AuthorizationContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self._check: FolderCheck | None = None
        self._read_only = False
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(
            explanation(
                "A folder of .vcf files, one contact per file, as khard, vdirsyncer and Evolution "
                "keep them. Contacts are read and written in place; no file is ever deleted.",
                self,
            )
        )
        row = QHBoxLayout()
        self.path_edit = QLineEdit(self)
        self.path_edit.setPlaceholderText("/home/you/contacts")
        self.path_edit.setClearButtonEnabled(True)
        self.path_edit.setAccessibleName("vCard folder")
        self.choose_button = QPushButton("Choose…", self)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.choose_button)
        form.addRow("Folder:", row)
        self.status = QLabel("Choose the folder that holds your .vcf files.", self)
        self.status.setWordWrap(True)
        form.addRow("", self.status)
        self.used_label = QLabel("Already connected:", self)
        self.used_combo = QComboBox(self)
        self.used_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        form.addRow(self.used_label, self.used_combo)
        self._show_used(False)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self._start_check)
        self.path_edit.textChanged.connect(self._on_text_changed)
        self.choose_button.clicked.connect(self._choose)
        self.used_combo.activated.connect(self._use_connected)

    # -- protocol ---------------------------------------------------------------------------

    def spec(self) -> str:
        return folder_spec(self._path())

    def isComplete(self) -> bool:
        check = self._check
        return check is not None and check.usable and check.path == self._path()

    def load(self, spec: str) -> None:
        _app, location = parse_spec(spec)
        self.path_edit.setText(location)
        self._timer.stop()
        self._start_check()

    def set_read_only(self, read_only: bool) -> None:
        self._read_only = read_only
        self.path_edit.setReadOnly(read_only)
        self.path_edit.setClearButtonEnabled(not read_only)
        self.choose_button.setVisible(not read_only)
        self._show_used(not read_only and self.used_combo.count() > 1)

    def set_connected_accounts(self, accounts: Sequence[ConnectedAccount]) -> None:
        self.used_combo.clear()
        self.used_combo.addItem("Choose a folder another connection syncs…", "")
        for account in accounts:
            if account.app != APP_KEY:
                continue
            for used in account.used_by:
                location = parse_spec(used.spec)[1]
                self.used_combo.addItem(f"{location}  (in '{used.connection}')", location)
        self._show_used(not self._read_only and self.used_combo.count() > 1)

    # -- behaviour --------------------------------------------------------------------------

    def _path(self) -> str:
        text = self.path_edit.text().strip()
        if not text:
            return ""
        return str(Path(text).expanduser().absolute())

    def _show_used(self, visible: bool) -> None:
        self.used_label.setVisible(visible)
        self.used_combo.setVisible(visible)

    def _choose(self) -> None:
        start = self._path() or str(Path.home())
        chosen = QFileDialog.getExistingDirectory(self, "Choose the vCard folder", start)
        if chosen:
            self.path_edit.setText(chosen)

    def _use_connected(self, index: int) -> None:
        location = self.used_combo.itemData(index)
        if location:
            self.path_edit.setText(location)
        self.used_combo.setCurrentIndex(0)

    def _on_text_changed(self, _text: str) -> None:
        self._check = None
        self.context.runner.cancel("location")
        self._style_status(False)
        if self._path():
            self.status.setText("Counting…")
            self._timer.start()
        else:
            self._timer.stop()
            self.status.setText("Choose the folder that holds your .vcf files.")
        self.changed.emit()

    def _start_check(self) -> None:
        path = self._path()
        if not path:
            return
        self.status.setText("Counting…")
        self.context.runner.submit(
            "location",
            lambda ctx: inspect_folder(path, ctx),
            self._on_checked,
            self._on_failed,
        )

    def _on_checked(self, check: FolderCheck) -> None:
        if check.path != self._path():
            return
        self._check = check
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setText(check.message)
        self._style_status(not check.usable)
        self.changed.emit()

    def _on_failed(self, problem: TaskError) -> None:
        self._check = None
        self.status.setText(problem.message)
        self._style_status(True)
        self.changed.emit()

    def _style_status(self, problem: bool) -> None:
        self.status.setPalette(problem_palette(self.status) if problem else self.palette())
