"""The signing keys' life: made, published as next, promoted to current, retired, removed (`authorium keys
rotate` and every authorization server's start-up maintenance), re-encrypted under a new KEK (`authorium keys
reencrypt`), and the announcement that makes every replica reload them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from authorium_shared import events
from authorium_shared.keys import ALGORITHMS, StoredKey
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.rotation import RotationPlan, RotationPolicy, plan_maintenance, plan_rotation
from authz.audit import AuditLog, audited_transaction
from authz.factors.repository import reseal_secrets
from authz.settings import AuthzSettings
from authz.signing.repository import KEYS_LOCK_ID, KeyRepository
from authz.signing.ring import KEYS_EVENT_TYPE, RELOAD_INTERVAL

log = logging.getLogger("authorium.keys")

# A verifier may hold a token a little past `exp` (clock leeway); a retired key outlives that too.
RETIRE_MARGIN = timedelta(seconds=60)


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
    actor: str | None = None,
) -> list[RotationPlan]:
    now = datetime.now(UTC)
    async with audited_transaction(pool) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        stored = await repo.load(conn)
        # Plan every algorithm before changing any: one that is too early to rotate stops them all.
        plans = [plan_for(stored, alg, now) for alg in algs]
        for plan in plans:
            await repo.apply(conn, plan, now)
        changed = [p for p in plans if not p.is_empty]
        if changed:
            await AuditLog(pool).record(
                "key_rotation",
                conn=conn,
                details={
                    **({"actor": actor} if actor else {}),
                    "plans": [
                        {"alg": p.alg, "promoted": p.promote, "retired": p.retire, "removed": list(p.remove)}
                        for p in changed
                    ],
                },
            )
        return changed


async def rotate(
    pool: asyncpg.Pool, settings: AuthzSettings, algs: Sequence[str] = ALGORITHMS, *, actor: str | None = None
) -> list[RotationPlan]:
    """Promote each algorithm's next key, retire the current one, publish a new next key; the audit event names
    `actor` (`cli`, or the admin API's client) when given.

    Raises RotationTooEarly when a next key has not been published for the JWKS cache lifetime yet."""
    plan = partial(plan_rotation, policy=rotation_policy(settings))
    return await _change_keys(pool, KeyRepository(settings.kek), plan, algs, actor)


async def ensure(pool: asyncpg.Pool, settings: AuthzSettings) -> list[RotationPlan]:
    """Make sure every algorithm has a current and a next key, and drop retired keys nobody needs."""
    plan = partial(plan_maintenance, policy=rotation_policy(settings))
    return await _change_keys(pool, KeyRepository(settings.kek), plan, ALGORITHMS)


async def reencrypt(pool: asyncpg.Pool, settings: AuthzSettings) -> list[str]:
    """Re-encrypt under AUTHORIUM_KEK every private key still stored under AUTHORIUM_KEK_PREVIOUS, so the
    previous KEK can be dropped; returns their kids. The other secrets under the KEK (authenticator apps' keys) are
    re-encrypted in the same transaction. Idempotent; serialised with every other key change."""
    async with audited_transaction(pool) as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", KEYS_LOCK_ID)
        kids = await KeyRepository(settings.kek).reencrypt(conn)
        resealed = await reseal_secrets(conn, settings.kek)
        if kids or resealed:
            details: dict[str, object] = {"kids": kids}
            if resealed:
                details["totp_secrets"] = resealed
            await AuditLog(pool).record("key_reencryption", conn=conn, details=details)
        return kids


async def announce(redis: Redis, keys: RedisKeys) -> None:
    """Tell every replica to reload keys now. Best effort: replicas also reload on a timer."""
    try:
        await events.publish(redis, keys, {"type": KEYS_EVENT_TYPE})
    except (RedisError, OSError) as exc:
        log.warning(
            "could not announce the key change; replicas pick it up within %ss",
            RELOAD_INTERVAL,
            extra={"error": str(exc)},
        )
