"""The authorization server's signing keys: rotation, start-up maintenance, and the in-memory key ring
that every replica keeps in step through the event channel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from authorium_shared import events
from authorium_shared.keys import ALGORITHMS, KeySet, StoredKey
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.rotation import RotationPlan, RotationPolicy, plan_maintenance, plan_rotation
from authz.repositories import audit
from authz.repositories.keys import KEYS_LOCK_ID, KeyRepository
from authz.settings import AuthzSettings

log = logging.getLogger("authorium.keys")

# A verifier may hold a token a little past `exp` (clock leeway); a retired key outlives that too.
RETIRE_MARGIN = timedelta(seconds=60)
# How often a replica reloads keys even without an event, in case it missed one while Redis was away.
RELOAD_INTERVAL = 30.0


def rotation_policy(settings: AuthzSettings) -> RotationPolicy:
    return RotationPolicy(
        publish_lead=timedelta(seconds=settings.jwks_max_age),
        retire_after=timedelta(seconds=settings.longest_token_ttl) + RETIRE_MARGIN,
    )


async def _change_keys(
    pool: asyncpg.Pool,
    repo: KeyRepository,
    plan_for: Callable[[Sequence[StoredKey], str, datetime], RotationPlan],
    algs: Sequence[str],
) -> list[RotationPlan]:
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        stored = await repo.load(conn)
        # Plan every algorithm before changing any: one that is too early to rotate stops them all.
        plans = [plan_for(stored, alg, now) for alg in algs]
        for plan in plans:
            await repo.apply(conn, plan, now)
        changed = [p for p in plans if not p.is_empty]
        if changed:
            await audit.record(
                conn,
                "key_rotation",
                details={
                    "plans": [
                        {"alg": p.alg, "promoted": p.promote, "retired": p.retire, "removed": list(p.remove)}
                        for p in changed
                    ]
                },
            )
        return changed


async def rotate(pool: asyncpg.Pool, settings: AuthzSettings, algs: Sequence[str] = ALGORITHMS) -> list[RotationPlan]:
    """Promote each algorithm's next key, retire the current one, publish a new next key.

    Raises RotationTooEarly when a next key has not been published for the JWKS cache lifetime yet."""
    plan = partial(plan_rotation, policy=rotation_policy(settings))
    return await _change_keys(pool, KeyRepository(settings.kek), plan, algs)


async def ensure(pool: asyncpg.Pool, settings: AuthzSettings) -> list[RotationPlan]:
    """Make sure every algorithm has a current and a next key, and drop retired keys nobody needs."""
    plan = partial(plan_maintenance, policy=rotation_policy(settings))
    return await _change_keys(pool, KeyRepository(settings.kek), plan, ALGORITHMS)


async def announce(redis: Redis, keys: RedisKeys) -> None:
    """Tell every replica to reload keys now. Best effort: replicas also reload on a timer."""
    try:
        await events.publish(redis, keys, {"type": "keys"})
    except (RedisError, OSError) as exc:
        log.warning(
            "could not announce the key change; replicas pick it up within %ss",
            RELOAD_INTERVAL,
            extra={"error": str(exc)},
        )


class KeyRing:
    """This replica's view of the key set, replaced whole on reload so readers never see half a change."""

    def __init__(self, pool: asyncpg.Pool, kek: bytes) -> None:
        self.pool = pool
        self.repo = KeyRepository(kek)
        self.keyset = KeySet(())

    async def reload(self) -> None:
        self.keyset = KeySet(tuple(await self.repo.load(self.pool)))

    async def reload_periodically(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            try:
                await self.reload()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("key reload failed", extra={"error": str(exc)})
