"""Contacts as the engine sees them, whatever app they come from.

Every connector translates its app's contacts into :class:`Record` values whose ``fields`` use the
keys of the app's :class:`AppSchema`. Values are small immutable Python objects that compare by
value and turn into JSON without help, so the store can keep the last-synced value of every field:

- a single-valued field holds a ``str`` (dates as ISO ``YYYY-MM-DD`` or ``--MM-DD``);
- a multi-valued field holds a ``tuple`` of :class:`Item` (a kind such as ``work`` plus a value);
- an address is an :class:`Address` (a tuple of the seven vCard ADR parts).

An empty value is ``""`` for a single field and ``()`` for a multi field; a field that is absent
from ``fields`` is empty.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

TRASH_TAG = "PieSync Trash"
UNSUBSCRIBES_TAG = "PieSync Unsubscribes"
SYSTEM_TAGS = frozenset({TRASH_TAG, UNSUBSCRIBES_TAG})


class Address(NamedTuple):
    """A postal address, in the order of vCard's ADR property."""

    pobox: str = ""
    extended: str = ""
    street: str = ""
    locality: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""

    def is_empty(self) -> bool:
        return not any(part.strip() for part in self)

    def label(self) -> str:
        parts = [self.pobox, self.extended, self.street, self.locality, self.region]
        parts += [self.postcode, self.country]
        return ", ".join(p for p in parts if p)


class Item(NamedTuple):
    """One value of a multi-valued field: ``kind`` is home, work, mobile, fax, other, ..."""

    kind: str
    value: str | Address


Value = str | tuple[Item, ...]

KINDS = ("home", "work", "mobile", "fax", "pager", "main", "other")


class FieldType(enum.StrEnum):
    """What a field holds; decides which fields may be mapped to each other."""

    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    DATE = "date"
    URL = "url"
    ADDRESS = "address"
    NUMBER = "number"
    DROPDOWN = "dropdown"
    RADIO = "radio"
    CHECKBOX = "checkbox"


ENUMERATED_TYPES = frozenset({FieldType.DROPDOWN, FieldType.RADIO, FieldType.CHECKBOX})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an app's contact schema."""

    key: str
    label: str
    type: FieldType = FieldType.TEXT
    multi: bool = False
    required: bool = False
    read_only: bool = False
    custom: bool = False
    options: tuple[str, ...] = ()

    def empty(self) -> Value:
        return () if self.multi else ""


@dataclass(frozen=True, slots=True)
class AppSchema:
    """The contact fields an app (or one account of it) offers, by key."""

    fields: Mapping[str, FieldSpec]

    @classmethod
    def of(cls, *specs: FieldSpec) -> AppSchema:
        return cls({spec.key: spec for spec in specs})

    def __getitem__(self, key: str) -> FieldSpec:
        return self.fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self.fields

    def required(self) -> list[FieldSpec]:
        return [spec for spec in self.fields.values() if spec.required]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an app can do, which decides the options the engine and the wizard offer."""

    tags: bool = True
    tag_noun: str = "tag"  # what the app calls a tag: category, group, list, ...
    deletions: bool = True  # deletions can be detected
    unsubscribes: bool = False  # the app reports contacts who opted out of email
    custom_fields: bool = False
    delta: bool = False  # changes come as a delta, not as a full listing
    batch_size: int = 100
    # Locations of one account share their contacts (Google labels, HubSpot lists), where
    # folders and address books hold contacts of their own.
    shared_locations: bool = False


@dataclass(slots=True)
class Record:
    """One contact as an app holds it, translated to the app's schema keys."""

    id: str
    fields: dict[str, Value] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    version: str | None = None
    unsubscribed: bool = False
    create_key: str | None = None  # the key the engine gave this record when it created it
    raw: Any = None  # the app's own payload, for connectors that need it to update

    def get(self, key: str) -> Value:
        return self.fields.get(key, "")

    def text(self, key: str) -> str:
        value = self.fields.get(key, "")
        return value if isinstance(value, str) else ""

    def first(self, key: str) -> str:
        """The first value of a multi-valued field (or the value of a single one)."""
        value = self.fields.get(key, "")
        if isinstance(value, str):
            return value
        for item in value:
            text = item.value if isinstance(item.value, str) else item.value.label()
            if text.strip():
                return text
        return ""

    def display_name(self) -> str:
        name = self.text("full_name").strip()
        if not name:
            parts = (self.text("given_name"), self.text("middle_name"), self.text("family_name"))
            name = " ".join(p.strip() for p in parts if p.strip())
        return name or self.text("company") or self.first("emails")


def is_empty(value: Value | None) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return all(
        (not item.value.strip()) if isinstance(item.value, str) else item.value.is_empty()
        for item in value
    )


def from_json(data: Any) -> Value:
    """A value back from its JSON form (``json`` writes tuples and NamedTuples as lists)."""
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return tuple(
        Item(kind, Address(*value) if isinstance(value, list) else value) for kind, value in data
    )


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A record the connector found but could not read (a broken file, a malformed payload)."""

    id: str
    reason: str
    name: str = ""
    gone: bool = False  # it no longer exists (deleted since it was listed)


@dataclass(frozen=True, slots=True)
class RecordNote:
    """Something Health should say about a record that still syncs (a UID shared by two files)."""

    id: str
    note: str


@dataclass(slots=True)
class Changes:
    """What changed on one side since the cursor a connector was given.

    Deleted records are named in ``deleted``; when the engine passed no cursor, the listing is
    complete and an id it knew that is not listed was deleted too. ``records`` may be an
    iterator, read once (a connector may read records as they are consumed): ``failures`` and
    ``notes`` are complete once it is exhausted.
    """

    records: Iterable[Record] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[ReadFailure] = field(default_factory=list)
    notes: list[RecordNote] = field(default_factory=list)
    total: int = 0  # how many records the side holds now, readable or not


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A contact to create. The connector must keep ``create_key`` with the record (the vCard UID,
    an extended property, ...) so that a later listing shows it as ``Record.create_key``."""

    create_key: str
    fields: dict[str, Value]
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RecordUpdate:
    """A change to an existing contact: only the fields named change; ``""``/``()`` clears one."""

    id: str
    fields: dict[str, Value] = field(default_factory=dict)
    add_tags: frozenset[str] = frozenset()
    remove_tags: frozenset[str] = frozenset()
    version: str | None = None  # the version the engine read; None: the connector's own last view


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one create or update. ``key`` is the create key or the record id."""

    key: str
    id: str | None = None
    error: str | None = None
    conflict: bool = False  # the record changed since it was read; it is read again next run
    record: Record | None = None  # what the app holds now, when the connector knows it
