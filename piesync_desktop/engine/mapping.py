"""Field mappings: which field of one app feeds which field of the other, and how values convert.

A connection has a list of :class:`MappingSpec` (the default mapping, toggles, custom mappings).
At run time a :class:`Projector` turns a record of either side into *slot* values in a common
space, one slot per mapped value, and turns merged slot values back into field writes. The planner
only ever compares slots, so a three-way, field-level merge works the same for every app pair:

- a plain field mapping has one slot; multi-value to single-value carries the first value;
- the name join/split has two slots (given, family), so when only the last part of a full name
  changed, only the family name is written on the other side;
- the tag mapping has one set-valued slot merged element by element.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.model import (
    ENUMERATED_TYPES,
    SYSTEM_TAGS,
    Address,
    AppSchema,
    FieldSpec,
    FieldType,
    Item,
    Record,
    Value,
    from_json,
    is_empty,
)

NAME_PARTS = "name_parts"  # the pseudo-field of a NAME mapping on the side with given/family names
TAGS = "tags"

# Which field types may feed each other (both ways); a text field takes almost anything.
_COMPATIBLE: dict[FieldType, frozenset[FieldType]] = {
    FieldType.TEXT: frozenset(FieldType) - {FieldType.ADDRESS},
    FieldType.EMAIL: frozenset({FieldType.EMAIL, FieldType.TEXT}),
    FieldType.PHONE: frozenset({FieldType.PHONE, FieldType.TEXT}),
    FieldType.URL: frozenset({FieldType.URL, FieldType.TEXT}),
    FieldType.DATE: frozenset({FieldType.DATE, FieldType.TEXT}),
    FieldType.NUMBER: frozenset({FieldType.NUMBER, FieldType.TEXT}),
    FieldType.ADDRESS: frozenset({FieldType.ADDRESS}),
    FieldType.DROPDOWN: frozenset({FieldType.TEXT}),
    FieldType.RADIO: frozenset({FieldType.TEXT}),
    FieldType.CHECKBOX: frozenset({FieldType.TEXT}),
}


class MappingKind(enum.StrEnum):
    """What a mapping joins: two fields, the name parts with a full name, or the tags."""

    FIELD = "field"
    NAME = "name"  # given/family names on one side, one full-name field on the other
    TAGS = "tags"


@dataclass(frozen=True, slots=True)
class MappingSpec:
    """One row of a connection's mapping table, as the person sees and toggles it."""

    a_field: str
    b_field: str
    kind: MappingKind = MappingKind.FIELD
    enabled: bool = True
    custom: bool = False
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.kind.value}:{self.a_field}={self.b_field}")


class IncompatibleFields(ConfigError):
    """A custom mapping the engine refuses, with the article's wording and the reason."""

    title = "Fields not compatible"


def incompatibility(a: FieldSpec, b: FieldSpec) -> str | None:
    """Why ``a`` and ``b`` cannot be mapped, or None when they can."""
    if a.type in ENUMERATED_TYPES and b.type in ENUMERATED_TYPES:
        return (
            f"{a.label} and {b.label} are both {a.type.value}/{b.type.value} fields, each with its "
            "own predefined values; two dropdown, radio button or checkbox fields never map."
        )
    if b.type not in _COMPATIBLE[a.type]:
        return (
            f"{_article(a.type.value)} {a.type.value} field cannot hold "
            f"{_article(b.type.value)} {b.type.value} value and back."
        )
    if a.read_only and b.read_only:
        return "both fields are read-only, so nothing could ever be written."
    return None


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def check_custom(
    a_schema: AppSchema,
    b_schema: AppSchema,
    a_field: str,
    b_field: str,
    a_app: str = "A",
    b_app: str = "B",
) -> MappingSpec:
    """A custom mapping between two fields, or :class:`IncompatibleFields` saying why not."""
    if a_field not in a_schema:
        raise ConfigError(f"{a_app} has no field '{a_field}'.")
    if b_field not in b_schema:
        raise ConfigError(f"{b_app} has no field '{b_field}'.")
    a, b = a_schema[a_field], b_schema[b_field]
    reason = incompatibility(a, b)
    if reason:
        raise IncompatibleFields(
            f"Field {a.label} is not compatible with field {b.label}: {reason}"
        )
    return MappingSpec(a_field, b_field, MappingKind.FIELD, custom=True)


def default_mappings(
    a_schema: AppSchema, b_schema: AppSchema, a_tags: bool, b_tags: bool
) -> list[MappingSpec]:
    """The built-in mapping between two schemas: same fields, name join/split, tags."""
    specs: list[MappingSpec] = []
    for key, a_spec in a_schema.fields.items():
        b_spec = b_schema.fields.get(key)
        if b_spec is None or a_spec.custom or b_spec.custom:
            continue
        if incompatibility(a_spec, b_spec) is None:
            specs.append(MappingSpec(key, key))
    a_parts = "given_name" in a_schema and "family_name" in a_schema
    b_parts = "given_name" in b_schema and "family_name" in b_schema
    if a_parts and not b_parts and "full_name" in b_schema:
        specs = [s for s in specs if s.a_field != "full_name"]
        specs.append(MappingSpec(NAME_PARTS, "full_name", MappingKind.NAME))
    elif b_parts and not a_parts and "full_name" in a_schema:
        specs = [s for s in specs if s.b_field != "full_name"]
        specs.append(MappingSpec("full_name", NAME_PARTS, MappingKind.NAME))
    if a_tags and b_tags:
        specs.append(MappingSpec(TAGS, TAGS, MappingKind.TAGS))
    return specs


@dataclass(frozen=True, slots=True)
class _Row:
    """One mapping as one side sees it."""

    spec: MappingSpec
    name: str  # the field on this side
    single: bool  # the slot holds one value
    target: FieldSpec | None


@dataclass(frozen=True, slots=True)
class Slot:
    """One value in the common space the planner merges."""

    key: str
    is_set: bool = False  # merged element-wise (tags)


class Projector:
    """Turns records into slot values and merged slot values back into writes, for one connection.

    ``managed_tags`` per side are tags that engine features own there (rule actions); they stay out
    of the tag mapping so that they never flow back to the source.
    """

    def __init__(
        self,
        specs: Sequence[MappingSpec],
        schemas: Mapping[str, AppSchema],
        managed_tags: Mapping[str, set[str]] | None = None,
    ) -> None:
        self.specs = [s for s in specs if s.enabled]
        self.schemas = schemas
        self.managed = {
            side: set(SYSTEM_TAGS) | set((managed_tags or {}).get(side, ())) for side in ("a", "b")
        }
        self.slots: list[Slot] = []
        for spec in self.specs:
            if spec.kind is MappingKind.NAME:
                self.slots += [Slot(f"{spec.key}#given"), Slot(f"{spec.key}#family")]
            else:
                self.slots.append(Slot(spec.key, is_set=spec.kind is MappingKind.TAGS))
        self.set_slots = {slot.key for slot in self.slots if slot.is_set}
        # Per side, what project() and writes() need of each mapping, worked out once.
        self._rows = {
            side: [
                _Row(
                    spec,
                    self.field_of(spec, side),
                    self._single_space(spec),
                    schemas[side].fields.get(self.field_of(spec, side)),
                )
                for spec in self.specs
            ]
            for side in ("a", "b")
        }

    def field_of(self, spec: MappingSpec, side: str) -> str:
        return spec.a_field if side == "a" else spec.b_field

    def _single_space(self, spec: MappingSpec) -> bool:
        """Whether the slot holds one value (either side is single-valued)."""
        a = self.schemas["a"].fields.get(spec.a_field)
        b = self.schemas["b"].fields.get(spec.b_field)
        return not (a is not None and a.multi and b is not None and b.multi)

    def project(self, side: str, record: Record) -> dict[str, Any]:
        values: dict[str, Any] = {}
        fields = record.fields
        for row in self._rows[side]:
            kind = row.spec.kind
            if kind is MappingKind.FIELD:
                # An absent field is empty in the slot's own form: a slot of several values
                # that is emptied must empty the other side too, not lose one value of it.
                value = clean(fields.get(row.name, "" if row.single else ()))
                if row.single and value.__class__ is not str:
                    value = record.first(row.name).strip()
                values[row.spec.key] = value
            elif kind is MappingKind.TAGS:
                values[row.spec.key] = tuple(sorted(record.tags - self.managed[side]))
            else:
                given, family = self._name_of(record, row.name)
                values[f"{row.spec.key}#given"] = given
                values[f"{row.spec.key}#family"] = family
        return values

    def writes(
        self,
        side: str,
        merged: Mapping[str, Any],
        current: Mapping[str, Any],
        record: Record | None,
    ) -> tuple[dict[str, Value], set[str], set[str]]:
        """Field values and tag changes that bring ``side`` from ``current`` to ``merged``.

        ``record`` is what the side holds now (None for a contact about to be created).
        """
        fields: dict[str, Value] = {}
        add: set[str] = set()
        remove: set[str] = set()
        schema = self.schemas[side]
        for row in self._rows[side]:
            spec, name = row.spec, row.name
            if spec.kind is MappingKind.TAGS:
                new, old = set(merged[spec.key]), set(current.get(spec.key, ()))
                add |= new - old
                remove |= old - new
                continue
            if spec.kind is MappingKind.NAME:
                keys = (f"{spec.key}#given", f"{spec.key}#family")
                new = (merged[keys[0]], merged[keys[1]])
                old = (current.get(keys[0]), current.get(keys[1]))
                if new != old:
                    fields.update(self._name_writes(schema, name, new, old, record))
                continue
            value, now = merged[spec.key], current.get(spec.key)
            if value == now or (is_empty(value) and is_empty(now)):
                continue
            target = row.target
            if target is None or target.read_only:
                continue
            if target.multi and isinstance(value, str):
                fields[name] = _replace_first(record.get(name) if record else (), value, target)
            elif not target.multi and not isinstance(value, str):
                fields[name] = _first_text(value)
            else:
                fields[name] = value
        return fields, add, remove

    @staticmethod
    def _name_of(record: Record, name: str) -> tuple[str, str]:
        if name == NAME_PARTS:
            given = " ".join(
                p
                for p in (record.text("given_name").strip(), record.text("middle_name").strip())
                if p
            )
            return given, record.text("family_name").strip()
        from nameparser import HumanName  # 30 ms to import: only name join/split needs it

        parsed = HumanName(record.text(name).strip())
        given = " ".join(p for p in (parsed.first, parsed.middle) if p)
        return given, parsed.last

    @staticmethod
    def _name_writes(
        schema: AppSchema,
        name: str,
        new: tuple[str, str],
        old: tuple[Any, Any],
        record: Record | None,
    ) -> dict[str, Value]:
        """Writes for a changed name; only the part that changed is written on a parts side."""
        given, family = new
        if name != NAME_PARTS:
            from nameparser import HumanName

            parsed = HumanName(record.text(name) if record else "")
            parsed.first, parsed.middle, parsed.last = given, "", family
            return {name: " ".join(str(parsed).split())}
        out: dict[str, Value] = {}
        if family != old[1]:
            out["family_name"] = family
        if given != old[0]:
            has_middle = record is not None and bool(record.text("middle_name").strip())
            if "middle_name" in schema and has_middle:
                first, _, middle = given.partition(" ")
                out["given_name"], out["middle_name"] = first, middle
            else:
                out["given_name"] = given
        if "full_name" in schema:
            out["full_name"] = " ".join(p for p in (given, family) if p)
        return out

    def encode(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Slot values as the store keeps them: JSON writes tuples and NamedTuples as lists."""
        return dict(values)

    def decode(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            key: (tuple(value) if key in self.set_slots else from_json(value))
            for key, value in data.items()
        }


def clean(value: Value) -> Value:
    """The comparable form of a value: trimmed text, no empty items."""
    if value.__class__ is str:
        return value.strip()  # type: ignore[union-attr]
    for item in value:  # connectors mostly deliver clean items: then there is nothing to build
        text = item.value
        if text.__class__ is not str or not text or text[0].isspace() or text[-1].isspace():
            break
    else:
        return value
    items: list[Item] = []
    for item in value:
        if isinstance(item.value, Address):
            address = Address(*(part.strip() for part in item.value))
            if not address.is_empty():
                items.append(Item(item.kind, address))
        elif item.value.strip():
            items.append(Item(item.kind, item.value.strip()))
    return tuple(items)


def _first_text(value: Iterable[Item]) -> str:
    for item in value:
        return item.value.label() if isinstance(item.value, Address) else item.value
    return ""


def _replace_first(items: Value, value: str, target: FieldSpec) -> tuple[Item, ...]:
    existing = [item for item in clean(items)] if not isinstance(items, str) else []
    if not value:
        return tuple(existing[1:])
    if target.type is FieldType.ADDRESS:
        raise ValueError("a text value cannot replace an address")  # refused by the check
    if existing:
        return (Item(existing[0].kind, value), *existing[1:])
    return (Item("other", value),)
