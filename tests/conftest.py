"""Fixtures shared by every test: a Postgres database and a Redis key prefix of this run's own, removed after.

Tests talk to the real Postgres and Redis named by AUTHORIUM_TEST_POSTGRES / AUTHORIUM_TEST_REDIS (default: the
local servers on 127.0.0.1). Where nothing usable answers there, the run starts private ones (tests/stores.py) and
stops them at its end; the header pytest prints says which servers the run uses."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest

from authorium_shared import migrations
from authorium_shared.keys import generate_kek
from authorium_shared.resources import create_redis
from tests.stores import RunStores

# Final once pytest_configure has run, which is before any test module is imported (many import these two).
ADMIN_URL = os.environ.get("AUTHORIUM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("AUTHORIUM_TEST_REDIS", "redis://127.0.0.1:6379/0")
_STORES = pytest.StashKey[RunStores]()
RUN_ID = uuid.uuid4().hex[:10]
# The demo client's registration, for tests that only need the demo to start (tests/stack.py registers a real one).
DEMO_CLIENT_ENV = {"AUTHORIUM_CLIENT_DEMO_CLIENT_ID": "demo-client", "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET": "secret"}


def pytest_configure(config: pytest.Config) -> None:
    """Pick the run's Postgres and Redis, starting private ones where nothing usable answers."""
    global ADMIN_URL, REDIS_URL
    if config.option.help:
        return
    stores = RunStores.start(
        ADMIN_URL,
        REDIS_URL,
        postgres_named="AUTHORIUM_TEST_POSTGRES" in os.environ,
        redis_named="AUTHORIUM_TEST_REDIS" in os.environ,
    )
    config.stash[_STORES] = stores
    ADMIN_URL, REDIS_URL = stores.admin_url, stores.redis_url
    # Also for anything that reads them afresh: a module imported under another name, a child process.
    os.environ["AUTHORIUM_TEST_POSTGRES"], os.environ["AUTHORIUM_TEST_REDIS"] = ADMIN_URL, REDIS_URL


def pytest_unconfigure(config: pytest.Config) -> None:
    stores = config.stash.get(_STORES, None)
    if stores is not None:
        stores.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    stores = config.stash.get(_STORES, None)
    return stores.notes if stores is not None else []


def database_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def _create_database(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url(name)


async def _drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


DatabaseFactory = Callable[..., Awaitable[str]]


@pytest.fixture(scope="session")
async def make_database() -> AsyncIterator[DatabaseFactory]:
    """Makes fresh databases on demand (migrated unless told not to); all are dropped at the end of the run."""
    names: list[str] = []

    async def make(*, migrated: bool = True) -> str:
        name = f"authorium_test_{RUN_ID}_{len(names)}"
        names.append(name)
        url = await _create_database(name)
        if not migrated:
            return url
        conn = await asyncpg.connect(url)
        try:
            await migrations.apply(conn, migrations.all_migrations())
        finally:
            await conn.close()
        return url

    yield make
    for name in names:
        await _drop_database(name)


@pytest.fixture(scope="session")
async def db_url(make_database: DatabaseFactory) -> str:
    """The run's shared database; tests make their own rows with unique names, so they can share it."""
    return await make_database()


@pytest.fixture(scope="module")
async def module_db(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """`db`, for fixtures that live as long as a module's servers."""
    from authorium_shared.resources import create_pg_pool

    pool = await create_pg_pool(db_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    from authorium_shared.resources import create_pg_pool

    pool = await create_pg_pool(db_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"authorium-test:{RUN_ID}:"
    yield prefix
    client = create_redis(REDIS_URL)
    try:
        async for key in client.scan_iter(match=prefix + "*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client, as a service calling the APIs would use."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def kek() -> str:
    return generate_kek()


@pytest.fixture(scope="module")
def module_environ(db_url: str, redis_prefix: str, kek: str) -> dict[str, str]:
    """The environment a deployment of this run's state would have, for servers a module's tests share
    (starting a server costs ~0.4 s). Not to be changed: tests that change their environment use `environ`."""
    return {
        "DATABASE_URL": db_url,
        "REDIS_URL": REDIS_URL,
        "AUTHORIUM_REDIS_PREFIX": redis_prefix,
        "AUTHORIUM_KEK": kek,
        "AUTHORIUM_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def environ(module_environ: dict[str, str]) -> dict[str, str]:
    """The environment a deployment of this run's state would have: the test's own copy, to change at will."""
    return dict(module_environ)


@pytest.fixture
async def private_redis_environ(environ: dict[str, str], make_database: DatabaseFactory) -> dict[str, str]:
    """`environ` with a database of its own, for a test that runs an authz on a Redis of its own: one Postgres goes
    with one Redis, as deployed. On the shared database, an authz would rightly refill its fresh Redis with the
    revocations other tests published into theirs, and report the refill in `/readyz` while it runs."""
    return {**environ, "DATABASE_URL": await make_database()}
