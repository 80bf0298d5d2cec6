"""Choosing one address book for a share job: the connection wizard's app page, on its own.

The page is the wizard's :class:`~piesync_desktop.ui.wizard.app_page.AppPage` (the catalogue,
each app's authorization with its sign-in, the folders and accounts other connections use), so
a share job's address books are chosen exactly as a connection's are; it also refuses an address
book that is already in the job, and an app without groups. Slow checks run on the page's own
worker thread, and the accounts the store knows are read through :class:`StoreTasks`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtWidgets import QWidget, QWizard

from piesync_desktop.engine.connection import Side
from piesync_desktop.engine.connection_setup import (
    ConnectedAccount,
    connected_accounts,
    describe_side,
)
from piesync_desktop.engine.errors import SyncError
from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.tasks import StoreTasks, TaskError, TaskGroup
from piesync_desktop.ui.wizard.app_page import AppPage
from piesync_desktop.ui.wizard.background import Background
from piesync_desktop.ui.wizard.draft import ConnectionDraft

FOLDER_APPS = frozenset({"vcard"})  # apps whose account is a folder of this machine
DESTINATION_SUBTITLE = (
    "Choose the app and the address book the group's contacts are copied to, and sign in where "
    "the app asks for it."
)


def address_book_key(spec: str) -> tuple[str, str]:
    """What tells two address books apart (the account and the location), without opening it."""
    try:
        choice = describe_side(spec)
    except SyncError:
        return (spec, "")
    if choice.app.key in FOLDER_APPS:  # the account key is the folder itself, resolved: the
        return (choice.account_key, "")  # location only adds its spelling ('~', '/' at the end)
    return (choice.account_key, choice.location.rstrip("/"))


def address_book_label(spec: str) -> str:
    """How messages name the address book ``spec`` names: its app and its location's short name."""
    try:
        return describe_side(spec).label
    except SyncError:
        return spec


class AddressBookPage(AppPage):
    """The wizard's app page for one address book of a share job.

    The chosen ``APP:LOCATION`` (with its account, as the connection wizard saves it) is in the
    draft's first side once the page is validated. An address book of ``exclude`` (the job's
    source and destinations) or of an app without groups is refused on the page, in a sentence.
    """

    def __init__(
        self,
        title: str,
        subtitle: str,
        draft: ConnectionDraft,
        runner: Background,
        exclude: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(Side.A, lambda: draft, runner, parent)
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self._excluded = {address_book_key(spec) for spec in exclude if spec}
        self.completeChanged.connect(self._show_refusal)

    def chosen_spec(self) -> str:
        """The spec the page shows now, once it is usable; "" before."""
        widget = self.authorization()
        return widget.spec() if widget is not None and super().isComplete() else ""

    def refusal(self) -> TaskError | None:
        """Why the address book the page shows cannot be used here, or None."""
        spec, app = self.chosen_spec(), self.chosen_app()
        if not spec or app is None:
            return None
        if not app.capabilities.tags:
            return TaskError(
                "No groups",
                f"{app.name} has no groups, labels or categories, so it cannot take part in a "
                "share job.",
            )
        if address_book_key(spec) in self._excluded:
            return TaskError(
                "Already in this job",
                f"{address_book_label(spec)} is already in this job (its source or one of its "
                "destinations): choose another address book.",
            )
        return None

    def isComplete(self) -> bool:
        return super().isComplete() and self.refusal() is None

    def validatePage(self) -> bool:
        problem = self.refusal()
        if problem is not None:
            self.show_problem(problem)
            return False
        return super().validatePage()

    def _show_refusal(self) -> None:
        problem = self.refusal()
        if problem is not None:
            self.show_problem(problem)


def load_accounts(
    tasks: TaskGroup,
    page: AddressBookPage,
    draft: ConnectionDraft,
    then: Callable[[], None] | None = None,
) -> None:
    """Read the accounts the store knows (off the GUI thread), fill the page, then ``then()``."""

    def loaded(accounts: list[ConnectedAccount]) -> None:
        draft.accounts = accounts
        page.set_loaded()
        if then is not None:
            then()

    def failed(problem: TaskError) -> None:
        page.set_loaded()  # the accounts are only offered: the page works without them
        page.show_problem(problem)
        if then is not None:
            then()

    tasks.submit(connected_accounts, loaded, failed)


class DestinationDialog(QWizard):
    """Picks one address book (an app and where its contacts are, signed in where needed).

    After ``exec()`` (or ``open()``) ends Accepted, :attr:`spec` is the chosen ``APP:LOCATION``.
    """

    def __init__(
        self,
        tasks: StoreTasks,
        title: str = "Add a destination",
        exclude: Sequence[str] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.tasks = TaskGroup(tasks)
        self.draft = ConnectionDraft()
        self.runner = Background("share-destination", self)
        self._loaded = False
        self._closed = False

        self.setWindowTitle(title)
        self.setWindowIcon(icon("piesync-desktop"))
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Add")
        self.resize(900, 640)

        self.address_page = AddressBookPage(
            title, DESTINATION_SUBTITLE, self.draft, self.runner, exclude, self
        )
        self.address_page.setFinalPage(True)
        self.setPage(0, self.address_page)
        load_accounts(self.tasks, self.address_page, self.draft, self._on_loaded)

    def _on_loaded(self) -> None:
        self._loaded = True

    @property
    def spec(self) -> str:
        """The chosen ``APP:LOCATION`` once the dialog was accepted; "" before."""
        return self.draft.specs[Side.A] if self.result() == QWizard.DialogCode.Accepted else ""

    def done(self, result: int) -> None:
        super().done(result)  # a page that refuses keeps the dialog open
        if not self.isVisible() and not self._closed:
            self._closed = True
            self.tasks.forget_all()
            self.runner.shutdown()
