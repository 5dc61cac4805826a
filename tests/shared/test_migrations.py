"""Migrations: applied once, idempotent, and safe when several replicas run them at the same moment."""

from __future__ import annotations

import asyncio

import asyncpg

from authorium_shared import migrations
from tests.conftest import DatabaseFactory
from tests.processes import authorium


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
    assert [m.component for m in first] == ["authz", "authz", "authz", "resource"]
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
