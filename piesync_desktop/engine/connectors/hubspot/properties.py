"""HubSpot contact properties in the engine's terms, both ways.

Why it exists: a portal's contacts are flat property/value pairs whose definitions (type, options,
read-only) come from the properties API; the engine wants the vCard folder's keys, so that the
default mapping between the two is field for field. The standard properties take those keys:
``firstname``/``lastname`` -> given_name/family_name, ``email`` -> emails, ``phone``,
``mobilephone`` and ``fax`` -> phones (work, mobile, fax), ``company``, ``jobtitle`` -> title,
``website`` -> urls, and ``address``/``city``/``state``/``zip``/``country`` -> addresses (one,
work). Every other property the portal shows (HubSpot's own and custom ones) is a field of its
own, ``hubspot:<name>``, labelled as HubSpot labels it and offered for custom mappings:
select -> dropdown, radio -> radio, checkbox (values joined with ";") and booleancheckbox
("true"/"false") -> checkbox, number -> number, date and datetime -> date (the date part, UTC),
anything else text. Read-only and calculated properties are read, never written.

HubSpot holds one email address per contact for us: the v3 API cannot write the secondary
addresses (``hs_additional_emails`` is read-only; it appears as a read-only field when the portal
has it), so ``emails`` is single-valued and a card's other addresses stay in the card. The same
goes for the website. HubSpot keeps no contact without an email address for us either (the email
is how it deduplicates), so ``emails`` is required.

A contact holds one work phone, one mobile, one fax and one address; a card can hold more, or a
home phone. What HubSpot cannot hold as it was written is kept whole in a hidden property of the
contact (:data:`OVERFLOW`) and merged back, item by item, with what HubSpot holds: the items in
HubSpot's slots (the phone, the mobile, the fax, the address) follow HubSpot, so one the person
edited there takes the new value (and keeps its kind), one they cleared is gone and one they
added is there; the items HubSpot has no room for stay. Without it, the next change of that
contact in HubSpot would look like the person removed the rest, and the engine would remove it
from the card too. The next write of the contact writes the merged value back into the property
(when HubSpot shows it as it holds it now), so the property never holds what was merged away.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from piesync_desktop.engine.model import (
    Address,
    AppSchema,
    FieldSpec,
    FieldType,
    Item,
    Value,
    from_json,
)

PREFIX = "hubspot:"
CREATE_KEY = "piesync_create_key"
OVERFLOW = "piesync_overflow"
OWN_DEFINITIONS: dict[str, dict[str, Any]] = {
    CREATE_KEY: {
        "name": CREATE_KEY,
        "label": "PieSync create key",
        "type": "string",
        "fieldType": "text",
        "groupName": "contactinformation",
        "description": (
            "Set by PieSync Desktop when it creates the contact, so that a sync interrupted "
            "before it saved its link never creates the contact twice. Leave it as it is."
        ),
        "hidden": True,
        "formField": False,
    },
    OVERFLOW: {
        "name": OVERFLOW,
        "label": "PieSync kept values",
        "type": "string",
        "fieldType": "textarea",
        "groupName": "contactinformation",
        "description": (
            "Phones and addresses PieSync Desktop synced that HubSpot has no room for (a second "
            "address, a home phone), kept so that no sync loses them. Leave it as it is."
        ),
        "hidden": True,
        "formField": False,
    },
}
SINGLE = {
    "firstname": "given_name",
    "lastname": "family_name",
    "email": "emails",
    "company": "company",
    "jobtitle": "title",
    "website": "urls",
}
SINGLE_TYPES = {"emails": FieldType.EMAIL, "urls": FieldType.URL}
PHONES = {"phone": "work", "mobilephone": "mobile", "fax": "fax"}
ADDRESS = ("address", "city", "state", "zip", "country")
STANDARD = frozenset(SINGLE) | frozenset(PHONES) | frozenset(ADDRESS)
OVERFLOWING = ("phones", "addresses")
# Read with every contact, whatever the schema: the version, unsubscribes, our own properties.
ALWAYS_READ = ("lastmodifieddate", "hs_email_optout", CREATE_KEY, OVERFLOW)
LANDLINE_KINDS = ("work", "main", "home", "other", "pager")  # the order a phone fills `phone`


@dataclass(frozen=True, slots=True)
class Property:
    """A contact property's definition, as far as syncing needs it."""

    name: str
    label: str
    type: str
    field_type: str
    options: tuple[str, ...] = ()
    read_only: bool = False
    hidden: bool = False

    @classmethod
    def of(cls, definition: Mapping[str, Any]) -> Property:
        metadata = definition.get("modificationMetadata") or {}
        options = tuple(
            str(option["value"])
            for option in definition.get("options") or ()
            if isinstance(option, dict) and isinstance(option.get("value"), str)
        )
        return cls(
            name=str(definition.get("name") or ""),
            label=str(definition.get("label") or definition.get("name") or ""),
            type=str(definition.get("type") or "string"),
            field_type=str(definition.get("fieldType") or "text"),
            options=options,
            read_only=bool(metadata.get("readOnlyValue")) or bool(definition.get("calculated")),
            hidden=bool(definition.get("hidden")),
        )

    def field_type_and_options(self) -> tuple[FieldType, tuple[str, ...]]:
        if self.type == "bool" or self.field_type == "booleancheckbox":
            return FieldType.CHECKBOX, ("true", "false")
        if self.type == "enumeration":
            kind = {"radio": FieldType.RADIO, "checkbox": FieldType.CHECKBOX}.get(
                self.field_type, FieldType.DROPDOWN
            )
            return kind, self.options
        if self.type == "number":
            return FieldType.NUMBER, ()
        if self.type in ("date", "datetime"):
            return FieldType.DATE, ()
        if self.field_type == "phonenumber":
            return FieldType.PHONE, ()
        return FieldType.TEXT, ()


@dataclass(frozen=True, slots=True)
class ContactSchema:
    """A portal's contact properties and the engine's schema made of them."""

    properties: Mapping[str, Property]
    app: AppSchema
    by_key: Mapping[str, str] = field(default_factory=dict)  # hubspot:<name> -> property name

    @classmethod
    def of(cls, definitions: Iterable[Mapping[str, Any]]) -> ContactSchema:
        properties = {p.name: p for p in map(Property.of, definitions) if p.name}
        specs: list[FieldSpec] = []
        for name, key in SINGLE.items():
            prop = properties.get(name)
            if prop is not None:
                specs.append(
                    FieldSpec(
                        key,
                        prop.label,
                        SINGLE_TYPES.get(key, FieldType.TEXT),
                        required=key == "emails",
                    )
                )
        if any(name in properties for name in PHONES):
            specs.append(FieldSpec("phones", "Phone numbers", FieldType.PHONE, multi=True))
        if any(name in properties for name in ADDRESS):
            specs.append(FieldSpec("addresses", "Address", FieldType.ADDRESS, multi=True))
        by_key: dict[str, str] = {}
        for prop in sorted(properties.values(), key=lambda p: p.label.casefold()):
            if prop.name in STANDARD or prop.name in OWN_DEFINITIONS or prop.hidden:
                continue
            kind, options = prop.field_type_and_options()
            key = PREFIX + prop.name
            by_key[key] = prop.name
            specs.append(
                FieldSpec(
                    key, prop.label, kind, read_only=prop.read_only, custom=True, options=options
                )
            )
        return cls(properties, AppSchema.of(*specs), by_key)

    def names(self) -> list[str]:
        """The properties to read with each contact."""
        wanted = [name for name in SINGLE if name in self.properties]
        wanted += [name for name in (*PHONES, *ADDRESS) if name in self.properties]
        wanted += list(self.by_key.values())
        wanted += [name for name in ALWAYS_READ if name not in wanted]
        return wanted

    def label(self, name: str) -> str:
        prop = self.properties.get(name)
        return prop.label if prop is not None else name

    # ------------------------------------------------------------------ reading

    def fields_of(self, values: Mapping[str, Any]) -> dict[str, Value]:
        """The schema's fields of a contact's properties (as HubSpot holds them)."""
        fields: dict[str, Value] = {}
        for name, key in SINGLE.items():
            text = _text(values.get(name))
            if text:
                fields[key] = text
        phones = tuple(
            Item(kind, text)
            for name, kind in PHONES.items()
            if name in self.properties and (text := _text(values.get(name)))
        )
        if phones:
            fields["phones"] = phones
        address = Address(
            street=_text(values.get("address")),
            locality=_text(values.get("city")),
            region=_text(values.get("state")),
            postcode=_text(values.get("zip")),
            country=_text(values.get("country")),
        )
        if not address.is_empty():
            fields["addresses"] = (Item("work", address),)
        for key, name in self.by_key.items():
            text = self._read(name, values.get(name))
            if text:
                fields[key] = text
        return fields

    def _read(self, name: str, raw: Any) -> str:
        text = _text(raw)
        prop = self.properties[name]
        if text and prop.type in ("date", "datetime"):
            return _date_part(text)
        return text

    # ------------------------------------------------------------------ writing

    def properties_of(self, fields: Mapping[str, Value], *, clear: bool) -> dict[str, str]:
        """The property values that write ``fields``; with ``clear``, an empty field clears its
        properties (an update), else empty ones are left out (a create). Read-only properties
        and those the portal does not have are never written."""
        out: dict[str, str] = {}
        for name, key in SINGLE.items():
            if key in fields and name in self.properties:
                out[name] = first_text(fields[key])
        if "phones" in fields:
            out.update(self._phones(fields["phones"]))
        if "addresses" in fields:
            out.update(self._address(fields["addresses"]))
        for key, value in fields.items():
            name = self.by_key.get(key)
            if name is not None and not self.properties[name].read_only:
                out[name] = first_text(value)
        if not clear:
            out = {name: value for name, value in out.items() if value}
        return out

    def _phones(self, value: Value) -> dict[str, str]:
        items = _items(value)
        out = {name: "" for name in PHONES if name in self.properties}
        for n, name in self.slots("phones", value).items():
            out[name] = str(items[n].value).strip()
        return out

    def _address(self, value: Value) -> dict[str, str]:
        items = _items(value)
        chosen = next(iter(self.slots("addresses", value)), None)
        parts = items[chosen].value if chosen is not None else Address()
        assert isinstance(parts, Address)
        values = dict(
            zip(
                ADDRESS,
                (parts.street, parts.locality, parts.region, parts.postcode, parts.country),
                strict=True,
            )
        )
        return {name: text.strip() for name, text in values.items() if name in self.properties}

    def slots(self, key: str, value: Value) -> dict[int, str]:
        """Which items of ``value`` HubSpot's properties hold once it is written to field
        ``key``: item index -> the property that holds it (``"address"`` for the address).
        The first landline (work, main, home, other, pager, in that order) is ``phone``, the
        first mobile ``mobilephone``, the first fax ``fax``; the first work address, else the
        first one, is the address. Every other item is one HubSpot has no room for."""
        items = _items(value)
        out: dict[int, str] = {}
        if key == "phones":
            usable = [
                n for n, i in enumerate(items) if isinstance(i.value, str) and i.value.strip()
            ]
            if "phone" in self.properties:
                for kind in LANDLINE_KINDS:
                    found = next((n for n in usable if items[n].kind == kind), None)
                    if found is not None:
                        out[found] = "phone"
                        break
            for name, kind in (("mobilephone", "mobile"), ("fax", "fax")):
                found = next((n for n in usable if items[n].kind == kind), None)
                if name in self.properties and found is not None:
                    out[found] = name
        elif key == "addresses" and any(name in self.properties for name in ADDRESS):
            usable = [
                n
                for n, i in enumerate(items)
                if isinstance(i.value, Address) and not i.value.is_empty()
            ]
            if usable:
                out[next((n for n in usable if items[n].kind == "work"), usable[0])] = "address"
        return out

    # ------------------------------------------------------------------ what HubSpot cannot hold

    def held(self, key: str, value: Value) -> Value:
        """What HubSpot holds of ``value`` once it is written to field ``key``."""
        written = self.properties_of({key: value}, clear=True)
        return self.fields_of(written).get(key, ())

    def restored(self, fields: dict[str, Value], kept: Mapping[str, Value]) -> dict[str, Value]:
        """``fields`` as HubSpot holds them, with the kept values merged back in, item by item:
        what HubSpot holds of a kept value follows HubSpot (an item the person edited there
        takes the new value and keeps its kind; one they cleared is gone; one they added is
        there), and the items HubSpot has no room for stay."""
        for key, value in kept.items():
            if key not in OVERFLOWING or not isinstance(value, tuple):
                continue
            merged = self._merged(key, value, _items(fields.get(key, ())))
            if merged:
                fields[key] = merged
            else:
                fields.pop(key, None)
        return fields

    def _merged(self, key: str, kept: tuple[Item, ...], now: tuple[Item, ...]) -> tuple[Item, ...]:
        """A kept value merged with what HubSpot holds now (``now``, as :meth:`fields_of`
        reads it)."""
        in_slot = self._by_slot(key, now)
        out: list[Item] = []
        used: set[str] = set()
        slots = self.slots(key, kept)
        for n, item in enumerate(kept):
            slot = slots.get(n)
            shown = self._shown(item) if slot is not None else None
            if slot is None or shown is None:
                out.append(item)  # HubSpot has no room for it: kept as it is
                continue
            used.add(slot)
            holds = in_slot.get(slot)
            if holds is None:
                continue  # cleared in HubSpot
            if holds.value == shown:
                out.append(item)  # as written: kind, and parts HubSpot does not hold, and all
            elif isinstance(item.value, Address) and isinstance(holds.value, Address):
                out.append(
                    Item(
                        item.kind,
                        holds.value._replace(pobox=item.value.pobox, extended=item.value.extended),
                    )
                )
            else:
                out.append(Item(item.kind, holds.value))  # edited in HubSpot
        out += [item for slot, item in in_slot.items() if slot not in used]  # added in HubSpot
        return tuple(out)

    def _by_slot(self, key: str, now: tuple[Item, ...]) -> dict[str, Item]:
        if key == "phones":
            names = {kind: name for name, kind in PHONES.items()}
            return {names[i.kind]: i for i in now if i.kind in names}
        return {"address": now[0]} if now else {}

    def _shown(self, item: Item) -> str | Address | None:
        """What HubSpot shows of one item in its slot (None: nothing)."""
        if isinstance(item.value, str):
            return item.value.strip() or None
        written = self._address((item,))
        shown = Address(
            street=written.get("address", ""),
            locality=written.get("city", ""),
            region=written.get("state", ""),
            postcode=written.get("zip", ""),
            country=written.get("country", ""),
        )
        return None if shown.is_empty() else shown

    def settled(self, values: Mapping[str, Any], kept: Mapping[str, Value]) -> dict[str, Value]:
        """The kept values as the hidden property should hold them for a contact whose
        properties are ``values``: each merged with what HubSpot holds now (see
        :meth:`restored`), so an old value cannot come back after a person's undo. A merged
        value HubSpot would show otherwise than it does now (a cleared slot that another kept
        item would fill) stays as it was: it merges the same way."""
        held_now = self.fields_of(values)
        out: dict[str, Value] = {}
        for key, value in kept.items():
            if key not in OVERFLOWING or not isinstance(value, tuple):
                continue
            now = _items(held_now.get(key, ()))
            merged = self._merged(key, value, now)
            if self.held(key, merged) != now:
                out[key] = value
            elif merged != now:
                out[key] = merged
        return out

    def overflow(self, written: Mapping[str, Value], kept: Mapping[str, Value]) -> dict[str, Value]:
        """The kept values after writing ``written`` over a contact that kept ``kept``."""
        out = {key: value for key, value in kept.items() if key in OVERFLOWING}
        for key in OVERFLOWING:
            if key not in written or key not in self.app:
                continue
            value = written[key]
            if isinstance(value, tuple) and value and self.held(key, value) != value:
                out[key] = value
            else:
                out.pop(key, None)
        return out


def kept_of(raw: Any) -> dict[str, Value]:
    """The kept values in a contact's :data:`OVERFLOW` property."""
    text = _text(raw)
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, Value] = {}
    for key, value in data.items():
        if key in OVERFLOWING and isinstance(value, list):
            try:
                out[key] = from_json(value)
            except (TypeError, ValueError):
                continue
    return out


def encode_kept(kept: Mapping[str, Value]) -> str:
    return json.dumps(dict(sorted(kept.items())), separators=(",", ":")) if kept else ""


def _text(raw: Any) -> str:
    if raw is None:
        return ""
    return str(raw).strip()


def _items(value: Value) -> tuple[Item, ...]:
    return value if isinstance(value, tuple) else ()


def first_text(value: Value) -> str:
    if isinstance(value, str):
        return value.strip()
    for item in value:
        text = item.value if isinstance(item.value, str) else item.value.label()
        if text.strip():
            return text.strip()
    return ""


def _date_part(text: str) -> str:
    """``YYYY-MM-DD`` of a HubSpot date or datetime (ISO, or epoch milliseconds), in UTC."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC).strftime("%Y-%m-%d")
    return text[:10]
