"""The fast vCard codec agrees with vobject, and updates leave what they do not name untouched."""

from __future__ import annotations

import string

import pytest
import vobject
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from piesync_desktop.engine.connectors import vcard_codec
from piesync_desktop.engine.connectors.vcard_codec import (
    N_PARTS,
    VCARD_SCHEMA,
    ParsedCard,
    VCardError,
    _blocks,
    new_card,
    normalize_date,
    normalize_items,
    parse_card,
    update_card,
)
from piesync_desktop.engine.model import Address, Item, Value

# ----------------------------------------------------------------------- a reference reader

VOBJECT_N = ("family", "given", "additional", "prefix", "suffix")
VOBJECT_ADR = ("box", "extended", "street", "city", "region", "code", "country")


def _joined(value: str | list[str]) -> str:
    return ",".join(value) if isinstance(value, list) else value


def _types(line: vobject.base.ContentLine) -> list[str]:
    types = [
        t.strip().strip('"').lower() for v in line.params.get("TYPE", []) for t in v.split(",")
    ]
    return types + [p.lower() for p in line.singletonparams]


def _phone_kind(types: list[str]) -> str:
    for token, kind in (("cell", "mobile"), ("mobile", "mobile"), ("fax", "fax")):
        if token in types:
            return kind
    for kind in ("pager", "home", "work", "main"):
        if kind in types:
            return kind
    return "other"


def _simple_kind(types: list[str]) -> str:
    return "home" if "home" in types else "work" if "work" in types else "other"


def reference(text: str) -> tuple[dict[str, Value], frozenset[str], str]:
    """What vobject reads from ``text``, in the codec's field keys."""
    card = vobject.readOne(text)
    fields: dict[str, Value] = {}
    multi: dict[str, list[Item]] = {"emails": [], "phones": [], "addresses": [], "urls": []}
    tags: set[str] = set()
    uid = ""
    seen: set[str] = set()

    def first(key: str, value: str) -> None:
        if key not in fields and value.strip():
            fields[key] = value.strip()

    for line in card.getChildren():
        name, value, types = line.name.upper(), line.value, _types(line)
        if name in ("FN", "TITLE", "NOTE"):
            first({"FN": "full_name", "TITLE": "title", "NOTE": "notes"}[name], value)
        elif name == "N" and "N" not in seen:
            seen.add("N")
            for key, attr in zip(N_PARTS, VOBJECT_N, strict=True):
                first(key, _joined(getattr(value, attr)))
        elif name == "ORG" and "ORG" not in seen:
            seen.add("ORG")
            for key, part in zip(("company", "department"), value, strict=False):
                first(key, part)
        elif name in ("EMAIL", "URL") and value.strip():
            key = "emails" if name == "EMAIL" else "urls"
            multi[key].append(Item(_simple_kind(types), value.strip()))
        elif name == "TEL":
            number = value.strip()
            number = number[4:].strip() if number.lower().startswith("tel:") else number
            if number:
                multi["phones"].append(Item(_phone_kind(types), number))
        elif name == "ADR":
            address = Address(*(_joined(getattr(value, a)).strip() for a in VOBJECT_ADR))
            if not address.is_empty():
                multi["addresses"].append(Item(_simple_kind(types), address))
        elif name == "CATEGORIES":
            tags.update(t.strip() for t in value if t.strip())
        elif name == "NICKNAME":
            first("nickname", value)
        elif name == "BDAY" and "birthday" not in fields and value.strip():
            omit = line.params.get("X-APPLE-OMIT-YEAR", [""])[0]
            fields["birthday"] = normalize_date(value, f"X-APPLE-OMIT-YEAR={omit}" if omit else "")
        elif name == "UID" and not uid:
            uid = value.strip()
    fields.update({key: tuple(items) for key, items in multi.items() if items})
    return fields, frozenset(tags), uid


def assert_agree(text: str) -> ParsedCard:
    card = parse_card(text)
    fields, tags, uid = reference(text)
    assert card.fields == fields
    assert card.tags == tags
    assert card.uid == uid
    return card


# ----------------------------------------------------------------------- generated cards

SPECIAL = st.sampled_from([",", ";", "\\", "\n", ":", '"', "é", "日", "😀", " ", "n", "ß"])
CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"))
TEXT = st.text(st.one_of(CHARS, SPECIAL), max_size=30)
LONG_TEXT = st.text(st.one_of(CHARS, SPECIAL), max_size=300)
PHONE_KINDS = st.sampled_from(["home", "work", "mobile", "fax", "pager", "main", "other"])
SIMPLE_KINDS = st.sampled_from(["home", "work", "other"])
EMAIL = st.builds(
    lambda user, host: f"{user}@{host}.example",
    st.text(string.ascii_letters + string.digits + ".+_-,", min_size=1, max_size=20),
    st.text(string.ascii_lowercase, min_size=1, max_size=10),
)
PHONE = st.text("0123456789 +-()", min_size=1, max_size=20) | TEXT
ADDRESS = st.builds(Address, *[TEXT] * 7)
DATE = st.one_of(
    st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
    st.dates().map(lambda d: f"--{d.month:02d}-{d.day:02d}"),
    TEXT,
)
TAGS = st.frozensets(TEXT, max_size=4)


def items(kinds: st.SearchStrategy[str], values: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(st.builds(Item, kinds, values), max_size=4).map(tuple)


FIELD_VALUES: dict[str, st.SearchStrategy] = {
    "full_name": TEXT,
    "given_name": TEXT,
    "family_name": TEXT,
    "middle_name": TEXT,
    "name_prefix": TEXT,
    "name_suffix": TEXT,
    "nickname": TEXT,
    "company": TEXT,
    "department": TEXT,
    "title": TEXT,
    "birthday": DATE,
    "notes": LONG_TEXT,
    "emails": items(SIMPLE_KINDS, EMAIL),
    "phones": items(PHONE_KINDS, PHONE),
    "addresses": items(SIMPLE_KINDS, ADDRESS),
    "urls": items(SIMPLE_KINDS, TEXT),
}
assert set(FIELD_VALUES) == set(VCARD_SCHEMA.fields)

FIELDS = st.fixed_dictionaries({}, optional=FIELD_VALUES)


def as_written(fields: dict[str, Value]) -> dict[str, Value]:
    """The fields a card holds after it was written with them: normalised, empties dropped."""
    result: dict[str, Value] = {}
    for key, value in fields.items():
        if isinstance(value, tuple):
            value = normalize_items(key, value)
        else:
            value = value.strip()
            if key == "birthday":
                value = normalize_date(value)
        if value:
            result[key] = value
    return result


def expected_fn(fields: dict[str, Value]) -> str:
    if fields.get("full_name"):
        return str(fields["full_name"])
    order = ("name_prefix", "given_name", "middle_name", "family_name", "name_suffix")
    name = " ".join(str(fields[k]) for k in order if fields.get(k))
    if name:
        return name
    emails = fields.get("emails", ())
    return emails[0].value if emails else str(fields.get("company", ""))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(FIELDS, TAGS, TEXT)
def test_written_cards_read_the_same_with_vobject(fields, tags, uid):
    text = new_card(uid, fields, tags)
    card = assert_agree(text)
    expected = as_written(fields)
    fn = expected_fn(expected)
    if fn:
        expected["full_name"] = fn
    assert card.fields == expected
    assert card.tags == frozenset(t.strip() for t in tags if t.strip())
    assert card.uid == uid.strip()
    assert card.version == "3.0"


@settings(max_examples=100, deadline=None)
@given(FIELDS, TAGS)
def test_written_lines_are_folded_at_75_octets_with_crlf(fields, tags):
    text = new_card("u", fields, tags)
    assert text.endswith("\r\nEND:VCARD\r\n")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75


# ----------------------------------------------------------------------- real-world samples

APPLE = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "PRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\n"
    "N:Appleseed;Johnny;Q.;Mr.;Jr.\r\n"
    "FN:Johnny Appleseed\r\n"
    "ORG:Apple Inc.;Engineering\r\n"
    "TITLE:Engineer\r\n"
    "item1.EMAIL;type=INTERNET;type=pref:johnny@icloud.com\r\n"
    "item1.X-ABLabel:_$!<Other>!$_\r\n"
    "EMAIL;type=INTERNET;type=WORK:j.appleseed@apple.com\r\n"
    "TEL;type=CELL;type=VOICE;type=pref:+1 (408) 555-0101\r\n"
    "TEL;type=IPHONE;type=CELL;type=VOICE:+1 408 555 0102\r\n"
    "TEL;type=WORK;type=FAX:+1 408 555 0103\r\n"
    "TEL;type=MAIN:+1 408 555 0104\r\n"
    "item2.ADR;type=HOME;type=pref:;;1 Infinite Loop\\nBuilding 2;Cupertino;CA;95014;USA\r\n"
    "item2.X-ABADR:us\r\n"
    "item3.URL;type=pref:https://www.apple.com\r\n"
    "item3.X-ABLabel:_$!<HomePage>!$_\r\n"
    "BDAY;X-APPLE-OMIT-YEAR=1604:1604-03-15\r\n"
    "NOTE:Likes apples\\, pears\\; and\\nnew lines.\r\n"
    "X-ABUID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE\\:ABPerson\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0a\r\n"
    " HBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIy\r\n"
    " MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAABAAED\r\n"
    "CATEGORIES:Friends,Apple\r\n"
    "UID:0E8B7F1A-7C2E-4E0B-9D7F-1B5C8A2D3E4F\r\n"
    "REV:2024-01-02T03:04:05Z\r\n"
    "END:VCARD\r\n"
)

GOOGLE = (
    "BEGIN:VCARD\n"
    "VERSION:3.0\n"
    "FN:Marie-Thérèse d'Ávila\n"
    "N:d'Ávila;Marie-Thérèse;;;\n"
    "NICKNAME:Mimi,Tess\n"
    "EMAIL;TYPE=INTERNET;TYPE=HOME:mimi@gmail.com\n"
    "EMAIL;TYPE=INTERNET:mt@example.org\n"
    "TEL;TYPE=CELL:+33 6 12 34 56 78\n"
    "TEL;TYPE=HOME:01 23 45 67 89\n"
    "TEL:+33 9 99 99 99 99\n"
    "ADR;TYPE=WORK:;;12 rue de Rivoli;Paris;;75001;France\n"
    "ORG:Société Générale\n"
    "TITLE:Analyste\n"
    "BDAY:1985-07-14\n"
    "URL;TYPE=WORK:https://example.org/mimi\n"
    "item1.X-ABDATE:2010-06-01\n"
    "item1.X-ABLabel:_$!<Anniversary>!$_\n"
    "NOTE:Première rencontre à Lyon.\\nTrès sympa.\n"
    "CATEGORIES:myContacts,Famille\n"
    "END:VCARD\n"
)

VCARD4 = (
    "BEGIN:VCARD\r\n"
    "VERSION:4.0\r\n"
    "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1\r\n"
    "FN;PID=1.1:J. Doe\r\n"
    "N:Doe;J.;;;\r\n"
    'EMAIL;PID=1.1;TYPE="work":jdoe@example.com\r\n'
    'TEL;VALUE=uri;PREF=1;TYPE="voice,home":tel:+1-555-555-5555;ext=5555\r\n'
    'TEL;VALUE=uri;TYPE="cell,voice":tel:+1-555-555-4444\r\n'
    "TEL;VALUE=uri;TYPE=work:tel:+1-555-555-3333\r\n"
    'ADR;LABEL="Mr. John Q. Public, Esq.\\n123 Main St";TYPE=home:'
    ";;123 Main St;Any Town;CA;91921-1234;USA\r\n"
    "BDAY:--0415\r\n"
    "CATEGORIES:INTERNET,IETF,INDUSTRY\r\n"
    "CLIENTPIDMAP:1;urn:uuid:3df403f4-5924-4bb7-b077-3c711d9eb34b\r\n"
    "END:VCARD\r\n"
)

VCARD21 = (
    "BEGIN:VCARD\r\n"
    "VERSION:2.1\r\n"
    "N:Gump;Forrest;;Mr.;\r\n"
    "FN:Forrest Gump\r\n"
    "ORG:Bubba Gump Shrimp Co.\r\n"
    "TITLE:Shrimp Man\r\n"
    "TEL;WORK;VOICE:(111) 555-1212\r\n"
    "TEL;HOME;VOICE:(404) 555-1212\r\n"
    "TEL;CELL:(404) 555-1213\r\n"
    "ADR;WORK;PREF:;;100 Waters Edge;Baytown;LA;30314;United States of America\r\n"
    "EMAIL;PREF;INTERNET:forrestgump@example.com\r\n"
    "BDAY:19440606\r\n"
    "REV:20080424T195243Z\r\n"
    "END:VCARD\r\n"
)

PHOTO = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "FN:Pic Ture\r\n"
    "N:Ture;Pic;;;\r\n"
    "PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\r\n"
    " +M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAA\r\n"
    "\tfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n"
    "EMAIL:pic@example.com\r\n"
    "END:VCARD\r\n"
)


@pytest.mark.parametrize(
    "text", [APPLE, GOOGLE, VCARD4, VCARD21, PHOTO], ids=["apple", "google", "v4", "v21", "photo"]
)
def test_real_world_samples_read_like_vobject(text):
    assert_agree(text)


def test_apple_sample_fields():
    card = parse_card(APPLE)
    assert card.fields["phones"] == (
        Item("mobile", "+1 (408) 555-0101"),
        Item("mobile", "+1 408 555 0102"),
        Item("fax", "+1 408 555 0103"),
        Item("main", "+1 408 555 0104"),
    )
    assert card.fields["emails"] == (
        Item("other", "johnny@icloud.com"),
        Item("work", "j.appleseed@apple.com"),
    )
    street = "1 Infinite Loop\nBuilding 2"
    address = Address("", "", street, "Cupertino", "CA", "95014", "USA")
    assert card.fields["addresses"] == (Item("home", address),)
    assert card.fields["birthday"] == "--03-15"
    assert card.fields["company"] == "Apple Inc."
    assert card.fields["department"] == "Engineering"
    assert card.fields["name_prefix"] == "Mr."
    assert card.tags == {"Friends", "Apple"}


def test_vcard4_sample_fields():
    card = parse_card(VCARD4)
    assert card.version == "4.0"
    assert card.fields["phones"] == (
        Item("home", "+1-555-555-5555;ext=5555"),
        Item("mobile", "+1-555-555-4444"),
        Item("work", "+1-555-555-3333"),
    )
    assert card.fields["birthday"] == "--04-15"
    assert card.uid == "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1"


def test_vcard21_bare_params_and_quoted_printable():
    card = parse_card(VCARD21)
    assert card.fields["phones"][0] == Item("work", "(111) 555-1212")
    assert card.fields["phones"][2] == Item("mobile", "(404) 555-1213")
    assert card.fields["birthday"] == "1944-06-06"
    qp = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        "NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Caf=C3=A9 au lait=0D=0A=\r\n"
        "second line\r\n"
        "END:VCARD\r\n"
    )
    assert parse_card(qp).fields["notes"] == "Café au lait\r\nsecond line"


def test_unindented_vcard21_photo_lines_are_skipped():
    text = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:A\r\nPHOTO;ENCODING=BASE64;TYPE=JPEG:/9j/4AAQ\r\n"
        "SkZJRgABAQAAAQABAAD\r\n2wBDAAgGBgcGBQgHBwcJ\r\n\r\nEMAIL:a@b.c\r\nEND:VCARD\r\n"
    )
    assert parse_card(text).fields["emails"] == (Item("other", "a@b.c"),)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1985-07-14", "1985-07-14"),
        ("19850714", "1985-07-14"),
        ("1985-07-14T10:00:00Z", "1985-07-14"),
        ("19850714T100000", "1985-07-14"),
        ("--07-14", "--07-14"),
        ("--0714", "--07-14"),
        ("1985-13-40", "1985-13-40"),
        ("July 14", "July 14"),
    ],
)
def test_birthdays_are_normalised(raw, expected):
    assert normalize_date(raw) == expected


def test_escapes_groups_case_and_quoted_params():
    text = (
        "begin:vcard\nversion:3.0\n"
        'item7.email;TYPE="home,internet";X-LABEL="a:b;c":a\\,b@example.com\n'
        "note:one\\Ntwo\\\\three\\;\\,\\:four\n"
        "categories:a, b ,,c\\,d\ncategories:e\n"
        "org:Acme\\; Co;R\\\\D\n"
        "end:vcard\n"
    )
    card = parse_card(text)
    assert card.fields["emails"] == (Item("home", "a,b@example.com"),)
    assert card.fields["notes"] == "one\ntwo\\three;,:four"
    assert card.tags == {"a", "b", "c,d", "e"}
    assert card.fields["company"] == "Acme; Co"
    assert card.fields["department"] == "R\\D"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no BEGIN:VCARD line"),
        ("hello\n", "no BEGIN:VCARD line"),
        ("BEGIN:VCARD\r\nFN:A\r\n", "unterminated card (no END:VCARD)"),
        ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\n\r\nbroken line\r\nEND:VCARD\r\n", "line 5: "),
        ("BEGIN:VCARD\nFN:A\n folded\nBEGIN:VCARD\nEND:VCARD\n", "line 4: a card inside"),
    ],
)
def test_malformed_cards_give_a_reason(text, reason):
    with pytest.raises(VCardError) as caught:
        parse_card(text)
    assert caught.value.reason.startswith(reason)


# ----------------------------------------------------------------------- updates

EXTRAS = (
    "PRODID:-//Example//Test//EN\r\n"
    "X-CUSTOM;X-PARAM=1:keep me\\, exactly\r\n"
    "item9.EMAIL;type=INTERNET:grouped@example.com\r\n"
    "item9.X-ABLabel:Custom label\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsL\r\n"
    " DBkSEw8UHRofHh0a\r\n"
    "REV:2024-01-02T03:04:05Z\r\n"
)


def _update_values() -> st.SearchStrategy[dict[str, Value]]:
    optional = {}
    for key, strategy in FIELD_VALUES.items():
        empty: Value = () if VCARD_SCHEMA[key].multi else ""
        optional[key] = st.one_of(strategy, st.just(empty))
    return st.fixed_dictionaries({}, optional=optional)


def _props_of(update: dict[str, Value]) -> set[str]:
    props = set()
    for key in update:
        if key in N_PARTS:
            props.add("N")
        elif key in ("company", "department"):
            props.add("ORG")
        else:
            props.add(
                {
                    "full_name": "FN",
                    "nickname": "NICKNAME",
                    "title": "TITLE",
                    "notes": "NOTE",
                    "birthday": "BDAY",
                    "emails": "EMAIL",
                    "phones": "TEL",
                    "addresses": "ADR",
                    "urls": "URL",
                }[key]
            )
    return props


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


def overlay(card: ParsedCard, update: dict[str, Value]) -> dict[str, Value]:
    fields = dict(card.fields)
    for key in update:
        fields.pop(key, None)
    fields.update(as_written(update))
    return fields


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(FIELDS, TAGS, _update_values(), TAGS, TAGS, st.booleans())
def test_update_keeps_other_lines_and_reads_back_as_the_overlay(
    fields, tags, update, add, remove, lf_only
):
    original = new_card("uid-1", fields, tags).replace("END:VCARD", EXTRAS + "END:VCARD")
    if lf_only:
        original = original.replace("\r\n", "\n")
    before = parse_card(original)
    result = update_card(original, update, add, remove)
    after = parse_card(result)

    assert after.fields == overlay(before, update)
    clean = lambda tags: {t.strip() for t in tags if t.strip()}  # noqa: E731
    assert after.tags == (before.tags - remove) | clean(add)
    assert after.uid == before.uid

    changed = _props_of(update)
    if after.tags != before.tags or (add | remove) & before.tags:
        changed.add("CATEGORIES")
    if "EMAIL" in changed:
        changed.add("X-ABLABEL")
    kept = [b.raw for b in _blocks(original) if b.name not in changed]
    assert _is_subsequence(kept, [b.raw for b in _blocks(result)])
    if not update and not (clean(add) - before.tags) and not (remove & before.tags):
        assert result == original
    if lf_only:
        assert "\r" not in result


def test_update_keeps_matching_old_lines_with_their_group_and_params():
    card = parse_card(APPLE)
    emails = (Item("work", "new@apple.com"), *card.fields["emails"])
    result = update_card(APPLE, {"emails": emails})
    assert "item1.EMAIL;type=INTERNET;type=pref:johnny@icloud.com\r\n" in result
    assert "item1.X-ABLabel:_$!<Other>!$_\r\n" in result
    assert parse_card(result).fields["emails"] == emails
    lines = result.split("\r\n")
    assert lines.index("EMAIL;TYPE=INTERNET,WORK:new@apple.com") == 7


def test_update_removes_an_emptied_group_with_its_label():
    result = update_card(APPLE, {"urls": ()})
    assert "item3." not in result
    assert "item1.X-ABLabel" in result


def test_update_of_name_parts_keeps_the_others():
    result = update_card(APPLE, {"given_name": "John", "name_suffix": ""})
    assert "N:Appleseed;John;Q.;Mr.;\r\n" in result
    result = update_card(APPLE, {"department": "", "company": "Apple"})
    assert "ORG:Apple\r\n" in result


def test_update_writes_vcard4_syntax_on_a_vcard4_card():
    result = update_card(
        VCARD4, {"phones": (Item("mobile", "+32 475 00 00 00"),), "birthday": "1990-01-02"}
    )
    assert "TEL;VALUE=text;TYPE=cell:+32 475 00 00 00\r\n" in result
    assert "BDAY:19900102\r\n" in result
    assert result.startswith("BEGIN:VCARD\r\nVERSION:4.0\r\n")
    assert parse_card(result).fields["birthday"] == "1990-01-02"


def test_update_merges_categories_only_when_tags_change():
    text = GOOGLE.replace("CATEGORIES:myContacts,Famille\n", "CATEGORIES:a\nCATEGORIES:b\n")
    assert update_card(text, {}, frozenset({"a"}), frozenset({"zz"})) == text
    result = update_card(text, {}, frozenset({"PieSync Trash"}), frozenset({"a"}))
    assert "CATEGORIES:b,PieSync Trash\n" in result
    assert result.count("CATEGORIES") == 1


def test_clearing_the_full_name_keeps_an_empty_fn():
    result = update_card(GOOGLE, {"full_name": ""})
    assert "\nFN:\n" in result
    assert "full_name" not in parse_card(result).fields


def test_update_refuses_an_unreadable_card():
    with pytest.raises(VCardError):
        update_card("BEGIN:VCARD\nFN:x\n", {"title": "x"})


def test_a_card_known_to_be_readable_is_updated_the_same_without_a_second_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    update = {"title": "Chief", "emails": (Item("work", "new@apple.com"),)}
    expected = update_card(APPLE, update, frozenset({"VIP"}))
    calls: list[str] = []
    monkeypatch.setattr(vcard_codec, "parse_card", lambda text: calls.append(text))
    assert update_card(APPLE, update, frozenset({"VIP"}), readable=True) == expected
    assert calls == []
