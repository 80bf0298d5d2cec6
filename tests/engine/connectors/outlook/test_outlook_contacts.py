"""Graph's contact resource in the engine's terms: each mapping rule, the slots Outlook has (and
what is reported when a record does not fit), birthdays, PATCH bodies, and round trips."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from piesync_desktop.engine.connectors.outlook import contacts as oc
from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA
from piesync_desktop.engine.model import KINDS, Address, Item, Value

# A contact as Graph answers a GET (trimmed of what this module does not read).
GARTH: dict[str, Any] = {
    "id": "AAMkAGI2THk0AAA=",
    "changeKey": "EQAAABYAAACd9nJ/tVysQos2hTfspaWRAAADTIa4",
    "categories": ["Friends", " VIP ", ""],
    "parentFolderId": "AAMkAGI2AAEOAAA=",
    "birthday": "1974-07-22T11:59:00Z",
    "fileAs": "Fort, Garth",
    "displayName": "Dr Garth B. Fort Jr.",
    "givenName": "Garth",
    "initials": "G.F.",
    "middleName": "B.",
    "nickName": " Gaz ",
    "surname": "Fort",
    "title": "Dr",
    "generation": "Jr.",
    "emailAddresses": [
        {"name": "Garth (work)", "address": "garth@contoso.com"},
        {"name": "garth@home.org", "address": "garth@home.org"},
    ],
    "imAddresses": ["sip:garthf@contoso.com"],
    "jobTitle": "Web Marketing Manager",
    "companyName": "Contoso, Inc.",
    "department": "Sales & Marketing",
    "officeLocation": "20/1101",
    "profession": None,
    "businessHomePage": "https://www.contoso.com",
    "homePhones": [],
    "mobilePhone": "+1 918 555 0199",
    "businessPhones": ["+1 918 555 0101"],
    "homeAddress": {"street": "123 Some street", "city": "Seattle", "state": "WA"},
    "businessAddress": {
        "street": "10 Contoso Way",
        "city": "Redmond",
        "state": "WA",
        "countryOrRegion": "USA",
        "postalCode": "98075",
    },
    "otherAddress": {},
    "spouseName": "Kim",
    "personalNotes": "Met at the fair.\nLikes tea.",
    "children": [],
}


def emails(*addresses: str) -> tuple[Item, ...]:
    return tuple(Item("other", a) for a in addresses)


# --------------------------------------------------------------------------------- reading


def test_fields_of_reads_every_mapped_property() -> None:
    assert oc.fields_of(GARTH) == {
        "full_name": "Dr Garth B. Fort Jr.",
        "given_name": "Garth",
        "family_name": "Fort",
        "middle_name": "B.",
        "name_prefix": "Dr",
        "name_suffix": "Jr.",
        "nickname": "Gaz",
        "emails": emails("garth@contoso.com", "garth@home.org"),
        "phones": (Item("work", "+1 918 555 0101"), Item("mobile", "+1 918 555 0199")),
        "addresses": (
            Item("work", Address("", "", "10 Contoso Way", "Redmond", "WA", "98075", "USA")),
            Item("home", Address(street="123 Some street", locality="Seattle", region="WA")),
        ),
        "company": "Contoso, Inc.",
        "department": "Sales & Marketing",
        "title": "Web Marketing Manager",
        "birthday": "1974-07-22",
        "notes": "Met at the fair.\nLikes tea.",
        "urls": (Item("work", "https://www.contoso.com"),),
    }


def test_fields_of_leaves_empty_values_out() -> None:
    contact = {
        "displayName": "  ",
        "givenName": None,
        "emailAddresses": [{"name": "only a name"}, {"address": " "}],
        "businessPhones": ["", None],
        "homePhones": [],
        "mobilePhone": None,
        "homeAddress": {},
        "businessAddress": {"street": " ", "city": None},
        "otherAddress": None,
        "birthday": None,
        "businessHomePage": "",
        "personalNotes": None,
    }
    assert oc.fields_of(contact) == {}
    assert oc.fields_of({}) == {}


def test_phones_read_business_home_then_mobile() -> None:
    contact = {"mobilePhone": "m", "homePhones": ["h1", "h2"], "businessPhones": ["b1", "b2"]}
    assert oc.fields_of(contact)["phones"] == (
        Item("work", "b1"),
        Item("work", "b2"),
        Item("home", "h1"),
        Item("home", "h2"),
        Item("mobile", "m"),
    )


def test_categories_are_the_tags() -> None:
    assert oc.categories_of(GARTH) == frozenset({"Friends", "VIP"})
    assert oc.categories_of({}) == frozenset()


def test_select_names_every_property_read() -> None:
    selected = oc.SELECT.split(",")
    assert len(selected) == len(set(selected))
    for prop in ("id", "changeKey", "categories", "parentFolderId"):
        assert prop in selected
    # Everything fields_of reads is selected: a contact cut down to SELECT reads the same.
    cut = {prop: value for prop, value in GARTH.items() if prop in selected}
    assert oc.fields_of(cut) == oc.fields_of(GARTH)
    assert "imAddresses" not in selected and "spouseName" not in selected


def test_schema_is_the_vcard_folders() -> None:
    schema = oc.schema()
    assert list(schema.fields) == list(VCARD_SCHEMA.fields)
    for key, spec in schema.fields.items():
        assert spec == VCARD_SCHEMA[key]
        assert not spec.custom
    assert "categories" not in schema


# --------------------------------------------------------------------------------- birthdays


@pytest.mark.parametrize(
    ("graph", "engine"),
    [
        ("1974-05-17T11:59:00Z", "1974-05-17"),
        ("1974-05-17T00:00:00Z", "1974-05-17"),
        ("1974-05-17T23:00:00Z", "1974-05-17"),  # the date as written: the time is ignored
        ("1974-05-17T08:00:00+02:00", "1974-05-17"),
        ("1974-07-22", "1974-07-22"),
        ("1604-05-17T11:59:00Z", "--05-17"),  # Apple's no-year marker
        ("1604-02-29T00:00:00Z", "--02-29"),
        ("0001-01-01T00:00:00Z", ""),
        ("4501-01-01T00:00:00Z", ""),
        ("1974-02-30T11:59:00Z", ""),
        ("soon", ""),
        (None, ""),
    ],
)
def test_birthday_read(graph: str | None, engine: str) -> None:
    assert oc.birthday_of(graph) == engine
    assert oc.fields_of({"birthday": graph}).get("birthday", "") == engine


def test_birthday_written_at_midday_utc() -> None:
    body = oc.contact_body({"birthday": "1974-05-17"}, ["birthday"], {})
    assert body == {"birthday": "1974-05-17T11:59:00Z"}
    assert oc.graph_birthday("0999-12-31") == "0999-12-31T11:59:00Z"


@pytest.mark.parametrize("birthday", ["--05-17", "1974-02-30", "May 17", "1974-5-17"])
def test_a_birthday_outlook_cannot_hold_is_not_written_and_is_reported(birthday: str) -> None:
    assert oc.graph_birthday(birthday) is None
    assert oc.contact_body({"birthday": birthday}, ["birthday"], {"birthday": "x"}) == {}
    assert oc.contact_body({"birthday": birthday}, ["birthday"]) == {}
    [sentence] = oc.dropped({"birthday": birthday})
    assert birthday in sentence


def test_a_birthday_without_year_is_explained() -> None:
    assert oc.dropped({"birthday": "--05-17"}) == [
        "the birthday --05-17 has no year: Outlook keeps a birthday only with its year, "
        "so it is not written"
    ]


def test_a_no_year_birthday_read_from_outlook_stays_as_it_is() -> None:
    """Read as --MM-DD and written back unchanged: the write leaves Outlook's value alone."""
    contact = {"birthday": "1604-05-17T11:59:00Z"}
    fields = oc.fields_of(contact)
    assert fields == {"birthday": "--05-17"}
    assert oc.contact_body(fields, ["birthday"], contact) == {}


# --------------------------------------------------------------------------------- emails


def test_emails_keep_the_display_name_of_the_current_entry() -> None:
    fields = {"emails": (Item("work", "GARTH@contoso.com"), Item("home", "new@x.org"))}
    body = oc.contact_body(fields, ["emails"], GARTH)
    assert body == {
        "emailAddresses": [
            {"name": "Garth (work)", "address": "GARTH@contoso.com"},
            {"name": "new@x.org", "address": "new@x.org"},
        ]
    }


def test_emails_are_read_as_other() -> None:
    contact = oc.contact_body({"emails": (Item("work", "a@x.org"),)}, ["emails"])
    assert oc.fields_of(contact)["emails"] == emails("a@x.org")


def test_outlook_keeps_three_emails_and_says_which_were_left_out() -> None:
    fields = {"emails": emails("a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org")}
    body = oc.contact_body(fields, ["emails"], {})
    assert [e["address"] for e in body["emailAddresses"]] == ["a@x.org", "b@x.org", "c@x.org"]
    assert oc.dropped_emails(fields) == ("d@x.org", "e@x.org")
    assert oc.dropped(fields) == [
        "a 4th email d@x.org: Outlook keeps 3 email addresses",
        "a 5th email e@x.org: Outlook keeps 3 email addresses",
    ]
    assert oc.dropped_emails({"emails": emails("a@x.org", "", " ", "b@x.org")}) == ()


# --------------------------------------------------------------------------------- phones


def phones_body(*items: Item) -> dict[str, Any]:
    return oc.contact_body({"phones": items}, ["phones"], {})


def test_each_phone_kind_has_its_property() -> None:
    body = phones_body(Item("mobile", "m"), Item("home", "h"), Item("work", "w"))
    assert body == {"businessPhones": ["w"], "homePhones": ["h"], "mobilePhone": "m"}


def test_other_kinds_take_a_free_business_then_home_slot() -> None:
    body = phones_body(
        Item("fax", "f"),
        Item("work", "w"),
        Item("mobile", "m1"),
        Item("mobile", "m2"),
        Item("main", "main"),
        Item("pager", "p"),
    )
    # Each kind takes its own slot first; the rest fill business, then home slots in order.
    assert body == {"businessPhones": ["w", "f"], "homePhones": ["m2", "main"], "mobilePhone": "m1"}
    assert oc.dropped_phones({"phones": (Item("work", "w"), Item("fax", "f"))}) == ()
    fields = {"phones": (Item("pager", "p"), *oc.fields_of(body)["phones"])}
    assert oc.dropped_phones(fields) == ("p",)
    assert oc.dropped(fields) == [
        "the pager phone p: Outlook keeps 2 business, 2 home and 1 mobile phone number"
    ]


def test_a_third_work_phone_takes_a_home_slot_when_one_is_free() -> None:
    body = phones_body(Item("work", "w1"), Item("work", "w2"), Item("work", "w3"))
    assert body == {"businessPhones": ["w1", "w2"], "homePhones": ["w3"], "mobilePhone": None}


def test_phone_placement_is_stable() -> None:
    """Writing what was read back writes the same again: a sync never ping-pongs."""
    fields = {
        "phones": (
            Item("other", "o"),
            Item("home", "h"),
            Item("mobile", "m1"),
            Item("mobile", "m2"),
            Item("work", "w"),
        )
    }
    once = oc.normalised(fields)
    assert once["phones"] == (
        Item("work", "w"),
        Item("work", "o"),
        Item("home", "h"),
        Item("home", "m2"),
        Item("mobile", "m1"),
    )
    assert oc.normalised(once) == once
    assert oc.contact_body(once, ["phones"], {}) == oc.contact_body(fields, ["phones"], {})


# --------------------------------------------------------------------------------- addresses


def test_addresses_by_kind() -> None:
    work = Address(street="1 Way", locality="Redmond", region="WA", postcode="98075", country="US")
    fields = {
        "addresses": (
            Item("home", Address(street="2 Road", locality="Seattle")),
            Item("work", work),
            Item("postal", Address(country="BE")),
        )
    }
    body = oc.contact_body(fields, ["addresses"], {})
    assert body == {
        "businessAddress": {
            "street": "1 Way",
            "city": "Redmond",
            "state": "WA",
            "postalCode": "98075",
            "countryOrRegion": "US",
        },
        "homeAddress": {"street": "2 Road", "city": "Seattle"},
        "otherAddress": {"countryOrRegion": "BE"},
    }
    assert oc.fields_of(body)["addresses"] == (
        Item("work", work),
        Item("home", Address(street="2 Road", locality="Seattle")),
        Item("other", Address(country="BE")),
    )


def test_a_second_address_of_a_kind_takes_the_other_slot_else_is_reported() -> None:
    a, b, c = (Address(street=s) for s in "ABC")
    body = oc.contact_body({"addresses": (Item("home", a), Item("home", b))}, ["addresses"], {})
    assert body["homeAddress"] == {"street": "A"}
    assert body["otherAddress"] == {"street": "B"}
    assert body["businessAddress"] == {}

    fields = {"addresses": (Item("home", a), Item("home", b), Item("other", c))}
    body = oc.contact_body(fields, ["addresses"], {})
    assert body["homeAddress"] == {"street": "A"}
    assert body["otherAddress"] == {"street": "C"}  # an address of the kind comes first
    assert oc.dropped_addresses(fields) == (Item("home", b),)
    assert oc.dropped(fields) == [
        "another home address (B): Outlook keeps one business, one home and one other address"
    ]


def test_po_box_and_extended_parts_go_on_the_street_lines_and_are_reported() -> None:
    address = Address("PO Box 7", "Apt 2", "1 Main St", "Gent", "", "9000", "BE")
    fields = {"addresses": (Item("home", address),)}
    body = oc.contact_body(fields, ["addresses"], {})
    assert body["homeAddress"]["street"] == "1 Main St\nApt 2\nPO Box 7"
    assert oc.normalised(fields)["addresses"] == (
        Item("home", Address("", "", "1 Main St\nApt 2\nPO Box 7", "Gent", "", "9000", "BE")),
    )
    assert oc.dropped(fields) == [
        "the extended address Apt 2 of the home address is written on its street lines: "
        "Outlook has no extended address field",
        "the PO box PO Box 7 of the home address is written on its street lines: "
        "Outlook has no PO box field",
    ]


# --------------------------------------------------------------------------------- other fields


def test_name_prefix_and_suffix_are_title_and_generation() -> None:
    body = oc.contact_body({"name_prefix": "Dr", "name_suffix": "III", "title": "CTO"}, ["title"])
    assert body == {"jobTitle": "CTO"}
    body = oc.contact_body({"name_prefix": "Dr", "name_suffix": "III"}, ["name_prefix"], {})
    assert body["title"] == "Dr" and "generation" not in body
    body = oc.contact_body({"name_suffix": "III"}, ["name_suffix"], {})
    assert body["generation"] == "III"


def test_one_url_is_the_business_home_page() -> None:
    fields = {"urls": (Item("home", "https://me.org"), Item("work", "https://acme.com"))}
    assert oc.contact_body(fields, ["urls"], {}) == {"businessHomePage": "https://acme.com"}
    assert oc.dropped_urls(fields) == ("https://me.org",)
    assert oc.dropped(fields) == [
        "the website https://me.org: Outlook keeps one web page (the business home page)"
    ]
    home_only = {"urls": (Item("home", "https://me.org"),)}
    assert oc.contact_body(home_only, ["urls"], {}) == {"businessHomePage": "https://me.org"}
    assert oc.dropped(home_only) == []


def test_text_fields_are_stripped_when_written() -> None:
    body = oc.contact_body({"company": "  Acme ", "notes": " a\nb "}, ["company", "notes"], {})
    assert body == {"companyName": "Acme", "personalNotes": "a\nb"}


# --------------------------------------------------------------------------------- names


def test_a_name_part_write_sends_the_full_name_so_graph_keeps_it() -> None:
    fields = {**oc.fields_of(GARTH), "given_name": "Gareth"}
    assert oc.written_keys(["given_name"]) == {"given_name", "full_name"}
    body = oc.contact_body(fields, ["given_name"], GARTH)
    assert body == {"givenName": "Gareth", "displayName": "Dr Garth B. Fort Jr."}


def test_a_create_without_a_full_name_lets_graph_make_one() -> None:
    fields: dict[str, Value] = {"full_name": "", "given_name": "Ann", "family_name": "Lee"}
    assert oc.contact_body(fields, fields.keys()) == {"givenName": "Ann", "surname": "Lee"}


def test_written_keys() -> None:
    assert oc.written_keys(["phones"]) == {"phones"}
    assert oc.written_keys(["emails", "company", "unknown"]) == {"emails", "company"}
    assert oc.written_keys(["full_name"]) == {"full_name"}
    for part in oc.NAME_PARTS:
        assert oc.written_keys([part]) == {part, "full_name"}


# --------------------------------------------------------------------------------- PATCH bodies


def test_an_update_sends_only_what_it_writes() -> None:
    fields = {**oc.fields_of(GARTH), "company": "Fabrikam", "phones": (Item("home", "1"),)}
    body = oc.contact_body(fields, oc.written_keys(["company", "phones"]), GARTH)
    assert body == {
        "companyName": "Fabrikam",
        "businessPhones": [],
        "homePhones": ["1"],
        "mobilePhone": None,
    }
    for unmapped in ("imAddresses", "spouseName", "officeLocation", "children", "categories"):
        assert unmapped not in body


def test_emptied_fields_are_cleared_the_graph_way() -> None:
    keys = list(oc.schema().fields)
    empty: dict[str, Value] = {key: oc.schema()[key].empty() for key in keys}
    body = oc.contact_body(empty, keys, GARTH)
    for prop in oc.TEXT_PROPS.values():
        assert body[prop] is None
    assert body["birthday"] is None
    assert body["businessHomePage"] is None
    assert body["mobilePhone"] is None
    assert body["emailAddresses"] == []
    assert body["businessPhones"] == [] and body["homePhones"] == []
    for prop in oc.ADDRESS_PROPS.values():
        assert body[prop] == {}
    assert oc.fields_of({**GARTH, **body}) == {}
    # Absent keys are empty too.
    assert oc.contact_body({}, ["notes", "addresses"], GARTH)["personalNotes"] is None


def test_a_create_sends_only_the_values_the_record_has() -> None:
    fields: dict[str, Value] = {
        "given_name": "Ann",
        "notes": "",
        "emails": (),
        "phones": (Item("mobile", "1"),),
        "addresses": (Item("home", Address(locality="Gent")),),
    }
    assert oc.contact_body(fields, fields.keys()) == {
        "givenName": "Ann",
        "mobilePhone": "1",
        "homeAddress": {"city": "Gent"},
    }


def test_bodies_are_json() -> None:
    fields = oc.fields_of(GARTH)
    body = oc.contact_body(fields, fields.keys(), GARTH)
    assert json.loads(json.dumps(body)) == body


def test_a_record_that_fits_drops_nothing() -> None:
    assert oc.dropped(oc.fields_of(GARTH)) == []
    assert oc.dropped({}) == []


# --------------------------------------------------------------------------------- round trips

TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029"),
    min_size=1,
    max_size=12,
).map(str.strip)
WORD = TEXT.filter(bool)
OPTIONAL = st.one_of(st.just(""), WORD)
BIRTHDAYS = st.dates(min_value=dt.date(1, 1, 2), max_value=dt.date(4500, 12, 31)).filter(
    lambda d: d.year != oc.NO_YEAR
)
ADDRESSES = st.builds(
    lambda *parts: Address("", "", *parts), OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL
).filter(lambda a: not a.is_empty())


@st.composite
def fitting_records(draw: st.DrawFn) -> dict[str, Value]:
    """Records Outlook holds as they are: kinds and order as Outlook gives them back."""
    fields: dict[str, Value] = {}
    for key in oc.TEXT_PROPS:
        if draw(st.booleans()):
            fields[key] = draw(WORD)
    if draw(st.booleans()):
        fields["emails"] = emails(*draw(st.lists(WORD, min_size=1, max_size=3)))
    phones = [Item("work", p) for p in draw(st.lists(WORD, max_size=2))]
    phones += [Item("home", p) for p in draw(st.lists(WORD, max_size=2))]
    phones += [Item("mobile", p) for p in draw(st.lists(WORD, max_size=1))]
    if phones:
        fields["phones"] = tuple(phones)
    kinds = draw(st.lists(st.sampled_from(list(oc.ADDRESS_PROPS)), unique=True))
    addresses = tuple(Item(kind, draw(ADDRESSES)) for kind in oc.ADDRESS_PROPS if kind in kinds)
    if addresses:
        fields["addresses"] = addresses
    if draw(st.booleans()):
        fields["birthday"] = draw(BIRTHDAYS).isoformat()
    if draw(st.booleans()):
        fields["urls"] = (Item("work", draw(WORD)),)
    return fields


def any_items(values: st.SearchStrategy[Any]) -> st.SearchStrategy[tuple[Item, ...]]:
    kinds = st.sampled_from([*KINDS, "postal", ""])
    return st.lists(st.builds(Item, kinds, values), max_size=8).map(tuple)


ANY_ADDRESSES = st.builds(
    Address, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL
)
ANY_BIRTHDAYS = st.one_of(
    st.just(""),
    BIRTHDAYS.map(dt.date.isoformat),
    st.dates().map(lambda d: d.strftime("--%m-%d")),
    WORD,
)


@st.composite
def any_records(draw: st.DrawFn) -> dict[str, Value]:
    fields: dict[str, Value] = {key: draw(OPTIONAL) for key in oc.TEXT_PROPS}
    fields["emails"] = draw(any_items(OPTIONAL))
    fields["phones"] = draw(any_items(OPTIONAL))
    fields["addresses"] = draw(any_items(ANY_ADDRESSES))
    fields["urls"] = draw(any_items(OPTIONAL))
    fields["birthday"] = draw(ANY_BIRTHDAYS)
    return fields


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fitting_records())
def test_a_record_that_fits_round_trips(fields: dict[str, Value]) -> None:
    assert oc.dropped(fields) == []
    body = oc.contact_body(fields, fields.keys())
    assert oc.fields_of(json.loads(json.dumps(body))) == fields
    assert oc.normalised(fields) == fields


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fitting_records(), fitting_records())
def test_an_update_on_top_of_a_contact_round_trips(
    before: dict[str, Value], after: dict[str, Value]
) -> None:
    """PATCH semantics: the body's properties replace the current ones, the rest stay."""
    current = {**oc.contact_body(before, before.keys()), "spouseName": "Kim"}
    keys = oc.written_keys(set(before) | set(after))
    body = oc.contact_body(after, keys, current)
    assert "spouseName" not in body
    patched = {**current, **body}
    assert oc.fields_of(patched) == after
    assert patched["spouseName"] == "Kim"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_records())
def test_what_outlook_holds_is_stable_and_nothing_is_lost_silently(
    fields: dict[str, Value],
) -> None:
    once = oc.normalised(fields)
    assert oc.normalised(once) == once
    assert oc.dropped(once) == []
    body = oc.contact_body(once, once.keys())
    assert oc.contact_body(fields, fields.keys()) == body
    kept = " ".join(
        item.value if isinstance(item.value, str) else "\n".join(item.value)
        for key in ("emails", "phones", "urls", "addresses")
        for item in once.get(key, ())
    )
    report = "\n".join(oc.dropped(fields))
    for key in ("emails", "phones", "urls", "addresses"):
        for item in fields[key]:
            parts = [item.value] if isinstance(item.value, str) else list(item.value)
            for part in map(str.strip, parts):
                assert not part or part in kept or part in report
    birthday = fields["birthday"]
    assert isinstance(birthday, str)
    assert not birthday or once.get("birthday") == birthday or birthday in report
