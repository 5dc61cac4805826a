"""Versioned plain-SQL migrations, applied in one transaction under an advisory lock so replicas can race."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

# Any constant works, as long as every Authorium process uses the same one: it names the lock.
_LOCK_ID = 0x41555448_4D494752  # "AUTHMIGR"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Component -> the package holding its SQL files. Named, not imported: the files are read as package data, so
# this package depends on no service's code.
COMPONENTS = {"authz": "authz.migrations", "resource": "resource_server.migrations"}


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str


def load(component: str, package: str) -> list[Migration]:
    """The migrations shipped as `NNNN_name.sql` files in `package`, in version order."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _FILE_RE.match(entry.name)
        if match:
            found.append(Migration(component, int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations of {component} share a version number")
    return found


async def apply(conn: asyncpg.Connection, migrations: list[Migration]) -> list[Migration]:
    """Apply what is not applied yet; returns what was applied. Idempotent and safe to run concurrently."""
    async with conn.transaction():
        # The lock comes before anything else, even creating the bookkeeping table: two replicas creating
        # it at once would otherwise collide on Postgres's catalog.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                component text NOT NULL,
                version integer NOT NULL,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (component, version))"""
        )
        done = {(r["component"], r["version"]) for r in await conn.fetch("SELECT * FROM schema_migrations")}
        applied = []
        for migration in migrations:
            if (migration.component, migration.version) in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                migration.component,
                migration.version,
                migration.name,
            )
            applied.append(migration)
        return applied


def all_migrations() -> list[Migration]:
    """Every component's migrations, each component's in version order."""
    return [migration for component, package in COMPONENTS.items() for migration in load(component, package)]


async def migrate(database_url: str) -> list[Migration]:
    """Apply every component's pending migrations to the database at `database_url`; returns what was applied."""
    conn = await asyncpg.connect(database_url)
    try:
        return await apply(conn, all_migrations())
    finally:
        await conn.close()
