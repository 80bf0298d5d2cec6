"""The read model behind Health: counts, the contact lists, actions, failure reasons, timeline.

It only reads the store, so the window can call it from a worker and the CLI prints it as JSON.
Contacts that exist only in the target of a one-way connection are not listed, as in PieSync.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from piesync_desktop.engine.connection import ConnectionSettings, Direction
from piesync_desktop.engine.connectors.base import catalogue
from piesync_desktop.engine.store import TRASH_KEPT, UPDATE_ACTIONS, RecordState, Store

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


ContactKey = tuple[str, str, str]  # (name, id, side): the sort key of a listed contact


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
    connection: str = ""
    app: str = ""  # app and location where the contact remains: "vCard folder (/home/me/work)"
    deleted_app: str = ""  # app and location where it was deleted
    decision: str | None = None  # a TrashDecision the next sync carries out


def connection_id(store: Store, name: str) -> int:
    """The id of connection ``name`` (one indexed lookup, for paged reads that ask often)."""
    row = store.db.execute("SELECT id FROM connections WHERE name = ?", (name,)).fetchone()
    if row is None:
        store.connection(name)  # raises the ConfigError that names the connections there are
    return int(row[0])


def hidden_side(store: Store, connection_id: int) -> str | None:
    """The target of a one-way connection: its contacts that exist only there are not listed."""
    row = store.db.execute(
        "SELECT direction FROM connections WHERE id = ?", (connection_id,)
    ).fetchone()
    if row is None or row[0] == Direction.TWO_WAY:
        return None
    return "b" if row[0] == Direction.A_TO_B else "a"


def _shown(
    store: Store, connection_id: int, alias: str = "r", state: str | None = None
) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) that keeps a record of the index listable.

    Listed states only (or the one ``state``, if it is listed), and in a one-way connection no
    record of the target that is paired with nothing (only in the target: pending, but also its
    own duplicates and contacts without email).
    """
    # One state is spelled as one value, so the state index can seek it.
    states = LISTED_STATES if state is None else [s for s in LISTED_STATES if s == state]
    sql = f"{alias}.state IN ({','.join('?' * len(states))})" if states else "0"
    params: list[Any] = [*states]
    hidden = hidden_side(store, connection_id)
    if hidden is not None:
        sql += f" AND NOT ({alias}.side = ? AND {alias}.link_id IS NULL)"
        params.append(hidden)
    return sql, params


def counts(store: Store, connection_id: int) -> dict[str, int]:
    shown, params = _shown(store, connection_id)
    if hidden_side(store, connection_id) is not None:
        # One-way needs link_id, which the name index holds: one pass over it, grouped apart.
        table, groups = "records r INDEXED BY records_name", "r.state"
    else:
        # Two-way, the state index answers in its own order (no grouping table to build).
        table, groups = "records r INDEXED BY records_state", "r.side, r.state"
    totals: dict[str, int] = {}
    for row in store.db.execute(
        f"SELECT r.state, COUNT(*) FROM {table} WHERE r.connection_id = ? AND {shown} "
        f"GROUP BY {groups}",
        (connection_id, *params),
    ):
        totals[row[0]] = totals.get(row[0], 0) + row[1]
    return {name: totals.get(state, 0) for state, name in COUNT_NAMES.items()}


# A search matching at least this many records of the store lists its first page by reading
# the name index in order and keeping the matches (about LIMIT * records / matches rows read);
# a narrower one reads its matches and sorts them (one lookup per match).
MANY_MATCHES = 5_000


def contacts(
    store: Store,
    connection_id: int,
    state: str | None = None,
    search: str = "",
    limit: int = 1000,
    offset: int = 0,
    reason: str | None = None,
    after: ContactKey | None = None,
) -> list[ContactStatus]:
    """A page of listed contacts: optionally one state, the failing contacts of one failure
    reason, or a search on name, email or id; ordered by name.

    ``after`` (the :func:`page_key` of the last contact of the previous page) pages on at the
    cost of the first page, where ``offset`` costs more the further it goes.
    """
    where, params = _contact_filter(store, connection_id, state, reason)
    match = fts_query(search) if search.strip() else None
    if match is not None and not matches_many(store, match):
        tables = "records_fts f CROSS JOIN records r ON r.rowid = f.rowid"
        where = f"records_fts MATCH ? AND {where}"
        params.insert(0, match)
    else:
        tables = "records r INDEXED BY records_name"
        if match is not None:
            where += " AND r.rowid IN (SELECT rowid FROM records_fts WHERE records_fts MATCH ?)"
            params.append(match)
    if after is not None:
        # The first term lets the name index start at the page; the second is the exact bound.
        where += (
            " AND r.name COLLATE NOCASE >= ? AND (r.name COLLATE NOCASE, r.rid, r.side) > (?, ?, ?)"
        )
        params += [after[0], *after]
    sql = (
        "SELECT r.side, r.rid, r.name, r.email, r.state, "
        "CASE WHEN r.note != '' AND r.reason = '' THEN r.note ELSE r.reason END "
        f"FROM {tables} WHERE {where} "
        "ORDER BY r.name COLLATE NOCASE, r.rid, r.side LIMIT ? OFFSET ?"
    )
    return [ContactStatus(*row) for row in store.db.execute(sql, [*params, limit, offset])]


def page_key(contact: ContactStatus) -> ContactKey:
    """Where the page after ``contact`` starts (see ``after`` in :func:`contacts`)."""
    return (contact.name, contact.id, contact.side)


def count_contacts(
    store: Store,
    connection_id: int,
    state: str | None = None,
    search: str = "",
    reason: str | None = None,
) -> int:
    """How many contacts :func:`contacts` lists with the same filters, over all pages."""
    where, params = _contact_filter(store, connection_id, state, reason)
    if search.strip():
        # Counting has no order to keep: reading the matches is the short way, however many.
        tables = "records_fts f CROSS JOIN records r ON r.rowid = f.rowid"
        where = f"records_fts MATCH ? AND {where}"
        params.insert(0, fts_query(search))
    elif hidden_side(store, connection_id) is None:
        # The state index holds what the filters test (but a reason), and is the smallest.
        tables = "records r INDEXED BY records_state"
        where += " AND r.side IN ('a', 'b')"
    else:
        # One-way tests the link too, which the name index holds (smaller than the table).
        tables = "records r INDEXED BY records_name"
    return int(
        store.db.execute(f"SELECT COUNT(*) FROM {tables} WHERE {where}", params).fetchone()[0]
    )


def _contact_filter(
    store: Store, connection_id: int, state: str | None, reason: str | None
) -> tuple[str, list[Any]]:
    """(where, parameters) on the records (alias ``r``) shared by :func:`contacts` and
    :func:`count_contacts`: the connection, the listed records, a state or failure reason."""
    if reason is not None:
        state = RecordState.FAILING
    shown, shown_params = _shown(store, connection_id, state=state or None)
    where = ["r.connection_id = ?", shown]
    params: list[Any] = [connection_id, *shown_params]
    if reason is not None:
        where.append("r.reason = ?")
        params.append(reason)
    return " AND ".join(where), params


def matches_many(store: Store, match: str) -> bool:
    """Whether the FTS query ``match`` finds at least :data:`MANY_MATCHES` records (of any
    connection); it stops counting there, and the prefix index makes one letter cheap."""
    row = store.db.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM records_fts WHERE records_fts MATCH ? LIMIT ?)",
        (match, MANY_MATCHES),
    ).fetchone()
    return int(row[0]) >= MANY_MATCHES


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
    shown, params = _shown(store, connection_id, state=RecordState.FAILING)
    rows = store.db.execute(
        f"""SELECT r.reason, COUNT(*) FROM records r INDEXED BY records_state
            WHERE r.connection_id = ? AND r.side IN ('a', 'b') AND {shown}
            GROUP BY r.reason ORDER BY COUNT(*) DESC, r.reason""",
        (connection_id, *params),
    )
    return [{"reason": reason, "count": count} for reason, count in rows]


def _activity_shown(store: Store, connection_id: int) -> tuple[str, list[Any]]:
    """The SQL condition keeping a timeline row (alias ``t``) of a contact Health lists.

    In a one-way connection a row of the target is kept when it tells of a paired contact: in
    sync, deleted (only paired contacts get that row), or a contact paired now.
    """
    sql = "t.state != ?"
    params: list[Any] = [RecordState.PENDING]
    hidden = hidden_side(store, connection_id)
    if hidden is not None:
        sql += """ AND (t.side != ? OR t.state IN (?, 'deleted') OR EXISTS (
            SELECT 1 FROM records r WHERE r.connection_id = t.connection_id AND r.side = t.side
            AND r.rid = t.rid AND r.link_id IS NOT NULL))"""
        params += [hidden, RecordState.IN_SYNC]
    return sql, params


def timeline(
    store: Store, connection_id: int, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """The contacts the runs processed, most recent first (``offset`` pages further back)."""
    shown, params = _activity_shown(store, connection_id)
    rows = store.db.execute(
        f"""SELECT t.at, t.side, t.rid, t.name, t.email, t.state, t.action, t.detail
            FROM activity t WHERE t.connection_id = ? AND {shown}
            ORDER BY t.id DESC LIMIT ? OFFSET ?""",
        (connection_id, *params, limit, offset),
    )
    keys = ("at", "side", "id", "name", "email", "state", "action", "detail")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _action_rows(store: Store, connection_id: int, side: str, action: str) -> tuple[str, list[Any]]:
    """The query of the distinct contacts behind an action figure, latest action first.

    An update is any timeline action the run summaries count as one: fields written, and the
    'PieSync Trash' tag set on a contact whose counterpart was deleted.
    """
    if action not in ("created", "updated"):
        raise ValueError(f"unknown action {action!r} (created or updated)")
    actions = UPDATE_ACTIONS if action == "updated" else (action,)
    shown, params = _activity_shown(store, connection_id)
    sql = f"""SELECT t.side, t.rid, MAX(t.id) AS last FROM activity t
              WHERE t.connection_id = ? AND t.side = ?
              AND t.action IN ({",".join("?" * len(actions))}) AND {shown}
              GROUP BY t.rid"""
    return sql, [connection_id, side, *actions, *params]


def action_contacts(
    store: Store,
    connection_id: int,
    side: str,
    action: str,
    limit: int = 1000,
    offset: int = 0,
) -> list[ContactStatus]:
    """The contacts ``created`` or ``updated`` in ``side`` by the runs, most recent first.

    Read from the timeline (which keeps the latest rows only), each contact once, with its
    state now (or as the timeline last saw it, if it is gone from the app since).
    """
    actions_sql, params = _action_rows(store, connection_id, side, action)
    rows = store.db.execute(
        f"""SELECT x.side, x.rid, COALESCE(r.name, t.name), COALESCE(r.email, t.email),
            COALESCE(r.state, t.state), COALESCE(
              CASE WHEN r.note != '' AND r.reason = '' THEN r.note ELSE r.reason END, t.detail)
            FROM ({actions_sql} ORDER BY last DESC LIMIT ? OFFSET ?) x
            JOIN activity t ON t.id = x.last
            LEFT JOIN records r ON r.connection_id = ? AND r.side = x.side AND r.rid = x.rid
            ORDER BY x.last DESC""",
        (*params, limit, offset, connection_id),
    )
    return [ContactStatus(*row) for row in rows]


def count_action_contacts(store: Store, connection_id: int, side: str, action: str) -> int:
    """How many distinct contacts :func:`action_contacts` lists, over all pages."""
    actions_sql, params = _action_rows(store, connection_id, side, action)
    return int(store.db.execute(f"SELECT COUNT(*) FROM ({actions_sql})", params).fetchone()[0])


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
    """The contacts of one connection whose counterpart was deleted, most recent first."""
    return _trash_candidates(store, "l.connection_id = ?", [connection_id])


def all_trash(store: Store, limit: int | None = None, offset: int = 0) -> list[TrashCandidate]:
    """Trash review: every connection's contacts whose counterpart was deleted, still there and
    not kept yet, most recent deletion first (a page of them with ``limit``)."""
    return _trash_candidates(store, "1", [], limit, offset)


def app_label(spec: str) -> str:
    """How a sync run names a side: ``vcard:/home/me/work`` is "vCard folder (/home/me/work)"."""
    key, _, location = spec.partition(":")
    name = next((info.name for info in catalogue() if info.key == key), key)
    return f"{name} ({location})"


def _trash_candidates(
    store: Store, where: str, params: list[Any], limit: int | None = None, offset: int = 0
) -> list[TrashCandidate]:
    # Only survivors still indexed: one deleted since is no longer anything to review.
    rows = store.db.execute(
        f"""SELECT l.deleted_side, CASE l.deleted_side WHEN 'a' THEN l.b_id ELSE l.a_id END,
           l.deleted_at, l.trash_tagged, l.trash_decision, r.name, r.email, c.name, c.a_spec,
           c.b_spec FROM links l
           JOIN connections c ON c.id = l.connection_id
           JOIN records r ON r.connection_id = l.connection_id
             AND r.side = CASE l.deleted_side WHEN 'a' THEN 'b' ELSE 'a' END
             AND r.rid = CASE l.deleted_side WHEN 'a' THEN l.b_id ELSE l.a_id END
           WHERE {where} AND l.deleted_side IS NOT NULL
             AND (l.trash_decision IS NULL OR l.trash_decision != ?)
           ORDER BY l.deleted_at DESC, l.connection_id, l.id LIMIT ? OFFSET ?""",
        [*params, TRASH_KEPT, -1 if limit is None else limit, offset],
    )
    labels: dict[str, str] = {}
    out = []
    for deleted, rid, at, tagged, decision, name, email, connection, a_spec, b_spec in rows:
        side = "b" if deleted == "a" else "a"
        specs = {"a": a_spec, "b": b_spec}
        for spec in specs.values():
            if spec not in labels:
                labels[spec] = app_label(spec)
        out.append(
            TrashCandidate(
                side,
                rid,
                name or rid,
                email or "",
                deleted,
                at or 0.0,
                bool(tagged),
                connection,
                labels[specs[side]],
                labels[specs[deleted]],
                decision,
            )
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
