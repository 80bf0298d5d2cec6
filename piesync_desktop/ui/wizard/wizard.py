"""The connection wizard: two apps, direction, mappings, rules, options, name; and Edit.

It reads the store only through :class:`StoreTasks` and the address books only on its own worker
threads, decides nothing the engine decides (the checks are :mod:`engine.connection_setup`'s, the
same as the CLI's ``connect``), and says ``saved(name)`` once the store write succeeded; the
main window then starts the connection's sync in the background.
"""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from piesync_desktop.engine.connection import ConnectionSettings, Side
from piesync_desktop.engine.connection_setup import (
    ConnectedAccount,
    connected_accounts,
    save_new_connection,
)
from piesync_desktop.engine.connectors.base import AppInfo, parse_spec
from piesync_desktop.engine.errors import SyncError
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.tasks import StoreTasks, TaskError
from piesync_desktop.ui.wizard.app_page import AppPage
from piesync_desktop.ui.wizard.catalogue import app_by_key
from piesync_desktop.ui.wizard.common import WizardPage, set_buttons_enabled
from piesync_desktop.ui.wizard.direction_page import DirectionPage
from piesync_desktop.ui.wizard.draft import ConnectionDraft
from piesync_desktop.ui.wizard.mappings_page import MappingsPage
from piesync_desktop.ui.wizard.options_page import OptionsPage
from piesync_desktop.ui.wizard.rules_page import RulesPage
from piesync_desktop.ui.wizard.side_reads import SideReads
from piesync_desktop.ui.wizard.summary_page import SummaryPage


class PageId(enum.IntEnum):
    """The wizard's pages, in order."""

    FIRST_APP = 0
    SECOND_APP = 1
    DIRECTION = 2
    MAPPINGS = 3
    RULES = 4
    OPTIONS = 5
    SUMMARY = 6


Loaded = tuple[list[ConnectedAccount], list[str], ConnectionSettings | None]


class ConnectionWizard(QWizard):
    """Sets up a new connection, or edits one (``existing``: its name)."""

    saved = Signal(str)

    def __init__(
        self, tasks: StoreTasks, existing: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.existing = existing
        self.draft = ConnectionDraft()
        self.reads = SideReads(self)
        self._saving = False
        self._loaded = False

        self.setWindowTitle(f"Edit '{existing}'" if existing else "New connection")
        self.setWindowIcon(icon("piesync-desktop"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveFinishButtonOnEarlyPages, existing is not None)
        self.setButtonText(
            QWizard.WizardButton.FinishButton,
            "Save changes" if existing else "Create connection",
        )
        self.resize(1000, 720)

        current = self._current_draft
        self.pages: dict[PageId, WizardPage] = {
            PageId.FIRST_APP: AppPage(Side.A, current, self.reads.runners[Side.A], self),
            PageId.SECOND_APP: AppPage(Side.B, current, self.reads.runners[Side.B], self),
            PageId.DIRECTION: DirectionPage(current, self),
            PageId.MAPPINGS: MappingsPage(current, self.reads, self),
            PageId.RULES: RulesPage(current, self.reads, self),
            PageId.OPTIONS: OptionsPage(current, self),
            PageId.SUMMARY: SummaryPage(current, self.reads, self),
        }
        for page_id, page in self.pages.items():
            page.setFinalPage(existing is not None)  # Edit saves from any page
            self.setPage(page_id, page)
        self.currentIdChanged.connect(self._on_page_changed)
        self._load()

    def _current_draft(self) -> ConnectionDraft:
        return self.draft

    def app_page(self, side: Side) -> AppPage:
        page = self.pages[PageId.FIRST_APP if side is Side.A else PageId.SECOND_APP]
        assert isinstance(page, AppPage)
        return page

    # -- loading ------------------------------------------------------------------------------

    def _load(self) -> None:
        name = self.existing

        def load(store: Store) -> Loaded:
            settings = store.connection(name) if name else None
            return connected_accounts(store), store.connection_names(), settings

        self.tasks.submit(load, self._on_loaded, self._on_load_failed)

    def _on_loaded(self, loaded: Loaded) -> None:
        accounts, names, settings = loaded
        if settings is not None:
            apps: dict[Side, AppInfo] = {}
            for side in Side:
                key = parse_spec(settings.spec(side))[0]
                app = app_by_key(key)
                if app is None:
                    self._on_load_failed(
                        TaskError("Cannot edit", f"This build does not know the app '{key}'.")
                    )
                    return
                apps[side] = app
            self.draft = ConnectionDraft.from_settings(settings, apps)
            for side in Side:
                self.reads.read(side, settings.spec(side))
        self.draft.accounts = accounts
        self.draft.taken_names = {n for n in names if n != self.existing}
        self._loaded = True
        for side in Side:
            self.app_page(side).set_loaded()

    def _on_load_failed(self, problem: TaskError) -> None:
        self._show_problem(problem)

    def _on_page_changed(self, page_id: int) -> None:
        if page_id >= PageId.DIRECTION:
            for side in Side:
                if self.draft.specs[side]:
                    self.reads.read(side, self.draft.specs[side])

    # -- finishing ----------------------------------------------------------------------------

    def accept(self) -> None:
        """Save through the store tasks; the wizard closes once the write succeeded."""
        if self._saving or not self._loaded:
            return
        draft = self.draft
        try:
            if draft.editing:
                settings = draft.changed_settings()

                def save(store: Store) -> Any:
                    store.update_connection(settings)

            else:
                settings = draft.new_settings()
                a, b = draft.choice(Side.A), draft.choice(Side.B)

                def save(store: Store) -> Any:
                    return save_new_connection(store, settings, a, b)

        except SyncError as exc:
            self._show_problem(TaskError.from_exception(exc))
            return
        self._set_saving(True)
        self.tasks.submit(save, lambda _result: self._on_saved(settings.name), self._on_save_failed)

    def reject(self) -> None:
        if not self._saving:
            super().reject()

    def done(self, result: int) -> None:
        self.reads.shutdown()
        super().done(result)

    def _set_saving(self, saving: bool) -> None:
        self._saving = saving
        buttons = QWizard.WizardButton
        set_buttons_enabled(
            self,
            (buttons.FinishButton, buttons.BackButton, buttons.CancelButton, buttons.NextButton),
            not saving,
        )

    def _on_saved(self, name: str) -> None:
        self._set_saving(False)
        super().accept()
        self.saved.emit(name)

    def _on_save_failed(self, problem: TaskError) -> None:
        self._set_saving(False)
        self._show_problem(problem)
        if not self.draft.editing:  # another window may have taken the name meanwhile
            self.tasks.submit(lambda store: store.connection_names(), self._on_names)

    def _on_names(self, names: list[str]) -> None:
        self.draft.taken_names = set(names)
        page = self.currentPage()
        if isinstance(page, SummaryPage):
            page.recheck_name()

    def _show_problem(self, problem: TaskError) -> None:
        page = self.currentPage()
        if isinstance(page, WizardPage):
            page.show_problem(problem)
