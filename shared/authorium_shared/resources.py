"""Cleanup contexts that open and close the resources services hold: a Postgres pool, Redis, and the event feed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

import asyncpg
import orjson
from aiohttp import web
from prometheus_client import Histogram
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from authorium_shared import redis_urls
from authorium_shared.appkeys import (
    EVENT_SUBSCRIBERS,
    METRICS,
    PG_POOL,
    READINESS_CHECKS,
    REDIS,
    REDIS_KEYS,
    REVOCATIONS,
)
from authorium_shared.events import EventFeed, Subscriber
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.revocation_lists import RevocationCache

CleanupContext = Callable[[web.Application], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def background(job: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `job` as a task for as long as the block lasts; cancelled and awaited when it ends."""
    task = asyncio.create_task(job)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )
    await conn.set_type_codec("json", encoder=json.dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool: Authorium sets no session state (its advisory
    locks are transaction-scoped). asyncpg still rolls back an open transaction first. Without this, every
    release would cost a round trip running asyncpg's default reset query."""


async def create_pg_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, query_seconds: Histogram | None = None
) -> asyncpg.Pool:
    """A pool; with `query_seconds`, every statement's time is observed in it (asyncpg's query logger, which runs
    after the statement, off the request's path)."""

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if query_seconds is not None:
            conn.add_query_logger(lambda record: query_seconds.observe(record.elapsed))

    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init,
        reset=_keep_session,
        command_timeout=10,
        # Pools outlive Postgres restarts: a connection idle this long is closed and made anew.
        max_inactive_connection_lifetime=60,
    )


class _Sentinel(Sentinel):
    """redis-py's Sentinel moves the sentinel that answered to the front of its list, and concurrent discoveries (every
    new connection makes one) corrupt the list: one sentinel listed twice, another lost, and never closed. So one
    discovery at a time; the others wait a moment for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call,unused-ignore]
        self._discovering = asyncio.Lock()

    async def discover_master(self, service_name: str) -> Any:
        async with self._discovering:
            return await super().discover_master(service_name)


class SentinelRedis(Redis):
    """A client of the master that Redis Sentinel names: on a failover its connections move to the new master (the
    commands in flight fail, as against any Redis that goes away). Closing it closes its sentinel connections too."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        if manager is not None:
            await manager.aclose()


def create_redis(url: str, **kwargs: Any) -> Redis:
    """A client for what `url` names (see `redis_urls`). A Redis Cluster's client answers the same commands, routing
    each by its key; it is typed as `Redis` so that callers need not care which they hold."""
    # Timeouts keep a stopped or slow Redis from hanging requests: callers see an error in bounded time.
    options: dict[str, Any] = {
        "socket_connect_timeout": 1.0,
        "socket_timeout": 1.0,
        "health_check_interval": 15,
        "max_connections": 100,
    }
    options.update(kwargs)
    target = redis_urls.parse(url)
    if target.mode == "single":
        return Redis.from_url(url, **options)
    credentials: dict[str, Any] = {"username": target.username, "password": target.password, "ssl": target.tls}
    if target.mode == "sentinel":
        assert target.master_name is not None
        sentinel = _Sentinel(
            target.hosts,
            sentinel_kwargs={
                "socket_connect_timeout": options["socket_connect_timeout"],
                "socket_timeout": options["socket_timeout"],
                "password": target.sentinel_password,
                "ssl": target.tls,
            },
        )
        credentials["db"] = target.db
        master: Redis = sentinel.master_for(target.master_name, redis_class=SentinelRedis, **credentials, **options)
        return master
    nodes = [ClusterNode(host, port) for host, port in target.hosts]
    return cast(Redis, RedisCluster(startup_nodes=nodes, **credentials, **options))


def time_commands(client: Redis, seconds: Histogram) -> None:
    """Observe every command `client` sends in `seconds`, by command name, and each pipeline as one `PIPELINE`.
    redis-py has no hook for it, so this client's two entry points (on this instance only) are wrapped."""
    execute: Callable[..., Awaitable[Any]] = client.execute_command
    make_pipeline = client.pipeline

    async def execute_command(*args: Any, **options: Any) -> Any:
        start = time.perf_counter()
        try:
            return await execute(*args, **options)
        finally:
            name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
            seconds.labels(name.split(" ", 1)[0].upper()).observe(time.perf_counter() - start)

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        run = pipe.execute

        async def execute_pipeline(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return await run(*a, **k)
            finally:
                seconds.labels("PIPELINE").observe(time.perf_counter() - start)

        setattr(pipe, "execute", execute_pipeline)  # noqa: B010 - typing forbids assigning to a method
        return pipe

    setattr(client, "execute_command", execute_command)  # noqa: B010 - as above
    setattr(client, "pipeline", pipeline)  # noqa: B010


def postgres(dsn: str, *, max_size: int = 10) -> CleanupContext:
    @asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        timed = app[METRICS].postgres_query_seconds if METRICS in app else None
        pool = await create_pg_pool(dsn, max_size=max_size, query_seconds=timed)
        app[PG_POOL] = pool
        try:
            yield
        finally:
            await pool.close()

    return ctx


def redis(url: str, prefix: str) -> CleanupContext:
    @asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        client = create_redis(url)
        if METRICS in app:
            time_commands(client, app[METRICS].redis_command_seconds)
        app[REDIS] = client
        app[REDIS_KEYS] = RedisKeys(prefix)
        try:
            yield
        finally:
            await client.aclose()

    return ctx


def event_feed(*, start_wait: float) -> CleanupContext:
    """A service's one event feed, run for every subscriber in `EVENT_SUBSCRIBERS` (added by the contexts before
    this one, in the order they are called). Start-up waits up to `start_wait` seconds for the first connect, so a
    service starts with its copies loaded; without Redis it starts anyway, and its copies fail closed."""

    @asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        registered: list[Subscriber] = app[EVENT_SUBSCRIBERS]
        subscribers = tuple(registered)
        up, reconnects = app[METRICS].event_feed()
        connects = 0

        async def on_event(event: dict[str, Any]) -> None:
            for subscriber in subscribers:
                await subscriber.on_event(event)

        async def on_connect() -> None:
            nonlocal connects
            for subscriber in subscribers:
                await subscriber.on_connect()
            connects += 1
            if connects > 1:
                reconnects.inc()
            up.set(1)

        def on_disconnect() -> None:
            up.set(0)
            for subscriber in subscribers:
                subscriber.on_disconnect()

        feed = EventFeed(app[REDIS], app[REDIS_KEYS], on_event, on_connect=on_connect, on_disconnect=on_disconnect)
        async with background(feed.run()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.connected_event.wait(), timeout=start_wait)
            yield

    return ctx


async def check_revocation_feed(app: web.Application) -> str | None:
    return app[REVOCATIONS].problem()


@asynccontextmanager
async def revocation_copy(app: web.Application, cache: RevocationCache) -> AsyncIterator[None]:
    """Keep `cache` as this service's copy of the revocation lists (`REVOCATIONS`): it follows the event feed,
    `/readyz` reports it, expired entries are pruned, and a copy that found the marker gone looks again every
    second. For a service's revocations cleanup context."""
    app[REVOCATIONS] = cache
    app[EVENT_SUBSCRIBERS].append(cache)
    app[READINESS_CHECKS].append(check_revocation_feed)
    async with background(cache.prune_periodically()), background(cache.recheck_marker_periodically()):
        yield
