"""The one SQLite file of a profile: settings the person chose and state the engine keeps.

It holds the program's settings (what the Settings dialog saves), accounts (never secrets: those
go to keyring through ``secrets.py``), connections with their mappings and rules, links with the
last-synced value of every mapped slot, the per-side record index Health reads (with FTS5 search),
the activity timeline, failures, run summaries and the journal of creates in flight. WAL mode, one
``sqlite3.Connection`` per thread, the schema version in ``PRAGMA user_version``, each migration
step in one ``BEGIN IMMEDIATE`` transaction, file mode 0600.
"""

from __future__ import annotations

import contextlib
import enum
import json
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from piesync_desktop.engine.connection import (
    ConnectionSettings,
    Direction,
    ShareJob,
    ShareRole,
    Side,
)
from piesync_desktop.engine.errors import ConfigError, SyncError
from piesync_desktop.engine.mapping import MappingKind, MappingSpec
from piesync_desktop.engine.model import TRASH_TAG
from piesync_desktop.engine.rules import rule_from_json, rule_to_json

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        app TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    );
    CREATE TABLE connections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        a_spec TEXT NOT NULL,
        b_spec TEXT NOT NULL,
        a_account INTEGER REFERENCES accounts(id),
        b_account INTEGER REFERENCES accounts(id),
        direction TEXT NOT NULL,
        winner TEXT NOT NULL,
        avoid_duplicates INTEGER NOT NULL,
        sync_deletions INTEGER NOT NULL,
        sync_unsubscribes INTEGER NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE TABLE mappings (
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        a_field TEXT NOT NULL,
        b_field TEXT NOT NULL,
        kind TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        custom INTEGER NOT NULL,
        PRIMARY KEY (connection_id, position)
    );
    CREATE TABLE rules (
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (connection_id, position)
    );
    CREATE TABLE side_state (
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        side TEXT NOT NULL,
        cursor TEXT,
        config_hash TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (connection_id, side)
    );
    CREATE TABLE links (
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        id INTEGER NOT NULL,
        a_id TEXT,
        b_id TEXT,
        base TEXT NOT NULL,
        deleted_side TEXT,
        deleted_at REAL,
        trash_tagged INTEGER NOT NULL DEFAULT 0,
        rule_keys TEXT NOT NULL DEFAULT '[]',
        updated_at REAL NOT NULL,
        PRIMARY KEY (connection_id, id)
    );
    CREATE INDEX links_a ON links(connection_id, a_id);
    CREATE INDEX links_b ON links(connection_id, b_id);
    CREATE INDEX links_untagged ON links(connection_id)
        WHERE deleted_side IS NOT NULL AND trash_tagged = 0;
    CREATE TABLE records (
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        side TEXT NOT NULL,
        rid TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL DEFAULT '',
        email TEXT NOT NULL DEFAULT '',
        match_key TEXT NOT NULL DEFAULT '',
        link_id INTEGER,
        note TEXT NOT NULL DEFAULT '',
        updated_at REAL NOT NULL,
        PRIMARY KEY (connection_id, side, rid)
    );
    CREATE INDEX records_state ON records(connection_id, side, state);
    CREATE INDEX records_key ON records(connection_id, side, match_key);
    CREATE VIRTUAL TABLE records_fts USING fts5(
        name, email, rid, content='records', content_rowid='rowid'
    );
    CREATE TRIGGER records_ai AFTER INSERT ON records BEGIN
        INSERT INTO records_fts(rowid, name, email, rid)
        VALUES (new.rowid, new.name, new.email, new.rid);
    END;
    CREATE TRIGGER records_ad AFTER DELETE ON records BEGIN
        INSERT INTO records_fts(records_fts, rowid, name, email, rid)
        VALUES ('delete', old.rowid, old.name, old.email, old.rid);
    END;
    CREATE TRIGGER records_au AFTER UPDATE OF name, email, rid ON records
    WHEN old.name IS NOT new.name OR old.email IS NOT new.email OR old.rid IS NOT new.rid
    BEGIN
        INSERT INTO records_fts(records_fts, rowid, name, email, rid)
        VALUES ('delete', old.rowid, old.name, old.email, old.rid);
        INSERT INTO records_fts(rowid, name, email, rid)
        VALUES (new.rowid, new.name, new.email, new.rid);
    END;
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        created_a INTEGER NOT NULL DEFAULT 0,
        created_b INTEGER NOT NULL DEFAULT 0,
        updated_a INTEGER NOT NULL DEFAULT 0,
        updated_b INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_connection ON runs(connection_id, id);
    CREATE TABLE activity (
        id INTEGER PRIMARY KEY,
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        run_id INTEGER NOT NULL,
        at REAL NOT NULL,
        side TEXT NOT NULL,
        rid TEXT NOT NULL,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        state TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX activity_connection ON activity(connection_id, id);
    CREATE TABLE failures (
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        side TEXT NOT NULL,
        rid TEXT NOT NULL,
        reason TEXT NOT NULL,
        first_at REAL NOT NULL,
        last_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (connection_id, side, rid)
    );
    CREATE TABLE journal (
        connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        target_side TEXT NOT NULL,
        create_key TEXT NOT NULL,
        source_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (connection_id, target_side, create_key)
    );
    """,
    # 1 -> 2: how often each connection syncs; the person's Trash review decisions.
    """
    ALTER TABLE connections ADD COLUMN interval_minutes INTEGER NOT NULL DEFAULT 5;
    ALTER TABLE links ADD COLUMN trash_decision TEXT;
    ALTER TABLE links ADD COLUMN decided_at REAL;
    """,
    # 2 -> 3: Health's search and lists at 100,000s of contacts. The search index gets a prefix
    # index of one character (a search of one letter reads one list instead of merging every
    # word that starts with it), so it is made again with its triggers and refilled from the
    # records. The contact lists, ordered by name, read the name index in order instead of
    # sorting every record; it holds what their filters test (state; link for one-way).
    """
    DROP TRIGGER records_ai;
    DROP TRIGGER records_ad;
    DROP TRIGGER records_au;
    DROP TABLE records_fts;
    CREATE VIRTUAL TABLE records_fts USING fts5(
        name, email, rid, content='records', content_rowid='rowid', prefix='1'
    );
    CREATE TRIGGER records_ai AFTER INSERT ON records BEGIN
        INSERT INTO records_fts(rowid, name, email, rid)
        VALUES (new.rowid, new.name, new.email, new.rid);
    END;
    CREATE TRIGGER records_ad AFTER DELETE ON records BEGIN
        INSERT INTO records_fts(records_fts, rowid, name, email, rid)
        VALUES ('delete', old.rowid, old.name, old.email, old.rid);
    END;
    CREATE TRIGGER records_au AFTER UPDATE OF name, email, rid ON records
    WHEN old.name IS NOT new.name OR old.email IS NOT new.email OR old.rid IS NOT new.rid
    BEGIN
        INSERT INTO records_fts(records_fts, rowid, name, email, rid)
        VALUES ('delete', old.rowid, old.name, old.email, old.rid);
        INSERT INTO records_fts(rowid, name, email, rid)
        VALUES (new.rowid, new.name, new.email, new.rid);
    END;
    INSERT INTO records_fts(records_fts) VALUES ('rebuild');
    CREATE INDEX records_name
        ON records(connection_id, name COLLATE NOCASE, rid, side, state, link_id);
    """,
    # 3 -> 4: the program's settings, as the Settings dialog saves them (the connectors'
    # PIESYNC_* values; engine/app_settings.py). Never a secret: those are in the keyring.
    """
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 4 -> 5: share jobs (one source group pushed one way to many accounts; engine/share.py).
    # Each destination is a connection of its own, marked with its job; the job's timeline
    # (destinations added and removed, the copies a removal deleted) outlives them.
    """
    CREATE TABLE share_jobs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        source_spec TEXT NOT NULL,
        source_account INTEGER REFERENCES accounts(id),
        group_name TEXT NOT NULL,
        interval_minutes INTEGER NOT NULL DEFAULT 1440,
        created_at REAL NOT NULL
    );
    ALTER TABLE connections ADD COLUMN job_id INTEGER REFERENCES share_jobs(id);
    CREATE INDEX connections_job ON connections(job_id) WHERE job_id IS NOT NULL;
    CREATE TABLE share_events (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES share_jobs(id) ON DELETE CASCADE,
        at REAL NOT NULL,
        destination TEXT NOT NULL,
        rid TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX share_events_job ON share_events(job_id, id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
ACTIVITY_KEEP = 50_000  # timeline rows kept per connection


class StoreError(SyncError):
    """The store file cannot be used (locked, corrupt, newer than this program)."""

    title = "Cannot open the profile"


class TrashDecision(enum.StrEnum):
    """What the person chose in Trash review for a contact whose counterpart was deleted.

    Stored in ``links.trash_decision`` until the next sync carries it out; a carried-out Keep
    stays there as :data:`TRASH_KEPT` (the contact left the review and is never tagged again),
    a carried-out Delete forgets the link.
    """

    KEEP = "keep"
    DELETE = "delete"


TRASH_KEPT = "kept"
PENDING_DECISIONS = (TrashDecision.KEEP.value, TrashDecision.DELETE.value)


class RecordState:
    """The states of an indexed record (the lists of Health)."""

    IN_SYNC = "in_sync"
    EXCLUDED = "excluded"
    DUPLICATE = "duplicate"
    FAILING = "failing"
    PENDING = "pending"  # a candidate that has no counterpart yet (one-way target side)


@dataclass(slots=True)
class IndexRow:
    """What the store remembers of one record of one side, between runs."""

    rid: str
    state: str
    reason: str = ""
    name: str = ""
    email: str = ""
    match_key: str = ""
    link_id: int | None = None
    note: str = ""


@dataclass(slots=True)
class Link:
    """A pair of records kept in sync, with the slot values both held after the last sync."""

    id: int
    a_id: str | None
    b_id: str | None
    base: dict[str, Any] | str | None = field(default_factory=dict)  # slot values, or JSON
    deleted_side: str | None = None
    deleted_at: float | None = None
    trash_tagged: bool = False
    rule_keys: list[str] | str | None = field(default_factory=list)  # "a:<k>"/"b:<k>" matched
    trash_decision: str | None = None  # a TrashDecision waiting for this run, or TRASH_KEPT

    def decoded_base(self) -> dict[str, Any]:
        """The base, decoded on first use: most links are never looked at in a run."""
        if self.base is None:
            raise RuntimeError(f"the base of link {self.id} was unloaded after it was saved")
        if isinstance(self.base, str):
            self.base = json.loads(self.base)
        return self.base  # type: ignore[return-value]

    def unload(self) -> None:
        """Forget the saved base and rule keys (they are in the store) to keep memory flat."""
        self.base = self.rule_keys = None

    def decoded_rule_keys(self) -> list[str]:
        if self.rule_keys is None:
            raise RuntimeError(f"the rule keys of link {self.id} were unloaded after saving")
        if isinstance(self.rule_keys, str):
            self.rule_keys = json.loads(self.rule_keys)
        return self.rule_keys  # type: ignore[return-value]

    def id_on(self, side: str) -> str | None:
        return self.a_id if side == "a" else self.b_id

    def set_id(self, side: str, rid: str | None) -> None:
        if side == "a":
            self.a_id = rid
        else:
            self.b_id = rid


UPDATED = "updated"  # a timeline action: fields written from the other side
TAGGED_TRASH = f"tagged '{TRASH_TAG}'"  # a timeline action: its counterpart was deleted
UPDATE_ACTIONS = (UPDATED, TAGGED_TRASH)  # the actions the run summaries count as updates


@dataclass(slots=True)
class Activity:
    """One row of the timeline: a contact processed by a run."""

    side: str
    rid: str
    name: str
    email: str
    state: str
    action: str
    detail: str = ""


@dataclass(slots=True)
class ShareEvent:
    """One row of a share job's own timeline (destinations added or removed, and what a
    removal deleted or let go), kept after the destination's connection is gone."""

    destination: str
    action: str
    detail: str = ""
    rid: str = ""
    name: str = ""
    at: float = 0.0


@dataclass(slots=True)
class RunSummary:
    """What one run did, for the CLI's summary and Health's actions table."""

    run_id: int
    status: str = "running"
    message: str = ""
    created: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"a": 0, "b": 0})
    failed: int = 0
    counts: dict[str, int] = field(default_factory=dict)


class Store:
    """A profile's SQLite file. Not shared between threads: each thread opens its own."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        new = not self.path.exists()
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open {self.path}: {exc}.") from exc
        if new:
            self.path.chmod(0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer piesync-desktop (schema {current}, this "
                f"program knows {SCHEMA_VERSION}). Update the program to open this profile."
            )
        if 0 < current < SCHEMA_VERSION:
            shutil.copy2(self.path, self.path.with_suffix(f".v{current}.bak"))
        for version in range(current, SCHEMA_VERSION):
            with self.transaction():
                for statement in _statements(MIGRATIONS[version]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {version + 1}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back whole if anything raises."""
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- program settings -----------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        """The program's saved settings, name to value (``engine/app_settings.py`` knows them)."""
        return dict(self.db.execute("SELECT name, value FROM settings ORDER BY name"))

    def save_settings(self, values: Mapping[str, str]) -> None:
        """Save each of ``values`` (an empty value deletes its row); other names stay as saved."""
        with self.transaction() as db:
            for name, value in values.items():
                if value:
                    db.execute(
                        """INSERT INTO settings (name, value) VALUES (?, ?)
                           ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                        (name, value),
                    )
                else:
                    db.execute("DELETE FROM settings WHERE name = ?", (name,))

    # -- accounts and connections ---------------------------------------------------------

    def ensure_account(self, app: str, key: str, label: str = "") -> int:
        with self.transaction() as db:
            row = db.execute("SELECT id FROM accounts WHERE key = ?", (key,)).fetchone()
            if row:
                return row[0]
            cur = db.execute(
                "INSERT INTO accounts (app, key, label, created_at) VALUES (?, ?, ?, ?)",
                (app, key, label, time.time()),
            )
            return int(cur.lastrowid or 0)

    def account_key(self, account_id: int | None) -> str | None:
        if account_id is None:
            return None
        row = self.db.execute("SELECT key FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return row[0] if row else None

    def add_connection(self, settings: ConnectionSettings, a_account: int, b_account: int) -> int:
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM connections WHERE name = ?", (settings.name,)).fetchone():
                raise ConfigError(f"A connection named '{settings.name}' already exists.")
            cur = db.execute(
                """INSERT INTO connections (name, a_spec, b_spec, a_account, b_account, direction,
                   winner, avoid_duplicates, sync_deletions, sync_unsubscribes, paused,
                   interval_minutes, job_id, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    settings.name,
                    settings.a_spec,
                    settings.b_spec,
                    a_account,
                    b_account,
                    settings.direction.value,
                    settings.winner.value,
                    settings.avoid_duplicates,
                    settings.sync_deletions,
                    settings.sync_unsubscribes,
                    settings.paused,
                    settings.interval_minutes,
                    settings.share.job_id if settings.share else None,
                    time.time(),
                ),
            )
            settings.id = int(cur.lastrowid or 0)
            self._write_mappings_and_rules(settings)
            return settings.id

    def update_connection(self, settings: ConnectionSettings) -> None:
        """Save changed options, mappings and rules of an existing connection."""
        assert settings.id is not None
        with self.transaction() as db:
            db.execute(
                """UPDATE connections SET direction = ?, winner = ?, avoid_duplicates = ?,
                   sync_deletions = ?, sync_unsubscribes = ?, paused = ?, interval_minutes = ?
                   WHERE id = ?""",
                (
                    settings.direction.value,
                    settings.winner.value,
                    settings.avoid_duplicates,
                    settings.sync_deletions,
                    settings.sync_unsubscribes,
                    settings.paused,
                    settings.interval_minutes,
                    settings.id,
                ),
            )
            db.execute("DELETE FROM mappings WHERE connection_id = ?", (settings.id,))
            db.execute("DELETE FROM rules WHERE connection_id = ?", (settings.id,))
            self._write_mappings_and_rules(settings)

    def _write_mappings_and_rules(self, settings: ConnectionSettings) -> None:
        self.db.executemany(
            """INSERT INTO mappings (connection_id, position, a_field, b_field, kind, enabled,
               custom) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [
                (settings.id, i, m.a_field, m.b_field, m.kind.value, m.enabled, m.custom)
                for i, m in enumerate(settings.mappings)
            ],
        )
        self.db.executemany(
            "INSERT INTO rules (connection_id, position, body) VALUES (?, ?, ?)",
            [(settings.id, i, json.dumps(rule_to_json(r))) for i, r in enumerate(settings.rules)],
        )

    def connection(self, name: str) -> ConnectionSettings:
        row = self.db.execute(_CONNECTION_SELECT + " WHERE c.name = ?", (name,)).fetchone()
        if row is None:
            names = ", ".join(self.connection_names()) or "none yet"
            raise ConfigError(f"No connection named '{name}' (connections: {names}).")
        return self._settings(row)

    def connections(self) -> list[ConnectionSettings]:
        rows = self.db.execute(_CONNECTION_SELECT + " ORDER BY c.name").fetchall()
        return [self._settings(row) for row in rows]

    def own_connections(self) -> list[ConnectionSettings]:
        """The connections the person made, without the destinations of share jobs."""
        return [settings for settings in self.connections() if settings.share is None]

    def connection_names(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT name FROM connections ORDER BY name")]

    def connection_accounts(self, connection_id: int) -> tuple[str | None, str | None]:
        row = self.db.execute(
            "SELECT a_account, b_account FROM connections WHERE id = ?", (connection_id,)
        ).fetchone()
        return self.account_key(row[0]), self.account_key(row[1])

    def paused(self, connection_id: int) -> bool | None:
        """Whether a connection is paused now; None when it is gone."""
        row = self.db.execute(
            "SELECT paused FROM connections WHERE id = ?", (connection_id,)
        ).fetchone()
        return None if row is None else bool(row[0])

    def set_paused(self, name: str, paused: bool) -> None:
        """Pause or resume a connection (a paused one is never synced by the scheduler)."""
        self.connection(name)
        self.db.execute("UPDATE connections SET paused = ? WHERE name = ?", (paused, name))

    def remove_connection(self, name: str) -> None:
        """Forget a connection's settings and state; no contact anywhere is touched."""
        settings = self.connection(name)
        with self.transaction() as db:
            db.execute("DELETE FROM records WHERE connection_id = ?", (settings.id,))
            db.execute("DELETE FROM connections WHERE id = ?", (settings.id,))

    def _settings(self, row: sqlite3.Row | tuple) -> ConnectionSettings:
        (cid, name, a_spec, b_spec, direction, winner, avoid, deletions, unsubscribes) = row[:9]
        paused, interval, job_id, job_name, group = row[9:14]
        mappings = [
            MappingSpec(a, b, MappingKind(kind), bool(enabled), bool(custom))
            for a, b, kind, enabled, custom in self.db.execute(
                """SELECT a_field, b_field, kind, enabled, custom FROM mappings
                   WHERE connection_id = ? ORDER BY position""",
                (cid,),
            )
        ]
        rules = [
            rule_from_json(json.loads(body))
            for (body,) in self.db.execute(
                "SELECT body FROM rules WHERE connection_id = ? ORDER BY position", (cid,)
            )
        ]
        return ConnectionSettings(
            name=name,
            a_spec=a_spec,
            b_spec=b_spec,
            direction=Direction(direction),
            winner=Side(winner),
            avoid_duplicates=bool(avoid),
            sync_deletions=bool(deletions),
            sync_unsubscribes=bool(unsubscribes),
            paused=bool(paused),
            interval_minutes=int(interval),
            mappings=mappings,
            rules=rules,
            id=cid,
            share=ShareRole(job_id, job_name, group) if job_id is not None else None,
        )

    # -- share jobs -------------------------------------------------------------------------

    def add_share_job(self, job: ShareJob, source_account: int) -> int:
        """Save a new job; its name may be neither another job's nor a connection's."""
        with self.transaction() as db:
            taken = db.execute(
                "SELECT 1 FROM share_jobs WHERE name = ? UNION SELECT 1 FROM connections "
                "WHERE name = ?",
                (job.name, job.name),
            ).fetchone()
            if taken:
                raise ConfigError(f"A share job or connection named '{job.name}' already exists.")
            job.created_at = time.time()
            cur = db.execute(
                """INSERT INTO share_jobs (name, source_spec, source_account, group_name,
                   interval_minutes, created_at) VALUES (?, ?, ?, ?, ?, ?)""",
                (
                    job.name,
                    job.source_spec,
                    source_account,
                    job.group,
                    job.interval_minutes,
                    job.created_at,
                ),
            )
            job.id = int(cur.lastrowid or 0)
            return job.id

    def share_job(self, name: str) -> ShareJob:
        row = self.db.execute(_JOB_SELECT + " WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = ", ".join(job.name for job in self.share_jobs()) or "none yet"
            raise ConfigError(f"No share job named '{name}' (share jobs: {names}).")
        return ShareJob(*row)

    def share_jobs(self) -> list[ShareJob]:
        return [ShareJob(*row) for row in self.db.execute(_JOB_SELECT + " ORDER BY name")]

    def remove_share_job(self, job_id: int) -> None:
        """Forget a job that has no destination (any left are a ConfigError)."""
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM connections WHERE job_id = ?", (job_id,)).fetchone():
                raise ConfigError("Remove the job's destinations first (share-remove).")
            db.execute("DELETE FROM share_jobs WHERE id = ?", (job_id,))

    def set_share_interval(self, job_id: int, minutes: int) -> None:
        """How often a job runs: the job and each of its destinations."""
        with self.transaction() as db:
            db.execute("UPDATE share_jobs SET interval_minutes = ? WHERE id = ?", (minutes, job_id))
            db.execute(
                "UPDATE connections SET interval_minutes = ? WHERE job_id = ?", (minutes, job_id)
            )

    def job_destinations(self, job_id: int) -> list[ConnectionSettings]:
        """The connections that are the destinations of a job, oldest first."""
        rows = self.db.execute(
            _CONNECTION_SELECT + " WHERE c.job_id = ? ORDER BY c.id", (job_id,)
        ).fetchall()
        return [self._settings(row) for row in rows]

    def add_share_events(self, job_id: int, events: Iterable[ShareEvent]) -> None:
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                """INSERT INTO share_events (job_id, at, destination, rid, name, action, detail)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                [
                    (job_id, e.at or now, e.destination, e.rid, e.name, e.action, e.detail)
                    for e in events
                ],
            )

    def share_events(self, job_id: int, limit: int = 1000) -> list[ShareEvent]:
        """A job's own timeline, newest first."""
        rows = self.db.execute(
            """SELECT destination, action, detail, rid, name, at FROM share_events
               WHERE job_id = ? ORDER BY id DESC LIMIT ?""",
            (job_id, limit),
        )
        return [ShareEvent(*row) for row in rows]

    def last_run_times(self) -> dict[int, float]:
        """When each connection's last run started (the scheduler's memory across restarts)."""
        rows = self.db.execute("SELECT connection_id, MAX(started_at) FROM runs GROUP BY 1")
        return {cid: started for cid, started in rows}

    # -- per-side state -------------------------------------------------------------------

    def side_state(self, connection_id: int, side: str) -> tuple[Any, str]:
        row = self.db.execute(
            "SELECT cursor, config_hash FROM side_state WHERE connection_id = ? AND side = ?",
            (connection_id, side),
        ).fetchone()
        if row is None:
            return None, ""
        return (json.loads(row[0]) if row[0] else None), row[1]

    def save_side_state(self, connection_id: int, side: str, cursor: Any, config_hash: str) -> None:
        self.db.execute(
            """INSERT INTO side_state (connection_id, side, cursor, config_hash)
               VALUES (?, ?, ?, ?) ON CONFLICT (connection_id, side)
               DO UPDATE SET cursor = excluded.cursor, config_hash = excluded.config_hash""",
            (connection_id, side, json.dumps(cursor, separators=(",", ":")), config_hash),
        )

    # -- record index -----------------------------------------------------------------------

    def index(
        self, connection_id: int, side: str, rids: Iterable[str] | None = None
    ) -> dict[str, IndexRow]:
        """A side's index rows: all of them, or those of ``rids``."""
        sql = """SELECT rid, state, reason, name, email, match_key, link_id, note FROM records
                 WHERE connection_id = ? AND side = ?"""
        if rids is None:
            return {row[0]: IndexRow(*row) for row in self.db.execute(sql, (connection_id, side))}
        return {
            row[0]: IndexRow(*row)
            for row in self._chunked(sql + " AND rid IN ({})", (connection_id, side), rids)
        }

    def index_by_keys(
        self, connection_id: int, side: str, keys: Iterable[str]
    ) -> dict[str, IndexRow]:
        """The index rows of a side whose match key (normalised email) is one of ``keys``."""
        sql = """SELECT rid, state, reason, name, email, match_key, link_id, note FROM records
                 WHERE connection_id = ? AND side = ? AND match_key IN ({})"""
        return {row[0]: IndexRow(*row) for row in self._chunked(sql, (connection_id, side), keys)}

    def rids_in_state(self, connection_id: int, side: str, state: str) -> list[str]:
        return [
            row[0]
            for row in self.db.execute(
                "SELECT rid FROM records WHERE connection_id = ? AND side = ? AND state = ?",
                (connection_id, side, state),
            )
        ]

    def index_count(self, connection_id: int, side: str, state: str | None = None) -> int:
        """How many records of a side the index holds (in ``state``, if given)."""
        if state is None:
            return self.db.execute(
                "SELECT COUNT(*) FROM records WHERE connection_id = ? AND side = ?",
                (connection_id, side),
            ).fetchone()[0]
        return self.db.execute(
            "SELECT COUNT(*) FROM records WHERE connection_id = ? AND side = ? AND state = ?",
            (connection_id, side, state),
        ).fetchone()[0]

    def _chunked(self, sql: str, params: tuple, values: Iterable[Any]) -> Iterator[tuple]:
        """Rows of ``sql`` whose ``IN ({})`` takes ``values``, a few hundred at a time."""
        items = list(dict.fromkeys(values))
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            yield from self.db.execute(sql.format(",".join("?" * len(chunk))), (*params, *chunk))

    def save_index(self, connection_id: int, side: str, rows: Iterable[IndexRow]) -> None:
        now = time.time()
        self.db.executemany(
            """INSERT INTO records (connection_id, side, rid, state, reason, name, email,
               match_key, link_id, note, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (connection_id, side, rid) DO UPDATE SET state = excluded.state,
               reason = excluded.reason, name = excluded.name, email = excluded.email,
               match_key = excluded.match_key, link_id = excluded.link_id,
               note = excluded.note, updated_at = excluded.updated_at""",
            [
                (
                    connection_id,
                    side,
                    r.rid,
                    r.state,
                    r.reason,
                    r.name,
                    r.email,
                    r.match_key,
                    r.link_id,
                    r.note,
                    now,
                )
                for r in rows
            ],
        )

    def drop_index(self, connection_id: int, side: str, rids: Iterable[str]) -> None:
        self.db.executemany(
            "DELETE FROM records WHERE connection_id = ? AND side = ? AND rid = ?",
            [(connection_id, side, rid) for rid in rids],
        )

    # -- links ----------------------------------------------------------------------------------

    def links(
        self,
        connection_id: int,
        a_ids: Iterable[str] | None = None,
        b_ids: Iterable[str] | None = None,
    ) -> dict[int, Link]:
        """All links of a connection, or those touching the given record ids."""
        sql = """SELECT id, a_id, b_id, base, deleted_side, deleted_at, trash_tagged, rule_keys,
                 trash_decision FROM links WHERE connection_id = ?"""
        if a_ids is None and b_ids is None:
            rows: Iterable[tuple] = self.db.execute(sql, (connection_id,))
        else:
            rows = [
                *self._chunked(sql + " AND a_id IN ({})", (connection_id,), a_ids or ()),
                *self._chunked(sql + " AND b_id IN ({})", (connection_id,), b_ids or ()),
            ]
        return {
            row[0]: Link(*row[:6], bool(row[6]), row[7], row[8])  # type: ignore[misc]
            for row in rows
        }

    def untagged_trash_links(self, connection_id: int) -> list[tuple[str, str]]:
        """(deleted side, survivor id) of deletions whose survivor is not tagged yet (and that
        the person has not decided on in Trash review)."""
        rows = self.db.execute(
            """SELECT deleted_side, CASE deleted_side WHEN 'a' THEN b_id ELSE a_id END
               FROM links WHERE connection_id = ? AND deleted_side IS NOT NULL
               AND trash_tagged = 0 AND trash_decision IS NULL""",
            (connection_id,),
        )
        return [(side, rid) for side, rid in rows if rid is not None]

    def pending_trash_decisions(self, connection_id: int) -> list[tuple[str, str]]:
        """(deleted side, survivor id) of the Trash review decisions the next run carries out."""
        rows = self.db.execute(
            """SELECT deleted_side, CASE deleted_side WHEN 'a' THEN b_id ELSE a_id END
               FROM links WHERE connection_id = ? AND deleted_side IS NOT NULL
               AND trash_decision IN (?, ?)""",
            (connection_id, *PENDING_DECISIONS),
        )
        return [(side, rid) for side, rid in rows if rid is not None]

    def decide_trash(
        self, connection_id: int, side: str, rid: str, decision: TrashDecision | None
    ) -> None:
        """Record the person's Trash review choice for the contact ``rid`` of ``side`` (the side
        where it remains); the next sync carries it out. None withdraws a choice not yet carried
        out. Raises ConfigError when that contact is not waiting in this connection's review."""
        if side not in ("a", "b"):
            raise ConfigError(f"'{side}' is not a side of a connection (a or b).")
        deleted_side = "b" if side == "a" else "a"
        with self.transaction() as db:
            row = db.execute(
                f"""SELECT l.id, l.trash_decision FROM links l
                    JOIN records r ON r.connection_id = l.connection_id AND r.side = ?
                      AND r.rid = l.{side}_id
                    WHERE l.connection_id = ? AND l.deleted_side = ? AND l.{side}_id = ?""",
                (side, connection_id, deleted_side, rid),
            ).fetchone()
            if row is None or row[1] == TRASH_KEPT:
                name = db.execute(
                    "SELECT name FROM connections WHERE id = ?", (connection_id,)
                ).fetchone()
                where = f"connection '{name[0]}'" if name else "this connection"
                raise ConfigError(
                    f"Contact {rid} in {side.upper()} is not waiting in the Trash review of "
                    f"{where}: only a contact whose counterpart was deleted can be kept or "
                    "deleted there."
                )
            db.execute(
                """UPDATE links SET trash_decision = ?, decided_at = ?
                   WHERE connection_id = ? AND id = ?""",
                (
                    None if decision is None else TrashDecision(decision).value,
                    None if decision is None else time.time(),
                    connection_id,
                    row[0],
                ),
            )

    def settle_trash_decisions(
        self, connection_id: int, settled: Iterable[tuple[int, str, str | None]]
    ) -> None:
        """(link id, decision carried out, what it becomes): only where the person has not
        changed their mind meanwhile."""
        self.db.executemany(
            """UPDATE links SET trash_decision = ?,
               decided_at = CASE WHEN ? IS NULL THEN NULL ELSE decided_at END
               WHERE connection_id = ? AND id = ? AND trash_decision = ?""",
            [(new, new, connection_id, lid, old) for lid, old, new in settled],
        )

    def forget_links(self, connection_id: int, ids: Iterable[int]) -> None:
        """Drop links whose contacts are gone on both sides (a Delete of Trash review)."""
        self.db.executemany(
            "DELETE FROM links WHERE connection_id = ? AND id = ?",
            [(connection_id, lid) for lid in ids],
        )

    def max_link_id(self, connection_id: int) -> int:
        row = self.db.execute(
            "SELECT MAX(id) FROM links WHERE connection_id = ?", (connection_id,)
        ).fetchone()
        return row[0] or 0

    def save_links(self, connection_id: int, links: Iterable[Link]) -> None:
        """Save links; an unloaded one (see :meth:`Link.unload`) keeps its stored payload.

        The Trash review decision is the person's: saving never writes it (the window may
        change it while a run goes on), but a link paired again (no deleted side) drops it.
        """
        now = time.time()
        loaded: list[Link] = []
        unloaded: list[Link] = []
        for ln in links:
            (loaded if ln.base is not None and ln.rule_keys is not None else unloaded).append(ln)
        self.db.executemany(
            """INSERT INTO links (connection_id, id, a_id, b_id, base, deleted_side, deleted_at,
               trash_tagged, rule_keys, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (connection_id, id) DO UPDATE SET a_id = excluded.a_id,
               b_id = excluded.b_id, base = excluded.base,
               deleted_side = excluded.deleted_side, deleted_at = excluded.deleted_at,
               trash_tagged = excluded.trash_tagged, rule_keys = excluded.rule_keys,
               trash_decision = CASE WHEN excluded.deleted_side IS NULL THEN NULL
                 ELSE links.trash_decision END,
               decided_at = CASE WHEN excluded.deleted_side IS NULL THEN NULL
                 ELSE links.decided_at END,
               updated_at = excluded.updated_at""",
            [
                (
                    connection_id,
                    ln.id,
                    ln.a_id,
                    ln.b_id,
                    _json(ln.base),
                    ln.deleted_side,
                    ln.deleted_at,
                    ln.trash_tagged,
                    _json(ln.rule_keys),
                    now,
                )
                for ln in loaded
            ],
        )
        self.db.executemany(
            """UPDATE links SET a_id = ?, b_id = ?, deleted_side = ?, deleted_at = ?,
               trash_tagged = ?, updated_at = ?,
               trash_decision = CASE WHEN ? IS NULL THEN NULL ELSE trash_decision END,
               decided_at = CASE WHEN ? IS NULL THEN NULL ELSE decided_at END
               WHERE connection_id = ? AND id = ?""",
            [
                (
                    ln.a_id,
                    ln.b_id,
                    ln.deleted_side,
                    ln.deleted_at,
                    ln.trash_tagged,
                    now,
                    ln.deleted_side,
                    ln.deleted_side,
                    connection_id,
                    ln.id,
                )
                for ln in unloaded
            ],
        )

    # -- journal of creates in flight -----------------------------------------------------------

    def journal(self, connection_id: int) -> dict[tuple[str, str], str]:
        """(target side, create key) -> source record id."""
        rows = self.db.execute(
            "SELECT target_side, create_key, source_id FROM journal WHERE connection_id = ?",
            (connection_id,),
        )
        return {(side, key): source for side, key, source in rows}

    def add_journal(
        self, connection_id: int, side: str, entries: Sequence[tuple[str, str]]
    ) -> None:
        """Record (create key, source id) pairs before the creates are sent; commits at once."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                """INSERT OR REPLACE INTO journal (connection_id, target_side, create_key,
                   source_id, created_at) VALUES (?, ?, ?, ?, ?)""",
                [(connection_id, side, key, source, now) for key, source in entries],
            )

    def clear_journal(self, connection_id: int, side: str, keys: Iterable[str]) -> None:
        self.db.executemany(
            "DELETE FROM journal WHERE connection_id = ? AND target_side = ? AND create_key = ?",
            [(connection_id, side, key) for key in keys],
        )

    # -- runs, activity, failures ------------------------------------------------------------

    def start_run(self, connection_id: int) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (connection_id, started_at, status) VALUES (?, ?, 'running')",
                (connection_id, time.time()),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, connection_id: int, summary: RunSummary) -> None:
        with self.transaction() as db:
            db.execute(
                """UPDATE runs SET finished_at = ?, status = ?, message = ?, created_a = ?,
                   created_b = ?, updated_a = ?, updated_b = ?, failed = ? WHERE id = ?""",
                (
                    time.time(),
                    summary.status,
                    summary.message,
                    summary.created["a"],
                    summary.created["b"],
                    summary.updated["a"],
                    summary.updated["b"],
                    summary.failed,
                    summary.run_id,
                ),
            )
            db.execute(
                """DELETE FROM activity WHERE connection_id = ? AND id <= (
                   SELECT id FROM activity WHERE connection_id = ? ORDER BY id DESC
                   LIMIT 1 OFFSET ?)""",
                (connection_id, connection_id, ACTIVITY_KEEP),
            )

    def add_activity(self, connection_id: int, run_id: int, rows: Iterable[Activity]) -> None:
        now = time.time()
        self.db.executemany(
            """INSERT INTO activity (connection_id, run_id, at, side, rid, name, email, state,
               action, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (
                    connection_id,
                    run_id,
                    now,
                    r.side,
                    r.rid,
                    r.name,
                    r.email,
                    r.state,
                    r.action,
                    r.detail,
                )
                for r in rows
            ],
        )

    def record_failures(self, connection_id: int, failures: Iterable[tuple[str, str, str]]) -> None:
        """(side, record id, reason) rows; attempts count up while a record keeps failing."""
        now = time.time()
        self.db.executemany(
            """INSERT INTO failures (connection_id, side, rid, reason, first_at, last_at)
               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id, side, rid) DO UPDATE SET
               reason = excluded.reason, last_at = excluded.last_at,
               attempts = failures.attempts + 1""",
            [(connection_id, side, rid, reason, now, now) for side, rid, reason in failures],
        )

    def clear_failures(self, connection_id: int, keys: Iterable[tuple[str, str]]) -> None:
        self.db.executemany(
            "DELETE FROM failures WHERE connection_id = ? AND side = ? AND rid = ?",
            [(connection_id, side, rid) for side, rid in keys],
        )


_JOB_SELECT = """SELECT name, source_spec, group_name, interval_minutes, id, created_at
    FROM share_jobs"""
_CONNECTION_SELECT = """SELECT c.id, c.name, c.a_spec, c.b_spec, c.direction, c.winner,
    c.avoid_duplicates, c.sync_deletions, c.sync_unsubscribes, c.paused, c.interval_minutes,
    c.job_id, j.name, j.group_name
    FROM connections c LEFT JOIN share_jobs j ON j.id = c.job_id"""


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (``CREATE TRIGGER`` bodies hold semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
