"""An in-memory app for engine tests: any schema, unsubscribes, required fields, injected faults.

It follows the connector contract to the letter (versions, conflicts, cursors, create keys), so the
engine's behaviour can be proven on schemas the vCard folder does not have.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

from piesync_desktop.engine.connectors.base import AppInfo, Cursor
from piesync_desktop.engine.model import (
    AppSchema,
    Capabilities,
    Changes,
    FieldSpec,
    FieldType,
    NewRecord,
    ReadFailure,
    Record,
    RecordUpdate,
    WriteResult,
)

CRM_SCHEMA = AppSchema.of(
    FieldSpec("full_name", "Name"),
    FieldSpec("emails", "Email", FieldType.EMAIL),
    FieldSpec("phones", "Phone", FieldType.PHONE),
    FieldSpec("company", "Company name"),
    FieldSpec("title", "Job title"),
    FieldSpec(
        "lifecycle",
        "Lifecycle stage",
        FieldType.DROPDOWN,
        custom=True,
        options=("lead", "customer"),
    ),
    FieldSpec("source", "Lead source", FieldType.RADIO, custom=True, options=("web", "event")),
    FieldSpec("nickname_note", "Note", custom=True),
)


class CrashAfter(Exception):
    """Stands for the process dying in the middle of a run."""


class MemoryApp:
    """The app's data, shared by the connectors opened on it (as a server would be)."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self._ids = itertools.count(1)
        self._versions = itertools.count(1)

    def put(self, record: Record) -> Record:
        stored = replace(record, version=str(next(self._versions)))
        self.records[stored.id] = stored
        return stored

    def add(self, **fields: object) -> Record:
        tags = frozenset(fields.pop("tags", ()))  # type: ignore[arg-type]
        unsubscribed = bool(fields.pop("unsubscribed", False))
        rid = f"m{next(self._ids)}"
        return self.put(Record(rid, dict(fields), tags, unsubscribed=unsubscribed))  # type: ignore[arg-type]

    def new_id(self) -> str:
        return f"m{next(self._ids)}"


class MemoryConnector:
    """A connector over a :class:`MemoryApp`."""

    app = AppInfo(
        "memory",
        "Memory CRM",
        "for tests",
        Capabilities(
            tags=True, tag_noun="list", unsubscribes=True, custom_fields=True, batch_size=3
        ),
    )

    def __init__(
        self,
        data: MemoryApp,
        schema: AppSchema = CRM_SCHEMA,
        key: str = "mem",
        capabilities: Capabilities | None = None,
    ) -> None:
        self.data = data
        self._schema = schema
        self._key = key
        if capabilities is not None:
            self.app = replace(self.app, capabilities=capabilities)
        self.reject: Callable[[dict], str | None] = lambda fields: None
        self.crash_after_writes: int | None = None
        self.writes = 0
        self.empty_listing = False
        self._seen: dict[str, str] = {}

    @property
    def location(self) -> str:
        return self._key

    @property
    def account_key(self) -> str:
        return f"memory:{self._key}"

    def open(self, cursor: Cursor | None = None) -> None:
        pass

    def schema(self) -> AppSchema:
        return self._schema

    def changes(self, cursor: Cursor | None) -> Changes:
        known: dict[str, str] = dict(cursor or {})
        current = {} if self.empty_listing else self.data.records
        changed = [r for rid, r in current.items() if known.get(rid) != r.version]
        self._seen = {rid: r.version or "" for rid, r in current.items()}
        return Changes(
            records=changed,
            deleted=[rid for rid in known if rid not in current],
            total=len(current),
        )

    def get(self, ids: Sequence[str]) -> list[Record | ReadFailure]:
        out: list[Record | ReadFailure] = []
        for rid in ids:
            record = self.data.records.get(rid)
            out.append(record if record else ReadFailure(rid, f"{rid} was removed", gone=True))
            if record:
                self._seen[rid] = record.version or ""
        return out

    def _count_write(self) -> None:
        if self.crash_after_writes is not None and self.writes >= self.crash_after_writes:
            raise CrashAfter(f"crash after {self.writes} writes")
        self.writes += 1

    def create(self, records: Sequence[NewRecord]) -> list[WriteResult]:
        results = []
        for new in records:
            self._count_write()
            problem = self.reject(new.fields)
            if problem:
                results.append(WriteResult(new.create_key, error=problem))
                continue
            stored = self.data.put(
                Record(self.data.new_id(), dict(new.fields), new.tags, create_key=new.create_key)
            )
            self._seen[stored.id] = stored.version or ""
            results.append(WriteResult(new.create_key, stored.id, record=stored))
        return results

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        results = []
        for upd in updates:
            self._count_write()
            record = self.data.records.get(upd.id)
            if record is None:
                results.append(WriteResult(upd.id, error="record was removed"))
                continue
            seen = upd.version or self._seen.get(upd.id)
            if seen != record.version:
                results.append(WriteResult(upd.id, conflict=True, error="changed meanwhile"))
                continue
            fields = {**record.fields, **upd.fields}
            problem = self.reject(fields)
            if problem:
                results.append(WriteResult(upd.id, error=problem))
                continue
            tags = (record.tags | upd.add_tags) - upd.remove_tags
            stored = self.data.put(replace(record, fields=fields, tags=tags))
            self._seen[stored.id] = stored.version or ""
            results.append(WriteResult(upd.id, upd.id, record=stored))
        return results

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        for rid in ids:
            self.data.records.pop(rid, None)
        return [WriteResult(rid, rid) for rid in ids]

    def cursor(self) -> Cursor:
        return dict(self._seen)
