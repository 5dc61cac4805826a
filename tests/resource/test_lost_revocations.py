"""No revocation is lost whatever Redis does (issue 21): Redis losing the lists without dropping a connection (keys
deleted, as FLUSHALL, eviction or a failover behind a proxy do) is noticed by the lists' generation marker, and a
revocation half done because Redis failed between the Postgres write and the Redis write is published by the
outbox once Redis answers again. All of it on a private Redis, over HTTP, with nobody restarting anything."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.revocation_lists import RevocationList, announce_resync
from tests.authz.flows import make_client, make_user, sign_in_and_redeem, token_request
from tests.processes import redis_server
from tests.resource.conftest import RESOURCE_URL, running_authz, running_resource, unverified_claims
from tests.servers import private_url
from tests.waiting import eventually

pytestmark = pytest.mark.slow


async def _me(http: aiohttp.ClientSession, api: str, token: str) -> int:
    async with http.get(api + "/api/me", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


async def _revoke(http: aiohttp.ClientSession, authz: str, basic: dict[str, str], token: str) -> int:
    async with http.post(authz + "/revoke", data={"token": token}, headers=basic) as resp:
        return resp.status


@contextmanager
def _stack_env(environ: dict[str, str]) -> Iterator[tuple[dict[str, str], int, int]]:
    with redis_server() as (port, proc):
        env = {
            **environ,
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "AUTHORIUM_RESOURCE_URL": RESOURCE_URL,
            "AUTHORIUM_REVOCATION_MAX_STALENESS": "1",
        }
        yield env, port, proc.pid


async def test_a_replica_started_after_redis_lost_its_keys_never_accepts_a_revoked_token(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession, redis_prefix: str
) -> None:
    client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    with _stack_env(environ) as (env, port, _):
        async with running_authz(env) as authz, running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
            status, body, _ = await token_request(http, authz, client, grant_type="client_credentials")
            assert status == 200, body
            revoked = body["access_token"]
            assert await _revoke(http, authz, client.basic, revoked) == 200
            await eventually(lambda: _is(http, api, revoked, 401), timeout=2, message="the revocation to be honoured")

            # The deployment's keys are deleted behind everyone's back: no connection drops.
            redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
            try:
                deleted = [key async for key in redis.scan_iter(match=redis_prefix + "*")]
                assert deleted
                await redis.delete(*deleted)
            finally:
                await redis.aclose()

            # One more replica, as an autoscaler would start: it refuses the revoked token from its first answer
            # (503 while the lists are being refilled, then 401), never 200; the one already running too.
            async with running_resource({**env, "AUTHORIUM_ISSUER": authz}) as late:
                seen: list[int] = []

                async def refused_by_both() -> bool:
                    statuses = (await _me(http, late, revoked), await _me(http, api, revoked))
                    seen.extend(statuses)
                    if 200 in statuses:
                        pytest.fail(f"a revoked token was accepted after Redis lost its keys: {seen}")
                    return statuses == (401, 401)

                await eventually(refused_by_both, timeout=5, interval=0.05, message="the lists to be refilled")
                # And it stays refused.
                for _ in range(10):
                    assert (await _me(http, late, revoked), await _me(http, api, revoked)) == (401, 401)
                    await asyncio.sleep(0.1)
                async with http.get(private_url(late) + "/readyz") as resp:
                    assert resp.status == 200, await resp.text()


async def _is(http: aiohttp.ClientSession, api: str, token: str, status: int) -> bool:
    return await _me(http, api, token) == status


async def test_a_revocation_half_done_while_redis_stalls_reaches_the_resource_servers(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    client = await make_client(db, scope="notes:read")
    username = await make_user(db)
    with _stack_env(environ) as (env, _, redis_pid):
        async with running_authz(env) as authz, running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
            tokens = await sign_in_and_redeem(http, authz, client, username, scope="notes:read")
            access, refresh = tokens["access_token"], tokens["refresh_token"]
            assert await _me(http, api, access) == 200

            # Redis stops answering: the grant is revoked in Postgres, the Redis write times out, the caller is told
            # to come back (503, RFC 7009 section 2.2.1).
            os.kill(redis_pid, signal.SIGSTOP)
            try:
                assert await _revoke(http, authz, client.basic, refresh) == 503
            finally:
                os.kill(redis_pid, signal.SIGCONT)

            # Nobody retries, nobody restarts anything: the outbox publishes it once Redis answers.
            await eventually(
                lambda: _is(http, api, access, 401), timeout=6, interval=0.1, message="the half-done revocation"
            )
            # A retry is acknowledged and changes nothing.
            assert await _revoke(http, authz, client.basic, refresh) == 200
            assert await _me(http, api, access) == 401


async def test_a_retried_revocation_publishes_again(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession, redis_prefix: str
) -> None:
    """The grant is revoked in Postgres but Redis lost the entry (and the publisher marked it published): the retry
    the client makes puts it back at once, instead of skipping because Postgres already has it."""
    client = await make_client(db, scope="notes:read")
    username = await make_user(db)
    with _stack_env(environ) as (env, port, _):
        async with running_authz(env) as authz, running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
            tokens = await sign_in_and_redeem(http, authz, client, username, scope="notes:read")
            access, refresh = tokens["access_token"], tokens["refresh_token"]
            assert await _revoke(http, authz, client.basic, refresh) == 200
            await eventually(lambda: _is(http, api, access, 401), timeout=2, message="the revocation")
            grant_id = unverified_claims(access)["grant_id"]
            redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
            try:
                await redis.zrem(RedisKeys(redis_prefix).grouped("revoked", "grant"), grant_id)
            finally:
                await redis.aclose()
            assert await _revoke(http, authz, client.basic, refresh) == 200
            redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
            try:
                assert await redis.zscore(RedisKeys(redis_prefix).grouped("revoked", "grant"), grant_id) is not None
            finally:
                await redis.aclose()


@pytest.mark.parametrize("announced", [True, False], ids=["announced", "announcement-missed"])
async def test_a_replica_that_finds_no_marker_stays_closed_until_a_refill_is_announced(
    announced: bool, environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession, redis_prefix: str
) -> None:
    """No authorization server runs here, so nobody refills: the resource server fails closed and says why in
    `/readyz`, however long it waits, until a refill is written and announced. Pub/sub delivers at most once, so a
    replica that missed the announcement finds the marker back by looking again, within a second or two."""
    client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    with _stack_env(environ) as (env, port, _):
        async with running_authz(environ) as authz:
            status, body, _ = await token_request(http, authz, client, grant_type="client_credentials")
            assert status == 200, body
            token = body["access_token"]
            async with running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
                for _ in range(3):
                    assert await _me(http, api, token) == 503
                    async with http.get(private_url(api) + "/readyz") as resp:
                        assert resp.status == 503
                        assert "generation marker" in (await resp.json())["reasons"]["revocation_feed"]
                    await asyncio.sleep(0.5)
                redis = Redis.from_url(f"redis://127.0.0.1:{port}/0")
                try:
                    listed = RevocationList(redis, RedisKeys(redis_prefix))
                    await listed.refill([], "refilled")
                    if announced:
                        await announce_resync(redis, RedisKeys(redis_prefix))
                finally:
                    await redis.aclose()
                await eventually(lambda: _is(http, api, token, 200), timeout=3, message="the announced refill")
