"""What HubSpot cannot hold (a home phone, a second address), kept in a hidden property and
merged back item by item after the person edits the contact in HubSpot: the slots HubSpot has
(phone, mobile, fax, one address) follow HubSpot, the items it has no room for stay."""

from __future__ import annotations

from emulators.hubspot import _standard_properties

from piesync_desktop.engine.connectors.hubspot.properties import ContactSchema
from piesync_desktop.engine.model import Address, Item

SCHEMA = ContactSchema.of(p.render() for p in _standard_properties())
PHONES = (Item("home", "+32 9 111"), Item("work", "+32 9 222"))
HOME = Item("home", Address(street="Home Street 1", locality="Ghent", postcode="9000"))
WORK = Item("work", Address(pobox="PO 7", street="Work Avenue 2", locality="Brussels"))


def held(fields: dict) -> dict:
    """The contact's properties once ``fields`` are written, and its kept values."""
    values = SCHEMA.properties_of(fields, clear=True)
    return values, {key: v for key, v in fields.items() if SCHEMA.held(key, v) != v}


def read(values: dict, kept: dict) -> dict:
    return SCHEMA.restored(SCHEMA.fields_of(values), kept)


def test_what_hubspot_holds_as_written_comes_back_whole() -> None:
    values, kept = held({"phones": PHONES, "addresses": (HOME, WORK)})
    assert values["phone"] == "+32 9 222" and values["address"] == "Work Avenue 2"
    assert kept == {"phones": PHONES, "addresses": (HOME, WORK)}
    assert read(values, kept) == {"phones": PHONES, "addresses": (HOME, WORK)}


def test_a_mobile_added_in_hubspot_keeps_the_home_phone() -> None:
    values, kept = held({"phones": PHONES})
    values["mobilephone"] = "+32 470 00"
    assert read(values, kept)["phones"] == (*PHONES, Item("mobile", "+32 470 00"))


def test_a_slot_edited_in_hubspot_takes_the_new_value_and_keeps_its_kind() -> None:
    phones = (Item("home", "+32 9 111"), Item("main", "+32 9 222"))
    values, kept = held({"phones": phones})
    values["phone"] = "+32 9 999"
    assert read(values, kept)["phones"] == (Item("home", "+32 9 111"), Item("main", "+32 9 999"))


def test_a_slot_cleared_in_hubspot_is_gone_and_the_rest_stays() -> None:
    values, kept = held({"phones": PHONES})
    values["phone"] = ""
    assert read(values, kept)["phones"] == (Item("home", "+32 9 111"),)
    values, kept = held({"phones": (Item("work", "+32 9 222"), Item("work", "+32 9 333"))})
    values["phone"] = ""  # the second work phone never was in HubSpot: it stays
    assert read(values, kept)["phones"] == (Item("work", "+32 9 333"),)


def test_a_zip_fixed_in_hubspot_keeps_the_home_address_and_the_po_box() -> None:
    values, kept = held({"addresses": (HOME, WORK)})
    values["zip"] = "1050"
    fixed = Item("work", WORK.value._replace(postcode="1050"))
    assert read(values, kept)["addresses"] == (HOME, fixed)
    values["address"] = values["city"] = values["zip"] = ""
    assert read(values, kept)["addresses"] == (HOME,)  # the address cleared in HubSpot


def test_an_undo_in_hubspot_brings_back_only_what_was_there() -> None:
    values, kept = held({"phones": PHONES})
    values["phone"] = "+32 9 999"
    assert read(values, kept)["phones"] == (Item("home", "+32 9 111"), Item("work", "+32 9 999"))
    values["phone"] = "+32 9 222"
    assert read(values, kept)["phones"] == PHONES


def test_the_kept_values_are_settled_with_what_hubspot_holds_now() -> None:
    values, kept = held({"phones": PHONES})
    values["phone"] = "+32 9 999"
    merged = (Item("home", "+32 9 111"), Item("work", "+32 9 999"))
    assert SCHEMA.settled(values, kept) == {"phones": merged}
    assert read(values, SCHEMA.settled(values, kept))["phones"] == merged
    values["phone"] = ""
    # Kept as merged, the home phone would read as the one in HubSpot's cleared phone slot (and
    # be dropped as cleared): kept as it was, which merges the same way.
    assert read(values, kept)["phones"] == (Item("home", "+32 9 111"),)
    assert SCHEMA.settled(values, kept) == kept
    values, kept = held({"addresses": (WORK,)})  # kept for its PO box
    values["address"] = values["city"] = ""
    assert read(values, kept) == {} and SCHEMA.settled(values, kept) == {}  # nothing left


def test_a_number_added_in_hubspot_is_there_even_if_the_card_has_it_as_another_kind() -> None:
    values, kept = held({"phones": PHONES})
    values["mobilephone"] = "+32 9 111"
    assert read(values, kept)["phones"] == (*PHONES, Item("mobile", "+32 9 111"))
