"""Migrations: applied once, idempotent, and safe when several replicas run them at the same moment; bounded in how
long they wait for locks and hold them; outside a transaction when they say so; and the schema a component needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from authorium_shared import migrations
from authorium_shared.settings import ConfigError
from tests.conftest import DatabaseFactory
from tests.processes import authorium
from tests.waiting import eventually


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


async def test_migrations_create_every_table_and_a_second_run_applies_nothing(make_database: DatabaseFactory) -> None:
    url = await make_database(migrated=False)
    conn = await asyncpg.connect(url)
    try:
        first = await migrations.apply(conn, migrations.all_migrations())
        second = await migrations.apply(conn, migrations.all_migrations())
    finally:
        await conn.close()
    # Every migration shipped, each component's in order (the list grows with the code; no count to keep in step).
    assert [(m.component, m.version) for m in first] == [(m.component, m.version) for m in migrations.all_migrations()]
    assert {m.component for m in first} == {"authz", "resource"}
    assert second == []
    assert {
        "clients",
        "users",
        "consents",
        "grants",
        "refresh_tokens",
        "signing_keys",
        "revocations",
        "audit_events",
        "notes",
        "resources",
        "schema_migrations",
    } <= await _tables(url)


async def test_concurrent_migrations_on_an_empty_database_all_succeed(make_database: DatabaseFactory) -> None:
    url = await make_database(migrated=False)

    async def run() -> list[migrations.Migration]:
        conn = await asyncpg.connect(url)
        try:
            return await migrations.apply(conn, migrations.all_migrations())
        finally:
            await conn.close()

    results = await asyncio.gather(*(run() for _ in range(5)))
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, len(migrations.all_migrations())], (
        "one run applies; the rest find it done"
    )


async def test_two_authorium_migrate_commands_started_together_both_exit_0(make_database: DatabaseFactory) -> None:
    url = await make_database(migrated=False)
    env = {"DATABASE_URL": url}
    results = await asyncio.gather(*(asyncio.to_thread(authorium, "migrate", env=env) for _ in range(2)))
    for result in results:
        assert result.returncode == 0, result.stderr
    outputs = sorted(r.stdout for r in results)
    assert outputs[0].startswith("applied authz 0001_initial")
    assert outputs[1] == "database is up to date\n"


async def test_migrate_against_a_missing_database_fails_with_one_line() -> None:
    from tests.conftest import database_url

    result = await asyncio.to_thread(authorium, "migrate", env={"DATABASE_URL": database_url("authorium_no_such_db")})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "authorium_no_such_db" in result.stderr


# Timeouts, migrations outside a transaction, and what a component's code needs

TEST_COMPONENT = "migration_tests"


def _migration(version: int, sql: str, name: str = "step") -> migrations.Migration:
    return migrations.Migration(TEST_COMPONENT, version, name, sql)


async def _recorded(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch("SELECT version FROM schema_migrations WHERE component = $1 ORDER BY 1", TEST_COMPONENT)
    return [r["version"] for r in rows]


async def _waiting_on_a_lock(conn: asyncpg.Connection, query_start: str, *, longer_than: float = 0) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1 || '%'
                 AND now() - query_start > make_interval(secs => $2)""",
            query_start,
            longer_than,
        )
    )


@pytest.fixture
async def three_connections(make_database: DatabaseFactory) -> AsyncIterator[list[asyncpg.Connection]]:
    """The migration's, a long transaction's, and live traffic's, on a database with a table `t`."""
    url = await make_database()
    conns = [await asyncpg.connect(url) for _ in range(3)]
    await conns[0].execute("CREATE TABLE t (id integer PRIMARY KEY, x integer)")
    yield conns
    for conn in conns:
        await conn.close()


async def test_a_migration_stuck_behind_a_lock_gives_up_instead_of_holding_up_live_traffic(
    three_connections: list[asyncpg.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    migrator, long_transaction, traffic = three_connections
    monkeypatch.setattr(migrations, "LOCK_RETRY_PAUSES", (0.05,))
    holding = long_transaction.transaction()
    await holding.start()
    await long_transaction.fetch("SELECT * FROM t")  # a reader that stays in its transaction: ACCESS SHARE on t
    alter = _migration(1, "ALTER TABLE t ADD COLUMN y integer")  # needs ACCESS EXCLUSIVE
    applying = asyncio.create_task(migrations.apply(migrator, [alter], migrations.Timeouts(lock=0.5)))
    await eventually(lambda: _waiting_on_a_lock(traffic, "ALTER TABLE t"), message="the ALTER queued for its lock")
    # Live traffic now queues behind the waiting ALTER; it goes on as soon as the ALTER gives up, each time.
    started = time.monotonic()
    await asyncio.wait_for(traffic.fetch("SELECT * FROM t"), timeout=5)
    assert time.monotonic() - started < 2.5
    with pytest.raises(asyncpg.LockNotAvailableError):
        await asyncio.wait_for(applying, timeout=10)
    assert await _recorded(migrator) == []
    await holding.rollback()
    assert await migrations.apply(migrator, [alter]) == [alter]
    assert await _recorded(migrator) == [1]


async def test_a_migration_that_timed_out_on_a_lock_is_tried_again(
    three_connections: list[asyncpg.Connection], caplog: pytest.LogCaptureFixture
) -> None:
    migrator, long_transaction, _ = three_connections
    holding = long_transaction.transaction()
    await holding.start()
    await long_transaction.fetch("SELECT * FROM t")
    alter = _migration(1, "ALTER TABLE t ADD COLUMN y integer")
    applying = asyncio.create_task(migrations.apply(migrator, [alter], migrations.Timeouts(lock=0.2)))
    await eventually(lambda: "trying again" in caplog.text, message="a first attempt timed out")
    await holding.rollback()
    assert await asyncio.wait_for(applying, timeout=10) == [alter]


async def test_a_migration_statement_that_runs_too_long_is_cancelled(
    three_connections: list[asyncpg.Connection],
) -> None:
    migrator = three_connections[0]
    slow = _migration(1, "INSERT INTO t VALUES (1, 1); SELECT pg_sleep(30)")
    started = time.monotonic()
    with pytest.raises(asyncpg.QueryCanceledError):
        await migrations.apply(migrator, [slow], migrations.Timeouts(statement=0.3))
    assert time.monotonic() - started < 5
    assert await migrator.fetchval("SELECT count(*) FROM t") == 0, "the whole migration was rolled back"
    assert await _recorded(migrator) == []
    assert await migrator.fetchval("SHOW statement_timeout") == "0", "the limit was the migration's only"


CONCURRENT_INDEX = """-- authorium: no-transaction
-- A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind: dropping it first makes a re-run start clean.
DROP INDEX CONCURRENTLY IF EXISTS t_x_idx;
CREATE INDEX CONCURRENTLY t_x_idx ON t (x);
"""


async def test_a_no_transaction_migration_builds_an_index_concurrently_while_writes_go_on(
    three_connections: list[asyncpg.Connection],
) -> None:
    migrator, long_transaction, traffic = three_connections
    index = _migration(1, CONCURRENT_INDEX, "t_x_index")
    assert not index.transactional
    holding = long_transaction.transaction()
    await holding.start()
    await long_transaction.execute("INSERT INTO t VALUES (1, 1)")  # a writer still in its transaction
    timeouts = migrations.Timeouts(lock=0.1, statement=0.1)
    applying = asyncio.create_task(migrations.apply(migrator, [index], timeouts))
    # It waits for the open transaction, far longer than the lock timeout (which does not apply outside a
    # transaction), and meanwhile writes are not held up: a plain CREATE INDEX would block them.
    await eventually(
        lambda: _waiting_on_a_lock(traffic, "CREATE INDEX CONCURRENTLY", longer_than=0.5),
        message="the index build waiting for the open transaction",
    )
    await asyncio.wait_for(traffic.execute("INSERT INTO t VALUES (2, 2)"), timeout=2)
    await holding.commit()
    assert await asyncio.wait_for(applying, timeout=10) == [index]
    assert await migrator.fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_idx'::regclass")
    assert await _recorded(migrator) == [1]
    assert await migrator.fetchval("SHOW lock_timeout") == "0"


async def test_a_no_transaction_migration_refused_inside_a_transaction_shows_why_the_marker_exists(
    three_connections: list[asyncpg.Connection],
) -> None:
    migrator = three_connections[0]
    unmarked = _migration(1, CONCURRENT_INDEX.split("\n", 1)[1])
    assert unmarked.transactional
    with pytest.raises(asyncpg.ActiveSQLTransactionError):
        await migrations.apply(migrator, [unmarked])


async def test_concurrent_runs_apply_no_transaction_migrations_exactly_once(make_database: DatabaseFactory) -> None:
    url = await make_database()
    setup = await asyncpg.connect(url)
    try:
        await setup.execute("CREATE TABLE t (id integer PRIMARY KEY, x integer)")
        steps = [
            _migration(1, "ALTER TABLE t ADD COLUMN y integer"),
            _migration(2, CONCURRENT_INDEX, "t_x_index"),
            _migration(3, "ALTER TABLE t ADD COLUMN z integer"),
        ]

        async def run() -> list[migrations.Migration]:
            conn = await asyncpg.connect(url)
            try:
                return await migrations.apply(conn, steps)
            finally:
                await conn.close()

        results = await asyncio.gather(*(run() for _ in range(5)))
        assert sorted(len(r) for r in results) == [0, 0, 0, 0, 3]
        assert await _recorded(setup) == [1, 2, 3]
    finally:
        await setup.close()


@pytest.mark.parametrize(
    ("sql", "statements"),
    [
        ("SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]),
        ("SELECT ';' ; SELECT 'it''s; fine'", ["SELECT ';'", "SELECT 'it''s; fine'"]),
        ("SELECT E'a\\';b'; SELECT 2", ["SELECT E'a\\';b'", "SELECT 2"]),
        ('CREATE TABLE "a;b" (x int); SELECT 1', ['CREATE TABLE "a;b" (x int)', "SELECT 1"]),
        ("-- a; comment\nSELECT 1; -- trailing;\n", ["-- a; comment\nSELECT 1"]),
        ("/* one /* nested; */ still; */ SELECT 1; /* only a comment */;", ["/* one /* nested; */ still; */ SELECT 1"]),
        (
            "CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql; SELECT $$;$$",
            ["CREATE FUNCTION f() RETURNS int AS $body$ BEGIN RETURN 1; END $body$ LANGUAGE plpgsql", "SELECT $$;$$"],
        ),
        ("SELECT $1::int;", ["SELECT $1::int"]),  # a parameter, not a dollar quote
        (" ; ;\n", []),
    ],
)
def test_statements_are_split_only_at_semicolons_that_end_one(sql: str, statements: list[str]) -> None:
    assert migrations.split_statements(sql) == statements


def test_a_misspelt_directive_is_refused_when_the_migrations_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "misspelt_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_index.sql").write_text("-- authorium: no-transactions\nCREATE INDEX CONCURRENTLY i ON t (x);\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="unknown directive 'no-transactions'"):
        migrations.load("x", "misspelt_migrations")
    (package / "0001_index.sql").write_text(CONCURRENT_INDEX)
    (loaded,) = migrations.load("x", "misspelt_migrations")
    assert not loaded.transactional


def test_timeouts_come_from_the_environment_and_bad_values_name_the_variable() -> None:
    assert migrations.Timeouts.from_env({}) == migrations.Timeouts(lock=5.0, statement=60.0)
    assert migrations.Timeouts.from_env(
        {"AUTHORIUM_MIGRATION_LOCK_TIMEOUT": "0.5", "AUTHORIUM_MIGRATION_STATEMENT_TIMEOUT": "0"}
    ) == migrations.Timeouts(lock=0.5, statement=0)
    with pytest.raises(ConfigError, match="AUTHORIUM_MIGRATION_LOCK_TIMEOUT"):
        migrations.Timeouts.from_env({"AUTHORIUM_MIGRATION_LOCK_TIMEOUT": "soon"})


async def test_migrate_refuses_a_bad_timeout_with_one_line(make_database: DatabaseFactory) -> None:
    url = await make_database(migrated=False)
    result = await asyncio.to_thread(
        authorium, "migrate", env={"DATABASE_URL": url, "AUTHORIUM_MIGRATION_STATEMENT_TIMEOUT": "-1"}
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "AUTHORIUM_MIGRATION_STATEMENT_TIMEOUT" in result.stderr


@pytest.mark.parametrize(
    ("applied", "describe", "behind", "newer"),
    [
        ({1, 2, 3}, "current (3)", False, False),
        (set(), "behind (have 0, need 3)", True, False),
        ({1}, "behind (have 1, need 3)", True, False),
        ({1, 3}, "behind (have 1, need 3)", True, False),  # a gap: 2 is still missing
        ({1, 2, 3, 4}, "newer (have 4, this code knows up to 3)", False, True),
    ],
)
def test_schema_state_against_what_the_code_ships(applied: set[int], describe: str, behind: bool, newer: bool) -> None:
    state = migrations.SchemaState("authz", frozenset({1, 2, 3}), frozenset(applied))
    assert (state.describe(), state.behind, state.newer) == (describe, behind, newer)


async def test_schema_state_reads_an_empty_database_as_nothing_applied(make_database: DatabaseFactory) -> None:
    url = await make_database(migrated=False)
    conn = await asyncpg.connect(url)
    try:
        state = await migrations.schema_state(conn, "resource")
    finally:
        await conn.close()
    assert state.applied == frozenset() and state.need == 1
