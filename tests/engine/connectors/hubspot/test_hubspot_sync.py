"""Whole syncs between a vCard folder and a HubSpot portal (the emulator) through the engine, set
up as the CLI and the wizard set a connection up: a first sync both ways and edits each way, a
custom mapping into a custom property, a dropdown-to-dropdown mapping refused, a contact without
an email failing alone, an opt-out tagging the folder's copy 'PieSync Unsubscribes', deletions
both ways, and a rate-limit storm, 500s and lost answers in the middle of a run."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.hubspot_account import HubSpotAccount

from piesync_desktop.engine import health
from piesync_desktop.engine.connection import ConnectionSettings
from piesync_desktop.engine.connection_setup import (
    SideChoice,
    build_settings,
    check_new_mapping,
    default_setup,
    save_new_connection,
    validate_new_connection,
)
from piesync_desktop.engine.connectors.base import Connector, open_connector
from piesync_desktop.engine.connectors.vcard_codec import parse_card
from piesync_desktop.engine.errors import SyncError
from piesync_desktop.engine.locks import AccountLocks
from piesync_desktop.engine.mapping import IncompatibleFields, MappingSpec
from piesync_desktop.engine.model import TRASH_TAG, UNSUBSCRIBES_TAG
from piesync_desktop.engine.store import RunSummary, Store
from piesync_desktop.engine.sync import run_sync

Edit = Callable[[list[MappingSpec], Connector, Connector], list[MappingSpec]]


@pytest.fixture
def account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotAccount]:
    """A portal whose token is in the keyring, and the environment pointing at it."""
    portal = HubSpotAccount(tmp_path / "hubspot")
    portal.wait_on_emulator_clock(monkeypatch)
    for name, value in portal.env.items():
        monkeypatch.setenv(name, value)
    portal.save_token()
    yield portal
    portal.close()
    assert portal.api.internal_errors == []


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "folder"
    path.mkdir()
    return path


def write(folder: Path, name: str, email: str = "", extra: str = "") -> Path:
    given, _, family = name.partition(" ")
    path = folder / f"{uuid.uuid4().hex}.vcf"
    mail = f"EMAIL;TYPE=INTERNET:{email}\r\n" if email else ""
    path.write_text(
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{path.stem}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        f"{mail}{extra}END:VCARD\r\n",
        encoding="utf-8",
        newline="",
    )
    return path


def contact(first: str, last: str, email: str, **extra: str) -> dict[str, str]:
    return {"firstname": first, "lastname": last, "email": email, **extra}


def card_of(folder: Path, text: str) -> Any:
    [path] = [p for p in folder.glob("*.vcf") if text in p.read_text()]
    return parse_card(path.read_text())


def folder_emails(folder: Path) -> list[str]:
    found: list[str] = []
    for path in folder.glob("*.vcf"):
        found += [str(i.value) for i in parse_card(path.read_text()).fields.get("emails", ())]
    return sorted(found)


def hubspot_emails(account: HubSpotAccount) -> list[str]:
    return sorted(c["properties"].get("email", "") for c in account.api.contacts())


def hubspot_contact(account: HubSpotAccount, email: str) -> dict[str, Any]:
    [found] = [c for c in account.api.contacts() if c["properties"].get("email") == email]
    return found["properties"]


def connect(
    store: Store,
    folder: Path,
    account: HubSpotAccount,
    edit: Edit | None = None,
    list_name: str = "",
    **options: Any,
) -> ConnectionSettings:
    """A connection saved as the CLI's connect saves one (both sides opened for real)."""
    a_spec, b_spec = f"vcard:{folder}", account.spec(list_name)
    a, b = validate_new_connection(a_spec, b_spec)
    mappings, rules = default_setup(a, b)
    if edit is not None:
        mappings = edit(mappings, a, b)
    a_side, b_side = SideChoice.of(a_spec, a), SideChoice.of(b_spec, b)
    settings = build_settings("c", a_side, b_side, mappings=mappings, rules=rules, **options)
    save_new_connection(store, settings, a_side, b_side)
    b.close()  # type: ignore[attr-defined]
    return store.connection("c")


def sync(store: Store, locks: AccountLocks) -> RunSummary:
    """One run, with connectors opened from the connection's specs, as the scheduler does."""
    settings = store.connection("c")
    connectors = {"a": open_connector(settings.a_spec), "b": open_connector(settings.b_spec)}
    try:
        return run_sync(store, settings, connectors, locks)
    finally:
        connectors["b"].close()  # type: ignore[attr-defined]


def counts(store: Store) -> dict[str, int]:
    return health.counts(store, health.connection_id(store, "c"))


def reasons(store: Store) -> list[str]:
    return [r["reason"] for r in health.failure_reasons(store, health.connection_id(store, "c"))]


def nothing_done(summary: RunSummary) -> bool:
    return summary.created == {"a": 0, "b": 0} and summary.updated == {"a": 0, "b": 0}


def test_a_first_sync_both_ways_then_edits_each_way(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    ann = write(folder, "Ann Lee", "ann@example.org", "TITLE:CTO\r\nTEL;TYPE=CELL:+32 470 11\r\n")
    bob = account.api.add_contact(contact("Bob", "Stone", "bob@example.org", jobtitle="Builder"))
    account.api.add_contact(contact("Ann", "Lee", "ANN@example.org"))  # the same person
    connect(store, folder, account)
    summary = sync(store, locks)
    assert summary.status == "completed" and summary.failed == 0
    assert folder_emails(folder) == ["ann@example.org", "bob@example.org"]
    assert hubspot_emails(account) == ["ann@example.org", "bob@example.org"]  # paired, not made
    held = hubspot_contact(account, "ann@example.org")
    assert (held["jobtitle"], held["mobilephone"]) == ("CTO", "+32 470 11")
    assert card_of(folder, "Bob").fields["title"] == "Builder"
    assert counts(store)["in_sync"] == 4
    account.api.clear_requests()
    assert nothing_done(sync(store, locks))
    assert len(account.api.requests) == 4  # schema, search, lists, a count: none archived
    # An edit each way.
    ann.write_text(ann.read_text().replace("TITLE:CTO", "TITLE:CEO"), newline="")
    account.api.edit_contact(bob, {"jobtitle": "Architect"})
    summary = sync(store, locks)
    assert summary.updated == {"a": 1, "b": 1}
    assert hubspot_contact(account, "ann@example.org")["jobtitle"] == "CEO"
    assert card_of(folder, "Bob").fields["title"] == "Architect"
    assert nothing_done(sync(store, locks))


def test_a_custom_mapping_fills_a_custom_hubspot_property(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    account.api.add_property("role", "Role", "string", "text")
    write(folder, "Ann Lee", "ann@example.org", "TITLE:Drummer\r\n")
    account.api.add_contact(contact("Zed", "Key", "zed@example.org", role="Bass"))

    def title_to_role(mappings: list[MappingSpec], a: Connector, b: Connector) -> list[MappingSpec]:
        kept = [m for m in mappings if m.a_field != "title"]
        return [*kept, check_new_mapping(kept, a.schema(), b.schema(), "title", "hubspot:role")]

    connect(store, folder, account, edit=title_to_role)
    sync(store, locks)
    ann = hubspot_contact(account, "ann@example.org")
    assert ann["role"] == "Drummer" and "jobtitle" not in ann
    assert card_of(folder, "Zed").fields["title"] == "Bass"
    assert nothing_done(sync(store, locks))


def test_dropdowns_never_map_to_each_other_and_a_value_not_offered_fails_alone(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    account.api.add_property(
        "source", "Lead source", "enumeration", "select", [("web", "Web"), ("event", "Event")]
    )
    account.api.add_list("Customers")
    account.api.add_list("Partners")
    # Two lists of the portal: a dropdown (or radio) field never maps to another.
    a, b = validate_new_connection(account.spec("Customers"), account.spec("Partners"))
    mappings, _ = default_setup(a, b)
    for a_field, b_field in (
        ("hubspot:lifecyclestage", "hubspot:hs_lead_status"),
        ("hubspot:source", "hubspot:source"),
    ):
        with pytest.raises(IncompatibleFields) as refused:
            check_new_mapping(mappings, a.schema(), b.schema(), a_field, b_field)
        assert str(refused.value).startswith(
            f"Field {a.schema()[a_field].label} is not compatible with field "
            f"{b.schema()[b_field].label}: "
        )
        assert "two dropdown, radio button or checkbox fields never map" in str(refused.value)
    a.close()  # type: ignore[attr-defined]
    b.close()  # type: ignore[attr-defined]
    # A text field feeds a dropdown; a value the dropdown does not offer fails that one contact.
    write(folder, "Ann Lee", "ann@example.org", "TITLE:web\r\n")
    write(folder, "Bob Stone", "bob@example.org", "TITLE:Singer\r\n")

    def title_to_source(
        mappings: list[MappingSpec], a: Connector, b: Connector
    ) -> list[MappingSpec]:
        kept = [m for m in mappings if m.a_field != "title"]
        return [*kept, check_new_mapping(kept, a.schema(), b.schema(), "title", "hubspot:source")]

    connect(store, folder, account, edit=title_to_source)
    summary = sync(store, locks)
    assert summary.failed == 1
    assert hubspot_emails(account) == ["ann@example.org"]
    assert hubspot_contact(account, "ann@example.org")["source"] == "web"
    [reason] = reasons(store)
    assert "'Singer' is not an option of field Lead source in HubSpot" in reason


def test_a_contact_without_an_email_fails_alone_with_the_reason_in_health(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    write(folder, "Ann Lee", "ann@example.org")
    write(folder, "Nora Nomail")
    write(folder, "Cy Reed", "cy@example.org")
    connect(store, folder, account, avoid_duplicates=False)
    summary = sync(store, locks)
    assert summary.failed == 1 and summary.created["b"] == 2
    assert hubspot_emails(account) == ["ann@example.org", "cy@example.org"]
    assert counts(store)["failing"] == 1 and counts(store)["in_sync"] == 4
    assert reasons(store) == ["Missing required field Email in HubSpot."]


def test_an_opt_out_in_hubspot_tags_the_folder_copy_piesync_unsubscribes(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    write(folder, "Ann Lee", "ann@example.org")
    bob = account.api.add_contact(contact("Bob", "Stone", "bob@example.org"))
    account.api.opt_out(bob)
    connect(store, folder, account, sync_unsubscribes=True)
    sync(store, locks)
    assert UNSUBSCRIBES_TAG in card_of(folder, "Bob").tags
    assert UNSUBSCRIBES_TAG not in card_of(folder, "Ann").tags
    ann = next(
        c["id"] for c in account.api.contacts() if c["properties"]["email"].startswith("ann")
    )
    account.api.opt_out(ann)
    summary = sync(store, locks)
    assert summary.updated["a"] == 1
    assert UNSUBSCRIBES_TAG in card_of(folder, "Ann").tags
    assert nothing_done(sync(store, locks))


def test_deletions_become_piesync_trash_on_the_other_side(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    ann = write(folder, "Ann Lee", "ann@example.org")
    write(folder, "Bob Stone", "bob@example.org")
    connect(store, folder, account, sync_deletions=True)
    sync(store, locks)
    bob = next(
        c["id"] for c in account.api.contacts() if c["properties"]["email"].startswith("bob")
    )
    account.api.archive_contact(bob)
    ann.unlink()
    sync(store, locks)
    assert TRASH_TAG in card_of(folder, "Bob").tags  # kept, for the person to review
    [trash] = [lst for lst in account.api.lists() if lst["name"] == TRASH_TAG]
    [ann_id] = account.api.members(trash["listId"])
    assert (account.api.contact(ann_id) or {})["properties"]["email"] == "ann@example.org"
    assert len(account.api.contacts()) == 1  # never deleted for the person
    assert nothing_done(sync(store, locks))


@pytest.mark.parametrize(
    ("fault", "says", "made"),
    [
        (
            lambda api: api.throttle(times=None, path_contains="/batch/create", after=1),
            "slow down",
            100,
        ),
        (lambda api: api.fail(500, times=None, path_contains="/batch/create", after=1), "500", 100),
        (
            lambda api: api.drop(times=None, path_contains="/batch/create", after=1, when="after"),
            "broke off",
            120,  # the second batch was made, its answer lost
        ),
        (
            lambda api: api.fail(
                500, times=None, path_contains="/batch/create", after=1, when="after"
            ),
            "500",
            120,  # the second batch was made, then HubSpot answered 500
        ),
    ],
    ids=["rate-limit-storm", "500s", "answer-lost-after-the-write", "500-after-the-write"],
)
def test_a_run_broken_off_by_hubspot_loses_nothing_and_duplicates_nothing(
    store: Store,
    locks: AccountLocks,
    folder: Path,
    account: HubSpotAccount,
    fault: Callable[[Any], None],
    says: str,
    made: int,
) -> None:
    for number in range(120):  # two batches of creates: the second one breaks
        write(folder, f"Person {number:03}", f"p{number:03}@example.org")
    # Without Avoid Duplicates, only the create keys keep a create from being made twice.
    connect(store, folder, account, avoid_duplicates=False)
    fault(account.api)
    with pytest.raises(SyncError, match=says):
        sync(store, locks)
    assert len(account.api.contacts()) == made
    if says != "slow down":  # a 429 is tried again: HubSpot carried nothing out
        assert account.api.count("POST", "/batch/create") == 2  # the second never sent again
    account.api.clear_faults()
    summary = sync(store, locks)
    assert summary.failed == 0
    expected = sorted(f"p{n:03}@example.org" for n in range(120))
    assert hubspot_emails(account) == expected  # each once: nothing lost, nothing twice
    assert folder_emails(folder) == expected
    assert counts(store)["failing"] == 0 and counts(store)["in_sync"] == 240
    assert nothing_done(sync(store, locks))


def test_a_contact_made_in_hubspot_meanwhile_is_paired_next_run_never_written_over(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    account.api.add_contact(contact("Zed", "Old", "zed@example.org"))
    connect(store, folder, account)
    assert sync(store, locks).status == "completed"
    account.api.advance(120)
    account.api.search_lag(10)
    # A sales rep types Ann into HubSpot while Ann's card is added to the folder.
    account.api.add_contact(
        contact("Ann", "Lee", "ann@example.org", jobtitle="VP Sales", company="Acme")
    )
    write(folder, "Ann Lee", "ann@example.org", "TEL;TYPE=WORK:+1 555 0199\r\n")
    account.api.advance(2)
    summary = sync(store, locks)
    assert summary.failed == 1 and summary.created == {"a": 0, "b": 0}
    [reason] = reasons(store)
    assert reason.endswith("made since this sync began; the next sync pairs the two")
    held = hubspot_contact(account, "ann@example.org")
    assert (held["jobtitle"], held.get("phone")) == ("VP Sales", None)  # nothing written over
    account.api.search_lag(0)
    account.api.advance(30)
    summary = sync(store, locks)  # the two meet: Avoid Duplicates pairs them
    assert summary.failed == 0 and reasons(store) == []
    card = card_of(folder, "Ann Lee")
    assert (card.fields["title"], card.fields["company"]) == ("VP Sales", "Acme")
    held = hubspot_contact(account, "ann@example.org")
    assert (held["jobtitle"], held["company"], held["phone"]) == ("VP Sales", "Acme", "+1 555 0199")
    assert hubspot_emails(account) == ["ann@example.org", "zed@example.org"]
    assert nothing_done(sync(store, locks))


def test_a_contact_outside_the_list_joins_it_and_is_paired_next_run_never_written_over(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    newsletter = account.api.add_list("Newsletter")
    ann = account.api.add_contact(
        contact("Ann", "Lee", "ann@example.org", jobtitle="VP Sales", company="Acme")
    )
    write(folder, "Ann Lee", "ann@example.org", "TEL;TYPE=WORK:+1 555 0199\r\n")
    connect(store, folder, account, list_name="Newsletter")
    summary = sync(store, locks)
    assert summary.failed == 1
    assert reasons(store) == [
        f"HubSpot refused to create it: HubSpot already has ann@example.org (record {ann}), "
        "outside the list 'Newsletter': it was added to the list, and the next sync pairs the two"
    ]
    assert account.api.members(newsletter) == [ann]
    assert hubspot_contact(account, "ann@example.org").get("phone") is None
    summary = sync(store, locks)
    assert summary.failed == 0 and reasons(store) == []
    card = card_of(folder, "Ann Lee")
    assert (card.fields["title"], card.fields["company"]) == ("VP Sales", "Acme")
    held = hubspot_contact(account, "ann@example.org")
    assert (held["jobtitle"], held["phone"]) == ("VP Sales", "+1 555 0199")
    assert nothing_done(sync(store, locks))


def test_a_category_named_like_the_locations_list_stays_on_the_card(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    customers = account.api.add_list("Customers")
    write(folder, "Ann Lee", "ann@example.org", "CATEGORIES:Customers,VIP\r\n")
    connect(store, folder, account, list_name="Customers")
    assert sync(store, locks).created == {"a": 0, "b": 1}
    [ann] = account.api.members(customers)
    account.api.advance(5)
    account.api.edit_contact(ann, {"jobtitle": "CEO"})
    assert sync(store, locks).updated == {"a": 1, "b": 0}
    card = card_of(folder, "Ann Lee")
    assert card.tags == {"Customers", "VIP"} and card.fields["title"] == "CEO"
    assert nothing_done(sync(store, locks))


def test_a_kept_home_phone_survives_an_edit_and_its_undo_in_hubspot(
    store: Store, locks: AccountLocks, folder: Path, account: HubSpotAccount
) -> None:
    write(
        folder,
        "Ann Lee",
        "ann@example.org",
        "TEL;TYPE=HOME:+32 9 111\r\nTEL;TYPE=WORK:+32 9 222\r\n",
    )
    connect(store, folder, account)
    sync(store, locks)
    [ann] = [c["id"] for c in account.api.contacts()]

    def phones() -> list[tuple[str, str]]:
        return sorted((i.kind, i.value) for i in card_of(folder, "Ann Lee").fields["phones"])

    for change, expected in (
        ({"mobilephone": "+32 470 00"}, [("home", "+32 9 111"), ("mobile", "+32 470 00")]),
        ({"phone": "+32 9 999"}, [("home", "+32 9 111"), ("mobile", "+32 470 00")]),
        ({"phone": "+32 9 222", "mobilephone": ""}, [("home", "+32 9 111")]),  # undone
    ):
        account.api.advance(5)
        account.api.edit_contact(ann, change)
        assert sync(store, locks).updated == {"a": 1, "b": 0}
        work = [("work", hubspot_contact(account, "ann@example.org")["phone"])]
        assert phones() == sorted(expected + work)
