"""Drives the connection wizard with the mouse and keyboard, as a person does (used by the
wizard's tests and by the main window's)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QRadioButton, QWizard

from piesync_desktop.ui.wizard import ConnectionWizard
from piesync_desktop.ui.wizard.app_page import AppPage
from piesync_desktop.ui.wizard.wizard import PageId

SHOTS = Path("/tmp/shots")


class WizardDriver:
    """Drives a wizard with the mouse and keyboard, page by page."""

    def __init__(self, qtbot, wizard: ConnectionWizard) -> None:
        self.qtbot = qtbot
        self.wizard = wizard

    def page(self):
        return self.wizard.currentPage()

    def wait_loaded(self) -> None:
        self.qtbot.waitUntil(lambda: self.wizard._loaded, timeout=10_000)

    def click(self, widget) -> None:
        if isinstance(widget, QCheckBox | QRadioButton):  # on the box, not the empty row end
            pos = QPoint(8, widget.height() // 2)
            self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)
        else:
            self.qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)

    def choose_app(self, name: str = "vCard folder") -> None:
        page = self.page()
        assert isinstance(page, AppPage)
        view = page.apps_view
        rows = [view.model().index(row, 0) for row in range(view.model().rowCount())]
        [index] = [i for i in rows if i.data() == name]
        self.qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
        )
        assert page.chosen_app() is not None and page.chosen_app().name == name

    def type_folder(self, folder: Path) -> None:
        page = self.page()
        widget = page.authorization()
        widget.path_edit.clear()
        self.qtbot.keyClicks(widget.path_edit, str(folder))
        self.qtbot.waitUntil(page.isComplete, timeout=10_000)

    def next(self) -> None:
        before = self.wizard.currentId()
        self.click(self.wizard.button(QWizard.WizardButton.NextButton))
        assert self.wizard.currentId() == before + 1, self.problem()

    def problem(self) -> str:
        page = self.page()
        return page.problem.message() if page.problem.isVisibleTo(page) else ""

    def wait_complete(self) -> None:
        self.qtbot.waitUntil(self.page().isComplete, timeout=10_000)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.wizard.grab().save(str(SHOTS / f"wizard-{name}.png"))

    def through_apps(self, a: Path, b: Path) -> None:
        """Choose the two folders and land on the Direction page."""
        self.wait_loaded()
        self.choose_app()
        self.type_folder(a)
        self.next()
        self.choose_app()
        self.type_folder(b)
        self.next()

    def to_page(self, page: PageId, a: Path, b: Path) -> None:
        self.through_apps(a, b)
        while self.wizard.currentId() < page:
            self.wait_complete()
            self.next()
        self.wait_complete()

    def finish(self) -> str:
        with self.qtbot.waitSignal(self.wizard.saved, timeout=10_000) as saved:
            self.click(self.wizard.button(QWizard.WizardButton.FinishButton))
        return saved.args[0]
