"""The checks and steps of setting up a connection that the CLI and the wizard share."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from piesync_desktop.engine.connection import Direction, Side
from piesync_desktop.engine.connection_setup import (
    SideChoice,
    build_settings,
    check_new_mapping,
    check_options,
    connected_accounts,
    deletions_availability,
    describe_side,
    mapped_fields,
    name_problem,
    save_new_connection,
    short_location,
    suggest_name,
    unsubscribes_availability,
    validate_new_connection,
)
from piesync_desktop.engine.connectors.base import AppInfo
from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA
from piesync_desktop.engine.connectors.vcard_dir import VCardDir
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.mapping import IncompatibleFields, MappingKind, default_mappings
from piesync_desktop.engine.model import Capabilities
from piesync_desktop.engine.store import Store

VCARD = VCardDir.app
NO_TAGS = dataclasses.replace(
    VCARD, key="plain", name="Plain list", capabilities=Capabilities(tags=False)
)
NO_DELETIONS = dataclasses.replace(
    VCARD, key="blind", name="Blind app", capabilities=Capabilities(deletions=False)
)
MARKETING = AppInfo(
    "mail", "Mailer", "A mailing app", Capabilities(tags=True, tag_noun="list", unsubscribes=True)
)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "work", tmp_path / "phone"
    a.mkdir()
    b.mkdir()
    return a, b


def test_two_folders_are_opened_and_one_folder_twice_is_refused(folders):
    a, b = folders
    left, right = validate_new_connection(f"vcard:{a}", f"vcard:{b}")
    assert left.location == str(a) and right.location == str(b)
    with pytest.raises(ConfigError, match="same address book"):
        validate_new_connection(f"vcard:{a}", f"vcard:{a}")


def test_a_missing_folder_is_a_config_error_with_the_connectors_sentence(folders, tmp_path):
    a, _ = folders
    with pytest.raises(ConfigError, match="does not exist"):
        validate_new_connection(f"vcard:{a}", f"vcard:{tmp_path / 'nowhere'}")


def test_deletions_are_explained_per_direction_with_the_targets_tag_noun():
    both = deletions_availability(VCARD, VCARD, Direction.TWO_WAY, "work", "phone")
    assert both.available
    assert "deleted in work gets the category 'PieSync Trash' in phone" in both.explanation
    assert "deleted in phone gets the category 'PieSync Trash' in work" in both.explanation
    one_way = deletions_availability(VCARD, VCARD, Direction.B_TO_A, "work", "phone")
    assert one_way.available
    assert (
        "deleted in phone" in one_way.explanation and "deleted in work" not in one_way.explanation
    )


def test_deletions_need_tags_on_every_target_and_detection_on_every_source():
    refused = deletions_availability(VCARD, NO_TAGS, Direction.TWO_WAY)
    assert not refused.available
    assert "Plain list has no tags" in refused.explanation
    # one way into the app with tags: only that app must tag
    assert deletions_availability(NO_TAGS, VCARD, Direction.A_TO_B).available
    blind = deletions_availability(NO_DELETIONS, VCARD, Direction.A_TO_B)
    assert not blind.available
    assert blind.explanation == (
        "Not available: Blind app does not report the contacts deleted in it."
    )
    neither = deletions_availability(NO_TAGS, NO_TAGS, Direction.TWO_WAY, "work", "phone")
    assert neither.explanation == (
        "Not available: phone and work have no tags, categories, groups or lists, so a contact "
        "there cannot be marked 'PieSync Trash'."
    )


def test_unsubscribes_need_an_app_that_records_them():
    vcards = unsubscribes_availability(VCARD, VCARD, Direction.TWO_WAY)
    assert not vcards.available
    assert vcards.explanation == (
        "Not available: vCard folder does not record who unsubscribed from email, "
        "so there is nothing to sync."
    )
    mailer = unsubscribes_availability(MARKETING, VCARD, Direction.TWO_WAY)
    assert mailer.available
    assert mailer.explanation == (
        "A contact who unsubscribed in Mailer gets the category 'PieSync Unsubscribes' in "
        "vCard folder."
    )
    assert not unsubscribes_availability(MARKETING, VCARD, Direction.B_TO_A).available
    no_tags = unsubscribes_availability(MARKETING, NO_TAGS, Direction.A_TO_B)
    assert not no_tags.available and "Plain list has no tags" in no_tags.explanation


def test_check_options_refuses_what_the_apps_cannot_do():
    check_options(VCARD, VCARD, Direction.TWO_WAY, sync_deletions=True, sync_unsubscribes=False)
    with pytest.raises(ConfigError, match="Sync Deletions: Not available"):
        check_options(VCARD, NO_TAGS, Direction.TWO_WAY, True, False)
    with pytest.raises(ConfigError, match="Sync Unsubscribes: Not available"):
        check_options(VCARD, VCARD, Direction.TWO_WAY, False, True)


def test_names_must_be_given_and_free():
    assert name_problem("  ", []) == "Give the connection a name."
    assert name_problem("work", ["work"]) == (
        "A connection named 'work' already exists; pick another name."
    )
    assert name_problem("work", ["Work"]) is None


def test_suggested_names_come_from_the_two_locations_and_are_free(folders):
    a, b = folders
    left, right = describe_side(f"vcard:{a}"), describe_side(f"vcard:{b}/")
    assert suggest_name(left, right, []) == "work and phone"
    assert suggest_name(left, right, ["work and phone"]) == "work and phone (2)"
    assert short_location("/") == "/"


def test_a_custom_mapping_is_refused_with_the_articles_message_or_for_a_used_field():
    mappings = default_mappings(VCARD_SCHEMA, VCARD_SCHEMA, True, True)
    with pytest.raises(IncompatibleFields) as refused:
        check_new_mapping(mappings, VCARD_SCHEMA, VCARD_SCHEMA, "phones", "birthday")
    assert refused.value.message == (
        "Field Phone is not compatible with field Birthday: a phone field cannot hold a date "
        "value and back."
    )
    with pytest.raises(ConfigError, match="Notes in A is already mapped"):
        check_new_mapping(mappings, VCARD_SCHEMA, VCARD_SCHEMA, "notes", "nickname")
    without_notes = [m for m in mappings if m.a_field != "notes"]
    with pytest.raises(ConfigError, match="Nickname in B is already mapped"):
        check_new_mapping(without_notes, VCARD_SCHEMA, VCARD_SCHEMA, "notes", "nickname")
    added = check_new_mapping(without_notes, VCARD_SCHEMA, VCARD_SCHEMA, "notes", "notes")
    assert added.custom and added.kind is MappingKind.FIELD
    turned_off = [
        dataclasses.replace(m, enabled=False) if m.a_field == "notes" else m for m in mappings
    ]
    with pytest.raises(ConfigError, match="already in the table"):
        check_new_mapping(turned_off, VCARD_SCHEMA, VCARD_SCHEMA, "notes", "notes")
    spare = [m for m in turned_off if m.a_field != "nickname"]
    assert check_new_mapping(spare, VCARD_SCHEMA, VCARD_SCHEMA, "nickname", "notes").custom


def test_the_name_join_uses_the_name_parts():
    full = dataclasses.replace(
        VCARD_SCHEMA, fields={"full_name": VCARD_SCHEMA["full_name"]}
    )  # an app with one name field
    mappings = default_mappings(VCARD_SCHEMA, full, True, True)
    assert {"given_name", "family_name", "middle_name"} <= mapped_fields(mappings, Side.A)
    assert mapped_fields(mappings, Side.B) == {"full_name"}


def test_build_and_save_a_connection_then_list_its_accounts(folders, store):
    a, b = folders
    left, right = describe_side(f"vcard:{a}"), describe_side(f"vcard:{b}")
    settings = build_settings(
        " work and phone ",
        left,
        right,
        direction=Direction.A_TO_B,
        sync_deletions=True,
        interval_minutes=30,
    )
    assert settings.name == "work and phone" and len(settings.rules) == 2
    save_new_connection(store, settings, left, right)
    saved = store.connection("work and phone")
    assert (saved.direction, saved.sync_deletions, saved.interval_minutes) == (
        Direction.A_TO_B,
        True,
        30,
    )
    accounts = {account.label: account for account in connected_accounts(store)}
    assert set(accounts) == {str(a), str(b)}
    assert accounts[str(a)].app == "vcard"
    assert [(u.spec, u.connection) for u in accounts[str(a)].used_by] == [
        (f"vcard:{a}", "work and phone")
    ]
    with pytest.raises(ConfigError, match="already exists"):
        save_new_connection(store, settings, left, right)


def test_build_settings_refuses_the_same_book_and_impossible_options(folders):
    a, _ = folders
    side = describe_side(f"vcard:{a}")
    with pytest.raises(ConfigError, match="same address book"):
        build_settings("x", side, side)
    for spelling in (f"vcard:{a}/", f"vcard:{a}/../{a.name}"):  # one folder, written otherwise
        with pytest.raises(ConfigError, match="same address book"):
            build_settings("x", side, describe_side(spelling))
    other = SideChoice("plain:x", NO_TAGS, "plain:x", "x")
    with pytest.raises(ConfigError, match="Sync Deletions"):
        build_settings("x", side, other, sync_deletions=True)
    with pytest.raises(ConfigError, match="name"):
        build_settings("", side, other)


def test_the_cli_connect_makes_the_same_checks(folders, profile, capsys):
    from piesync_desktop.cli import main

    a, b = folders
    base = ["--profile", str(profile), "connect"]
    assert main([*base, "x", "--a", f"vcard:{a}", "--b", f"vcard:{a}"]) == 2
    assert "same address book" in capsys.readouterr().err
    assert main([*base, "x", "--a", f"vcard:{a}", "--b", f"vcard:{b}", "--sync-unsubscribes"]) == 2
    assert "Sync Unsubscribes: Not available: vCard folder does not record" in (
        capsys.readouterr().err
    )
    options = ["--direction", "b-to-a", "--sync-deletions"]
    assert main([*base, "x", "--a", f"vcard:{a}", "--b", f"vcard:{b}", *options]) == 0
    with Store(profile / "piesync.sqlite3") as store:
        saved = store.connection("x")
    assert saved.sync_deletions and saved.direction is Direction.B_TO_A
    assert saved.mappings and len(saved.rules) == 2
