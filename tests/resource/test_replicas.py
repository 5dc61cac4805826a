"""Two resource servers side by side, as replicas behind a load balancer: each with its own revocation feed
and JWKS cache. A revocation reaches both within a second; a key rotation needs no restart of either."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_pg_pool, create_redis
from authz.settings import AuthzSettings
from authz.signing import lifecycle as keys
from tests.conftest import REDIS_URL, DatabaseFactory
from tests.resource.conftest import (
    RESOURCE_URL,
    Caller,
    ResourceFactory,
    refreshed,
    revoke,
    running_authz,
    running_resource,
    service_token,
    user_token,
)
from tests.waiting import eventually


async def _status(http: aiohttp.ClientSession, api: str, caller: Caller) -> int:
    async with http.get(api + "/api/me", headers=caller.headers) as resp:
        return resp.status


async def test_a_revocation_reaches_every_replica_within_a_second(
    start_resource: ResourceFactory, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    caller = await user_token(http, authz, db)
    other = await refreshed(http, authz, caller)
    async with (
        start_resource(AUTHORIUM_RESOURCE_URL=RESOURCE_URL) as one,
        start_resource(AUTHORIUM_RESOURCE_URL=RESOURCE_URL) as two,
    ):
        assert one != two
        assert [await _status(http, api, caller) for api in (one, two)] == [200, 200]
        await revoke(http, authz, caller)
        pending = {one, two}

        async def refused_by_both() -> bool:
            for api in list(pending):
                if await _status(http, api, caller) == 401:
                    pending.discard(api)
            assert not pending, f"{sorted(pending)} still accept the token"
            return True

        await eventually(refused_by_both, timeout=1.0, interval=0.01, message="every replica to refuse the token")
        assert [await _status(http, api, other) for api in (one, two)] == [200, 200]


@pytest.fixture
async def rotating(
    make_database: DatabaseFactory, environ: dict[str, str]
) -> AsyncIterator[tuple[str, dict[str, str], asyncpg.Pool]]:
    """An authorization server on a database of its own (rotation must not change other tests' keys), whose
    JWKS may be cached for 0 s, so `keys rotate` may promote the next key at once."""
    env = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": "0"}
    pool = await create_pg_pool(env["DATABASE_URL"], max_size=2)
    try:
        async with running_authz(env) as url:
            yield url, env, pool
    finally:
        await pool.close()


async def _rotate(env: dict[str, str], pool: asyncpg.Pool) -> None:
    """What `authorium keys rotate` does: rotate in Postgres, then announce it on the event channel."""
    assert await keys.rotate(pool, AuthzSettings.from_env(env))
    redis = create_redis(REDIS_URL)
    try:
        await keys.announce(redis, RedisKeys(env["AUTHORIUM_REDIS_PREFIX"]))
    finally:
        await redis.aclose()


async def _new_kid_token(
    http: aiohttp.ClientSession, authz: str, pool: asyncpg.Pool, old_kid: str, wait: float = 5.0
) -> Caller:
    """A token signed with a key other than `old_kid` (the authz reloads its keys on the announcement)."""

    async def signed_with_a_new_key() -> Caller | None:
        caller = await service_token(http, authz, pool, scope="notes:read")
        return caller if caller.kid != old_kid else None

    return await eventually(
        signed_with_a_new_key, timeout=wait, message="the authorization server to sign with a key other than the old"
    )


async def test_after_a_key_rotation_every_replica_accepts_the_new_key_without_restart(
    rotating: tuple[str, dict[str, str], asyncpg.Pool], http: aiohttp.ClientSession
) -> None:
    authz, env, pool = rotating
    replica_env = {**env, "AUTHORIUM_ISSUER": authz, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL}
    async with running_resource(replica_env) as one, running_resource(replica_env) as two:
        before = await service_token(http, authz, pool, scope="notes:read")
        assert [await _status(http, api, before) for api in (one, two)] == [200, 200]

        await _rotate(env, pool)
        after = await _new_kid_token(http, authz, pool, before.kid)
        assert [await _status(http, api, after) for api in (one, two)] == [200, 200]
        # Tokens signed before the rotation stay good until they expire: the retired key is still published.
        assert [await _status(http, api, before) for api in (one, two)] == [200, 200]


@pytest.mark.slow
async def test_a_key_never_seen_before_is_fetched_when_a_token_names_it(
    rotating: tuple[str, dict[str, str], asyncpg.Pool], http: aiohttp.ClientSession
) -> None:
    """Two rotations in a row put a key into service that the replicas never fetched: the first token naming
    its kid makes them refetch the JWKS (at most once per 5 s per replica, so they may refuse until then)."""
    authz, env, pool = rotating
    replica_env = {**env, "AUTHORIUM_ISSUER": authz, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL}
    async with running_resource(replica_env) as one, running_resource(replica_env) as two:
        before = await service_token(http, authz, pool, scope="notes:read")
        await _rotate(env, pool)
        middle = await _new_kid_token(http, authz, pool, before.kid)
        await _rotate(env, pool)
        after = await _new_kid_token(http, authz, pool, middle.kid)
        pending = {one, two}

        async def accepted_by_both() -> bool:
            for api in list(pending):
                if await _status(http, api, after) == 200:
                    pending.discard(api)
            assert not pending, f"{sorted(pending)} never fetched the new key"
            return True

        await eventually(accepted_by_both, timeout=7.0, interval=0.2, message="every replica to fetch the new key")
        assert [await _status(http, api, before) for api in (one, two)] == [200, 200]
