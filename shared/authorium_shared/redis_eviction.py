"""Whether Redis may evict Authorium's keys: its `maxmemory-policy`, read at start and every 30 s (or stated by
`AUTHORIUM_REDIS_MAXMEMORY_POLICY` where `CONFIG` is refused), reported by `/readyz` as `redis_eviction`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from aiohttp import web
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from authorium_shared.appkeys import READINESS_CHECKS, REDIS
from authorium_shared.resources import CleanupContext, background

log = logging.getLogger("authorium.redis")

POLICY_SETTING: Final = "AUTHORIUM_REDIS_MAXMEMORY_POLICY"
SAFE_POLICY: Final = "noeviction"
# How often the policy is read again while Redis answers, and while it does not (so a Redis that comes back,
# perhaps another one after a failover, is read within about a second of the reconnect).
REFRESH_SECONDS: Final = 30.0
RETRY_SECONDS: Final = 1.0
# A Redis that does not answer at start does not hold the start up longer than this (readiness fails meanwhile).
START_WAIT_SECONDS: Final = 2.0


def check_policy(policy: str) -> str | None:
    """None if `policy` keeps every key; else the reason readiness fails. Only `noeviction` keeps every key:
    `allkeys-*` may drop anything, the revocation lists included (they have no TTL), and `volatile-*` drop keys
    with a TTL, which codes, code-replay markers, sessions, parked authorization requests and rate-limit counters
    all have. A lost replay marker or rate-limit counter weakens a protection silently, so those count too."""
    if policy == SAFE_POLICY:
        return None
    return (
        f"maxmemory-policy is {policy}: Redis may evict Authorium's keys (revocations, codes, sessions); "
        f"set it to {SAFE_POLICY}"
    )


def unknown_policy(refusal: str) -> str:
    """The reason readiness fails when Redis will not tell its policy and no setting states it."""
    return (
        f"maxmemory-policy unknown: CONFIG GET was refused ({refusal}); set {POLICY_SETTING} to the policy "
        f"your Redis provider configures (Authorium needs {SAFE_POLICY})"
    )


class EvictionWatch:
    """The last word on Redis's eviction policy, and the one error line per change of it."""

    def __init__(self, stated: str | None) -> None:
        self.stated = stated
        self.reason: str | None = "maxmemory-policy not read yet (Redis has not answered)"
        self._logged: str | None = None
        if stated is not None:
            self._judge(check_policy(stated))

    async def refresh(self, redis: Redis) -> bool:
        """Read the policy unless a setting states it. False if Redis did not answer (the last word stands)."""
        if self.stated is not None:
            return True
        try:
            if isinstance(redis, RedisCluster):  # every node holds some of the keys: every node is asked
                replies = list(
                    (await redis.config_get("maxmemory-policy", target_nodes=RedisCluster.ALL_NODES)).values()
                )
            else:
                replies = [await redis.config_get("maxmemory-policy")]
        except ResponseError as exc:  # "unknown command" (renamed or disabled), NOPERM (an ACL without +config)
            self._judge(unknown_policy(str(exc)[:120]))
            return True
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            log.debug("could not read maxmemory-policy", extra={"error": repr(exc)})
            return False
        # redis-py decodes CONFIG GET's reply to str.
        policies: list[str | None] = [reply.get("maxmemory-policy") for reply in replies]
        # Some proxies answer CONFIG GET with nothing rather than an error.
        reasons = [
            unknown_policy("no maxmemory-policy in the reply") if p is None else check_policy(p) for p in policies
        ]
        self._judge(next((reason for reason in reasons if reason), None))
        return True

    def _judge(self, reason: str | None) -> None:
        self.reason = reason
        if reason == self._logged:
            return
        if reason is None:
            log.info("Redis maxmemory-policy is %s", SAFE_POLICY)
        else:
            log.error("Redis eviction: %s", reason)
        self._logged = reason

    async def refresh_periodically(self, redis: Redis, *, answered: bool) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS if answered else RETRY_SECONDS)
            answered = await self.refresh(redis)


def watch(stated: str | None) -> CleanupContext:
    """Watch the policy and report it in `/readyz` as `redis_eviction`; after the Redis context. Start-up reads
    it once (a Redis that does not answer leaves readiness failing until it does)."""

    @asynccontextmanager
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        eviction = EvictionWatch(stated)

        async def check_redis_eviction(_: web.Application) -> str | None:
            return eviction.reason

        app[READINESS_CHECKS].append(check_redis_eviction)
        answered = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(START_WAIT_SECONDS):
                answered = await eviction.refresh(app[REDIS])
        async with background(eviction.refresh_periodically(app[REDIS], answered=answered)):
            yield

    return ctx
