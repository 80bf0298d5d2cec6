"""Removing a destination from a share job: read what would go, confirm it, then do it.

Removing is the one deletion the program makes without a Trash review, because the person asks
for exactly that after seeing the list. :class:`RemovalFlow` reads the destination as it is now
(``engine.share.plan_removal``, on a worker thread: it lists the whole address book), shows the
:class:`RemovalDialog` with the copies the job made there (deleted) and the owner's own contacts
in the group (they leave it and stay), and on "Remove and delete N contacts" carries it out
(``carry_out_removal``, on the worker thread, under the account lock the syncs take). While it
runs, the destination is held: no sync of it starts. What the app refuses is reported; the
destination then stays in the job, paused, and Remove can be tried again.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape as _html_escape

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from piesync_desktop.engine import share
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.share import Listed, RemovalPlan, RemovalResult
from piesync_desktop.engine.store import Store
from piesync_desktop.ui.icons import icon
from piesync_desktop.ui.sync_manager import SyncManager
from piesync_desktop.ui.tasks import TaskError
from piesync_desktop.ui.wizard.background import Background, JobContext


def escape(text: str) -> str:
    """Text for a rich-text label (quotes stay quotes)."""
    return _html_escape(text, quote=False)


CHANNEL = "removal"
LIST_ROWS = 8  # a contact list shows this many rows before it scrolls


def contacts(number: int) -> str:
    return f"{number:,} contact{'' if number == 1 else 's'}"


def confirm_text(plan: RemovalPlan) -> str:
    """The confirmation button: what it deletes, in so many words."""
    if not plan.copies:
        return "Remove the destination"
    return f"Remove and delete {contacts(len(plan.copies))}"


class RemovalDialog(QDialog):
    """The confirmation of a removal: the copies deleted and the owner's contacts kept."""

    def __init__(self, plan: RemovalPlan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan = plan
        group = escape(plan.job.group)
        self.setWindowTitle("Remove a destination")
        self.setWindowIcon(icon("action-remove"))
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        heading = QLabel(
            f"<h3>Remove {escape(plan.label)} from the share job '{escape(plan.job.name)}'?</h3>"
        )
        heading.setWordWrap(True)
        layout.addWidget(heading)

        if plan.copies:
            these = (
                "This contact the job made there is deleted"
                if len(plan.copies) == 1
                else f"These {contacts(len(plan.copies))} the job made there are deleted"
            )
            self.copies_label = QLabel(
                f"<b>{these}</b> (the job's copies of '{group}'; the originals stay in the source):"
            )
        else:
            self.copies_label = QLabel("The job made no contacts there that are still there.")
        self.copies_label.setWordWrap(True)
        layout.addWidget(self.copies_label)
        self.copies_list = self._list(plan.copies)
        layout.addWidget(self.copies_list)
        self.copies_list.setVisible(bool(plan.copies))

        if len(plan.kept) == 1:
            kept = (
                "<b>This contact is the account's own</b>: it was put in "
                f"'{group}' there by its owner. It leaves the group and stays in the account:"
            )
        else:
            kept = (
                f"<b>These {contacts(len(plan.kept))} are the account's own</b>: they were put "
                f"in '{group}' there by its owner. They leave the group and stay in the account:"
            )
        self.kept_label = QLabel(kept)
        self.kept_label.setWordWrap(True)
        layout.addWidget(self.kept_label)
        self.kept_list = self._list(plan.kept)
        layout.addWidget(self.kept_list)
        self.kept_label.setVisible(bool(plan.kept))
        self.kept_list.setVisible(bool(plan.kept))

        self.groups_label = QLabel(
            f"{escape(plan.groups_sentence())} The destination leaves the job. Deleted contacts "
            "cannot be brought back by the program."
        )
        self.groups_label.setWordWrap(True)
        self.groups_label.setEnabled(False)
        layout.addWidget(self.groups_label)
        layout.addStretch(1)

        self.buttons = QDialogButtonBox()
        self.remove_button = QPushButton(icon("action-remove"), confirm_text(plan))
        self.buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # Enter cancels: deleting takes a click on the button that says so.
        self.remove_button.setAutoDefault(False)
        self.cancel_button.setDefault(True)
        self.remove_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        layout.addWidget(self.buttons)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.cancel_button.setFocus()

    @staticmethod
    def _list(items: Sequence[Listed]) -> QListWidget:
        widget = QListWidget()
        widget.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        widget.addItems([item.name or item.rid for item in items])
        rows = max(1, min(len(items), LIST_ROWS))
        height = widget.sizeHintForRow(0) if items else widget.fontMetrics().height() + 4
        widget.setFixedHeight(rows * height + 2 * widget.frameWidth() + 4)
        return widget

    @property
    def copy_names(self) -> list[str]:
        return [self.copies_list.item(i).text() for i in range(self.copies_list.count())]

    @property
    def kept_names(self) -> list[str]:
        return [self.kept_list.item(i).text() for i in range(self.kept_list.count())]


def result_text(plan: RemovalPlan, result: RemovalResult) -> str:
    """What a finished removal did, or why it did not finish, as the job page says it."""
    if result.complete:
        return (
            f"{plan.label} removed from '{plan.job.name}': {len(result.deleted):,} "
            f"cop{'y' if len(result.deleted) == 1 else 'ies'} deleted, "
            f"{contacts(len(result.kept))} of its own left '{plan.job.group}' and stayed."
        )
    problems = " ".join(result.problems)
    return (
        f"The removal of {plan.label} did not finish: {problems} The destination stays in the "
        "job, paused, so no copies are made there meanwhile; Remove… tries again and finishes "
        "the work (nothing done is undone)."
    )


class RemovalFlow(QObject):
    """One removal, from reading the destination to the result; the page shows its signals."""

    progress = Signal(str)  # what it does now, in a sentence
    confirming = Signal(object)  # the RemovalDialog, shown
    finished = Signal(object, object)  # RemovalPlan, RemovalResult
    cancelled = Signal()  # the person said Cancel: nothing changed
    failed = Signal(object)  # TaskError: nothing, or not all, was done (the message says)

    def __init__(
        self,
        background: Background,
        manager: SyncManager,
        job: str,
        destination: str,
        label: str,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.background = background
        self.manager = manager
        self.job = job
        self.destination = destination
        self.label = label
        self.page = parent
        self.plan: RemovalPlan | None = None
        self.dialog: RemovalDialog | None = None

    def start(self) -> None:
        """Read the destination (on the worker thread) and ask the person."""
        self.progress.emit(f"Reading {self.label} to list what the removal deletes there…")
        store_path, factory = self.manager.store_path, self.manager.connector_factory
        job, destination = self.job, self.destination

        def plan(_ctx: JobContext) -> RemovalPlan:
            with Store(store_path) as store:
                settings = store.connection(destination)
                return share.plan_removal(
                    store, store.share_job(job), settings, factory(settings.b_spec)
                )

        self.background.submit(CHANNEL, plan, self._ask, self._plan_failed)

    def _ask(self, plan: RemovalPlan) -> None:
        self.plan = plan
        self.dialog = RemovalDialog(plan, self.page)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.accepted.connect(self._carry_out)
        self.dialog.rejected.connect(self._cancel)
        self.dialog.finished.connect(self.dialog.deleteLater)
        self.progress.emit("")
        self.dialog.open()
        self.confirming.emit(self.dialog)

    @Slot()
    def _cancel(self) -> None:
        self.cancelled.emit()

    @Slot()
    def _carry_out(self) -> None:
        plan = self.plan
        assert plan is not None
        self.manager.hold(self.destination)  # and stops a run of it that is under way
        self.progress.emit(f"Removing {plan.label}: deleting the job's copies there…")
        store_path, locks_dir = self.manager.store_path, self.manager.locks_dir
        factory = self.manager.connector_factory

        def carry_out(ctx: JobContext) -> RemovalResult:
            with Store(store_path) as store:
                return share.carry_out_removal(
                    store,
                    plan,
                    factory(plan.destination.b_spec),
                    AccountLocks(locks_dir),
                    on_wait=ctx.report,
                )

        self.background.submit(
            CHANNEL, carry_out, self._done, self._carry_failed, on_progress=self._waiting
        )

    def _waiting(self, other: object) -> None:
        self.progress.emit(
            f"Removing {self.label}: waiting for connection {other}, which uses the same account…"
        )

    def _done(self, result: RemovalResult) -> None:
        assert self.plan is not None
        self.manager.release(self.destination)
        if result.complete:
            self.manager.forget(self.destination)
        else:
            self.manager.mark_paused(self.destination, True)
        self.progress.emit("")
        self.finished.emit(self.plan, result)

    def _plan_failed(self, problem: TaskError) -> None:
        self.progress.emit("")
        self.failed.emit(problem)

    def _carry_failed(self, problem: TaskError) -> None:
        self.manager.release(self.destination)
        self.progress.emit("")
        self.failed.emit(
            TaskError(
                problem.title,
                f"{problem.message} The destination stays in the job, paused; Remove… can be "
                "tried again.",
            )
        )
