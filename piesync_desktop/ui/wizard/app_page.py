"""The first two pages: for each side, choose an app in the catalogue, then say where its
contacts are (that app's own authorization). On Edit both are shown read-only."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine import connection_setup
from piesync_desktop.engine.connection import Side
from piesync_desktop.engine.connectors.base import AppInfo
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.authorization import (
    AuthorizationContext,
    AuthorizationWidget,
    create_authorization,
)
from piesync_desktop.ui.wizard.background import Background
from piesync_desktop.ui.wizard.catalogue import (
    APP_ROLE,
    AppDelegate,
    CatalogueFilter,
    CatalogueModel,
    supported_apps,
)
from piesync_desktop.ui.wizard.common import NoticeLine, WizardPage, explanation
from piesync_desktop.ui.wizard.draft import ConnectionDraft

SIDE_WORDS = {Side.A: "first", Side.B: "second"}


class AppPage(WizardPage):
    """Choose one side's app and location."""

    def __init__(
        self,
        side: Side,
        draft: Callable[[], ConnectionDraft],
        runner: Background,
        parent: QWidget | None = None,
    ) -> None:
        word = SIDE_WORDS[side]
        super().__init__(
            f"The {word} app",
            f"Choose the app that holds the {word} address book, then say where its contacts are.",
            parent,
        )
        self.side = side
        self._draft = draft
        self._runner = runner
        self._authorizations: dict[str, AuthorizationWidget] = {}
        self._loaded = False
        self._chosen: AppInfo | None = None  # stays chosen while a search hides it
        self._filtering = False

        self.edit_note = NoticeLine("info", self)
        self.edit_note.show_text(
            "A connection's two address books never change. To sync another address book, "
            "create a new connection."
        )
        self.edit_note.hide()
        self.body.addWidget(self.edit_note)

        columns = QHBoxLayout()
        self.body.addLayout(columns, 1)
        left = QVBoxLayout()
        columns.addLayout(left, 2)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search apps")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search apps")
        left.addWidget(self.search)
        self.model = CatalogueModel(supported_apps(), self)
        self.proxy = CatalogueFilter(self)
        self.proxy.setSourceModel(self.model)
        self.apps_view = QListView(self)
        self.apps_view.setModel(self.proxy)
        self.apps_view.setItemDelegate(AppDelegate(self.apps_view))
        self.apps_view.setUniformItemSizes(False)
        self.apps_view.setWordWrap(True)
        self.apps_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.apps_view.setAccessibleName("Apps")
        left.addWidget(self.apps_view, 1)
        self.no_match = explanation("", self)
        self.no_match.hide()
        left.addWidget(self.no_match)

        self.where = QGroupBox(self)
        columns.addWidget(self.where, 3)
        where_layout = QVBoxLayout(self.where)
        self.stack = QStackedWidget(self.where)
        where_layout.addWidget(self.stack)
        where_layout.addStretch(1)
        self.placeholder = QLabel("Choose an app on the left to connect it.", self.stack)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack.addWidget(self.placeholder)
        self.where.setTitle("Where are the contacts?")

        self.search.textChanged.connect(self._on_search)
        self.apps_view.selectionModel().currentChanged.connect(self._on_app_chosen)

    # -- state --------------------------------------------------------------------------------

    def chosen_app(self) -> AppInfo | None:
        return self._chosen

    def authorization(self) -> AuthorizationWidget | None:
        app = self.chosen_app()
        return self._authorizations.get(app.key) if app else None

    def _authorization_for(self, app: AppInfo) -> AuthorizationWidget:
        widget = self._authorizations.get(app.key)
        if widget is None:
            context = AuthorizationContext(self._runner, SIDE_WORDS[self.side])
            widget = create_authorization(app.key, context, self.stack)
            widget.set_connected_accounts(self._draft().accounts)
            widget.changed.connect(self._on_changed)
            self._authorizations[app.key] = widget
            self.stack.addWidget(widget)
        return widget

    def set_loaded(self) -> None:
        """The store's answer came (accounts, names, the edited connection): fill the page."""
        self._loaded = True
        draft = self._draft()
        for widget in self._authorizations.values():
            widget.set_connected_accounts(draft.accounts)
        app = draft.apps[self.side]
        if app is not None:
            self.select_app(app.key)
            widget = self._authorization_for(app)
            if draft.specs[self.side]:
                widget.load(draft.specs[self.side])
        read_only = draft.editing
        if read_only:
            self.setSubTitle(
                f"The app that holds the {SIDE_WORDS[self.side]} address book, and where its "
                "contacts are."
            )
        self.edit_note.setVisible(read_only)
        self.search.setEnabled(not read_only)
        self.apps_view.setEnabled(not read_only)
        for widget in self._authorizations.values():
            widget.set_read_only(read_only)
        self.completeChanged.emit()

    def select_app(self, key: str) -> bool:
        row = self.model.row_of(key)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.search.clear()
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.apps_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        return True

    # -- QWizardPage --------------------------------------------------------------------------

    def isComplete(self) -> bool:
        widget = self.authorization()
        return self._loaded and widget is not None and widget.isComplete()

    def validatePage(self) -> bool:
        widget, app = self.authorization(), self.chosen_app()
        if widget is None or app is None:
            return False
        draft = self._draft()
        if draft.editing:
            return True
        draft.apps[self.side] = app
        draft.specs[self.side] = widget.spec()
        if self.side is Side.B:
            try:
                connection_setup.check_distinct(draft.choice(Side.A), draft.choice(Side.B))
            except ConfigError as exc:
                self.show_problem(TaskError.from_exception(exc))
                return False
        self.clear_problem()
        return True

    # -- reactions ----------------------------------------------------------------------------

    def _on_search(self, text: str) -> None:
        self._filtering = True  # rows coming and going move the view's current row
        try:
            self.proxy.set_search(text)
            chosen = self._chosen
            row = self.model.row_of(chosen.key) if chosen else -1
            index = self.proxy.mapFromSource(self.model.index(row, 0)) if row >= 0 else None
            selection = self.apps_view.selectionModel()
            if index is not None and index.isValid():
                selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
            else:
                selection.clear()
        finally:
            self._filtering = False
        empty = self.proxy.rowCount() == 0
        self.no_match.setText(f"No app matches '{text.strip()}'." if empty else "")
        self.no_match.setVisible(empty)

    def _on_app_chosen(self, current: QModelIndex, _previous: QModelIndex) -> None:
        app: AppInfo | None = current.data(APP_ROLE) if current.isValid() else None
        if app is None or self._filtering:  # hidden or moved by the search: the choice stands
            return
        self._chosen = app
        widget = self._authorization_for(app)
        self.stack.setCurrentWidget(widget)
        self.where.setTitle(f"{app.name}: where are the contacts?")
        self._on_changed()

    def _on_changed(self) -> None:
        self.clear_problem()
        self.completeChanged.emit()
