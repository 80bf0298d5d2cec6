"""Google's Person resource (People API v1) in the engine's terms, both ways.

The schema uses the vCard folder's keys wherever the meaning is the same, so the default mapping
between the two is field for field; ``userDefined`` key/value pairs are this app's custom fields
(``custom:<key>``). Only the first name, organization, birthday and biography of a person are
mapped, as Google's own apps show them. Writing a field replaces that field's list on Google's
side (``updatePersonFields``), so an update merges the fields it names into what the person holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from piesync_desktop.engine.connectors.vcard_codec import VCARD_SCHEMA
from piesync_desktop.engine.model import Address, AppSchema, FieldSpec, Item, Value

CUSTOM_PREFIX = "custom:"
CREATE_KEY = "piesync-create-key"  # clientData key: finds a create a crash left unlinked

# The vCard folder's fields, so the default mapping between the two is field for field. The full
# name is the name's ``unstructuredName`` (the free-form name as written), not Google's display
# name, which Google formats for the viewer's locale: a name written family name first, or with
# a comma before a suffix, comes back as it was written.
BASE_FIELDS = tuple(VCARD_SCHEMA.fields.values())

# Person fields read on every listing, and the People API field each schema key lives in.
PERSON_FIELDS = (
    "names,nicknames,emailAddresses,phoneNumbers,addresses,organizations,birthdays,"
    "biographies,urls,userDefined,memberships,clientData,metadata"
)
FIELD_OF = {
    "full_name": "names",
    "given_name": "names",
    "family_name": "names",
    "middle_name": "names",
    "name_prefix": "names",
    "name_suffix": "names",
    "nickname": "nicknames",
    "emails": "emailAddresses",
    "phones": "phoneNumbers",
    "addresses": "addresses",
    "company": "organizations",
    "department": "organizations",
    "title": "organizations",
    "birthday": "birthdays",
    "notes": "biographies",
    "urls": "urls",
}
NAME_KEYS = {
    "given_name": "givenName",
    "family_name": "familyName",
    "middle_name": "middleName",
    "name_prefix": "honorificPrefix",
    "name_suffix": "honorificSuffix",
}
ORG_KEYS = {"company": "name", "department": "department", "title": "title"}
PHONE_KINDS = {
    "mobile": "mobile",
    "home": "home",
    "work": "work",
    "homeFax": "fax",
    "workFax": "fax",
    "otherFax": "fax",
    "pager": "pager",
    "main": "main",
}
PHONE_TYPES = {"mobile": "mobile", "home": "home", "work": "work", "fax": "homeFax"}
PHONE_TYPES |= {"pager": "pager", "main": "main"}


def schema(custom_keys: Iterable[str] = ()) -> AppSchema:
    custom = [
        FieldSpec(CUSTOM_PREFIX + key, key, custom=True) for key in sorted(set(custom_keys)) if key
    ]
    return AppSchema.of(*BASE_FIELDS, *custom)


def custom_keys_of(person: Mapping[str, Any]) -> set[str]:
    return {entry.get("key", "") for entry in person.get("userDefined", ()) if entry.get("key")}


def _first(person: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    values = person.get(field) or ()
    return values[0] if values else {}


def _kind(entry: Mapping[str, Any], kinds: Mapping[str, str] | None = None) -> str:
    kind = str(entry.get("type", "")).strip()
    if kinds is not None:
        return kinds.get(kind, "other")
    return kind if kind in ("home", "work") else "other"


def _date(entry: Mapping[str, Any]) -> str:
    date = entry.get("date") or {}
    month, day = date.get("month"), date.get("day")
    if not month or not day:
        return str(entry.get("text", "")).strip()
    year = date.get("year")
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


def fields_of(person: Mapping[str, Any]) -> dict[str, Value]:
    """The schema's fields of a Person."""
    fields: dict[str, Value] = {}
    name = _first(person, "names")
    full = name.get("unstructuredName") or name.get("displayName")
    if full:
        fields["full_name"] = str(full).strip()
    for key, api in NAME_KEYS.items():
        if name.get(api):
            fields[key] = str(name[api]).strip()
    nickname = _first(person, "nicknames").get("value", "")
    if nickname:
        fields["nickname"] = nickname.strip()
    emails = tuple(
        Item(_kind(e), e["value"].strip())
        for e in person.get("emailAddresses", ())
        if e.get("value", "").strip()
    )
    if emails:
        fields["emails"] = emails
    phones = tuple(
        Item(_kind(p, PHONE_KINDS), p["value"].strip())
        for p in person.get("phoneNumbers", ())
        if p.get("value", "").strip()
    )
    if phones:
        fields["phones"] = phones
    addresses = tuple(
        Item(_kind(a), _address(a))
        for a in person.get("addresses", ())
        if not _address(a).is_empty()
    )
    if addresses:
        fields["addresses"] = addresses
    organization = _first(person, "organizations")
    for key, api in ORG_KEYS.items():
        if organization.get(api):
            fields[key] = str(organization[api]).strip()
    birthday = _date(_first(person, "birthdays"))
    if birthday:
        fields["birthday"] = birthday
    notes = _first(person, "biographies").get("value", "")
    if notes.strip():
        fields["notes"] = notes.strip()
    urls = tuple(
        Item(_kind(u), u["value"].strip())
        for u in person.get("urls", ())
        if u.get("value", "").strip()
    )
    if urls:
        fields["urls"] = urls
    for entry in person.get("userDefined", ()):
        key, value = entry.get("key", ""), str(entry.get("value", "")).strip()
        if key and value:
            fields[CUSTOM_PREFIX + key] = value
    return fields


def _address(entry: Mapping[str, Any]) -> Address:
    return Address(
        str(entry.get("poBox", "")).strip(),
        str(entry.get("extendedAddress", "")).strip(),
        str(entry.get("streetAddress", "")).strip(),
        str(entry.get("city", "")).strip(),
        str(entry.get("region", "")).strip(),
        str(entry.get("postalCode", "")).strip(),
        str(entry.get("country", "")).strip(),
    )


def group_names(person: Mapping[str, Any], names: Mapping[str, str]) -> frozenset[str]:
    """The person's user contact groups, by name (``names``: resource name -> group name)."""
    found = set()
    for membership in person.get("memberships", ()):
        group = (membership.get("contactGroupMembership") or {}).get("contactGroupResourceName")
        if group in names:
            found.add(names[group])
    return frozenset(found)


def create_key_of(person: Mapping[str, Any]) -> str | None:
    for entry in person.get("clientData", ()):
        if entry.get("key") == CREATE_KEY:
            return str(entry.get("value", "")) or None
    return None


# --------------------------------------------------------------------------------- writing


def _str(fields: Mapping[str, Value], key: str) -> str:
    value = fields.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _items(fields: Mapping[str, Value], key: str) -> tuple[Item, ...]:
    value = fields.get(key, ())
    return value if isinstance(value, tuple) else ()


def _birthday(text: str) -> dict[str, Any]:
    if text.startswith("--") and len(text) == 7:
        return {"date": {"month": int(text[2:4]), "day": int(text[5:7])}}
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        return {"date": {"year": int(text[:4]), "month": int(text[5:7]), "day": int(text[8:10])}}
    return {"text": text}


def _merged_first(
    current: Mapping[str, Any], field: str, values: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The field's first entry with ``values`` written into what it holds (the parts we do not
    map, a phonetic name or a job description, stay); later entries stay as they were."""
    entries = [dict(e) for e in current.get(field, ())]
    first = {k: v for k, v in (entries[0] if entries else {}).items() if k != "metadata"}
    for api, value in values.items():
        if value:
            first[api] = value
        else:
            first.pop(api, None)
    rest = entries[1:]
    meaningful = {k for k in first if k not in ("type", "formattedType", "contentType")}
    return ([first] if meaningful else []) + rest


def _merged_list(
    current: Mapping[str, Any], field: str, wanted: list[dict[str, Any]], same: tuple[str, ...]
) -> list[dict[str, Any]]:
    """``wanted`` entries, each taking the extra properties of the current entry it matches."""
    pool = [dict(e) for e in current.get(field, ())]
    out = []
    for entry in wanted:
        match = next((e for e in pool if all(e.get(k) == entry.get(k) for k in same)), None)
        if match is None:
            out.append(entry)
            continue
        pool.remove(match)
        merged = {k: v for k, v in match.items() if k != "metadata"}
        merged.update(entry)
        out.append(merged)
    return out


def person_fields(
    fields: Mapping[str, Value],
    keys: Iterable[str],
    current: Mapping[str, Any] | None = None,
    changed: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The People API fields that hold ``keys``, built from ``fields`` (the whole record as it
    must be after the write: a People field is replaced whole) on top of the ``current`` person,
    whose parts we do not map are kept. ``changed`` are the keys the write really changes (all
    of ``keys`` when not given): a full name that did not change is left for Google to write
    from the name's parts."""
    current = current or {}
    wanted = set(keys)
    changing = wanted if changed is None else set(changed)
    body: dict[str, Any] = {}
    api_fields = {FIELD_OF[k] for k in wanted if k in FIELD_OF}
    if "names" in api_fields:
        names = {api: _str(fields, key) for key, api in NAME_KEYS.items()}
        merged = _merged_first(current, "names", names)[:1]
        for entry in merged:
            entry.pop("displayName", None)
            entry.pop("displayNameLastFirst", None)
            if "full_name" in changing:
                entry["unstructuredName"] = _str(fields, "full_name")
            else:  # the parts changed, the full name did not: Google writes it from them
                entry.pop("unstructuredName", None)
        body["names"] = [entry for entry in merged if any(v for k, v in entry.items())]
    if "nicknames" in api_fields:
        body["nicknames"] = _merged_first(current, "nicknames", {"value": _str(fields, "nickname")})
    if "emailAddresses" in api_fields:
        emails = [
            {"value": item.value, "type": item.kind if item.kind in ("home", "work") else "other"}
            for item in _items(fields, "emails")
            if isinstance(item.value, str) and item.value.strip()
        ]
        body["emailAddresses"] = _merged_list(current, "emailAddresses", emails, ("value",))
    if "phoneNumbers" in api_fields:
        phones = [
            {"value": item.value, "type": PHONE_TYPES.get(item.kind, "other")}
            for item in _items(fields, "phones")
            if isinstance(item.value, str) and item.value.strip()
        ]
        body["phoneNumbers"] = _merged_list(current, "phoneNumbers", phones, ("value",))
    if "addresses" in api_fields:
        addresses = [
            _address_json(item)
            for item in _items(fields, "addresses")
            if isinstance(item.value, Address)
        ]
        body["addresses"] = _merged_list(
            current, "addresses", addresses, ("streetAddress", "city", "postalCode")
        )
    if "organizations" in api_fields:
        organization = {api: _str(fields, key) for key, api in ORG_KEYS.items()}
        body["organizations"] = _merged_first(current, "organizations", organization)
    if "birthdays" in api_fields:
        birthday = _str(fields, "birthday")
        body["birthdays"] = [_birthday(birthday)] if birthday else []
    if "biographies" in api_fields:
        notes = {"value": _str(fields, "notes"), "contentType": "TEXT_PLAIN"}
        body["biographies"] = _merged_first(current, "biographies", notes)
    if "urls" in api_fields:
        urls = [
            {"value": item.value, "type": item.kind if item.kind in ("home", "work") else "other"}
            for item in _items(fields, "urls")
            if isinstance(item.value, str) and item.value.strip()
        ]
        body["urls"] = _merged_list(current, "urls", urls, ("value",))
    if any(key.startswith(CUSTOM_PREFIX) for key in wanted):
        body["userDefined"] = [
            {"key": key[len(CUSTOM_PREFIX) :], "value": _str(fields, key)}
            for key in sorted(fields)
            if key.startswith(CUSTOM_PREFIX) and _str(fields, key)
        ]
    return body


def _address_json(item: Item) -> dict[str, Any]:
    address = item.value
    assert isinstance(address, Address)
    body = {
        "poBox": address.pobox,
        "extendedAddress": address.extended,
        "streetAddress": address.street,
        "city": address.locality,
        "region": address.region,
        "postalCode": address.postcode,
        "country": address.country,
        "type": item.kind if item.kind in ("home", "work") else "other",
    }
    return {key: value for key, value in body.items() if value}


def update_mask(keys: Iterable[str]) -> str:
    """``updatePersonFields`` for a write of ``keys``."""
    api = {FIELD_OF[key] for key in keys if key in FIELD_OF}
    if any(key.startswith(CUSTOM_PREFIX) for key in keys):
        api.add("userDefined")
    return ",".join(sorted(api))


def written_keys(keys: Iterable[str]) -> set[str]:
    """Every schema key a write of ``keys`` rewrites (all keys that share their People field)."""
    api = {FIELD_OF[key] for key in keys if key in FIELD_OF}
    rewritten = {key for key, field in FIELD_OF.items() if field in api}
    return rewritten | {key for key in keys if key.startswith(CUSTOM_PREFIX)}
