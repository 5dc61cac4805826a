"""What an authorization server does to a Redis whose revocation lists are missing, for tests that run a resource
server without one: fill the lists (here with nothing), write their generation marker, and announce the refill.
Without a marker a resource server stays fail-closed (tests/resource/test_lost_revocations.py)."""

from __future__ import annotations

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authorium_shared.revocation_lists import RevocationList, announce_resync


async def refilled(redis_url: str, prefix: str) -> None:
    redis = create_redis(redis_url)
    try:
        await RevocationList(redis, RedisKeys(prefix)).refill([], "test")
        await announce_resync(redis, RedisKeys(prefix))
    finally:
        await redis.aclose()
