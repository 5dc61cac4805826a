"""Versioned plain-SQL migrations, applied under an advisory lock so replicas can race, each in its own transaction
with lock and statement timeouts (or, when it says so, outside any transaction); and the schema version a
component's code needs."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

import asyncpg

from authorium_shared.settings import env_float

log = logging.getLogger("authorium.migrations")

# Any constant works, as long as every Authorium process uses the same one: it names the lock.
_LOCK_ID = 0x41555448_4D494752  # "AUTHMIGR"
_FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Component -> the package holding its SQL files. Named, not imported: the files are read as package data, so
# this package depends on no service's code.
COMPONENTS = {"authz": "authz.migrations", "resource": "resource_server.migrations"}

# A migration's first line may hold one directive. `no-transaction`: run outside a transaction, statement by
# statement, for what Postgres refuses inside one (CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY).
_DIRECTIVE_RE = re.compile(r"^--\s*authorium:\s*(.*?)\s*$")
NO_TRANSACTION = "no-transaction"
_DIRECTIVES = frozenset({NO_TRANSACTION})

# A transactional migration that fails on its lock timeout is tried again after these pauses (seconds): the
# lock holder is usually a transaction of live traffic that ends soon.
LOCK_RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0)
# How often a run looks again whether another run still holds the migration lock (seconds, doubling).
LOCK_POLL_FIRST, LOCK_POLL_MAX = 0.05, 1.0


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def directive(self) -> str | None:
        match = _DIRECTIVE_RE.match(self.sql.split("\n", 1)[0])
        return match[1] if match else None

    @property
    def transactional(self) -> bool:
        return self.directive != NO_TRANSACTION


@dataclass(frozen=True)
class Timeouts:
    """What a transactional migration runs with (`SET LOCAL`), in seconds; 0 means no limit.

    `lock`: how long one statement may wait for a lock. Live queries that need the same table queue behind a
    statement waiting for a stronger lock, so this bounds how long a migration can hold up traffic by waiting.
    `statement`: how long one statement may run, and so hold the locks it took. Migrations outside a transaction
    (index builds CONCURRENTLY) take no lock that blocks reads or writes, run for as long as the table needs,
    and wait for older transactions by design: they run with neither limit."""

    lock: float = 5.0
    statement: float = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Timeouts:
        return cls(
            lock=env_float(environ, "AUTHORIUM_MIGRATION_LOCK_TIMEOUT", cls.lock, minimum=0, maximum=3600),
            statement=env_float(
                environ, "AUTHORIUM_MIGRATION_STATEMENT_TIMEOUT", cls.statement, minimum=0, maximum=86400
            ),
        )


def load(component: str, package: str) -> list[Migration]:
    """The migrations shipped as `NNNN_name.sql` files in `package`, in version order."""
    found = []
    for entry in resources.files(package).iterdir():
        match = _FILE_RE.match(entry.name)
        if match:
            migration = Migration(component, int(match[1]), match[2], entry.read_text("utf-8"))
            # A misspelt directive would silently run the migration in a transaction: refuse it instead.
            if migration.directive is not None and migration.directive not in _DIRECTIVES:
                raise ValueError(f"{package}/{entry.name}: unknown directive {migration.directive!r}")
            found.append(migration)
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations of {component} share a version number")
    return found


async def apply(
    conn: asyncpg.Connection, migrations: list[Migration], timeouts: Timeouts = Timeouts()
) -> list[Migration]:
    """Apply what is not applied yet, each migration on its own; returns what was applied. Idempotent and safe to
    run concurrently: every run holds the same advisory lock while it works, so each migration is applied once."""
    # The lock comes before anything else, even creating the bookkeeping table: two replicas creating it at once
    # would otherwise collide on Postgres's catalog. Waiting for it holds up nothing but other migration runs.
    await _lock(conn)
    try:
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
            if migration.transactional:
                await _apply_in_transaction(conn, migration, timeouts)
            else:
                await _apply_outside_transaction(conn, migration)
            applied.append(migration)
        return applied
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def _lock(conn: asyncpg.Connection) -> None:
    """Take the migration lock for the session, not a transaction, so that it also covers migrations run outside
    one. Polled rather than waited for in `pg_advisory_lock`: a session waiting there holds a snapshot, and
    CREATE INDEX CONCURRENTLY in the run that holds the lock waits for every older snapshot to end: a deadlock."""
    pause = LOCK_POLL_FIRST
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_ID):
        await asyncio.sleep(pause)
        pause = min(2 * pause, LOCK_POLL_MAX)


async def _apply_in_transaction(conn: asyncpg.Connection, migration: Migration, timeouts: Timeouts) -> None:
    for pause in (*LOCK_RETRY_PAUSES, None):
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)",
                    _milliseconds(timeouts.lock),
                    _milliseconds(timeouts.statement),
                )
                await conn.execute(migration.sql)
                await _record(conn, migration)
            return
        except asyncpg.LockNotAvailableError:
            if pause is None:
                raise
            log.warning(
                "migration waited too long for a lock; trying again",
                extra={"migration": f"{migration.component} {migration.version:04d}_{migration.name}", "pause": pause},
            )
            await asyncio.sleep(pause)


async def _apply_outside_transaction(conn: asyncpg.Connection, migration: Migration) -> None:
    # Statement by statement: several statements sent at once run as one implicit transaction. If one fails, those
    # before it stay done and the migration is not recorded, so it runs again from the top next time: write such
    # migrations to be re-runnable (a failed CREATE INDEX CONCURRENTLY leaves an invalid index: drop it first).
    await conn.execute("SELECT set_config('lock_timeout', '0', false), set_config('statement_timeout', '0', false)")
    try:
        for statement in split_statements(migration.sql):
            await conn.execute(statement)
        await _record(conn, migration)
    finally:
        if not conn.is_closed():
            await conn.execute("RESET lock_timeout; RESET statement_timeout")


async def _record(conn: asyncpg.Connection, migration: Migration) -> None:
    await conn.execute(
        "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
        migration.component,
        migration.version,
        migration.name,
    )


def _milliseconds(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


_TOKEN_RE = re.compile(
    r"""
      (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<dollar>\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$)
    | (?P<escape_string>(?<![A-Za-z0-9_])[Ee]')
    | (?P<quote>['"])
    | (?P<semicolon>;)
    """,
    re.VERBOSE,
)


def split_statements(sql: str) -> list[str]:
    """`sql` cut into its statements at the semicolons outside comments, string literals, quoted identifiers and
    dollar quotes; statements that hold only comments and blanks are dropped."""
    statements, start, i = [], 0, 0
    while (match := _TOKEN_RE.search(sql, i)) is not None:
        kind, i = match.lastgroup, match.end()
        if kind == "block_comment":
            i = _block_comment_end(sql, i)
        elif kind == "dollar":
            end = sql.find(match[0], i)
            i = len(sql) if end < 0 else end + len(match[0])
        elif kind == "escape_string":
            i = _quoted_end(sql, i, "'", backslash=True)
        elif kind == "quote":
            i = _quoted_end(sql, i, match[0], backslash=False)
        elif kind == "semicolon":
            statements.append(sql[start : match.start()])
            start = i
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _block_comment_end(sql: str, i: int) -> int:
    depth = 1  # Postgres's block comments nest
    while depth and i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _quoted_end(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    while i < len(sql):
        if backslash and sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql.startswith(quote * 2, i):  # a doubled quote stands for itself
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return i


def _has_code(statement: str) -> bool:
    without_line_comments = re.sub(r"--[^\n]*", "", statement)
    return bool(re.sub(r"/\*.*?\*/", "", without_line_comments, flags=re.DOTALL).strip())


def all_migrations() -> list[Migration]:
    """Every component's migrations, each component's in version order."""
    return [migration for component, package in COMPONENTS.items() for migration in load(component, package)]


async def migrate(database_url: str, timeouts: Timeouts = Timeouts()) -> list[Migration]:
    """Apply every component's pending migrations to the database at `database_url`; returns what was applied."""
    conn = await asyncpg.connect(database_url)
    try:
        return await apply(conn, all_migrations(), timeouts)
    finally:
        await conn.close()


# The schema version a component's code needs


@dataclass(frozen=True)
class SchemaState:
    """Which of a component's migrations the database has, against those its code ships."""

    component: str
    shipped: frozenset[int]
    applied: frozenset[int]

    @property
    def need(self) -> int:
        return max(self.shipped, default=0)

    @property
    def have(self) -> int:
        """The highest version up to which everything shipped is applied; if the database has versions the code
        does not ship, the highest of those."""
        if self.unknown:
            return max(self.applied)
        have = 0
        for version in sorted(self.shipped):
            if version not in self.applied:
                break
            have = version
        return have

    @property
    def missing(self) -> list[int]:
        return sorted(self.shipped - self.applied)

    @property
    def unknown(self) -> list[int]:
        """Applied versions this code does not ship: a newer release migrated the database."""
        return sorted(self.applied - self.shipped)

    @property
    def behind(self) -> bool:
        return bool(self.missing)

    @property
    def newer(self) -> bool:
        return bool(self.unknown)

    def describe(self) -> str:
        if self.newer:
            return f"newer (have {self.have}, this code knows up to {self.need})"
        return f"behind (have {self.have}, need {self.need})" if self.behind else f"current ({self.need})"


@dataclass(frozen=True)
class SchemaRequirement:
    """What a service that keeps data in Postgres needs before it serves: `component`'s schema, at `database_url`."""

    component: str
    database_url: str


async def schema_state(conn: asyncpg.Connection, component: str) -> SchemaState:
    shipped = frozenset(m.version for m in load(component, COMPONENTS[component]))
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations WHERE component = $1", component)
    except asyncpg.UndefinedTableError:  # nothing was ever migrated here
        rows = []
    return SchemaState(component, shipped, frozenset(r["version"] for r in rows))
