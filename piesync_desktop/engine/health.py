"""The read model behind Health: counts, the contact lists, actions, failure reasons, timeline.

It only reads the store, so the window can call it from a worker and the CLI prints it as JSON.
Contacts that exist only in the target of a one-way connection are not listed, as in PieSync.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from piesync_desktop.engine.connection import ConnectionSettings
from piesync_desktop.engine.store import RecordState, Store

LISTED_STATES = (
    RecordState.IN_SYNC,
    RecordState.EXCLUDED,
    RecordState.DUPLICATE,
    RecordState.FAILING,
)
COUNT_NAMES = {
    RecordState.IN_SYNC: "in_sync",
    RecordState.EXCLUDED: "excluded",
    RecordState.DUPLICATE: "duplicates",
    RecordState.FAILING: "failing",
}


@dataclass(frozen=True, slots=True)
class ContactStatus:
    """One contact of one side as Health lists it."""

    side: str
    id: str
    name: str
    email: str
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class TrashCandidate:
    """A contact tagged (or to be reviewed) because its counterpart was deleted."""

    side: str  # where the remaining contact is
    id: str
    name: str
    email: str
    deleted_in: str  # the side where the person deleted it
    deleted_at: float
    tagged: bool


def counts(store: Store, connection_id: int) -> dict[str, int]:
    rows = dict(
        store.db.execute(
            "SELECT state, COUNT(*) FROM records WHERE connection_id = ? GROUP BY state",
            (connection_id,),
        ).fetchall()
    )
    return {name: rows.get(state, 0) for state, name in COUNT_NAMES.items()}


def contacts(
    store: Store,
    connection_id: int,
    state: str | None = None,
    search: str = "",
    limit: int = 1000,
    offset: int = 0,
) -> list[ContactStatus]:
    """A page of listed contacts, optionally one state or a search on name, email or id."""
    sql = (
        "SELECT r.side, r.rid, r.name, r.email, r.state, "
        "CASE WHEN r.note != '' AND r.reason = '' THEN r.note ELSE r.reason END "
        "FROM records r"
    )
    where = ["r.connection_id = ?", f"r.state IN ({','.join('?' * len(LISTED_STATES))})"]
    params: list[Any] = [connection_id, *LISTED_STATES]
    if search.strip():
        sql += " JOIN records_fts f ON f.rowid = r.rowid"
        where.append("records_fts MATCH ?")
        params.append(fts_query(search))
    if state:
        where.append("r.state = ?")
        params.append(state)
    sql += " WHERE " + " AND ".join(where) + " ORDER BY r.name COLLATE NOCASE, r.rid"
    sql += " LIMIT ? OFFSET ?"
    params += [limit, offset]
    return [ContactStatus(*row) for row in store.db.execute(sql, params)]


def fts_query(text: str) -> str:
    """Every word of the search as a prefix, all required (names, emails and ids)."""
    words = [w for w in re.split(r"[^\w]+", text) if w]
    return " AND ".join(f'"{w}"*' for w in words) or '""'


def actions(store: Store, connection_id: int) -> dict[str, dict[str, int]]:
    row = store.db.execute(
        """SELECT COALESCE(SUM(created_a), 0), COALESCE(SUM(updated_a), 0),
           COALESCE(SUM(created_b), 0), COALESCE(SUM(updated_b), 0)
           FROM runs WHERE connection_id = ?""",
        (connection_id,),
    ).fetchone()
    return {
        "a": {"created": row[0], "updated": row[1]},
        "b": {"created": row[2], "updated": row[3]},
    }


def failure_reasons(store: Store, connection_id: int) -> list[dict[str, Any]]:
    rows = store.db.execute(
        """SELECT reason, COUNT(*) FROM records WHERE connection_id = ? AND state = ?
           GROUP BY reason ORDER BY COUNT(*) DESC, reason""",
        (connection_id, RecordState.FAILING),
    )
    return [{"reason": reason, "count": count} for reason, count in rows]


def timeline(store: Store, connection_id: int, limit: int = 100) -> list[dict[str, Any]]:
    rows = store.db.execute(
        """SELECT at, side, rid, name, email, state, action, detail FROM activity
           WHERE connection_id = ? ORDER BY id DESC LIMIT ?""",
        (connection_id, limit),
    )
    keys = ("at", "side", "id", "name", "email", "state", "action", "detail")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def last_run(store: Store, connection_id: int) -> dict[str, Any] | None:
    row = store.db.execute(
        """SELECT started_at, finished_at, status, message FROM runs WHERE connection_id = ?
           ORDER BY id DESC LIMIT 1""",
        (connection_id,),
    ).fetchone()
    if row is None:
        return None
    return dict(zip(("started_at", "finished_at", "status", "message"), row, strict=True))


def trash(store: Store, connection_id: int) -> list[TrashCandidate]:
    rows = store.db.execute(
        """SELECT l.deleted_side, l.a_id, l.b_id, l.deleted_at, l.trash_tagged,
           r.name, r.email FROM links l
           LEFT JOIN records r ON r.connection_id = l.connection_id
             AND r.side = CASE l.deleted_side WHEN 'a' THEN 'b' ELSE 'a' END
             AND r.rid = CASE l.deleted_side WHEN 'a' THEN l.b_id ELSE l.a_id END
           WHERE l.connection_id = ? AND l.deleted_side IS NOT NULL
           ORDER BY l.deleted_at DESC""",
        (connection_id,),
    )
    out = []
    for deleted, a_id, b_id, at, tagged, name, email in rows:
        side = "b" if deleted == "a" else "a"
        rid = b_id if side == "b" else a_id
        if rid is None:
            continue
        out.append(
            TrashCandidate(side, rid, name or rid, email or "", deleted, at or 0.0, bool(tagged))
        )
    return out


def report(
    store: Store, settings: ConnectionSettings, search: str = "", limit: int = 1000
) -> dict[str, Any]:
    """Everything Health shows for one connection, as plain data (what ``health --json`` prints)."""
    cid = settings.id or 0
    return {
        "connection": settings.name,
        "direction": settings.direction.value,
        **counts(store, cid),
        "contacts": [asdict(c) for c in contacts(store, cid, search=search, limit=limit)],
        "actions": actions(store, cid),
        "failure_reasons": failure_reasons(store, cid),
        "timeline": timeline(store, cid),
        "last_run": last_run(store, cid),
    }
