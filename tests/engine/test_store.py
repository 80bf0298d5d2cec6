"""The profile's SQLite store: schema, connections, index with FTS, links, journal, removal."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from piesync_desktop.engine import health
from piesync_desktop.engine.connection import (
    ConnectionSettings,
    Direction,
    ShareJob,
    ShareRole,
    Side,
)
from piesync_desktop.engine.errors import ConfigError
from piesync_desktop.engine.mapping import NAME_PARTS, TAGS, MappingKind, MappingSpec
from piesync_desktop.engine.rules import Action, ActionOp, Condition, ConditionOp, Rule
from piesync_desktop.engine.store import (
    SCHEMA_VERSION,
    Activity,
    IndexRow,
    Link,
    RecordState,
    RunSummary,
    Store,
    StoreError,
)

MAPPINGS = [
    MappingSpec("emails", "emails"),
    MappingSpec(NAME_PARTS, "full_name", MappingKind.NAME),
    MappingSpec("phones", "phones", enabled=False),
    MappingSpec("notes", "memo", custom=True),
    MappingSpec(TAGS, TAGS, MappingKind.TAGS),
]
RULES = [
    Rule(
        "a",
        (Condition(ConditionOp.IN_TAG, "VIP"), Condition(ConditionOp.CONTAINS, "acme", "company")),
        (Action(ActionOp.ADD_TAG, "From vCard"), Action(ActionOp.SET_FIELD, "lead", "stage")),
        match_all=False,
        undo=True,
        name="VIPs",
    ),
    Rule("b", name="all contacts"),
]


def make_settings(name: str = "work", **options: object) -> ConnectionSettings:
    return ConnectionSettings(
        name=name,
        a_spec="vcard:/home/me/contacts",
        b_spec="vcard:/home/me/crm",
        mappings=list(MAPPINGS),
        rules=list(RULES),
        **options,  # type: ignore[arg-type]
    )


def add(store: Store, name: str = "work", **options: object) -> int:
    a = store.ensure_account("vcard", f"vcard:{name}:a")
    b = store.ensure_account("vcard", f"vcard:{name}:b")
    return store.add_connection(make_settings(name, **options), a, b)


def count(store: Store, table: str, connection_id: int) -> int:
    return store.db.execute(
        f"SELECT COUNT(*) FROM {table} WHERE connection_id = ?", (connection_id,)
    ).fetchone()[0]


# -- file and schema -----------------------------------------------------------------------------


def test_new_store_is_migrated_private_and_in_wal_mode(store: Store) -> None:
    assert SCHEMA_VERSION >= 1
    assert store.version == SCHEMA_VERSION
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master")}
    assert {"accounts", "connections", "links", "records", "records_fts", "journal"} <= tables


def test_wal_side_files_are_private_too(store: Store) -> None:
    add(store)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{store.path}{suffix}")
        assert side.exists()
        assert stat.S_IMODE(side.stat().st_mode) == 0o600


def test_reopening_keeps_the_data(profile: Path) -> None:
    path = profile / "piesync.sqlite3"
    with Store(path) as first:
        cid = add(first)
        first.save_index(cid, "a", [IndexRow("r1", RecordState.IN_SYNC, name="Jane")])
    with Store(path) as second:
        assert second.version == SCHEMA_VERSION
        assert second.connection_names() == ["work"]
        assert second.index(cid, "a")["r1"].name == "Jane"
        assert not list(profile.glob("*.bak"))  # nothing to migrate, no backup


def test_a_newer_schema_is_refused_with_a_clear_message(profile: Path) -> None:
    path = profile / "piesync.sqlite3"
    Store(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError) as info:
        Store(path)
    message = str(info.value)
    assert str(path) in message
    assert "newer" in message
    assert f"schema {SCHEMA_VERSION + 1}" in message
    assert "Update the program" in message
    assert info.value.title == "Cannot open the profile"
    # the file is left as it was
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    raw.close()


def test_an_empty_existing_file_is_migrated(profile: Path) -> None:
    path = profile / "piesync.sqlite3"
    path.touch()
    with Store(path) as opened:
        assert opened.version == SCHEMA_VERSION
        assert opened.connection_names() == []


# -- accounts and connections ----------------------------------------------------------------------


def test_ensure_account_is_idempotent(store: Store) -> None:
    first = store.ensure_account("vcard", "vcard:/x", "Contacts")
    assert store.ensure_account("vcard", "vcard:/x", "Other label") == first
    assert store.ensure_account("vcard", "vcard:/y") != first
    assert store.account_key(first) == "vcard:/x"
    assert store.account_key(None) is None
    assert store.account_key(9999) is None


def test_connection_round_trip(store: Store) -> None:
    settings = make_settings(
        direction=Direction.B_TO_A,
        winner=Side.B,
        avoid_duplicates=False,
        sync_deletions=True,
        sync_unsubscribes=True,
        paused=True,
    )
    a = store.ensure_account("vcard", "vcard:a")
    b = store.ensure_account("vcard", "vcard:b")
    cid = store.add_connection(settings, a, b)
    assert settings.id == cid
    loaded = store.connection("work")
    assert loaded == settings
    assert loaded.mappings == MAPPINGS
    assert loaded.rules == RULES
    assert loaded.rules[0].key == RULES[0].key
    assert store.connection_accounts(cid) == ("vcard:a", "vcard:b")


def test_connection_defaults_round_trip(store: Store) -> None:
    cid = add(store)
    loaded = store.connection("work")
    assert loaded.id == cid
    assert loaded.direction is Direction.TWO_WAY
    assert loaded.winner is Side.A
    assert loaded.avoid_duplicates is True
    assert loaded.sync_deletions is False
    assert loaded.paused is False


def test_update_connection_replaces_options_mappings_and_rules(store: Store) -> None:
    add(store)
    settings = store.connection("work")
    settings.winner = Side.B
    settings.mappings = [MappingSpec("company", "company")]
    settings.rules = [Rule("a", name="all contacts")]
    store.update_connection(settings)
    loaded = store.connection("work")
    assert loaded.winner is Side.B
    assert loaded.mappings == [MappingSpec("company", "company")]
    assert loaded.rules == [Rule("a", name="all contacts")]


def test_duplicate_connection_name_is_refused(store: Store) -> None:
    add(store)
    with pytest.raises(ConfigError, match="A connection named 'work' already exists"):
        add(store)
    assert store.connection_names() == ["work"]
    assert len(store.connections()) == 1


def test_unknown_connection_lists_the_names(store: Store) -> None:
    with pytest.raises(ConfigError, match=r"No connection named 'x' \(connections: none yet\)"):
        store.connection("x")
    add(store, "work")
    add(store, "home")
    with pytest.raises(ConfigError) as info:
        store.connection("play")
    assert str(info.value) == "No connection named 'play' (connections: home, work)."


def test_connections_are_listed_by_name(store: Store) -> None:
    add(store, "zeta")
    add(store, "alpha")
    assert [c.name for c in store.connections()] == ["alpha", "zeta"]


def test_side_state_round_trip(store: Store) -> None:
    cid = add(store)
    assert store.side_state(cid, "a") == (None, "")
    store.save_side_state(cid, "a", {"files": {"x.vcf": [1, 2]}}, "hash1")
    store.save_side_state(cid, "a", {"files": {"y.vcf": [3, 4]}}, "hash2")
    assert store.side_state(cid, "a") == ({"files": {"y.vcf": [3, 4]}}, "hash2")
    assert store.side_state(cid, "b") == (None, "")


# -- record index and search ---------------------------------------------------------------------


def test_index_round_trip_and_upsert(store: Store) -> None:
    cid = add(store)
    row = IndexRow(
        "r1", RecordState.FAILING, "Missing required field Email", "Jane", "j@x.com", "j@x.com", 7
    )
    store.save_index(cid, "a", [row, IndexRow("r2", RecordState.EXCLUDED)])
    assert store.index(cid, "a") == {"r1": row, "r2": IndexRow("r2", RecordState.EXCLUDED)}
    assert store.index(cid, "b") == {}
    updated = IndexRow("r1", RecordState.IN_SYNC, name="Jane Doe", email="jd@x.com", link_id=8)
    store.save_index(cid, "a", [updated])
    index = store.index(cid, "a")
    assert index["r1"] == updated
    assert len(index) == 2
    store.drop_index(cid, "a", ["r2"])
    assert set(store.index(cid, "a")) == {"r1"}


def indexed(store: Store) -> int:
    cid = add(store)
    store.save_index(
        cid,
        "a",
        [
            IndexRow("a-001.vcf", RecordState.IN_SYNC, name="Jane Doe", email="jane@acme.com"),
            IndexRow("a-002.vcf", RecordState.EXCLUDED, name="John Smith", email=""),
            IndexRow("a-003.vcf", RecordState.DUPLICATE, name="José Álvarez", email="jose@x.es"),
            IndexRow("a-004.vcf", RecordState.PENDING, name="Janet Pending", email="p@x.com"),
        ],
    )
    store.save_index(
        cid, "b", [IndexRow("crm-42", RecordState.FAILING, "Rejected", "Jan Peeters", "jp@b.be")]
    )
    return cid


def found(store: Store, cid: int, search: str) -> set[str]:
    return {c.id for c in health.contacts(store, cid, search=search)}


def test_search_by_name_prefix(store: Store) -> None:
    cid = indexed(store)
    assert found(store, cid, "Jan") == {"a-001.vcf", "crm-42"}  # not the pending one
    assert found(store, cid, "jane") == {"a-001.vcf"}
    assert found(store, cid, "smi") == {"a-002.vcf"}
    assert found(store, cid, "jane doe") == {"a-001.vcf"}
    assert found(store, cid, "jane smith") == set()
    assert found(store, cid, "jose") == {"a-003.vcf"}  # diacritics folded
    assert found(store, cid, "nobody") == set()


def test_search_by_email(store: Store) -> None:
    cid = indexed(store)
    assert found(store, cid, "jane@acme.com") == {"a-001.vcf"}
    assert found(store, cid, "acme") == {"a-001.vcf"}
    assert found(store, cid, "jp@b.be") == {"crm-42"}


def test_search_by_id(store: Store) -> None:
    cid = indexed(store)
    assert found(store, cid, "crm-42") == {"crm-42"}
    assert found(store, cid, "a-003.vcf") == {"a-003.vcf"}
    assert found(store, cid, "a-00") == {"a-001.vcf", "a-002.vcf", "a-003.vcf"}


def test_search_follows_upserts(store: Store) -> None:
    cid = indexed(store)
    store.save_index(cid, "a", [IndexRow("a-001.vcf", RecordState.IN_SYNC, name="Mary Major")])
    assert found(store, cid, "jane") == set()
    assert found(store, cid, "mary") == {"a-001.vcf"}
    store.drop_index(cid, "a", ["a-001.vcf"])
    assert found(store, cid, "mary") == set()
    store.db.execute("INSERT INTO records_fts(records_fts, rank) VALUES ('integrity-check', 1)")


def test_search_with_punctuation_only_finds_nothing(store: Store) -> None:
    cid = indexed(store)
    assert found(store, cid, '"*') == set()
    assert len(health.contacts(store, cid, search="   ")) == 4  # blank search lists all


def test_contacts_lists_states_and_counts(store: Store) -> None:
    cid = indexed(store)
    listed = health.contacts(store, cid)
    assert [c.name for c in listed] == ["Jan Peeters", "Jane Doe", "John Smith", "José Álvarez"]
    failing = health.contacts(store, cid, state=RecordState.FAILING)
    assert [(c.side, c.id, c.reason) for c in failing] == [("b", "crm-42", "Rejected")]
    assert health.counts(store, cid) == {
        "in_sync": 1,
        "excluded": 1,
        "duplicates": 1,
        "failing": 1,
    }


def test_search_is_per_connection(store: Store) -> None:
    cid = indexed(store)
    other = add(store, "other")
    store.save_index(other, "a", [IndexRow("o1", RecordState.IN_SYNC, name="Jane Other")])
    assert found(store, cid, "jane") == {"a-001.vcf"}
    assert found(store, other, "jane") == {"o1"}


# -- links, journal, transactions ---------------------------------------------------------------


def test_links_round_trip(store: Store) -> None:
    cid = add(store)
    links = [
        Link(
            1,
            "a1",
            "b1",
            {"field:emails=emails": [["work", "zoë@x.com"]], "tags:tags=tags": ["VIP"]},
            rule_keys=["a:abc123", "b:def456"],
        ),
        Link(2, "a2", None, {}, deleted_side="b", deleted_at=1700000000.5, trash_tagged=True),
    ]
    store.save_links(cid, links)
    loaded = store.links(cid)
    assert loaded[1].decoded_base() == links[0].base
    assert loaded[1].decoded_rule_keys() == ["a:abc123", "b:def456"]
    assert (loaded[2].a_id, loaded[2].b_id, loaded[2].deleted_side) == ("a2", None, "b")
    assert loaded[2].deleted_at == 1700000000.5 and loaded[2].trash_tagged
    links[0].set_id("b", "b1-new")
    links[0].base = {"field:company=company": "ACME"}
    store.save_links(cid, [links[0]])
    loaded = store.links(cid)
    assert loaded[1].id_on("b") == "b1-new"
    assert loaded[1].decoded_base() == {"field:company=company": "ACME"}
    assert loaded[2].decoded_base() == {}


def test_links_are_per_connection(store: Store) -> None:
    cid = add(store)
    other = add(store, "other")
    store.save_links(cid, [Link(1, "a", "b")])
    store.save_links(other, [Link(1, "x", "y")])
    assert store.links(cid)[1].a_id == "a"
    assert store.links(other)[1].a_id == "x"


def test_journal_add_and_clear(store: Store) -> None:
    cid = add(store)
    assert store.journal(cid) == {}
    store.add_journal(cid, "b", [("k1", "a1"), ("k2", "a2")])
    store.add_journal(cid, "a", [("k3", "b3")])
    assert store.journal(cid) == {("b", "k1"): "a1", ("b", "k2"): "a2", ("a", "k3"): "b3"}
    store.add_journal(cid, "b", [("k1", "a9")])  # the same key again replaces
    assert store.journal(cid)[("b", "k1")] == "a9"
    store.clear_journal(cid, "b", ["k1", "k3"])  # k3 is on side a: kept
    assert store.journal(cid) == {("b", "k2"): "a2", ("a", "k3"): "b3"}


def test_journal_is_committed_at_once(store: Store, profile: Path) -> None:
    cid = add(store)
    store.add_journal(cid, "b", [("k1", "a1")])
    with Store(store.path) as other:
        assert other.journal(cid) == {("b", "k1"): "a1"}


def test_transaction_rolls_back_on_error(store: Store) -> None:
    cid = add(store)
    with pytest.raises(RuntimeError, match="boom"), store.transaction():
        store.save_index(cid, "a", [IndexRow("r1", RecordState.IN_SYNC, name="Jane")])
        store.save_links(cid, [Link(1, "r1", "b1")])
        assert store.index(cid, "a")  # visible inside the transaction
        raise RuntimeError("boom")
    assert store.index(cid, "a") == {}
    assert store.links(cid) == {}
    assert not store.db.in_transaction
    assert found(store, cid, "jane") == set()


def test_nested_transaction_joins_the_outer_one(store: Store) -> None:
    cid = add(store)
    with pytest.raises(RuntimeError), store.transaction():
        store.add_journal(cid, "b", [("k1", "a1")])  # opens its own transaction inside
        raise RuntimeError("boom")
    assert store.journal(cid) == {}


def test_transaction_commits(store: Store) -> None:
    cid = add(store)
    with store.transaction():
        store.save_index(cid, "a", [IndexRow("r1", RecordState.IN_SYNC)])
    assert not store.db.in_transaction
    with Store(store.path) as other:
        assert set(other.index(cid, "a")) == {"r1"}


def test_failed_duplicate_add_leaves_nothing_behind(store: Store) -> None:
    add(store)
    mappings_before = store.db.execute("SELECT COUNT(*) FROM mappings").fetchone()[0]
    with pytest.raises(ConfigError):
        add(store)
    assert store.db.execute("SELECT COUNT(*) FROM mappings").fetchone()[0] == mappings_before
    assert not store.db.in_transaction


# -- runs ------------------------------------------------------------------------------------------


def test_runs_and_activity(store: Store) -> None:
    cid = add(store)
    run = store.start_run(cid)
    store.add_activity(cid, run, [Activity("a", "r1", "Jane", "j@x.com", "in_sync", "created")])
    summary = RunSummary(run, status="ok", created={"a": 0, "b": 1}, updated={"a": 2, "b": 0})
    store.finish_run(cid, summary)
    assert health.actions(store, cid) == {
        "a": {"created": 0, "updated": 2},
        "b": {"created": 1, "updated": 0},
    }
    assert health.last_run(store, cid)["status"] == "ok"
    assert [row["id"] for row in health.timeline(store, cid)] == ["r1"]


# -- removal ---------------------------------------------------------------------------------------

STATE_TABLES = (
    "records",
    "links",
    "side_state",
    "journal",
    "failures",
    "runs",
    "activity",
    "mappings",
    "rules",
)


def fill(store: Store, cid: int) -> None:
    store.save_index(cid, "a", [IndexRow("r1", RecordState.IN_SYNC, name="Jane Doe")])
    store.save_links(cid, [Link(1, "r1", "b1", {"x": "y"})])
    store.save_side_state(cid, "a", {"c": 1}, "h")
    store.add_journal(cid, "b", [("k", "r1")])
    store.record_failures(cid, [("a", "r2", "Rejected")])
    run = store.start_run(cid)
    store.add_activity(cid, run, [Activity("a", "r1", "Jane", "", "in_sync", "updated")])


def test_remove_connection_removes_its_state_and_nothing_else(store: Store) -> None:
    gone = add(store, "gone")
    kept = add(store, "kept")
    fill(store, gone)
    fill(store, kept)
    accounts = store.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]
    assert all(count(store, table, gone) > 0 for table in STATE_TABLES)

    store.remove_connection("gone")

    assert store.connection_names() == ["kept"]
    for table in STATE_TABLES:
        assert count(store, table, gone) == 0, table
        assert count(store, table, kept) > 0, table
    assert store.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0] == accounts
    assert store.connection("kept").mappings == MAPPINGS
    assert found(store, kept, "jane") == {"r1"}
    # the full-text index forgot the removed rows too (it is checked against its content)
    matches = store.db.execute("SELECT rowid FROM records_fts WHERE records_fts MATCH 'jane'")
    assert len(matches.fetchall()) == 1
    store.db.execute("INSERT INTO records_fts(records_fts, rank) VALUES ('integrity-check', 1)")
    with pytest.raises(ConfigError):
        store.connection("gone")


def test_remove_unknown_connection_is_refused(store: Store) -> None:
    add(store)
    with pytest.raises(ConfigError, match="connections: work"):
        store.remove_connection("nope")
    assert store.connection_names() == ["work"]


def test_a_connection_added_again_starts_clean(store: Store) -> None:
    cid = add(store, "again")
    fill(store, cid)
    store.remove_connection("again")
    new = add(store, "again")
    for table in ("records", "links", "side_state", "journal", "failures", "runs", "activity"):
        assert count(store, table, new) == 0, table


def test_an_unloaded_link_saves_its_ids_and_keeps_its_stored_base(store: Store) -> None:
    cid = add(store)
    link = Link(7, "a7", "b7", {"field:title=title": "Dev"}, rule_keys=["a:k"])
    store.save_links(cid, [link])
    link.unload()
    link.deleted_side, link.trash_tagged = "a", True
    store.save_links(cid, [link])
    loaded = store.links(cid)[7]
    assert loaded.deleted_side == "a" and loaded.trash_tagged
    assert loaded.decoded_base() == {"field:title=title": "Dev"}
    assert loaded.decoded_rule_keys() == ["a:k"]
    with pytest.raises(RuntimeError, match="unloaded"):
        link.decoded_base()


def test_a_first_version_store_is_migrated_with_its_connections(profile: Path) -> None:
    from piesync_desktop.engine.store import MIGRATIONS, _statements

    path = profile / "piesync.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0]):
        raw.execute(statement)
    raw.execute(
        """INSERT INTO connections (name, a_spec, b_spec, direction, winner, avoid_duplicates,
           sync_deletions, sync_unsubscribes, created_at)
           VALUES ('old', 'vcard:/a', 'vcard:/b', 'two-way', 'a', 1, 0, 0, 0)"""
    )
    raw.execute("PRAGMA user_version = 1")
    raw.close()
    with Store(path) as store:
        settings = store.connection("old")
        assert settings.interval_minutes == 5
        assert store.version == SCHEMA_VERSION
    assert (profile / "piesync.v1.bak").exists()


def test_interval_and_pause_are_saved(store: Store) -> None:
    settings = ConnectionSettings("c", "vcard:/a", "vcard:/b", interval_minutes=30)
    a = store.ensure_account("vcard", "a")
    b = store.ensure_account("vcard", "b")
    store.add_connection(settings, a, b)
    assert store.connection("c").interval_minutes == 30
    settings.interval_minutes = 60
    store.update_connection(settings)
    assert store.connection("c").interval_minutes == 60
    store.set_paused("c", True)
    assert store.connection("c").paused
    store.set_paused("c", False)
    assert not store.connection("c").paused


def test_a_second_version_store_is_migrated_and_searches_the_same(profile: Path) -> None:
    from piesync_desktop.engine.store import MIGRATIONS, _statements

    path = profile / "piesync.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for statement in _statements(script):
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 2")
    raw.execute(
        """INSERT INTO connections (name, a_spec, b_spec, direction, winner, avoid_duplicates,
           sync_deletions, sync_unsubscribes, created_at)
           VALUES ('old', 'vcard:/a', 'vcard:/b', 'two-way', 'a', 1, 0, 0, 0)"""
    )
    people = [
        ("a", "a-1.vcf", RecordState.IN_SYNC, "Anna Andersson", "anna@acme.com"),
        ("b", "crm-1", RecordState.IN_SYNC, "anna andersson", "anna@acme.com"),
        ("a", "a-2.vcf", RecordState.EXCLUDED, "Bert van der Berg", ""),
        ("a", "a-3.vcf", RecordState.FAILING, "Zoë Åberg", "zoe@b.be"),
        ("b", "crm-2", RecordState.DUPLICATE, "Mária Müller", "maria@acme.com"),
        ("b", "crm-3", RecordState.PENDING, "Alma Pending", "alma@x.org"),
    ]
    raw.executemany(
        """INSERT INTO records (connection_id, side, rid, state, name, email, updated_at)
           VALUES (1, ?, ?, ?, ?, ?, 0)""",
        people,
    )
    raw.execute("UPDATE records SET name = 'Bert van den Berg' WHERE rid = 'a-2.vcf'")
    raw.execute("DELETE FROM records WHERE rid = 'crm-3'")
    searches = ["a", "an", "ANNA", "acme", "b", "van den", "van der", "zoe", "å", "crm", "m", "x"]

    def before(text: str) -> list[str]:  # the search of schema 2, straight from its FTS table
        return [
            rid
            for (rid,) in raw.execute(
                """SELECT r.rid FROM records_fts f JOIN records r ON r.rowid = f.rowid
                   WHERE records_fts MATCH ? ORDER BY r.name COLLATE NOCASE, r.rid, r.side""",
                (health.fts_query(text),),
            )
        ]

    expected = {text: before(text) for text in searches}
    assert expected["a"] and expected["van den"] == ["a-2.vcf"] and expected["van der"] == []
    raw.close()

    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        fts = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'records_fts'")
        assert "prefix='1'" in fts.fetchone()[0]
        indexes = {row[1] for row in store.db.execute("PRAGMA index_list(records)")}
        assert "records_name" in indexes
        store.db.execute("INSERT INTO records_fts(records_fts, rank) VALUES ('integrity-check', 1)")
        cid = store.connection("old").id or 0
        for text in searches:
            assert [c.id for c in health.contacts(store, cid, search=text)] == expected[text], text
            assert health.count_contacts(store, cid, search=text) == len(expected[text]), text
        # the triggers were made again: the index follows inserts, renames and deletes
        store.save_index(cid, "a", [IndexRow("a-4.vcf", RecordState.IN_SYNC, name="Xavier Ode")])
        store.save_index(cid, "b", [IndexRow("crm-2", RecordState.DUPLICATE, name="Maria Moss")])
        store.drop_index(cid, "a", ["a-3.vcf"])
        assert found(store, cid, "x") == {"a-4.vcf"}
        assert found(store, cid, "mü") == set()
        assert found(store, cid, "mo") == {"crm-2"}
        assert found(store, cid, "zoe") == set()
        store.db.execute("INSERT INTO records_fts(records_fts, rank) VALUES ('integrity-check', 1)")
    assert (profile / "piesync.v2.bak").exists()


def test_a_third_version_store_is_migrated_with_its_data_and_empty_settings(
    profile: Path,
) -> None:
    from piesync_desktop.engine.store import MIGRATIONS, _statements

    path = profile / "piesync.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:3]:
        for statement in _statements(script):
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 3")
    raw.execute(
        """INSERT INTO connections (name, a_spec, b_spec, direction, winner, avoid_duplicates,
           sync_deletions, sync_unsubscribes, interval_minutes, created_at)
           VALUES ('old', 'vcard:/a', 'vcard:/b', 'b-to-a', 'b', 1, 1, 0, 30, 0)"""
    )
    raw.execute(
        """INSERT INTO records (connection_id, side, rid, state, name, email, updated_at)
           VALUES (1, 'b', 'b-1.vcf', 'in_sync', 'Anna Andersson', 'anna@acme.com', 0)"""
    )
    raw.execute(
        """INSERT INTO links (connection_id, id, a_id, b_id, base, updated_at)
           VALUES (1, 1, 'a-1.vcf', 'b-1.vcf', '{"field:title=title":"Dev"}', 0)"""
    )
    raw.close()
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        settings = store.connection("old")
        assert (settings.direction, settings.winner) == (Direction.B_TO_A, Side.B)
        assert settings.sync_deletions and settings.interval_minutes == 30
        cid = settings.id or 0
        assert store.index(cid, "b")["b-1.vcf"].name == "Anna Andersson"
        assert found(store, cid, "ann") == {"b-1.vcf"}
        assert store.links(cid)[1].decoded_base() == {"field:title=title": "Dev"}
        assert store.settings() == {}
        store.save_settings({"PIESYNC_HTTP_TIMEOUT": "90"})
    with Store(path) as reopened:
        assert reopened.settings() == {"PIESYNC_HTTP_TIMEOUT": "90"}
    assert (profile / "piesync.v3.bak").exists()


def test_settings_are_saved_replaced_and_deleted_by_an_empty_value(store: Store) -> None:
    store.save_settings({"PIESYNC_HTTP_TIMEOUT": "90", "PIESYNC_CA_BUNDLE": "/etc/ca.pem"})
    assert store.settings() == {"PIESYNC_CA_BUNDLE": "/etc/ca.pem", "PIESYNC_HTTP_TIMEOUT": "90"}
    store.save_settings({"PIESYNC_HTTP_TIMEOUT": "120"})  # the others stay as they were
    assert store.settings() == {"PIESYNC_CA_BUNDLE": "/etc/ca.pem", "PIESYNC_HTTP_TIMEOUT": "120"}
    store.save_settings({"PIESYNC_CA_BUNDLE": "", "PIESYNC_GRAPH_URL": ""})
    assert store.settings() == {"PIESYNC_HTTP_TIMEOUT": "120"}
    assert store.db.execute("SELECT COUNT(*) FROM settings").fetchone()[0] == 1


def test_a_fourth_version_store_is_migrated_with_its_connections_outside_any_share_job(
    profile: Path,
) -> None:
    from piesync_desktop.engine.store import MIGRATIONS, _statements

    path = profile / "piesync.sqlite3"
    raw = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:4]:
        for statement in _statements(script):
            raw.execute(statement)
    raw.execute("PRAGMA user_version = 4")
    raw.execute(
        """INSERT INTO connections (name, a_spec, b_spec, direction, winner, avoid_duplicates,
           sync_deletions, sync_unsubscribes, interval_minutes, created_at)
           VALUES ('old', 'vcard:/a', 'vcard:/b', 'two-way', 'a', 1, 0, 0, 5, 0)"""
    )
    raw.execute("INSERT INTO settings (name, value) VALUES ('PIESYNC_HTTP_TIMEOUT', '90')")
    raw.close()
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        old = store.connection("old")
        assert old.share is None and store.own_connections() == [old]
        assert store.settings() == {"PIESYNC_HTTP_TIMEOUT": "90"}
        assert store.share_jobs() == []
        job = ShareJob("Team", "vcard:/a", "Team")
        store.add_share_job(job, store.ensure_account("vcard", "vcard:/a"))
        destination = ConnectionSettings(
            "Team → b", "vcard:/a", "vcard:/c", Direction.A_TO_B, share=job.role()
        )
        store.add_connection(destination, 1, 1)
        assert store.connection("Team → b").share == ShareRole(job.id or 0, "Team", "Team")
        assert store.own_connections() == [old]
        assert [c.name for c in store.job_destinations(job.id or 0)] == ["Team → b"]
    assert (profile / "piesync.v4.bak").exists()


# The test that migrates a store of each older schema version (a version-0 file is a new store).
MIGRATION_TESTS = {
    1: test_a_first_version_store_is_migrated_with_its_connections,
    2: test_a_second_version_store_is_migrated_and_searches_the_same,
    3: test_a_third_version_store_is_migrated_with_its_data_and_empty_settings,
    4: test_a_fourth_version_store_is_migrated_with_its_connections_outside_any_share_job,
}


def test_every_migration_has_a_test_of_an_older_store() -> None:
    assert set(MIGRATION_TESTS) == set(range(1, SCHEMA_VERSION)), (
        "a new migration needs a test that opens a store of the version before it"
    )
