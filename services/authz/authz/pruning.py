"""Pruning what has expired (refresh tokens, grants, revocations) and audit events past their retention, so
the tables a token request touches stay the size of the live data. One replica at a time runs it, on a timer;
`authorium prune` runs it on demand. Each batch is its own short statement found through an index on the expiry
column, so pruning never holds long locks or a long transaction."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from authorium_shared.redis_keys import RedisKeys

log = logging.getLogger("authorium.authz")

BATCH = 5_000
INTERVAL = 600.0

# table -> the timestamp column past which a row is dead. Deleting a grant deletes its refresh tokens
# (ON DELETE CASCADE); a grant's revocation lives on in `revocations` until it expires in turn.
EXPIRING = {
    "refresh_tokens": "expires_at",
    "grants": "expires_at",
    "revocations": "expires_at",
    "audit_events": "occurred_at",
}


async def delete_batch(pool: asyncpg.Pool, table: str, before: datetime, limit: int) -> int:
    column = EXPIRING[table]
    status = await pool.execute(
        f"""DELETE FROM {table} WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM {table} WHERE {column} < $1 LIMIT $2))""",
        before,
        limit,
    )
    return int(status.split()[-1])


async def prune(
    pool: asyncpg.Pool, *, audit_retention: timedelta, batch: int = BATCH, now: datetime | None = None
) -> dict[str, int]:
    """Delete every dead row, `batch` rows per statement; returns how many per table."""
    now = now or datetime.now(UTC)
    cutoffs = {
        "refresh_tokens": now,
        "grants": now,
        "revocations": now,
        "audit_events": now - audit_retention,
    }
    deleted: dict[str, int] = {}
    for table, before in cutoffs.items():
        total = 0
        while (count := await delete_batch(pool, table, before, batch)) > 0:
            total += count
            await asyncio.sleep(0)  # let requests in between batches
        deleted[table] = total
    return deleted


async def prune_periodically(
    pool: asyncpg.Pool, redis: Redis, keys: RedisKeys, *, audit_retention: timedelta, interval: float = INTERVAL
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            # One replica per interval does the work; the others find the turn taken.
            if not await redis.set(keys("prune-turn"), "1", nx=True, ex=max(1, int(interval) - 1)):
                continue
            deleted = await prune(pool, audit_retention=audit_retention)
            if any(deleted.values()):
                log.info("pruned expired rows", extra={"deleted": deleted})
        except (RedisError, OSError, asyncpg.PostgresError) as exc:
            log.warning("pruning failed; retrying next interval", extra={"error": str(exc)})
