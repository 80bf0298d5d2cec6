"""Default and custom field mappings, and the Projector between records and merge slots."""

from __future__ import annotations

import json

import pytest

from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.mapping import (
    NAME_PARTS,
    TAGS,
    IncompatibleFields,
    MappingKind,
    MappingSpec,
    Projector,
    check_custom,
    clean,
    default_mappings,
)
from piesync_desktop.engine.model import (
    TRASH_TAG,
    UNSUBSCRIBES_TAG,
    Address,
    AppSchema,
    FieldSpec,
    FieldType,
    Item,
    Record,
)
from piesync_desktop.engine.planner import merge
from piesync_desktop.engine.rules import Action, ActionOp, Rule, managed_tags

# Given/family names, multi-valued emails and phones (a vCard-like address book).
PARTS = AppSchema.of(
    FieldSpec("given_name", "First name"),
    FieldSpec("family_name", "Last name"),
    FieldSpec("emails", "Email", FieldType.EMAIL, multi=True),
    FieldSpec("phones", "Phone", FieldType.PHONE, multi=True),
    FieldSpec("addresses", "Address", FieldType.ADDRESS, multi=True),
    FieldSpec("company", "Company"),
    FieldSpec("notes", "Notes"),
)
# One full-name field, a single email (a CRM-like app), a few custom fields.
FULL = AppSchema.of(
    FieldSpec("full_name", "Name"),
    FieldSpec("emails", "Email", FieldType.EMAIL),
    FieldSpec("phones", "Phone", FieldType.PHONE, multi=True),
    FieldSpec("addresses", "Address", FieldType.ADDRESS, multi=True),
    FieldSpec("company", "Company name"),
    FieldSpec("notes", "Notes", FieldType.ADDRESS),  # same key, incompatible type
    FieldSpec("lifecycle", "Lifecycle stage", FieldType.DROPDOWN, custom=True),
    FieldSpec("source", "Lead source", FieldType.RADIO, custom=True),
    FieldSpec("interests", "Interests", FieldType.CHECKBOX, custom=True),
    FieldSpec("memo", "Memo", custom=True),
    FieldSpec("street", "Street", FieldType.ADDRESS, custom=True),
    FieldSpec("mobile", "Mobile", FieldType.PHONE, custom=True),
    FieldSpec("work_email", "Work email", FieldType.EMAIL, custom=True),
    FieldSpec("id_number", "Customer number", read_only=True),
)
CUSTOM_A = AppSchema.of(
    FieldSpec("stage", "Stage", FieldType.DROPDOWN, custom=True),
    FieldSpec("kind", "Kind", FieldType.RADIO, custom=True),
    FieldSpec("flags", "Flags", FieldType.CHECKBOX, custom=True),
    FieldSpec("text", "Some text", custom=True),
    FieldSpec("email", "Private email", FieldType.EMAIL, custom=True),
    FieldSpec("phone", "Private phone", FieldType.PHONE, custom=True),
    FieldSpec("ref", "Reference", read_only=True, custom=True),
)


def keys(specs: list[MappingSpec]) -> set[str]:
    return {spec.key for spec in specs}


# -- default mappings ----------------------------------------------------------------------------


def test_default_mapping_maps_identical_compatible_fields() -> None:
    specs = default_mappings(PARTS, FULL, a_tags=False, b_tags=False)
    assert keys(specs) == {
        "field:emails=emails",
        "field:phones=phones",
        "field:addresses=addresses",
        "field:company=company",
        "name:name_parts=full_name",
    }
    # notes is text on one side, an address on the other: no default mapping
    assert not any(spec.a_field == "notes" for spec in specs)
    assert all(spec.enabled and not spec.custom for spec in specs)


def test_default_mapping_skips_custom_fields_even_with_the_same_key() -> None:
    a = AppSchema.of(FieldSpec("memo", "Memo"), FieldSpec("x", "X", custom=True))
    b = AppSchema.of(FieldSpec("memo", "Memo", custom=True), FieldSpec("x", "X"))
    assert default_mappings(a, b, a_tags=False, b_tags=False) == []


def test_name_mapping_when_only_a_has_given_and_family() -> None:
    specs = default_mappings(PARTS, FULL, a_tags=False, b_tags=False)
    names = [s for s in specs if s.kind is MappingKind.NAME]
    assert names == [MappingSpec(NAME_PARTS, "full_name", MappingKind.NAME)]


def test_name_mapping_when_only_b_has_given_and_family() -> None:
    specs = default_mappings(FULL, PARTS, a_tags=False, b_tags=False)
    names = [s for s in specs if s.kind is MappingKind.NAME]
    assert names == [MappingSpec("full_name", NAME_PARTS, MappingKind.NAME)]


def test_name_mapping_replaces_a_plain_full_name_mapping() -> None:
    parts_and_full = AppSchema.of(
        FieldSpec("full_name", "Full name"),
        FieldSpec("given_name", "First name"),
        FieldSpec("family_name", "Last name"),
    )
    only_full = AppSchema.of(FieldSpec("full_name", "Name"))
    specs = default_mappings(parts_and_full, only_full, a_tags=False, b_tags=False)
    assert specs == [MappingSpec(NAME_PARTS, "full_name", MappingKind.NAME)]
    specs = default_mappings(only_full, parts_and_full, a_tags=False, b_tags=False)
    assert specs == [MappingSpec("full_name", NAME_PARTS, MappingKind.NAME)]


def test_no_name_mapping_when_both_sides_have_parts() -> None:
    specs = default_mappings(PARTS, PARTS, a_tags=False, b_tags=False)
    assert not any(s.kind is MappingKind.NAME for s in specs)
    assert {"field:given_name=given_name", "field:family_name=family_name"} <= keys(specs)


def test_no_name_mapping_when_the_other_side_has_no_full_name() -> None:
    other = AppSchema.of(FieldSpec("company", "Company"))
    specs = default_mappings(PARTS, other, a_tags=False, b_tags=False)
    assert specs == [MappingSpec("company", "company")]


@pytest.mark.parametrize(
    ("a_tags", "b_tags", "expected"), [(True, True, 1), (True, False, 0), (False, True, 0)]
)
def test_tags_mapping_only_when_both_sides_have_tags(
    a_tags: bool, b_tags: bool, expected: int
) -> None:
    specs = default_mappings(PARTS, FULL, a_tags, b_tags)
    tag_specs = [s for s in specs if s.kind is MappingKind.TAGS]
    assert len(tag_specs) == expected
    if expected:
        assert tag_specs[0] == MappingSpec(TAGS, TAGS, MappingKind.TAGS)


# -- custom mappings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a_field", "b_field"),
    [
        ("stage", "lifecycle"),  # dropdown - dropdown
        ("stage", "source"),  # dropdown - radio
        ("kind", "interests"),  # radio - checkbox
        ("flags", "lifecycle"),  # checkbox - dropdown
        ("flags", "interests"),  # checkbox - checkbox
        ("kind", "source"),  # radio - radio
    ],
)
def test_two_enumerated_fields_never_map(a_field: str, b_field: str) -> None:
    a_label, b_label = CUSTOM_A[a_field].label, FULL[b_field].label
    with pytest.raises(IncompatibleFields) as info:
        check_custom(CUSTOM_A, FULL, a_field, b_field)
    message = str(info.value)
    prefix = f"Field {a_label} is not compatible with field {b_label}"
    assert message.startswith(prefix)
    reason = message[len(prefix) :].lstrip(": ")
    assert reason  # the article's message is followed by why
    assert "predefined" in reason
    assert isinstance(info.value, ConfigError)
    assert info.value.title == "Fields not compatible"


@pytest.mark.parametrize(
    ("a_schema", "b_schema", "a_field", "b_field"),
    [
        (CUSTOM_A, FULL, "text", "street"),  # text -> address
        (FULL, CUSTOM_A, "street", "text"),  # address -> text
        (CUSTOM_A, FULL, "email", "mobile"),  # email -> phone
        (CUSTOM_A, FULL, "phone", "work_email"),  # phone -> email
    ],
)
def test_incompatible_types_are_refused_with_the_reason(
    a_schema: AppSchema, b_schema: AppSchema, a_field: str, b_field: str
) -> None:
    a, b = a_schema[a_field], b_schema[b_field]
    with pytest.raises(IncompatibleFields) as info:
        check_custom(a_schema, b_schema, a_field, b_field)
    message = str(info.value)
    assert message.startswith(f"Field {a.label} is not compatible with field {b.label}: ")
    assert a.type.value in message and b.type.value in message


def test_two_read_only_fields_are_refused() -> None:
    with pytest.raises(IncompatibleFields, match="read-only"):
        check_custom(CUSTOM_A, FULL, "ref", "id_number")


@pytest.mark.parametrize(
    ("a_schema", "b_schema", "a_field", "b_field"),
    [
        (CUSTOM_A, FULL, "text", "lifecycle"),  # text -> dropdown
        (CUSTOM_A, FULL, "stage", "memo"),  # dropdown -> text
        (CUSTOM_A, FULL, "kind", "memo"),  # radio -> text
        (CUSTOM_A, FULL, "email", "memo"),  # email -> text
        (FULL, CUSTOM_A, "memo", "email"),  # text -> email
        (CUSTOM_A, FULL, "email", "work_email"),  # email -> email
        (CUSTOM_A, FULL, "ref", "memo"),  # one read-only side is fine
    ],
)
def test_compatible_custom_mappings_are_accepted(
    a_schema: AppSchema, b_schema: AppSchema, a_field: str, b_field: str
) -> None:
    spec = check_custom(a_schema, b_schema, a_field, b_field)
    assert spec == MappingSpec(a_field, b_field, MappingKind.FIELD, enabled=True, custom=True)


def test_custom_mapping_of_unknown_field_names_the_app() -> None:
    with pytest.raises(ConfigError, match="HubSpot has no field 'nope'"):
        check_custom(CUSTOM_A, FULL, "nope", "memo", a_app="HubSpot")
    with pytest.raises(ConfigError, match="Outlook has no field 'nope'"):
        check_custom(CUSTOM_A, FULL, "text", "nope", b_app="Outlook")


# -- projector: plain fields ----------------------------------------------------------------------


def email_projector() -> Projector:
    return Projector([MappingSpec("emails", "emails")], {"a": PARTS, "b": FULL})


def test_multi_to_single_carries_the_first_value() -> None:
    projector = email_projector()
    record = Record(
        "a1",
        {"emails": (Item("work", ""), Item("work", " w@x.com "), Item("home", "h@x.com"))},
    )
    assert projector.project("a", record) == {"field:emails=emails": "w@x.com"}
    assert projector.project("b", Record("b1", {"emails": " w@x.com"})) == {
        "field:emails=emails": "w@x.com"
    }


def test_multi_to_single_skips_a_whitespace_only_first_item() -> None:
    projector = email_projector()
    record = Record("a1", {"emails": (Item("work", "  "), Item("home", "h@x.com"))})
    assert projector.project("a", record) == {"field:emails=emails": "h@x.com"}


def test_single_value_written_to_multi_side_replaces_only_the_first_item() -> None:
    projector = email_projector()
    record = Record(
        "a1",
        {
            "emails": (
                Item("work", "old@x.com"),
                Item("home", "home@x.com"),
                Item("other", "other@x.com"),
            )
        },
    )
    current = projector.project("a", record)
    merged = {"field:emails=emails": "new@x.com"}
    fields, add, remove = projector.writes("a", merged, current, record)
    assert fields == {
        "emails": (
            Item("work", "new@x.com"),
            Item("home", "home@x.com"),
            Item("other", "other@x.com"),
        )
    }
    assert add == remove == set()


def test_single_value_written_to_a_new_multi_record() -> None:
    projector = email_projector()
    fields, _, _ = projector.writes("a", {"field:emails=emails": "new@x.com"}, {}, None)
    assert fields == {"emails": (Item("other", "new@x.com"),)}


def test_single_value_written_to_the_single_side() -> None:
    projector = email_projector()
    record = Record("b1", {"emails": "old@x.com"})
    current = projector.project("b", record)
    fields, _, _ = projector.writes("b", {"field:emails=emails": "new@x.com"}, current, record)
    assert fields == {"emails": "new@x.com"}


def test_unchanged_slot_writes_nothing() -> None:
    projector = email_projector()
    record = Record("a1", {"emails": (Item("work", "w@x.com"), Item("home", "h@x.com"))})
    current = projector.project("a", record)
    assert projector.writes("a", dict(current), current, record) == ({}, set(), set())


def test_multi_to_multi_keeps_every_value_and_its_kind() -> None:
    projector = Projector([MappingSpec("phones", "phones")], {"a": PARTS, "b": FULL})
    phones = (Item("mobile", " +32 470 "), Item("work", ""), Item("fax", "+32 2 555"))
    projected = projector.project("a", Record("a1", {"phones": phones}))
    assert projected == {
        "field:phones=phones": (Item("mobile", "+32 470"), Item("fax", "+32 2 555"))
    }
    target = Record("b1", {"phones": (Item("home", "+1 555"),)})
    current = projector.project("b", target)
    fields, _, _ = projector.writes("b", projected, current, target)
    assert fields == {"phones": (Item("mobile", "+32 470"), Item("fax", "+32 2 555"))}


def test_multi_addresses_are_carried_whole() -> None:
    projector = Projector([MappingSpec("addresses", "addresses")], {"a": PARTS, "b": FULL})
    home = Address(street=" Main St 1 ", locality="Ghent", country="Belgium")
    record = Record("a1", {"addresses": (Item("home", home), Item("work", Address()))})
    projected = projector.project("a", record)
    assert projected == {
        "field:addresses=addresses": (
            Item("home", Address(street="Main St 1", locality="Ghent", country="Belgium")),
        )
    }


def test_read_only_target_is_never_written() -> None:
    a = AppSchema.of(FieldSpec("ref", "Ref"))
    b = AppSchema.of(FieldSpec("ref", "Ref", read_only=True))
    projector = Projector([MappingSpec("ref", "ref")], {"a": a, "b": b})
    record = Record("b1", {"ref": "old"})
    fields, _, _ = projector.writes(
        "b", {"field:ref=ref": "new"}, projector.project("b", record), record
    )
    assert fields == {}


def test_disabled_mappings_have_no_slot() -> None:
    specs = [MappingSpec("company", "company"), MappingSpec("emails", "emails", enabled=False)]
    projector = Projector(specs, {"a": PARTS, "b": FULL})
    assert [slot.key for slot in projector.slots] == ["field:company=company"]
    record = Record("a1", {"company": "ACME", "emails": (Item("work", "x@y.z"),)})
    assert projector.project("a", record) == {"field:company=company": "ACME"}


def test_clean_trims_text_and_drops_empty_items() -> None:
    assert clean("  a  ") == "a"
    assert clean((Item("work", " a "), Item("home", "  "), Item("home", Address(" ")))) == (
        Item("work", "a"),
    )


# -- projector: name join and split ---------------------------------------------------------------

NAME_ONLY_PARTS = AppSchema.of(
    FieldSpec("given_name", "First name"), FieldSpec("family_name", "Last name")
)
NAME_ONLY_FULL = AppSchema.of(FieldSpec("full_name", "Name"))
NAME_SPEC = MappingSpec(NAME_PARTS, "full_name", MappingKind.NAME)
GIVEN, FAMILY = f"{NAME_SPEC.key}#given", f"{NAME_SPEC.key}#family"


def name_projector(parts: AppSchema = NAME_ONLY_PARTS) -> Projector:
    return Projector([NAME_SPEC], {"a": parts, "b": NAME_ONLY_FULL})


def sync_name_change(
    projector: Projector, a_before: Record, b_before: Record, a_after: Record, b_after: Record
) -> tuple[dict, dict]:
    """Writes to a and to b after an edit, with the pair's last-synced values as the base."""
    base = projector.project("a", a_before)
    assert projector.project("b", b_before) == base  # the pair was in sync
    pa, pb = projector.project("a", a_after), projector.project("b", b_after)
    merged = merge(base, pa, pb, "a", projector.set_slots)
    a_fields, _, _ = projector.writes("a", merged, pa, a_after)
    b_fields, _, _ = projector.writes("b", merged, pb, b_after)
    return a_fields, b_fields


def test_name_slots_are_given_and_family() -> None:
    projector = name_projector()
    assert [slot.key for slot in projector.slots] == [GIVEN, FAMILY]
    assert projector.project("b", Record("b", {"full_name": " Mary Ann Smith "})) == {
        GIVEN: "Mary Ann",
        FAMILY: "Smith",
    }
    record = Record("a", {"given_name": " Mary Ann ", "family_name": " Smith "})
    assert projector.project("a", record) == {GIVEN: "Mary Ann", FAMILY: "Smith"}


@pytest.mark.parametrize(
    ("given", "family", "new_full", "new_family"),
    [
        ("John", "Smith", "John Smyth", "Smyth"),
        ("Mary Ann", "Smith", "Mary Ann Smyth", "Smyth"),
        ("Jean-Luc", "Picard", "Jean-Luc Picard-Crusher", "Picard-Crusher"),
        ("Anna", "Berg", "Anna van der Berg", "van der Berg"),
    ],
)
def test_split_only_the_family_name_changes(
    given: str, family: str, new_full: str, new_family: str
) -> None:
    projector = name_projector()
    a = Record("a", {"given_name": given, "family_name": family})
    b = Record("b", {"full_name": f"{given} {family}"})
    a_fields, b_fields = sync_name_change(projector, a, b, a, Record("b", {"full_name": new_full}))
    assert a_fields["family_name"] == new_family
    assert a_fields.get("given_name", given) == given  # the first name is left as it was
    assert set(a_fields) <= {"given_name", "family_name"}
    assert b_fields == {}


def test_split_with_a_middle_name_field_keeps_given_and_middle() -> None:
    parts = AppSchema.of(
        FieldSpec("given_name", "First name"),
        FieldSpec("middle_name", "Middle name"),
        FieldSpec("family_name", "Last name"),
    )
    projector = name_projector(parts)
    a = Record("a", {"given_name": "John", "middle_name": "Ronald Reuel", "family_name": "Tolkien"})
    b = Record("b", {"full_name": "John Ronald Reuel Tolkien"})
    b_after = Record("b", {"full_name": "John Ronald Reuel Tolkien-Smith"})
    a_fields, b_fields = sync_name_change(projector, a, b, a, b_after)
    assert a_fields["family_name"] == "Tolkien-Smith"
    assert a_fields.get("given_name", "John") == "John"
    assert a_fields.get("middle_name", "Ronald Reuel") == "Ronald Reuel"
    assert b_fields == {}


def test_split_with_a_middle_name_field_keeps_a_two_word_first_name() -> None:
    parts = AppSchema.of(
        FieldSpec("given_name", "First name"),
        FieldSpec("middle_name", "Middle name"),
        FieldSpec("family_name", "Last name"),
    )
    projector = name_projector(parts)
    a = Record("a", {"given_name": "Mary Ann", "family_name": "Smith"})
    b = Record("b", {"full_name": "Mary Ann Smith"})
    a_fields, _ = sync_name_change(projector, a, b, a, Record("b", {"full_name": "Mary Ann Jones"}))
    assert a_fields["family_name"] == "Jones"
    assert a_fields.get("given_name", "Mary Ann") == "Mary Ann"
    assert a_fields.get("middle_name", "") == ""


def test_join_writes_given_then_family() -> None:
    projector = name_projector()
    merged = {GIVEN: "Mary Ann", FAMILY: "Smith"}
    fields, _, _ = projector.writes("b", merged, {}, None)
    assert fields == {"full_name": "Mary Ann Smith"}
    fields, _, _ = projector.writes("b", {GIVEN: "Cher", FAMILY: ""}, {}, None)
    assert fields == {"full_name": "Cher"}


def test_join_after_a_family_change_on_the_parts_side() -> None:
    projector = name_projector()
    a = Record("a", {"given_name": "John", "family_name": "Smith"})
    b = Record("b", {"full_name": "John Smith"})
    a_after = Record("a", {"given_name": "John", "family_name": "Smyth"})
    a_fields, b_fields = sync_name_change(projector, a, b, a_after, b)
    assert b_fields == {"full_name": "John Smyth"}
    assert a_fields == {}


def test_join_keeps_the_title_and_suffix_of_the_full_name() -> None:
    projector = name_projector()
    b = Record("b", {"full_name": "Dr. John Smith Jr."})
    current = projector.project("b", b)
    assert current == {GIVEN: "John", FAMILY: "Smith"}
    fields, _, _ = projector.writes("b", {GIVEN: "John", FAMILY: "Smyth"}, current, b)
    assert fields == {"full_name": "Dr. John Smyth Jr."}


def test_split_writes_full_name_too_when_the_parts_side_has_one() -> None:
    parts = AppSchema.of(
        FieldSpec("full_name", "Full name"),
        FieldSpec("given_name", "First name"),
        FieldSpec("family_name", "Last name"),
    )
    projector = name_projector(parts)
    fields, _, _ = projector.writes("a", {GIVEN: "Jane", FAMILY: "Doe"}, {}, None)
    assert fields == {"given_name": "Jane", "family_name": "Doe", "full_name": "Jane Doe"}


# -- projector: tags -------------------------------------------------------------------------------

TAG_SPEC = MappingSpec(TAGS, TAGS, MappingKind.TAGS)
TAG_SLOT = TAG_SPEC.key


def test_tag_slot_excludes_system_tags() -> None:
    projector = Projector([TAG_SPEC], {"a": PARTS, "b": FULL})
    assert projector.set_slots == {TAG_SLOT}
    record = Record("a1", tags=frozenset({"Friends", TRASH_TAG, UNSUBSCRIBES_TAG, "Work"}))
    assert projector.project("a", record) == {TAG_SLOT: ("Friends", "Work")}
    assert projector.project("b", record) == {TAG_SLOT: ("Friends", "Work")}


def test_tag_slot_excludes_rule_managed_tags_on_their_target_side_only() -> None:
    rules = [Rule(side="a", actions=(Action(ActionOp.ADD_TAG, "From CRM"),))]
    projector = Projector([TAG_SPEC], {"a": PARTS, "b": FULL}, managed_tags(rules))
    record = Record("x", tags=frozenset({"From CRM", "VIP"}))
    assert projector.project("b", record) == {TAG_SLOT: ("VIP",)}
    assert projector.project("a", record) == {TAG_SLOT: ("From CRM", "VIP")}


def test_tag_writes_are_additions_and_removals() -> None:
    projector = Projector([TAG_SPEC], {"a": PARTS, "b": FULL}, {"b": {"Managed"}})
    record = Record("b1", tags=frozenset({"Old", "Keep", "Managed", TRASH_TAG}))
    current = projector.project("b", record)
    assert current == {TAG_SLOT: ("Keep", "Old")}
    fields, add, remove = projector.writes("b", {TAG_SLOT: ("Keep", "New")}, current, record)
    assert fields == {}
    assert add == {"New"}
    assert remove == {"Old"}  # neither the managed nor the system tag is touched


# -- encode / decode -------------------------------------------------------------------------------


def test_encode_decode_round_trip_through_json() -> None:
    specs = [
        MappingSpec("phones", "phones"),
        MappingSpec("addresses", "addresses"),
        MappingSpec("company", "company"),
        NAME_SPEC,
        TAG_SPEC,
    ]
    projector = Projector(specs, {"a": PARTS, "b": FULL})
    values = {
        "field:phones=phones": (Item("mobile", "+32 470"), Item("work", "+32 9")),
        "field:addresses=addresses": (
            Item("home", Address(street="Main St 1", locality="Gent", country="België")),
        ),
        "field:company=company": "ACME",
        GIVEN: "Zoë",
        FAMILY: "",
        TAG_SLOT: ("Friends", "VIP"),
    }
    encoded = projector.encode(values)
    stored = json.loads(json.dumps(encoded))
    decoded = projector.decode(stored)
    assert decoded == values
    assert isinstance(decoded["field:addresses=addresses"][0].value, Address)
    assert isinstance(decoded[TAG_SLOT], tuple)


def test_encode_decode_of_empty_values() -> None:
    projector = Projector([MappingSpec("phones", "phones"), TAG_SPEC], {"a": PARTS, "b": FULL})
    values = {"field:phones=phones": (), TAG_SLOT: ()}
    assert projector.decode(json.loads(json.dumps(projector.encode(values)))) == values
