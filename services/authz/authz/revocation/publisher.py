"""The revocation outbox's publisher: brings every unexpired revocation Postgres has and Redis lacks into Redis's
lists and announces it, and refills the lists whole when Redis lost them (no generation marker, or the newest
published revocation missing), with or without a dropped connection. One authz replica at a time does the work
(a Postgres advisory lock); any replica may, so it goes on while any authz runs."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg
from redis.exceptions import RedisError

from authorium_shared.revocation_lists import RevocationList, announce_resync
from authz.outbox_loop import Messages, drain_forever
from authz.revocation import repository as revocations

log = logging.getLogger("authorium.authz")

# pg_try_advisory_xact_lock key: "revocation outbox" (any constant no other lock of Authorium's uses).
LOCK_KEY = 7_009_0001
# How often the marker is checked and the outbox drained when nothing wakes the publisher earlier.
INTERVAL = 0.5
MAX_BACKOFF = 2.0
# What a pass is expected to fail on while Postgres or Redis is away (logged once per outage); anything else is
# logged with its traceback. Either way the pass is tried again, with backoff, until it succeeds.
RETRIED = (RedisError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Publisher:
    def __init__(self, pool: asyncpg.Pool, listed: RevocationList, *, interval: float = INTERVAL) -> None:
        self.pool = pool
        self.listed = listed
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was left unpublished (a revoking request could not reach Redis): try again now."""
        self._wake.set()

    async def run(self) -> None:
        # It is what brings revocations into Redis at all.
        await drain_forever(
            self.publish,
            wake=self._wake,
            interval=self.interval,
            max_backoff=MAX_BACKOFF,
            retried=RETRIED,
            messages=Messages(
                failed="revocation publisher failed; retrying",
                pending="revocations not published yet; retrying",
                recovered="revocations published again",
            ),
        )

    async def publish(self, *, wait: bool = False) -> int:
        """One pass, by whichever replica holds the lock (others skip it: the holder is doing it). Returns how
        many revocations it put into Redis. With `wait`, the pass waits for the lock and runs after the holder's:
        a holder whose pass began before a loss may not have seen it."""
        async with self.pool.acquire() as conn, conn.transaction():
            if wait:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            elif not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_KEY):
                return 0
            if await self._lost(conn):
                return await self._refill(conn)
            return await self._drain(conn)

    async def refill(self) -> int:
        """A refill now, whatever the marker says (waiting for the lock if another replica holds it)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
            return await self._refill(conn)

    async def _lost(self, conn: asyncpg.Connection) -> bool:
        if await self.listed.generation() is None:
            return True
        latest = await revocations.latest_published(conn)
        if latest is None:
            return False
        score = await self.listed.redis.zscore(self.listed.key(latest.kind), latest.id)
        return score is None

    async def _refill(self, conn: asyncpg.Connection) -> int:
        """Every unexpired revocation back into Redis, then a new marker, then the announcement that has every copy
        reload (those that loaded without a marker stay fail-closed until then)."""
        found = await revocations.unexpired(conn)
        generation = uuid.uuid4().hex
        await self.listed.refill(found, generation)
        await revocations.mark_published(conn, found)
        await announce_resync(self.listed.redis, self.listed.keys)
        log.warning(
            "revocation lists refilled from Postgres: Redis had no whole copy (first start, or data lost)",
            extra={"count": len(found), "generation": generation},
        )
        return len(found)

    async def _drain(self, conn: asyncpg.Connection) -> int:
        published = 0
        while found := await revocations.unpublished(conn):
            await self.listed.add(*found)
            await revocations.mark_published(conn, found)
            published += len(found)
            if len(found) < 1000:
                break
        if published:
            log.info("unpublished revocations published", extra={"count": published})
        return published
