"""The Settings dialog: the connectors' ``PIESYNC_*`` settings, saved in the profile's store.

What the settings are, what they accept and where they are kept is ``engine.app_settings``; this
dialog only shows them in groups (Google, Microsoft, Network) and hands reading and saving to
:class:`StoreTasks`, so SQLite and the keyring are never touched on the GUI thread. A setting the
person's environment sets is shown as it is there, read-only: the environment wins. Saving also
applies the values to the process environment, so the next syncs and sign-ins use them.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QCloseEvent, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine.app_settings import (
    BY_NAME,
    GROUPS,
    SavedSettings,
    Setting,
    SettingGroup,
    apply_saved_settings,
    save_settings,
    saved_settings,
    set_by_environment,
)
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.tasks import StoreTasks, TaskError, TaskGroup
from piesync_desktop.ui.wizard.common import NoticeLine, explanation

MAX_TIMEOUT = 3600  # seconds; the spin box's top
FIELD_WIDTH = 380
SPIN_WIDTH = 240
DIALOG_WIDTH = 680  # wide enough for the wrapped sentences to keep their height


class SettingsDialog(QDialog):
    """The program's settings in groups, one field each; Save keeps them in the store (a secret in
    the keyring) and applies them to ``environ`` where the person's environment does not set
    them."""

    loaded = Signal()  # the saved values are in the fields
    saved = Signal(list)  # the names now set from the store (apply_saved_settings' answer)

    def __init__(
        self,
        tasks: StoreTasks,
        environ: MutableMapping[str, str] = os.environ,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(DIALOG_WIDTH)
        self.environ = environ
        self._group = TaskGroup(tasks)
        self.from_environment = set_by_environment(environ)
        self.fields: dict[str, QLineEdit | QSpinBox] = {}  # every setting's field, by name
        self.notes: dict[str, QLabel] = {}  # "Set by ... in your environment", by name
        self._shown: dict[str, str] = {}  # what each editable field showed once loaded
        self.is_loaded = False

        self._labels: list[QLabel] = []
        self.choose_button: QPushButton | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(14)
        layout.addWidget(
            explanation(
                "The settings of the apps' connections, for the window and the command line. "
                "Each is also an environment variable; one set in your environment wins over "
                "the value saved here."
            )
        )
        for group in GROUPS:
            layout.addWidget(self._make_group(group))
        width = max(label.sizeHint().width() for label in self._labels)
        for label in self._labels:  # one column of labels down the three groups
            label.setMinimumWidth(width)
        self.problem = NoticeLine("error", self)
        self.problem.hide()
        layout.addWidget(self.problem)
        layout.addStretch(1)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save_button.setEnabled(False)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.finished.connect(lambda _result: self._group.forget_all())
        self._set_editable(False)
        self.resize(DIALOG_WIDTH, 0)
        self._fit()
        self._group.submit(saved_settings, self._show_saved, self._load_failed)

    # -- building ------------------------------------------------------------------------

    def _make_group(self, group: SettingGroup) -> QGroupBox:
        box = QGroupBox(group.title)
        column = QVBoxLayout(box)
        column.setSpacing(10)
        column.addWidget(explanation(group.help))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        for setting in group.settings:
            label = QLabel(f"{setting.label}:")
            label.setToolTip(setting.help)
            self._labels.append(label)
            field, row = self._make_field(setting)
            label.setBuddy(field)
            form.addRow(label, row)
            if setting.name in self.from_environment:
                note = explanation(f"Set by {setting.name} in your environment.")
                note.setWordWrap(False)
                self.notes[setting.name] = note
                form.addRow("", note)
        column.addLayout(form)
        return box

    def _make_field(self, setting: Setting) -> tuple[QLineEdit | QSpinBox, QWidget]:
        """The field of ``setting`` and the widget its form row holds (the field and buttons)."""
        environment = self.from_environment.get(setting.name)
        field: QLineEdit | QSpinBox
        if setting.kind == "seconds" and environment is None:
            field = QSpinBox()
            field.setRange(0, MAX_TIMEOUT)
            field.setSuffix(" seconds")
            field.setSpecialValueText(f"{setting.default} seconds (the default)")
            field.setAccelerated(True)
            field.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        else:
            field = QLineEdit()
            field.setClearButtonEnabled(environment is None)
            if setting.secret:
                field.setEchoMode(QLineEdit.EchoMode.Password)
            field.setPlaceholderText(_placeholder(setting))
            if environment is not None:
                field.setText(environment)
                field.setReadOnly(True)
                palette = field.palette()  # looks read-only, yet its text can be copied
                palette.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
                field.setPalette(palette)
                field.setPlaceholderText("(empty: the default)")
                field.setCursorPosition(0)
        field.setToolTip(setting.help)
        field.setAccessibleName(setting.label)
        field.setMinimumWidth(SPIN_WIDTH if isinstance(field, QSpinBox) else FIELD_WIDTH)
        field.setObjectName(setting.name)
        self.fields[setting.name] = field
        if setting.kind != "file" or environment is not None:
            return field, field
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(field, 1)
        choose = QPushButton("Choose…")
        choose.setToolTip("Pick the certificate file")
        choose.clicked.connect(lambda _checked=False, s=setting: self._choose_file(s))
        self.choose_button = choose
        line.addWidget(choose)
        return field, row

    # -- values ----------------------------------------------------------------------------

    def editable(self) -> list[str]:
        """The settings this dialog can change: those the environment does not set."""
        return [name for name in self.fields if name not in self.from_environment]

    def value(self, name: str) -> str:
        """What the field of ``name`` holds, as it would be saved ("" for not set)."""
        field = self.fields[name]
        if isinstance(field, QSpinBox):
            return str(field.value()) if field.value() else ""
        return field.text().strip()

    def _set_value(self, name: str, value: str) -> None:
        field = self.fields[name]
        if isinstance(field, QSpinBox):
            try:
                field.setValue(round(float(value)) if value else 0)
            except (ValueError, OverflowError):
                field.setValue(0)
        else:
            field.setText(value)
            field.setCursorPosition(0)

    def changes(self) -> dict[str, str]:
        """The editable settings whose field differs from what was loaded, name to new value."""
        return {
            name: self.value(name)
            for name in self.editable()
            if self.value(name) != self._shown.get(name, "")
        }

    def _set_editable(self, editable: bool) -> None:
        for name in self.editable():
            self.fields[name].setEnabled(editable)
        if self.choose_button is not None:
            self.choose_button.setEnabled(editable)
        self.save_button.setEnabled(editable)

    # -- loading and saving --------------------------------------------------------------

    def _show_saved(self, saved: SavedSettings) -> None:
        for name in self.editable():
            self._set_value(name, saved.values.get(name, ""))
            self._shown[name] = self.value(name)
        if saved.problem:
            self._show_problem(saved.problem, "The saved client secret cannot be read")
        self._set_editable(True)
        editable = self.editable()
        if editable:  # the fields were disabled until now: focus went to a read-only one
            self.fields[editable[0]].setFocus()
        self.is_loaded = True
        self.loaded.emit()

    def _load_failed(self, problem: TaskError) -> None:
        self._show_problem(problem.message, problem.title)

    def _show_problem(self, text: str, title: str) -> None:
        self.problem.show_text(text, title)
        self._fit()

    def _fit(self) -> None:
        """Tall enough for every row at the dialog's width, never squeezed (a window's first size
        is at most 2/3 of the screen, and the wrapped sentences' height depends on the width)."""
        layout = self.layout()
        height = layout.totalHeightForWidth(max(self.width(), DIALOG_WIDTH))
        self.setMinimumHeight(height)
        if self.height() < height:
            self.resize(self.width(), height)

    @Slot()
    def save(self) -> None:
        """Check the changed values, then save and apply them on the tasks thread."""
        changes = self.changes()
        for name, value in changes.items():
            setting = BY_NAME[name]
            problem = setting.problem(setting.normalise(value))
            if problem:
                self._show_problem(problem, "Cannot save the settings")
                self.fields[name].setFocus()
                return
        self.problem.hide()
        self._set_editable(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(False)
        environ = self.environ

        def save_and_apply(store: Store) -> list[str]:
            save_settings(store, changes)
            return apply_saved_settings(store, environ)

        self._group.submit(save_and_apply, self._saved, self._save_failed)

    def _saved(self, applied: list[str]) -> None:
        self.saved.emit(applied)
        self.accept()

    def _save_failed(self, problem: TaskError) -> None:
        self._show_problem(problem.message, problem.title)
        self._set_editable(True)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(True)

    def _choose_file(self, setting: Setting) -> None:
        field = self.fields[setting.name]
        chosen = self.value(setting.name)
        start = str(Path(chosen).parent) if chosen else str(Path.home())
        path, _filter = QFileDialog.getOpenFileName(
            self,
            setting.label,
            start,
            "Certificates (*.pem *.crt *.cer);;All files (*)",
        )
        if path and isinstance(field, QLineEdit):
            field.setText(path)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._group.forget_all()
        super().closeEvent(event)


def _placeholder(setting: Setting) -> str:
    if setting.secret:
        return "Not set (kept in the system keyring)"
    if setting.kind == "file":
        return "Not set: the built-in certificate authorities"
    if setting.default:
        return setting.default
    return "Not set"
