"""Cached client records: no Postgres round trip per authenticated request, yet a change to a client (announced
on the event channel) reaches every replica at once, and an unannounced one within the cache's lifetime."""

from __future__ import annotations

import aiohttp
import asyncpg

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authz.clients.cache import ClientCache, announce_change
from authz.clients.registration import build_spec, declare_client
from authz.clients.repository import ClientRepository
from tests.authz.conftest import AuthzFactory
from tests.authz.flows import basic_header
from tests.conftest import REDIS_URL
from tests.waiting import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SECRET_A = "first-secret-of-more-than-thirty-two-characters"
SECRET_B = "second-secret-of-more-than-thirty-two-characters"


async def declare(db: asyncpg.Pool, client_id: str, secret: str) -> None:
    spec = build_spec(
        name="cached", grant_types=["client_credentials"], redirect_uris=[], scope="notes:read", public=False
    )
    await declare_client(db, client_id, spec, secret)


class CountingRepository(ClientRepository):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.reads = 0

    async def get(self, client_id: str):  # type: ignore[no-untyped-def]
        self.reads += 1
        return await super().get(client_id)


async def test_a_cached_client_is_read_once_until_it_expires_or_is_invalidated(db: asyncpg.Pool) -> None:
    await declare(db, "cache-unit", SECRET_A)
    repository, clock = CountingRepository(db), Clock()
    cache = ClientCache(repository, ttl=60, clock=clock)
    for _ in range(5):
        assert (await cache.get("cache-unit")) is not None
    assert repository.reads == 1
    clock.now = 61
    await cache.get("cache-unit")
    assert repository.reads == 2
    await cache.on_event({"type": "client", "client_id": "cache-unit"})
    await cache.get("cache-unit")
    assert repository.reads == 3
    await cache.on_event({"type": "keys"})  # other events leave it alone
    await cache.get("cache-unit")
    assert repository.reads == 3


async def test_unknown_client_ids_are_not_remembered_and_the_cache_is_bounded(db: asyncpg.Pool) -> None:
    repository = CountingRepository(db)
    cache = ClientCache(repository, max_entries=2)
    for _ in range(3):
        assert await cache.get("no-such-client") is None
    assert repository.reads == 3
    for i in range(3):
        await declare(db, f"bounded-{i}", SECRET_A)
        await cache.get(f"bounded-{i}")
    assert len(cache._entries) == 2 and "bounded-0" not in cache._entries


async def test_an_announced_change_reaches_every_replica_at_once(
    start_authz: AuthzFactory, db: asyncpg.Pool, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    await declare(db, "cache-replicas", SECRET_A)

    async def status(authz: str, secret: str) -> int:
        headers = {"Authorization": basic_header("cache-replicas", secret)}
        async with http.post(authz + "/token", data={"grant_type": "client_credentials"}, headers=headers) as r:
            return r.status

    async with start_authz() as first, start_authz() as second:
        assert [await status(first, SECRET_A), await status(second, SECRET_A)] == [200, 200]
        await declare(db, "cache-replicas", SECRET_B)
        # Not announced yet: both replicas still hold the old record (for at most the cache's lifetime).
        assert await status(first, SECRET_A) == 200
        redis = create_redis(REDIS_URL)
        try:
            await announce_change(redis, RedisKeys(environ["AUTHORIUM_REDIS_PREFIX"]), "cache-replicas")
        finally:
            await redis.aclose()

        async def both_take_the_new_secret() -> bool:
            return [await status(first, SECRET_B), await status(second, SECRET_B)] == [200, 200]

        await eventually(both_take_the_new_secret, timeout=0.2, interval=0.02, message="the change at both replicas")
        assert [await status(first, SECRET_A), await status(second, SECRET_A)] == [401, 401]
