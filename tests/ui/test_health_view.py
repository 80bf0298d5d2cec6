"""The Health view against stores filled by real syncs of the demo's two vCard folders: what it
shows must be what the read model says, and its lists must stay lazy."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt

from piesync_desktop import paths
from piesync_desktop.demo import DemoProfile, build_demo, write_address_books
from piesync_desktop.engine import health
from piesync_desktop.engine.connection import ConnectionSettings, Direction
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import default_mappings
from piesync_desktop.engine.rules import default_rules
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.connections_model import AppLabel
from piesync_desktop.ui.health import HealthView
from piesync_desktop.ui.health_models import (
    PAGE,
    ContactColumn,
    ContactQuery,
    TimelineColumn,
    side_names,
    what_happened,
)
from piesync_desktop.ui.icons import state_icon
from piesync_desktop.ui.tasks import StoreTasks

SHOTS = Path("/tmp/shots")


def sync_again(profile: Path, name: str) -> None:
    """One more real sync of a connection, as the window's scheduler would run it."""
    with Store(paths.store_path(profile)) as store:
        settings = store.connection(name)
        connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
        for connector in connectors.values():
            connector.open()
        run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(profile)))


@pytest.fixture
def engine(profile: Path) -> Iterator[Store]:
    """The test's own connection to the store, to ask the read model what the view must show."""
    with Store(paths.store_path(profile)) as store:
        yield store


def open_view(qtbot, tasks: StoreTasks, name: str) -> HealthView:
    view = HealthView(tasks, name)
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    qtbot.waitExposed(view)
    settle(qtbot, tasks)
    return view


def settle(qtbot, tasks: StoreTasks) -> None:
    """Wait until every read the view asked for has answered (pages, counts, timeline)."""
    qtbot.waitUntil(lambda: tasks.pending == 0, timeout=15_000)


def shot(view: HealthView, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert view.grab().save(str(SHOTS / f"health-{name}.png"))


def rows(view: HealthView) -> list[health.ContactStatus]:
    model = view.contacts_model
    return [model.contact(row) for row in range(model.rowCount())]


def keys(contacts: list[health.ContactStatus]) -> list[tuple[str, str]]:
    return [(c.side, c.id) for c in contacts]


def click(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def cid_of(engine: Store, name: str) -> int:
    return engine.connection(name).id or 0


def break_cards(folder: Path, names: list[str]) -> None:
    """Files that are not vCards: the sync reports each as failing, with its reason."""
    for name in names:
        (folder / f"{name}.vcf").write_text("this is not a vCard\n", encoding="utf-8")


# -- counters and the lists they filter ------------------------------------------------------


def test_counters_and_header_show_the_read_model(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    counts = health.counts(engine, cid_of(engine, demo_profile.connection))
    shown = {state: button.figure.text() for state, button in view.counters.items()}
    assert shown == {
        "in_sync": f"{counts['in_sync']:,}",
        "excluded": f"{counts['excluded']:,}",
        "duplicate": f"{counts['duplicates']:,}",
        "failing": f"{counts['failing']:,}",
    }
    assert counts["in_sync"] > 100 and counts["excluded"] == 12 and counts["duplicates"] == 1
    assert "demo-work" in view.app_names["a"].text()
    assert "demo-phone" in view.app_names["b"].text()
    assert view.arrow.text() == "⇄"
    assert "completed" in view.last_sync_label.text()
    assert view.contacts_model.total == sum(counts.values())
    assert view.caption.text().endswith(f"{sum(counts.values()):,} contacts")
    shot(view, "demo")


@pytest.mark.parametrize(
    ("state", "count_key"),
    [("in_sync", "in_sync"), ("excluded", "excluded"), ("duplicate", "duplicates")],
)
def test_a_counter_lists_the_contacts_of_its_state(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store, state, count_key
) -> None:
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    cid = cid_of(engine, demo_profile.connection)
    click(qtbot, view.counters[state])
    settle(qtbot, store_tasks)
    expected = health.contacts(engine, cid, state=state, limit=PAGE)
    assert keys(rows(view)) == keys(expected)
    assert {c.state for c in rows(view)} == {state}
    assert view.contacts_model.total == health.counts(engine, cid)[count_key]
    assert view.counters[state].isChecked()
    assert not any(b.isChecked() for s, b in view.counters.items() if s != state)
    assert view.show_all_button.isVisible()

    click(qtbot, view.counters[state])  # the second click lists everyone again
    settle(qtbot, store_tasks)
    assert view.contacts_model.query == ContactQuery()
    assert not view.counters[state].isChecked()
    assert view.contacts_model.total == sum(health.counts(engine, cid).values())


def test_excluded_contacts_show_their_reason(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks
) -> None:
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    click(qtbot, view.counters["excluded"])
    settle(qtbot, store_tasks)
    model = view.contacts_model
    reasons = {model.index(r, ContactColumn.REASON).data() for r in range(model.rowCount())}
    assert model.rowCount() == 12
    assert all(reason.startswith("No email address") for reason in reasons)


def test_clicking_a_failure_reason_lists_exactly_its_contacts(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    break_cards(demo_profile.folder_a, ["broken-one", "broken-two"])
    break_cards(demo_profile.folder_b, ["broken-three"])
    sync_again(demo_profile.profile, demo_profile.connection)
    cid = cid_of(engine, demo_profile.connection)
    reasons = health.failure_reasons(engine, cid)
    assert len(reasons) == 3

    view = open_view(qtbot, store_tasks, demo_profile.connection)
    assert view.counters["failing"].figure.text() == "3"
    table, model = view.reasons_table, view.reasons_model
    assert [model.reason(r) for r in range(model.rowCount())] == [r["reason"] for r in reasons]
    index = model.index(1, 0)
    qtbot.mouseClick(
        table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(index).center()
    )
    settle(qtbot, store_tasks)
    wanted = reasons[1]["reason"]
    assert view.contacts_model.query == ContactQuery(reason=wanted)
    assert keys(rows(view)) == keys(health.contacts(engine, cid, reason=wanted))
    assert len(rows(view)) == 1
    listed = rows(view)[0]
    assert (listed.state, listed.reason) == ("failing", wanted)
    assert table.selectionModel().isRowSelected(1, QModelIndex())
    assert not view.counters["failing"].isChecked()

    click(qtbot, view.counters["failing"])
    settle(qtbot, store_tasks)
    assert {c.id for c in rows(view)} == {"broken-one.vcf", "broken-two.vcf", "broken-three.vcf"}
    shot(view, "failing")


def test_clicking_an_action_figure_lists_exactly_those_contacts(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    sync_again(demo_profile.profile, demo_profile.connection)  # settles the demo's conflict
    cid = cid_of(engine, demo_profile.connection)
    actions = health.actions(engine, cid)
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    for (side, action), button in view.action_summary.buttons.items():
        assert button.text() == f"{actions[side][action]:,}"
        assert button.isEnabled() == (actions[side][action] > 0)
    for side, action in (("b", "created"), ("a", "created"), ("b", "updated"), ("a", "updated")):
        assert actions[side][action] > 0
        click(qtbot, view.action_summary.buttons[(side, action)])
        settle(qtbot, store_tasks)
        expected = health.action_contacts(engine, cid, side, action)
        assert keys(rows(view)) == keys(expected)
        assert {c.side for c in rows(view)} <= {side}
        assert view.contacts_model.total == len(expected)
        assert view.contacts_model.query == ContactQuery(action=(side, action))
        assert action in view.caption.text()
        # the figure counts actions, the list contacts: when they differ, the caption says why
        assert bool(view.caption.toolTip()) == (actions[side][action] != len(expected))
    assert len(health.action_contacts(engine, cid, "b", "created")) == actions["b"]["created"]

    search(qtbot, view, "jan")  # a search does not apply to an action's list: it is cleared
    click(qtbot, view.action_summary.buttons[("b", "created")])
    qtbot.wait(300)  # longer than the search's debounce: no search starts from the clearing
    settle(qtbot, store_tasks)
    assert view.search.text() == ""
    assert view.contacts_model.query == ContactQuery(action=("b", "created"))
    search(qtbot, view, "jan")  # typing again searches all contacts
    assert view.contacts_model.query == ContactQuery(search="jan")
    shot(view, "actions")


# -- search --------------------------------------------------------------------------------


def search(qtbot, view: HealthView, text: str) -> None:
    view.search.clear()
    qtbot.keyClicks(view.search, text)
    qtbot.waitUntil(lambda: view.contacts_model.query.search == text, timeout=5_000)
    settle(qtbot, view.tasks)


def state_symbols(view: HealthView) -> set[tuple[str, int]]:
    model = view.contacts_model
    return {
        (model.contact(r).state, model.index(r, ContactColumn.STATE).data(1).cacheKey())
        for r in range(model.rowCount())
    }


def test_search_by_name_email_and_id_shows_each_state_symbol(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    break_cards(demo_profile.folder_a, ["broken-card"])
    sync_again(demo_profile.profile, demo_profile.connection)
    cid = cid_of(engine, demo_profile.connection)
    view = open_view(qtbot, store_tasks, demo_profile.connection)

    search(qtbot, view, "Second card")  # by name: the duplicate of work-1
    assert [(c.id, c.state) for c in rows(view)] == [("work-duplicate-1.vcf", "duplicate")]
    assert state_symbols(view) == {("duplicate", state_icon("duplicate").cacheKey())}

    twin = health.contacts(engine, cid, search="Second card")[0]
    search(qtbot, view, twin.email)  # by email: the duplicate and the pair it duplicates
    assert keys(rows(view)) == keys(health.contacts(engine, cid, search=twin.email))
    assert {c.state for c in rows(view)} == {"duplicate", "in_sync"}
    assert state_symbols(view) == {
        ("duplicate", state_icon("duplicate").cacheKey()),
        ("in_sync", state_icon("in_sync").cacheKey()),
    }

    search(qtbot, view, "work-noemail-3")  # by id: excluded, without email
    assert [(c.id, c.state) for c in rows(view)] == [("work-noemail-3.vcf", "excluded")]
    assert state_symbols(view) == {("excluded", state_icon("excluded").cacheKey())}

    search(qtbot, view, "broken-card")
    assert [(c.id, c.state) for c in rows(view)] == [("broken-card.vcf", "failing")]
    assert state_symbols(view) == {("failing", state_icon("failing").cacheKey())}
    reason = view.contacts_model.index(0, ContactColumn.REASON).data()
    assert reason == rows(view)[0].reason and "broken-card.vcf" in reason

    search(qtbot, view, "nobody-is-called-this")
    assert view.contacts_model.rowCount() == 0
    assert view.contacts_model.total == 0
    shot(view, "search")


def test_search_narrows_the_chosen_state(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    cid = cid_of(engine, demo_profile.connection)
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    click(qtbot, view.counters["excluded"])
    settle(qtbot, store_tasks)
    search(qtbot, view, "phone")
    expected = health.contacts(engine, cid, state="excluded", search="phone")
    assert keys(rows(view)) == keys(expected) and len(expected) == 6
    assert view.counters["excluded"].isChecked()


def test_a_stale_page_is_dropped(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    cid = cid_of(engine, demo_profile.connection)
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    model = view.contacts_model
    firsts: list[int] = []
    model.loaded.connect(lambda: firsts.append(model.rowCount()))
    model.set_query(ContactQuery(search="jan"))  # its answer comes back after the next query
    model.set_query(ContactQuery(search="anna"))
    settle(qtbot, store_tasks)
    assert len(firsts) == 1
    assert keys(rows(view)) == keys(health.contacts(engine, cid, search="anna"))
    assert model.total == health.count_contacts(engine, cid, search="anna")


def test_a_load_left_before_it_ran_reads_nothing(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store, monkeypatch
) -> None:
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    searched: list[str] = []
    real = health.contacts

    def contacts(store, cid, state=None, search="", *args, **kwargs):
        searched.append(search)
        return real(store, cid, state, search, *args, **kwargs)

    monkeypatch.setattr(health, "contacts", contacts)
    gate = threading.Event()
    store_tasks.submit(lambda _store: gate.wait(10))  # the tasks thread is busy meanwhile
    for text in ("j", "ja", "jan"):  # typed while an earlier read runs
        view.contacts_model.set_query(ContactQuery(search=text))
    gate.set()
    settle(qtbot, store_tasks)
    assert searched == ["jan"]
    expected = real(engine, cid_of(engine, demo_profile.connection), search="jan", limit=PAGE)
    assert keys(rows(view)) == keys(expected)


# -- timeline ------------------------------------------------------------------------------


def test_timeline_most_recent_first(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    sync_again(demo_profile.profile, demo_profile.connection)
    cid = cid_of(engine, demo_profile.connection)
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    model = view.timeline_model
    expected = health.timeline(engine, cid, limit=PAGE)
    shown = [model.entry(r) for r in range(model.rowCount())]
    assert shown == expected
    times = [row["at"] for row in shown]
    assert times == sorted(times, reverse=True)
    assert times[0] > times[-1]  # the second sync's rows come first
    # the conflict the second sync settled, and the deletion it carried across
    whats = [model.index(r, TimelineColumn.WHAT).data() for r in range(model.rowCount())]
    assert "Updated from demo-work" in whats
    assert any(text.startswith("Deleted") for text in whats)
    view.tabs.setCurrentIndex(1)
    shot(view, "timeline")


# -- lazy loading ----------------------------------------------------------------------------


def test_lists_load_a_page_at_a_time(qtbot, profile: Path, engine: Store) -> None:
    demo = build_demo(profile, people=1200)
    cid = cid_of(engine, demo.connection)
    total = sum(health.counts(engine, cid).values())
    assert total > 2000
    tasks = StoreTasks(paths.store_path(profile))
    try:
        view = open_view(qtbot, tasks, demo.connection)
        model, table = view.contacts_model, view.contacts_table
        assert model.rowCount() == PAGE
        assert model.has_more and model.total == total
        table.scrollToBottom()
        qtbot.waitUntil(lambda: model.rowCount() >= 2 * PAGE, timeout=10_000)
        settle(qtbot, tasks)
        loaded = model.rowCount()
        assert loaded < total  # what is shown, not the whole list
        assert keys(rows(view)) == keys(health.contacts(engine, cid, limit=loaded))

        bar = table.verticalScrollBar()
        bar.setValue(bar.maximum() // 2)
        where = bar.value()
        view.refresh()  # after a sync: the same rows again, scrolled back where they were
        settle(qtbot, tasks)
        assert model.rowCount() == loaded
        assert bar.value() == where > 0
        while model.has_more:  # scrolling on reaches the end, each contact once
            table.scrollToBottom()
            shown = model.rowCount()
            qtbot.waitUntil(lambda n=shown: model.rowCount() > n, timeout=10_000)
            settle(qtbot, tasks)
        assert model.rowCount() == total
        assert len(set(keys(rows(view)))) == total

        timeline = view.timeline_model
        assert timeline.rowCount() == PAGE and timeline.has_more
        view.tabs.setCurrentIndex(1)
        view.timeline_table.scrollToBottom()
        qtbot.waitUntil(lambda: timeline.rowCount() > PAGE, timeout=10_000)
        settle(qtbot, tasks)
        entries = [timeline.entry(r) for r in range(timeline.rowCount())]
        assert entries == health.timeline(engine, cid, limit=timeline.rowCount())
        view.close()
    finally:
        tasks.shutdown()


# -- one-way, waiting, refresh, errors ------------------------------------------------------------


def one_way_profile(profile: Path) -> str:
    """Two demo books synced one way, A to B: B holds 40 contacts of its own and 6 without
    email, which must never show."""
    folder_a, folder_b = profile / "work", profile / "phone"
    write_address_books(folder_a, folder_b, people=30)
    settings = ConnectionSettings("one way", f"vcard:{folder_a}", f"vcard:{folder_b}")
    settings.direction = Direction.A_TO_B
    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    for connector in connectors.values():
        connector.open()
    settings.mappings = default_mappings(
        connectors["a"].schema(), connectors["b"].schema(), True, True
    )
    settings.rules = default_rules()
    with Store(paths.store_path(profile)) as store:
        a = store.ensure_account("vcard", connectors["a"].account_key, str(folder_a))
        b = store.ensure_account("vcard", connectors["b"].account_key, str(folder_b))
        store.add_connection(settings, a, b)
        run_sync(store, store.connection("one way"), connectors, AccountLocks(profile / "locks"))
    return "one way"


def test_one_way_hides_contacts_only_in_the_target(
    qtbot, profile: Path, store_tasks: StoreTasks, engine: Store
) -> None:
    name = one_way_profile(profile)
    cid = cid_of(engine, name)
    target_only = {f"phone-{n}.vcf" for n in range(30, 70)} | {
        f"phone-noemail-{n}.vcf" for n in range(6)
    }
    assert target_only <= set(engine.index(cid, "b"))  # they are in the index all the same

    view = open_view(qtbot, store_tasks, name)
    counts = health.counts(engine, cid)
    assert view.counters["excluded"].figure.text() == str(counts["excluded"]) == "6"  # A's only
    model = view.contacts_model
    assert model.total == sum(counts.values())
    shown = {(c.side, c.id) for c in rows(view)}
    assert not {rid for side, rid in shown if side == "b"} & target_only
    assert {side for side, _ in shown} == {"a", "b"}  # B's paired contacts are listed
    assert "are not shown" in view.direction_label.text()

    search(qtbot, view, "phone-noemail")
    assert model.rowCount() == 0
    search(qtbot, view, "phone-31")
    assert model.rowCount() == 0
    search(qtbot, view, "phone-1")  # paired: listed
    assert ("b", "phone-1.vcf") in keys(rows(view))
    assert keys(rows(view)) == keys(health.contacts(engine, cid, search="phone-1"))
    assert not {rid for _side, rid in keys(rows(view))} & target_only

    view.search.clear()
    click(qtbot, view.counters["excluded"])
    settle(qtbot, store_tasks)
    assert {c.side for c in rows(view)} == {"a"}
    timeline = view.timeline_model
    listed = {timeline.entry(r)["id"] for r in range(timeline.rowCount())}
    assert listed and not listed & target_only
    shot(view, "one-way")


def test_set_waiting_says_which_connection(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks
) -> None:
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    assert view.waiting_banner.isHidden()
    view.set_waiting("Office and phone")
    assert view.waiting_banner.isVisible()
    assert "Waiting for connection Office and phone" in view.waiting_label.text()
    shot(view, "waiting")
    view.set_waiting(None)
    assert view.waiting_banner.isHidden()
    assert view.waiting_for is None


def test_refresh_after_a_sync_shows_the_new_figures(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks, engine: Store
) -> None:
    cid = cid_of(engine, demo_profile.connection)
    view = open_view(qtbot, store_tasks, demo_profile.connection)
    before = view.counters["excluded"].figure.text()
    break_cards(demo_profile.folder_a, ["broken-later"])
    for number in range(3):
        (demo_profile.folder_b / f"phone-noemail-{number}.vcf").unlink()
    sync_again(demo_profile.profile, demo_profile.connection)
    counts = health.counts(engine, cid)
    assert view.counters["excluded"].figure.text() == before  # nothing read until asked
    view.refresh()
    settle(qtbot, store_tasks)
    assert view.counters["excluded"].figure.text() == str(counts["excluded"]) != before
    assert view.counters["failing"].figure.text() == "1"
    assert view.reasons_model.rowCount() == 1
    assert view.contacts_model.total == sum(counts.values())
    assert view.timeline_model.entry(0) == health.timeline(engine, cid, limit=1)[0]


def test_an_unknown_connection_is_said_in_a_sentence(
    qtbot, demo_profile: DemoProfile, store_tasks: StoreTasks
) -> None:
    view = open_view(qtbot, store_tasks, "gone meanwhile")
    assert view.problem_label.isVisible()
    text = html.unescape(view.problem_label.text())
    assert "No connection named 'gone meanwhile'" in text
    assert "Traceback" not in view.problem_label.text()


def test_sides_are_named_so_they_can_be_told_apart() -> None:
    work = AppLabel("vcard", "vCard folder", "~/contacts/work")
    phone = AppLabel("vcard", "vCard folder", "/media/phone/contacts")
    google = AppLabel("google", "Google Contacts", "me@example.com")
    assert side_names({"a": work, "b": phone}) == {"a": "work", "b": "contacts"}
    assert side_names({"a": work, "b": google}) == {"a": "vCard folder", "b": "Google Contacts"}
    twin = AppLabel("vcard", "vCard folder", "/elsewhere/work")
    assert side_names({"a": work, "b": twin}) == {"a": "vCard folder (A)", "b": "vCard folder (B)"}
    row = {"action": "created in B", "detail": "", "side": "a"}
    names = side_names({"a": work, "b": google})
    assert what_happened(row, names) == "Copied to Google Contacts"
    assert what_happened({**row, "action": "created", "side": "b"}, names) == (
        "Created (copied from vCard folder)"
    )
    excluded = {"action": "excluded", "detail": "No email address.", "side": "a"}
    assert what_happened(excluded, names) == "Excluded: No email address."


def test_timeline_actions_keep_the_names_they_carry() -> None:
    from piesync_desktop.ui.health_models import what_happened

    names = {"a": "work", "b": "phone"}
    tagged = {"action": "tagged 'PieSync Trash'", "detail": "", "side": "a"}
    kept = {"action": "kept (Trash review)", "detail": "", "side": "a"}
    assert what_happened(tagged, names) == "Tagged 'PieSync Trash'"
    assert what_happened(kept, names) == "Kept (Trash review)"
