"""The Trash review window over the store of a real sync of the demo's two vCard folders: the list,
Keep, Delete (after a confirmation that names each contact and app) and Undo, checked through to
the files after the next real sync."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QMessageBox

from piesync_desktop import paths
from piesync_desktop.demo import DemoProfile
from piesync_desktop.engine import health
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.store import Store, TrashDecision
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.tasks import StoreTasks
from piesync_desktop.ui.trash import Column, TrashReview

TRASH = "PieSync Trash"


def sync(demo: DemoProfile) -> None:
    """A real sync of the demo connection, as the window's worker runs it."""
    with Store(paths.store_path(demo.profile)) as store:
        settings = store.connection(demo.connection)
        connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
        run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(demo.profile)))


def store_of(demo: DemoProfile) -> Store:
    return Store(paths.store_path(demo.profile))


@pytest.fixture
def trashed(demo_profile: DemoProfile) -> DemoProfile:
    """The demo after the sync that tags work-4 (its phone copy was deleted): one candidate."""
    sync(demo_profile)
    assert TRASH in (demo_profile.folder_a / "work-4.vcf").read_text(encoding="utf-8")
    return demo_profile


@pytest.fixture
def tasks(qtbot, demo_profile: DemoProfile) -> Iterator[StoreTasks]:
    running = StoreTasks(paths.store_path(demo_profile.profile))
    yield running
    running.shutdown()


def open_review(qtbot, tasks: StoreTasks) -> TrashReview:
    # Not shown: offscreen Qt warns about any shown window with a layout, and the models,
    # selections and buttons behave the same (a disabled button ignores a click either way).
    view = TrashReview(tasks)
    qtbot.addWidget(view)
    settle(qtbot, view)
    return view


def settle(qtbot, view: TrashReview) -> None:
    qtbot.waitUntil(lambda: view.tasks.pending == 0 and not view.model.loading)


def cells(view: TrashReview, row: int = 0) -> dict[Column, str]:
    return {column: view.model.index(row, column).data() or "" for column in Column}


def select_rows(view: TrashReview, rows: list[int]) -> None:
    selection = view.table.selectionModel()
    selection.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in rows:
        selection.select(view.model.index(row, 0), flags)


class Confirmation:
    """Stands in for the person at the delete confirmation: reads it, then answers."""

    def __init__(self, answer: QMessageBox.StandardButton) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str, str]] = []

    def exec(self, box: QMessageBox) -> int:
        self.asked.append((box.windowTitle(), box.text(), box.detailedText()))
        return self.answer.value


@pytest.fixture
def confirm(monkeypatch) -> Confirmation:
    answer = Confirmation(QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: answer.exec(box))
    return answer


def decision_in_store(demo: DemoProfile) -> list[str | None]:
    with store_of(demo) as store:
        return [item.decision for item in health.all_trash(store)]


def test_the_list_matches_the_store_of_a_real_sync(qtbot, trashed, tasks):
    view = open_review(qtbot, tasks)
    with store_of(trashed) as store:
        expected = health.all_trash(store)
    assert [item.id for item in expected] == ["work-4.vcf"]
    assert view.model.rowCount() == 1
    assert view.stack.currentWidget() is view.table and not view.buttons.isHidden()
    row = cells(view)
    assert row[Column.CONTACT] == expected[0].name and row[Column.CONTACT]
    assert row[Column.EMAIL] == expected[0].email and "@example.org" in row[Column.EMAIL]
    assert row[Column.KEPT_IN] == f"vCard folder ({trashed.folder_a})"
    assert row[Column.DELETED_IN] == f"vCard folder ({trashed.folder_b})"
    assert row[Column.DELETED_ON].startswith("20")
    assert row[Column.CONNECTION] == trashed.connection
    assert row[Column.DECISION] == ""
    assert not view.keep_button.isEnabled() and not view.delete_button.isEnabled()
    select_rows(view, [0])
    assert view.keep_button.isEnabled() and view.delete_button.isEnabled()
    assert not view.undo_button.isEnabled()
    assert view.delete_button.text().startswith("Delete in vCard folder (")


def test_keep_shows_at_once_and_the_next_sync_removes_the_tag(qtbot, trashed, tasks):
    view = open_review(qtbot, tasks)
    select_rows(view, [0])
    with qtbot.waitSignal(view.decided) as signal:
        view.keep_button.click()
    assert signal.args == [trashed.connection]
    assert cells(view)[Column.DECISION] == "Keep at next sync"
    assert "next sync" in view.message.text()
    assert decision_in_store(trashed) == ["keep"]
    work_4 = trashed.folder_a / "work-4.vcf"
    assert TRASH in work_4.read_text(encoding="utf-8")  # nothing happens before the sync

    sync(trashed)

    assert TRASH not in work_4.read_text(encoding="utf-8")
    assert not (trashed.folder_b / "phone-4.vcf").exists()
    assert not any("work-4" in p.read_text() for p in trashed.folder_b.glob("*.vcf"))
    view.refresh()
    settle(qtbot, view)
    assert view.model.rowCount() == 0
    assert view.stack.currentIndex() == 1 and view.intro.isHidden()
    sync(trashed)
    assert TRASH not in work_4.read_text(encoding="utf-8")  # never tagged again


def test_delete_asks_naming_the_contact_and_the_app_then_the_sync_deletes(
    qtbot, trashed, tasks, confirm
):
    view = open_review(qtbot, tasks)
    name = cells(view)[Column.CONTACT]
    select_rows(view, [0])
    with qtbot.waitSignal(view.decided):
        view.delete_button.click()
    [(title, text, _details)] = confirm.asked
    assert title == "Delete contact?"
    assert text == f"Delete {name} in vCard folder ({trashed.folder_a})?"
    assert cells(view)[Column.DECISION] == "Delete at next sync"
    assert view.undo_button.isEnabled()
    work_4 = trashed.folder_a / "work-4.vcf"
    assert work_4.exists()

    sync(trashed)

    assert not work_4.exists()
    with store_of(trashed) as store:
        settings = store.connection(trashed.connection)
        actions = [row["action"] for row in health.timeline(store, settings.id or 0)]
    assert "deleted in vCard folder (Trash review)" in actions
    sync(trashed)
    assert not work_4.exists()
    assert not any(name in p.read_text() for p in trashed.folder_b.glob("*.vcf"))
    assert not any(name in p.read_text() for p in trashed.folder_a.glob("*.vcf"))
    view.refresh()
    settle(qtbot, view)
    assert view.stack.currentIndex() == 1 and view.intro.isHidden()


def test_cancelling_the_confirmation_decides_nothing(qtbot, trashed, tasks, monkeypatch):
    refuse = Confirmation(QMessageBox.StandardButton.Cancel)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: refuse.exec(box))
    view = open_review(qtbot, tasks)
    select_rows(view, [0])
    view.delete_button.click()
    settle(qtbot, view)
    assert len(refuse.asked) == 1
    assert cells(view)[Column.DECISION] == ""
    assert decision_in_store(trashed) == [None]


def test_undo_withdraws_the_decision_before_the_sync(qtbot, trashed, tasks, confirm):
    view = open_review(qtbot, tasks)
    select_rows(view, [0])
    with qtbot.waitSignal(view.decided):
        view.delete_button.click()
    with qtbot.waitSignal(view.decided):
        view.undo_button.click()
    assert cells(view)[Column.DECISION] == ""
    assert decision_in_store(trashed) == [None]
    sync(trashed)
    assert TRASH in (trashed.folder_a / "work-4.vcf").read_text(encoding="utf-8")


def test_several_at_once_with_one_confirmation_listing_them(qtbot, demo_profile, tasks, confirm):
    for number in (5, 7):  # two more deleted in the phone before the sync
        (demo_profile.folder_b / f"phone-{number}.vcf").unlink()
    sync(demo_profile)
    view = open_review(qtbot, tasks)
    assert view.model.rowCount() == 3
    names = {view.model.candidate(row).id: cells(view, row)[Column.CONTACT] for row in range(3)}
    select_rows(view, [0, 1, 2])
    with qtbot.waitSignal(view.decided):
        view.delete_button.click()
    [(title, text, _details)] = confirm.asked
    assert title == "Delete contacts?" and text.startswith("Delete these 3 contacts?")
    for name in names.values():
        assert f"• {name} in vCard folder ({demo_profile.folder_a})" in text
    assert [cells(view, row)[Column.DECISION] for row in range(3)] == ["Delete at next sync"] * 3
    select_rows(view, [1])
    with qtbot.waitSignal(view.decided):
        view.keep_button.click()
    sync(demo_profile)
    kept = view.model.candidate(1).id
    for rid in names:
        path = demo_profile.folder_a / rid
        assert path.exists() == (rid == kept)
    assert TRASH not in (demo_profile.folder_a / kept).read_text(encoding="utf-8")
    view.refresh()
    settle(qtbot, view)
    assert view.model.rowCount() == 0


def test_a_decision_the_store_refuses_is_shown_as_a_sentence(qtbot, trashed, tasks):
    view = open_review(qtbot, tasks)
    with store_of(trashed) as store:  # kept from the command line meanwhile, and synced
        settings = store.connection(trashed.connection)
        store.decide_trash(settings.id or 0, "a", "work-4.vcf", TrashDecision.KEEP)
    sync(trashed)
    select_rows(view, [0])
    view.keep_button.click()
    settle(qtbot, view)
    assert "not waiting in the Trash review" in view.message.text()
    assert "Traceback" not in view.message.text()
    assert view.model.rowCount() == 0  # read again: nothing left to review
    assert view.stack.currentIndex() == 1 and view.intro.isHidden()


def test_the_empty_state_says_why_contacts_would_appear(qtbot, demo_profile, tasks):
    view = open_review(qtbot, tasks)  # the demo before its next sync: nothing tagged yet
    assert view.model.rowCount() == 0
    assert view.stack.currentIndex() == 1 and view.intro.isHidden()
    assert "Nothing to review" in view.empty.text()
    assert "PieSync Trash" in view.empty.text() and "When you delete a contact" in view.empty.text()


def test_more_candidates_than_a_page_are_read_as_the_list_scrolls(
    qtbot, demo_profile, tasks, monkeypatch
):
    from piesync_desktop.ui import trash

    monkeypatch.setattr(trash, "PAGE", 2)
    asked: list[int] = []  # how many rows each read asked for
    reader = trash.TrashModel._reader

    def counting(model):
        read = reader(model)

        def counted(store, limit, offset, last):
            asked.append(limit)
            return read(store, limit, offset, last)

        return counted

    monkeypatch.setattr(trash.TrashModel, "_reader", counting)
    for number in (5, 7, 8, 10):
        (demo_profile.folder_b / f"phone-{number}.vcf").unlink()
    sync(demo_profile)
    view = open_review(qtbot, tasks)
    # A page at a time (the table may ask for the next page itself, so how many pages are
    # read by now depends on timing; each read asks for one page and one more row).
    assert view.model.rowCount() in (2, 4, 5)
    while view.model.canFetchMore(view.model.index(-1, -1)):
        view.model.fetchMore(view.model.index(-1, -1))
        settle(qtbot, view)
    with store_of(demo_profile) as store:
        expected = [item.id for item in health.all_trash(store)]
    assert len(expected) == 5
    assert [view.model.candidate(row).id for row in range(view.model.rowCount())] == expected
    assert asked == [3, 3, 3]  # three pages of two, never the whole list at once


def test_refresh_keeps_the_selection(qtbot, trashed, tasks):
    view = open_review(qtbot, tasks)
    select_rows(view, [0])
    view.refresh()
    settle(qtbot, view)
    assert [item.id for item in view.selected()] == ["work-4.vcf"]
