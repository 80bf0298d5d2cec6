"""What Outlook cannot hold, kept beside the contact and merged back item by item after the
person edits the field in Outlook."""

from __future__ import annotations

from piesync_desktop.engine.connectors.outlook import contacts, overflow
from piesync_desktop.engine.model import Address, Item

EMAILS = tuple(Item("work", f"e{n}@x.org") for n in range(4))


def as_outlook_holds(fields: dict) -> dict:
    return contacts.normalised(fields)


def test_nothing_is_kept_for_what_fits() -> None:
    fields = {"emails": (Item("other", "a@x.org"),), "given_name": "Ann"}
    assert overflow.overflow_of(fields) == {}


def test_a_fourth_email_and_the_kinds_come_back_while_outlook_holds_what_was_written() -> None:
    kept = overflow.overflow_of({"emails": EMAILS})
    assert kept == {"emails": EMAILS}
    held = as_outlook_holds({"emails": EMAILS})
    assert len(held["emails"]) == 3
    assert overflow.restored(dict(held), kept) == {"emails": EMAILS}


def test_a_typo_fixed_in_outlook_keeps_the_rest_and_their_kinds() -> None:
    kept = overflow.overflow_of({"emails": EMAILS})
    fixed = (Item("other", "e0@x.org"), Item("other", "e1-fixed@x.org"), Item("other", "e2@x.org"))
    assert overflow.restored({"emails": fixed}, kept)["emails"] == (
        EMAILS[0],
        EMAILS[2],
        EMAILS[3],
        Item("other", "e1-fixed@x.org"),
    )


def test_an_email_removed_in_outlook_is_gone_and_one_added_back_is_there_again() -> None:
    kept = overflow.overflow_of({"emails": EMAILS})
    without = (Item("other", "e0@x.org"), Item("other", "e1@x.org"))
    assert overflow.restored({"emails": without}, kept)["emails"] == (
        EMAILS[0],
        EMAILS[1],
        EMAILS[3],
    )
    again = (*without, Item("other", "E2@x.org"))  # the case Outlook kept it in does not matter
    assert overflow.restored({"emails": again}, kept)["emails"] == EMAILS


def test_a_fax_stays_a_fax_until_the_person_changes_that_number() -> None:
    phones = (Item("mobile", "+1 1"), Item("fax", "+1 2"), Item("pager", "+1 3"))
    kept = overflow.overflow_of({"phones": phones})
    held = as_outlook_holds({"phones": phones})
    assert overflow.restored(dict(held), kept)["phones"] == phones
    changed = tuple(
        Item(i.kind, "+1 9") if i.value == "+1 1" else i for i in held["phones"]
    )  # a new mobile number
    assert overflow.restored({"phones": changed}, kept)["phones"] == (
        phones[1],
        phones[2],
        Item("mobile", "+1 9"),
    )


def test_a_birthday_without_a_year_is_kept_until_one_is_given_in_outlook() -> None:
    kept = overflow.overflow_of({"birthday": "--05-17"})
    assert overflow.restored({}, kept) == {"birthday": "--05-17"}
    assert overflow.restored({"birthday": "1990-05-17"}, kept) == {"birthday": "1990-05-17"}


def test_a_po_box_outlook_folds_into_the_street_comes_back_as_it_was() -> None:
    home = Item("home", Address(pobox="PO 7", street="1 Main St", locality="Ghent"))
    kept = overflow.overflow_of({"addresses": (home,)})
    held = as_outlook_holds({"addresses": (home,)})
    assert held["addresses"] != (home,)
    assert overflow.restored(dict(held), kept) == {"addresses": (home,)}


def test_an_unreadable_property_is_forgotten_not_fatal() -> None:
    assert overflow.decode("{not json") == {}
    assert overflow.decode(overflow.encode({"emails": EMAILS})) == {"emails": EMAILS}
