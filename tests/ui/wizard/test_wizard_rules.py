"""The rules page: an IF/THEN editor per source app with a count of the contacts each rule
matches, counted off the GUI thread; the rules saved are the ones a real sync obeys."""

from __future__ import annotations

import threading
from pathlib import Path

from piesync_desktop import paths
from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connectors.base import open_connector
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.rules import Action, ActionOp, Condition, ConditionOp
from piesync_desktop.engine.store import Store
from piesync_desktop.engine.sync import run_sync
from piesync_desktop.ui.wizard import side_reads
from piesync_desktop.ui.wizard.wizard import PageId


def wait_count(qtbot, editor, text: str) -> None:
    qtbot.waitUntil(lambda: editor.count.text() == text, timeout=10_000)


def card_with(folder: Path, email: str) -> str:
    [text] = [
        p.read_text(encoding="utf-8")
        for p in folder.glob("*.vcf")
        if email in p.read_text(encoding="utf-8")
    ]
    return text


def test_the_preview_counts_the_contacts_each_rule_matches(qtbot, open_wizard, folders):
    driver = open_wizard()
    driver.to_page(PageId.RULES, *folders)
    page = driver.page()
    section = page.sections[Side.A]
    [first] = section.editors
    wait_count(qtbot, first, "Matches 3 of 3 contacts")
    assert not first.remove_button.isEnabled()  # the only rule of an app stays

    row = first.add_condition()
    assert first.count.text() == "Counting…"  # shown until the new count comes back
    assert not page.isComplete()
    assert page.unfinished.message() == (
        "Rule 1 of vCard folder 'work': a condition on Category has no value yet."
    )
    assert row.subject.currentText() == "Category" and row.op.currentText() == "is in"
    suggestions = [row.value.itemText(i) for i in range(row.value.count())]
    assert suggestions == ["Customers", "Friends"]  # the categories the folder's cards carry
    qtbot.keyClicks(row.value.lineEdit(), "customers")
    assert page.isComplete() and not page.unfinished.isVisibleTo(page)
    wait_count(qtbot, first, "Matches 1 of 3 contacts")

    second = section.add_rule()
    assert first.remove_button.isEnabled() and second.remove_button.isEnabled()
    friends = second.add_condition()
    friends.subject.setCurrentIndex(friends.subject.findData("family_name"))
    friends.op.setCurrentIndex(friends.op.findData(ConditionOp.IS_EMPTY))
    assert not friends.value.isVisibleTo(friends)  # nothing to compare with
    wait_count(qtbot, second, "Matches 0 of 3 contacts")
    friends.op.setCurrentIndex(friends.op.findData(ConditionOp.CONTAINS))
    qtbot.keyClicks(friends.value.lineEdit(), "e")  # Lee, Doe
    wait_count(qtbot, second, "Matches 2 of 3 contacts")
    wait_count(qtbot, page.sections[Side.B].editors[0], "Matches 1 of 1 contact")
    driver.shot("rules-edited")

    rules = driver.wizard.draft.rules
    assert [r.conditions for r in rules if r.side == "a"] == [
        (Condition(ConditionOp.IN_TAG, "customers"),),
        (Condition(ConditionOp.CONTAINS, "e", "family_name"),),
    ]


def test_rules_are_read_and_counted_off_the_gui_thread(qtbot, monkeypatch, open_wizard, folders):
    threads: list[int] = []
    read, count = side_reads.read_side, side_reads.count_rule_matches

    def reading(spec, ctx):
        threads.append(threading.get_ident())
        return read(spec, ctx)

    def counting(records, rules, ctx):
        threads.append(threading.get_ident())
        return count(records, rules, ctx)

    monkeypatch.setattr(side_reads, "read_side", reading)
    monkeypatch.setattr(side_reads, "count_rule_matches", counting)
    driver = open_wizard()
    driver.to_page(PageId.RULES, *folders)
    wait_count(qtbot, driver.page().sections[Side.A].editors[0], "Matches 3 of 3 contacts")
    assert len(threads) >= 4 and threading.get_ident() not in threads


def test_a_rule_with_an_action_is_saved_and_obeyed_by_a_real_sync(
    qtbot, open_wizard, folders, store_path, profile
):
    work, phone = folders
    driver = open_wizard()
    driver.to_page(PageId.RULES, *folders)
    [rule] = driver.page().sections[Side.A].editors
    condition = rule.add_condition()
    qtbot.keyClicks(condition.value.lineEdit(), "Customers")
    action = rule.add_action()
    assert action.op.currentText() == "Add to category"
    assert not action.field.isVisibleTo(action)
    qtbot.keyClicks(action.value.lineEdit(), "From work")
    assert rule.undo.isVisibleTo(rule)
    wait_count(qtbot, rule, "Matches 1 of 3 contacts")
    driver.next()
    driver.next()
    assert driver.page().rows["Rules"].text() == (
        "vCard folder 'work': in category 'Customers', then add to category 'From work'\n"
        "vCard folder 'phone': all contacts"
    )
    driver.finish()

    with Store(store_path) as store:
        settings = store.connection("work and phone")
        a_rules = [r for r in settings.rules if r.side == "a"]
        assert [(r.conditions, r.actions) for r in a_rules] == [
            (
                (Condition(ConditionOp.IN_TAG, "Customers"),),
                (Action(ActionOp.ADD_TAG, "From work"),),
            )
        ]
        connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
        run_sync(store, settings, connectors, AccountLocks(paths.locks_dir(profile)))
    assert "From work" in card_with(phone, "ann@example.org")
    assert not any("bob@example.org" in p.read_text(encoding="utf-8") for p in phone.glob("*"))
    assert "zed@example.org" in card_with(work, "zed@example.org")  # B's all-contacts rule


def test_one_way_shows_only_the_sources_rules_and_says_why(qtbot, open_wizard, folders):
    driver = open_wizard()
    driver.through_apps(*folders)
    driver.click(driver.page().buttons[Direction.A_TO_B])
    driver.next()
    driver.wait_complete()
    driver.next()
    page = driver.page()
    driver.wait_complete()
    assert page.sections[Side.A].isVisibleTo(page)
    assert not page.sections[Side.B].isVisibleTo(page)
    assert page.one_way_note.message() == (
        "In a one-way sync vCard folder 'phone' only receives contacts, so only the rules of "
        "vCard folder 'work' apply."
    )
    wait_count(qtbot, page.sections[Side.A].editors[0], "Matches 3 of 3 contacts")
    driver.shot("rules-one-way")


def test_a_rule_reads_as_a_sentence_with_the_fields_labels():
    from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA
    from piesync_desktop.engine.rules import Rule
    from piesync_desktop.ui.wizard.rule_editor import rule_sentence

    rule = Rule(
        "a",
        (
            Condition(ConditionOp.NOT_IN_TAG, "Family"),
            Condition(ConditionOp.NOT_EMPTY, field="company"),
        ),
        (Action(ActionOp.SET_FIELD, "Lead", "title"), Action(ActionOp.REMOVE_TAG, "Old")),
        match_all=False,
    )
    assert rule_sentence(rule, (VCARD_SCHEMA, VCARD_SCHEMA), ("category", "list")) == (
        "not in category 'Family' or Company is not empty, then set Job title to 'Lead' and "
        "remove from list 'Old'"
    )


def test_counting_shows_while_a_side_is_still_being_read(qtbot, monkeypatch, open_wizard, folders):
    from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA

    release = threading.Event()
    read = side_reads.read_side

    def slow_read(spec, ctx):  # a big folder: fields first, contacts long after
        ctx.report(side_reads.SchemaRead(VCARD_SCHEMA))
        ctx.report(side_reads.ReadProgress(2, 3))
        assert release.wait(timeout=20)
        return read(spec, ctx)

    monkeypatch.setattr(side_reads, "read_side", slow_read)
    driver = open_wizard()
    try:
        driver.to_page(PageId.RULES, *folders)
        editor = driver.page().sections[Side.A].editors[0]
        assert editor.count.text().startswith("Counting…")
        driver.shot("rules-counting")
    finally:
        release.set()
    wait_count(qtbot, editor, "Matches 3 of 3 contacts")
