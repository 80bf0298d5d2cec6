"""StoreTasks: store work on its own thread, answers and errors back on the GUI thread."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.ui.tasks import StoreTasks, TaskError


def test_a_task_runs_off_the_gui_thread_and_answers_on_it(qtbot, store_tasks: StoreTasks) -> None:
    gui = threading.get_ident()
    seen: dict[str, object] = {}

    def work(store):
        seen["thread"] = threading.get_ident()
        return store.connection_names()

    def done(result):
        seen["answer_thread"] = threading.get_ident()
        seen["result"] = result

    store_tasks.submit(work, done)
    qtbot.waitUntil(lambda: "result" in seen)
    assert seen["thread"] != gui
    assert seen["answer_thread"] == gui
    assert seen["result"] == []
    assert store_tasks.pending == 0


def test_tasks_run_in_the_order_they_were_asked(qtbot, store_tasks: StoreTasks) -> None:
    order: list[int] = []
    for number in range(20):
        store_tasks.submit(lambda _store, n=number: n, order.append)
    qtbot.waitUntil(lambda: len(order) == 20)
    assert order == list(range(20))


def test_an_error_comes_back_as_a_sentence(qtbot, store_tasks: StoreTasks) -> None:
    errors: list[TaskError] = []

    def fails(store):
        return store.connection("nobody")

    store_tasks.submit(fails, on_error=errors.append)
    qtbot.waitUntil(lambda: bool(errors))
    assert "nobody" in errors[0].message
    assert isinstance(errors[0].title, str) and errors[0].title


def test_an_error_without_a_handler_is_signalled(qtbot, store_tasks: StoreTasks) -> None:
    def fails(_store):
        raise ConfigError("The folder /nowhere does not exist.")

    with qtbot.waitSignal(store_tasks.error) as signal:
        store_tasks.submit(fails)
    assert signal.args[0].message == "The folder /nowhere does not exist."


def test_a_forgotten_task_calls_nobody(qtbot, store_tasks: StoreTasks) -> None:
    called: list[object] = []
    ticket = store_tasks.submit(lambda store: QThread.msleep(50), called.append)
    store_tasks.forget(ticket)
    qtbot.waitUntil(lambda: store_tasks.pending == 0)
    assert called == []


def test_a_group_forgets_all_its_answers_at_once(qtbot, store_tasks: StoreTasks) -> None:
    from piesync_desktop.ui.tasks import TaskGroup

    group = TaskGroup(store_tasks)
    answered: list[object] = []
    group.submit(lambda store: QThread.msleep(50), answered.append)
    group.submit(lambda store: 2, answered.append)
    group.forget_all()
    qtbot.waitUntil(lambda: store_tasks.pending == 0)
    assert answered == []
    group.submit(lambda store: 3, answered.append)
    qtbot.waitUntil(lambda: answered == [3])


def test_a_group_task_without_error_handler_reports_on_the_tasks_signal(
    qtbot, store_tasks: StoreTasks
) -> None:
    from piesync_desktop.ui.tasks import TaskGroup

    def fails(_store):
        raise ConfigError("No such folder.")

    with qtbot.waitSignal(store_tasks.error) as signal:
        TaskGroup(store_tasks).submit(fails)
    assert signal.args[0].message == "No such folder."
