"""Microsoft Graph's ``contact`` resource (v1.0) in the engine's terms, both ways.

The Outlook connector reads contacts as Graph JSON and writes them back with ``POST``/``PATCH``;
this module is the pure translation between that JSON and the engine's fields, so the rules of
what goes where live in one place and can be tested without a mailbox.

The schema uses the vCard folder's keys wherever the meaning is the same, so the default mapping
between the two is field for field. Outlook's categories are the tags; there are no custom
fields. Graph's contact has fixed slots, and a write replaces a property whole, so the body is
built from the whole record as it must be after the write. The slots limit what fits:

- at most 3 email addresses (Graph answers 400 to a 4th), with no kind: read as ``other``;
- phones: 2 business (``work``), 2 home and 1 mobile number (Graph answers 400 to a 3rd business
  phone). Other kinds (main, other, fax, pager, a second mobile, a 3rd work or home number) take
  a free business slot, else a free home slot, so nothing is lost while a slot is free; they read
  back as ``work``/``home``. Reading a contact back gives business, home, then mobile numbers;
- one business, one home and one other address, with no PO box or extended part: those are
  written on the street lines; a second address of a kind takes the other slot if it is free;
- one web page, the business home page (``work``);
- a birthday is a full date (see :func:`graph_birthday`).

What does not fit is never lost silently: :func:`dropped` says it in a sentence for the person,
and ``dropped_*`` name the values. :func:`normalised` is what Outlook holds after a write, and it
is stable: writing what was read back writes the same again, so a sync never ping-pongs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA
from piesync_desktop.engine.model import Address, AppSchema, Item, Value

# Single-valued keys and the Graph string property that holds each. Graph's ``title`` is the
# name's title (Mr, Dr): the engine's ``title`` is the job title, ``jobTitle``.
TEXT_PROPS = {
    "full_name": "displayName",
    "given_name": "givenName",
    "family_name": "surname",
    "middle_name": "middleName",
    "name_prefix": "title",
    "name_suffix": "generation",
    "nickname": "nickName",
    "company": "companyName",
    "department": "department",
    "title": "jobTitle",
    "notes": "personalNotes",
}
# Address kinds and their property, in the order a contact reads back.
ADDRESS_PROPS = {"work": "businessAddress", "home": "homeAddress", "other": "otherAddress"}
# Every schema key and the Graph properties a write of it sends.
PROPS_OF: dict[str, tuple[str, ...]] = {key: (prop,) for key, prop in TEXT_PROPS.items()}
PROPS_OF |= {
    "emails": ("emailAddresses",),
    "phones": ("businessPhones", "homePhones", "mobilePhone"),
    "addresses": tuple(ADDRESS_PROPS.values()),
    "birthday": ("birthday",),
    "urls": ("businessHomePage",),
}
# Graph may write its own displayName when these change ("later updates to other properties may
# cause an automatically generated value to overwrite the displayName value you have specified.
# To preserve a pre-existing value, always include it"): a write of them sends the full name too.
NAME_PARTS = frozenset({"given_name", "family_name", "middle_name", "name_prefix", "name_suffix"})

SELECT = ",".join(
    dict.fromkeys(
        (
            "id",
            "changeKey",
            "categories",
            "parentFolderId",
            *(p for ps in PROPS_OF.values() for p in ps),
        )
    )
)

# Graph answers 400 beyond these ("The multi value property BusinessPhones has 3 entries, that
# exceeds the max allowed value of 2", the same for EmailAddresses and 3: reported in the Graph
# docs' issue "Personal contacts: property limits"). Home phones are Outlook's Home and Home 2.
MAX_EMAILS = 3
MAX_BUSINESS_PHONES = 2
MAX_HOME_PHONES = 2

# Outlook stores a birthday as an instant; Exchange ActiveSync's spec (MS-ASCNTC, Birthday) says
# its time "might be 11:59 and SHOULD be ignored, so that synchronizing between different time
# zones does not change the date". We write that midday UTC time, which is the same calendar day
# from UTC-11 to UTC+12, and read only the date part, as written.
BIRTHDAY_TIME = "T11:59:00Z"
# Apple's marker year for a birthday without a year (1604 is a leap year, so --02-29 fits): a
# contact that came through an Apple device or iCloud may carry it. Read as the engine's
# ``--MM-DD``. We never write it: Outlook has no notion of it (it would show the person as born
# in 1604, 400 years old), so a birthday without a year is not written at all.
NO_YEAR = 1604
# "No date" values some Microsoft stores use instead of null (.NET's default, Outlook's "None").
_NO_DATES = frozenset({dt.date(1, 1, 1), dt.date(4501, 1, 1)})
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_NO_YEAR_DATE = re.compile(r"--(\d{2})-(\d{2})")


def schema() -> AppSchema:
    """The vCard folder's fields: Outlook has a slot for each (within the limits above)."""
    return AppSchema.of(*(spec for key, spec in VCARD_SCHEMA.fields.items() if key in PROPS_OF))


# --------------------------------------------------------------------------------- reading


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _texts(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    return [text for text in map(_text, value) if text]


def _address(value: Any) -> Address:
    if not isinstance(value, Mapping):
        return Address()
    return Address(
        street=_text(value.get("street")),
        locality=_text(value.get("city")),
        region=_text(value.get("state")),
        postcode=_text(value.get("postalCode")),
        country=_text(value.get("countryOrRegion")),
    )


def birthday_of(value: Any) -> str:
    """The engine's form of Graph's ``birthday``: its date part as written (the time ignored),
    ``--MM-DD`` for Apple's no-year marker, ``""`` for none or a "no date" placeholder."""
    match = _DATE.match(_text(value))
    if match is None:
        return ""
    year, month, day = map(int, match.groups())
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return ""
    if date in _NO_DATES:
        return ""
    if year == NO_YEAR:
        return f"--{month:02d}-{day:02d}"
    return date.isoformat()


def fields_of(contact: Mapping[str, Any]) -> dict[str, Value]:
    """The schema's fields of a Graph contact; empty values are left out, strings stripped."""
    fields: dict[str, Value] = {}
    for key, prop in TEXT_PROPS.items():
        text = _text(contact.get(prop))
        if text:
            fields[key] = text
    emails = tuple(
        Item("other", address)
        for entry in contact.get("emailAddresses") or ()
        if isinstance(entry, Mapping) and (address := _text(entry.get("address")))
    )
    if emails:
        fields["emails"] = emails
    phones = [Item("work", number) for number in _texts(contact.get("businessPhones"))]
    phones += [Item("home", number) for number in _texts(contact.get("homePhones"))]
    mobile = _text(contact.get("mobilePhone"))
    if mobile:
        phones.append(Item("mobile", mobile))
    if phones:
        fields["phones"] = tuple(phones)
    addresses = tuple(
        Item(kind, address)
        for kind, prop in ADDRESS_PROPS.items()
        if not (address := _address(contact.get(prop))).is_empty()
    )
    if addresses:
        fields["addresses"] = addresses
    birthday = birthday_of(contact.get("birthday"))
    if birthday:
        fields["birthday"] = birthday
    url = _text(contact.get("businessHomePage"))
    if url:
        fields["urls"] = (Item("work", url),)
    return fields


def categories_of(contact: Mapping[str, Any]) -> frozenset[str]:
    """The contact's categories: the tags."""
    return frozenset(_texts(contact.get("categories")))


# --------------------------------------------------------------------------------- placing
# Which values of a record get a Graph slot; writing and reporting both use these, so what is
# reported dropped is exactly what a write leaves out.


def _str(fields: Mapping[str, Value], key: str) -> str:
    value = fields.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _values(fields: Mapping[str, Value], key: str) -> list[tuple[str, str]]:
    """The (kind, text) of a multi field's non-empty text items."""
    value = fields.get(key, ())
    if not isinstance(value, tuple):
        return []
    return [
        (item.kind, text)
        for item in value
        if isinstance(item.value, str) and (text := item.value.strip())
    ]


def _place_emails(fields: Mapping[str, Value]) -> tuple[list[str], list[str]]:
    emails = [address for _kind, address in _values(fields, "emails")]
    return emails[:MAX_EMAILS], emails[MAX_EMAILS:]


def _place_phones(
    fields: Mapping[str, Value],
) -> tuple[list[str], list[str], str, list[tuple[str, str]]]:
    """Business numbers, home numbers, the mobile number and the (kind, number) left out: each
    kind takes its own slot first, the rest fill free business, then home slots in order."""
    business: list[str] = []
    home: list[str] = []
    mobile = ""
    rest: list[tuple[str, str]] = []
    for kind, number in _values(fields, "phones"):
        if kind == "work" and len(business) < MAX_BUSINESS_PHONES:
            business.append(number)
        elif kind == "home" and len(home) < MAX_HOME_PHONES:
            home.append(number)
        elif kind == "mobile" and not mobile:
            mobile = number
        else:
            rest.append((kind, number))
    left: list[tuple[str, str]] = []
    for kind, number in rest:
        if len(business) < MAX_BUSINESS_PHONES:
            business.append(number)
        elif len(home) < MAX_HOME_PHONES:
            home.append(number)
        else:
            left.append((kind, number))
    return business, home, mobile, left


def _slot(kind: str) -> str:
    return kind if kind in ("work", "home") else "other"


def _place_addresses(
    fields: Mapping[str, Value],
) -> tuple[dict[str, Address], list[tuple[str, Address]]]:
    """The address of each slot and the (kind, address) left out: each kind takes its own slot
    first, a second address of a kind takes the other slot if no other address needs it."""
    value = fields.get("addresses", ())
    items = value if isinstance(value, tuple) else ()
    placed: dict[str, Address] = {}
    rest: list[tuple[str, Address]] = []
    for item in items:
        if not isinstance(item.value, Address):
            continue
        address = Address(*(part.strip() for part in item.value))
        if address.is_empty():
            continue
        if _slot(item.kind) in placed:
            rest.append((item.kind, address))
        else:
            placed[_slot(item.kind)] = address
    left: list[tuple[str, Address]] = []
    for kind, address in rest:
        if "other" in placed:
            left.append((kind, address))
        else:
            placed["other"] = address
    return placed, left


def _place_urls(fields: Mapping[str, Value]) -> tuple[str, list[str]]:
    """The business home page (the first work URL, else the first URL) and the URLs left out."""
    urls = _values(fields, "urls")
    if not urls:
        return "", []
    chosen = next((i for i, (kind, _url) in enumerate(urls) if kind == "work"), 0)
    return urls[chosen][1], [url for i, (_kind, url) in enumerate(urls) if i != chosen]


def graph_birthday(text: str) -> str | None:
    """Graph's ``birthday`` for the engine's date, or None when Outlook cannot hold it: a
    birthday without a year (``--MM-DD``) or anything but a ``YYYY-MM-DD`` date. Outlook keeps a
    birthday as a full date, and we do not invent a year, so such a birthday is not written."""
    text = text.strip()
    if not _DATE.fullmatch(text):
        return None
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return None
    return text + BIRTHDAY_TIME


# --------------------------------------------------------------------------------- writing


def _street(address: Address) -> str:
    """Outlook's street lines: the street, then the extended part and the PO box, which Graph
    has no field for."""
    return "\n".join(part for part in (address.street, address.extended, address.pobox) if part)


def _address_json(address: Address | None) -> dict[str, str]:
    """A ``physicalAddress`` with the parts the address has. A PATCH replaces an address whole
    (parts left out are cleared, as a live test against Graph shows), so ``{}``, what Graph itself
    answers for no address, clears it; a null address made Graph fail (500) creating a contact."""
    if address is None:
        return {}
    parts = {
        "street": _street(address),
        "city": address.locality,
        "state": address.region,
        "postalCode": address.postcode,
        "countryOrRegion": address.country,
    }
    return {name: part for name, part in parts.items() if part}


def _email_entries(addresses: list[str], current: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``emailAddress`` entries; each keeps the display ``name`` of the current entry with the
    same address. A new one is named by its address, as Outlook on the web names them."""
    pool = [
        dict(entry) for entry in current.get("emailAddresses") or () if isinstance(entry, Mapping)
    ]
    entries = []
    for address in addresses:
        folded = address.casefold()
        match = next((e for e in pool if _text(e.get("address")).casefold() == folded), None)
        if match is None:
            entries.append({"name": address, "address": address})
            continue
        pool.remove(match)
        entries.append({**match, "address": address})
    return entries


def contact_body(
    fields: Mapping[str, Value],
    keys: Iterable[str],
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Graph properties that hold ``keys``, built from ``fields`` (the whole record as it
    must be after the write): the body of a PATCH of ``current``, or of a create when ``current``
    is None.

    Only the properties of ``keys`` are in the body: a PATCH keeps every property it does not
    name (``imAddresses``, ``spouseName``, ...). In a PATCH an emptied field is cleared the way
    Graph takes it: ``null`` for a string (and the birthday), ``[]`` for a collection, ``{}`` for
    an address. A create sends only the values the record has: there is nothing to clear, and
    Graph is left to make a display name from the name parts. A birthday Outlook cannot hold is
    left out (see :func:`dropped`). A write of a name part sends the full name with it, as Graph
    would otherwise replace it with one it makes.
    """
    creating = current is None
    current = current or {}
    wanted = set(keys)
    if wanted & NAME_PARTS:
        wanted.add("full_name")
    body: dict[str, Any] = {}
    for key, prop in TEXT_PROPS.items():
        if key in wanted:
            body[prop] = _str(fields, key) or None
    if "emails" in wanted:
        body["emailAddresses"] = _email_entries(_place_emails(fields)[0], current)
    if "phones" in wanted:
        business, home, mobile, _left = _place_phones(fields)
        body["businessPhones"] = business
        body["homePhones"] = home
        body["mobilePhone"] = mobile or None
    if "addresses" in wanted:
        placed, _left_addresses = _place_addresses(fields)
        for kind, prop in ADDRESS_PROPS.items():
            body[prop] = _address_json(placed.get(kind))
    if "birthday" in wanted:
        text = _str(fields, "birthday")
        if not text:
            body["birthday"] = None
        elif (stamp := graph_birthday(text)) is not None:
            body["birthday"] = stamp
    if "urls" in wanted:
        body["businessHomePage"] = _place_urls(fields)[0] or None
    if creating:
        return {prop: value for prop, value in body.items() if value not in (None, [], {})}
    return body


def written_keys(keys: Iterable[str]) -> set[str]:
    """Every schema key a write of ``keys`` rewrites: the keys themselves and, with a name part,
    the full name (sent with the parts so Graph keeps it)."""
    wanted = {key for key in keys if key in PROPS_OF}
    if wanted & NAME_PARTS:
        wanted.add("full_name")
    return wanted


def normalised(fields: Mapping[str, Value]) -> dict[str, Value]:
    """The fields as Outlook holds them once ``fields`` are written on a new contact (kinds and
    order as Outlook gives them back, what does not fit left out). Idempotent."""
    return fields_of(contact_body(fields, fields.keys()))


# --------------------------------------------------------------------------------- reporting


def dropped_emails(fields: Mapping[str, Value]) -> tuple[str, ...]:
    """The email addresses a write leaves out (Outlook keeps the first 3)."""
    return tuple(_place_emails(fields)[1])


def dropped_phones(fields: Mapping[str, Value]) -> tuple[str, ...]:
    """The phone numbers a write leaves out (no business, home or mobile slot left)."""
    return tuple(number for _kind, number in _place_phones(fields)[3])


def dropped_addresses(fields: Mapping[str, Value]) -> tuple[Item, ...]:
    """The addresses a write leaves out (a second address of a kind, the other slot taken)."""
    return tuple(Item(kind, address) for kind, address in _place_addresses(fields)[1])


def dropped_urls(fields: Mapping[str, Value]) -> tuple[str, ...]:
    """The URLs a write leaves out (Outlook keeps one, the business home page)."""
    return tuple(_place_urls(fields)[1])


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def dropped(fields: Mapping[str, Value]) -> list[str]:
    """What of this record Outlook cannot hold, one sentence each; empty when all of it fits."""
    sentences = [
        f"a {_ordinal(n)} email {address}: Outlook keeps {MAX_EMAILS} email addresses"
        for n, address in enumerate(dropped_emails(fields), start=MAX_EMAILS + 1)
    ]
    sentences += [
        f"the {kind} phone {number}: Outlook keeps {MAX_BUSINESS_PHONES} business, "
        f"{MAX_HOME_PHONES} home and 1 mobile phone number"
        for kind, number in _place_phones(fields)[3]
    ]
    placed, left = _place_addresses(fields)
    for slot, address in placed.items():
        for part, name in ((address.extended, "extended address"), (address.pobox, "PO box")):
            if part:
                sentences.append(
                    f"the {name} {part} of the {slot} address is written on its street lines: "
                    f"Outlook has no {name} field"
                )
    sentences += [
        f"another {kind} address ({address.label()}): Outlook keeps one business, one home "
        "and one other address"
        for kind, address in left
    ]
    sentences += [
        f"the website {url}: Outlook keeps one web page (the business home page)"
        for url in dropped_urls(fields)
    ]
    birthday = _str(fields, "birthday")
    if birthday and graph_birthday(birthday) is None:
        if _NO_YEAR_DATE.fullmatch(birthday):
            sentences.append(
                f"the birthday {birthday} has no year: Outlook keeps a birthday only with its "
                "year, so it is not written"
            )
        else:
            sentences.append(
                f'the birthday "{birthday}" is not a date (YYYY-MM-DD): it is not written'
            )
    return sentences
