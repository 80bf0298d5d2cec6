"""What an Outlook contact cannot hold, kept beside it so a sync never loses it.

Outlook keeps three email addresses, two business and two home phones, one address of each kind,
one web page and only birthdays with a year; a phone's kind becomes the slot it lands in. A
contact written with more would come back with less, and the next time that contact changed in
Outlook the engine would take the shorter list for the person's edit and remove the rest from the
other app too. So the whole value of every field Outlook would change is kept in a hidden
extended property of the contact, and read back in place of Outlook's value for as long as
Outlook still holds exactly what was written for that field. A person who edits that field in
Outlook has the last word, item by item: an email, phone or address they removed is gone, one
they added is there, one they left keeps its kind, and those Outlook never showed stay kept. A
single value (a birthday without a year) they changed is theirs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from piesync_desktop.engine.connectors.outlook import contacts
from piesync_desktop.engine.model import Address, Item, Value

PROPERTY = "String {6f1c6a2e-43b5-4a4e-9d0a-5e7c1f0b9a31} Name piesync-overflow"


def overflow_of(fields: Mapping[str, Value]) -> dict[str, Value]:
    """The fields whose value Outlook would not hold as it is."""
    kept: dict[str, Value] = {}
    for key, value in fields.items():
        if key in contacts.NAME_PARTS or key == "full_name":
            continue  # names always fit
        if contacts.normalised({key: value}).get(key, _empty(value)) != value:
            kept[key] = value
    return kept


def restored(fields: dict[str, Value], kept: Mapping[str, Value]) -> dict[str, Value]:
    """``fields`` as Outlook gives them, with the kept values merged back in (see above)."""
    for key, value in kept.items():
        written = contacts.normalised({key: value}).get(key, _empty(value))
        now = fields.get(key, _empty(value))
        if now == written:
            merged = value
        elif isinstance(value, tuple) and isinstance(now, tuple):
            merged = _merged(key, value, written, now)
        else:
            merged = now
        if merged in ("", ()):
            fields.pop(key, None)
        else:
            fields[key] = merged
    return fields


def _merged(
    key: str, kept: tuple[Item, ...], written: tuple[Item, ...], now: tuple[Item, ...]
) -> tuple[Item, ...]:
    """A multi-valued field after the person edited it in Outlook: ``kept`` is the whole value
    last written, ``written`` what Outlook held of it then, ``now`` what it holds now."""
    shown_then = {_shown(key, item.value) for item in written}
    shown_now = {_shown(key, item.value) for item in now}
    out: list[Item] = []
    for item in kept:
        shown = _shown(key, contacts.normalised({key: (item,)}).get(key, (item,))[0].value)
        if shown not in shown_then or shown in shown_now:
            out.append(item)  # never shown in Outlook, or still there: as it was, kind and all
    known = {_shown(key, item.value) for item in out} | shown_then
    out += [item for item in now if _shown(key, item.value) not in known]  # added in Outlook
    return tuple(out)


def _shown(key: str, value: str | Address) -> object:
    """What identifies an item as Outlook shows it (an email address in any case)."""
    if key == "emails" and isinstance(value, str):
        return value.strip().casefold()
    return value


def encode(kept: Mapping[str, Value]) -> str:
    """The property's value ("" when nothing is kept)."""
    if not kept:
        return ""
    return json.dumps({key: _plain(value) for key, value in sorted(kept.items())})


def decode(text: str) -> dict[str, Value]:
    """The kept values; anything unreadable is forgotten, never fatal."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    kept: dict[str, Value] = {}
    for key, value in data.items():
        if isinstance(value, str):
            kept[key] = value
        elif isinstance(value, list):
            items = []
            for entry in value:
                if not (isinstance(entry, list) and len(entry) == 2):
                    break
                kind, item = entry
                if isinstance(item, list) and len(item) == len(Address._fields):
                    items.append(Item(str(kind), Address(*(str(p) for p in item))))
                elif isinstance(item, str):
                    items.append(Item(str(kind), item))
                else:
                    break
            else:
                kept[key] = tuple(items)
    return kept


def of_contact(contact: Mapping[str, Any]) -> str:
    """The property's value on a contact read with it expanded ("" when there is none)."""
    for prop in contact.get("singleValueExtendedProperties") or ():
        if isinstance(prop, dict) and str(prop.get("id", "")).lower() == PROPERTY.lower():
            return str(prop.get("value") or "")
    return ""


def _plain(value: Value) -> Any:
    if isinstance(value, str):
        return value
    return [[item.kind, list(item.value) if isinstance(item.value, Address) else item.value]
            for item in value]  # fmt: skip


def _empty(value: Value) -> Value:
    return "" if isinstance(value, str) else ()
