"""When the revocation feed (Redis pub/sub) has been down longer than AUTHORIUM_REVOCATION_MAX_STALENESS,
the resource server answers 503 instead of vouching for tokens it cannot check, `/readyz` says why, and it
recovers by itself once Redis is back, reloading the whole revocation list on reconnect."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.revocation_lists import Revocation, RevocationList
from tests.processes import free_port, redis_server
from tests.resource.conftest import RESOURCE_URL, Caller, ResourceFactory, service_token, unverified_claims
from tests.servers import private_url
from tests.waiting import eventually

pytestmark = pytest.mark.slow
STALENESS = 1.0


async def _get(http: aiohttp.ClientSession, url: str, caller: Caller | None = None) -> tuple[int, Any, Any]:
    async with http.get(url, headers=caller.headers if caller else {}) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body, resp.headers


async def _wait_for(http: aiohttp.ClientSession, url: str, caller: Caller | None, status: int, within: float) -> None:
    async def answers() -> bool:
        got, body, _ = await _get(http, url, caller)
        assert got == status, f"{url} still answers {got}: {body}"
        return True

    await eventually(answers, timeout=within, message=f"{url} to answer {status}")


def _assert_unavailable(body: Any, headers: Any) -> None:
    assert body["error"] == "temporarily_unavailable"
    assert "revocation" in body["error_description"]
    assert headers["Retry-After"] == "1"
    assert headers["Cache-Control"] == "no-store"


async def _refilled(redis_url: str, prefix: str, *, save: bool = False) -> None:
    """What an authorization server does to a Redis with no revocation lists: fills them (here with nothing) and
    writes their generation marker. No authz runs on these tests' Redis, and without a marker the resource server
    stays fail-closed (tests/resource/test_lost_revocations.py)."""
    redis = Redis.from_url(redis_url)
    try:
        await RevocationList(redis, RedisKeys(prefix)).refill([], "test")
        if save:
            await redis.save()
    finally:
        await redis.aclose()


async def test_fails_closed_while_redis_is_down_and_recovers_alone(
    start_resource: ResourceFactory,
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    tmp_path: Path,
    redis_prefix: str,
) -> None:
    revoked_later = await service_token(http, authz, db, scope="notes:read")
    kept = await service_token(http, authz, db, scope="notes:read")
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path) as (_, redis_proc):
        await _refilled(redis_url, redis_prefix)
        async with start_resource(
            REDIS_URL=redis_url,
            AUTHORIUM_RESOURCE_URL=RESOURCE_URL,
            AUTHORIUM_REVOCATION_MAX_STALENESS=str(STALENESS),
        ) as api:
            assert (await _get(http, api + "/api/me", kept))[0] == 200
            assert (await _get(http, private_url(api) + "/readyz"))[0] == 200

            # Listed without an announcement, as if the message were lost: only a reload can find it.
            redis = Redis.from_url(redis_url)
            try:
                expires = int(unverified_claims(revoked_later.token)["exp"]) + 60
                revocation = Revocation("token", unverified_claims(revoked_later.token)["jti"], expires)
                await RevocationList(redis, RedisKeys(redis_prefix)).add(revocation, announce=False)
                await redis.save()
            finally:
                await redis.aclose()
            assert (await _get(http, api + "/api/me", revoked_later))[0] == 200

            redis_proc.kill()
            redis_proc.wait()
            stopped = time.monotonic()
            await _wait_for(http, api + "/api/me", kept, 503, within=STALENESS + 3)
            assert time.monotonic() - stopped >= STALENESS * 0.9, "refused before the configured bound"
            _, body, headers = await _get(http, api + "/api/me", kept)
            _assert_unavailable(body, headers)
            for path in ("/api/notes", "/api/notes/00000000-0000-0000-0000-000000000000"):
                status, body, headers = await _get(http, api + path, kept)
                assert status == 503, path
                _assert_unavailable(body, headers)
            # No token at all is still a plain 401: there is nothing to vouch for.
            assert (await _get(http, api + "/api/me"))[0] == 401

            status, body, _ = await _get(http, private_url(api) + "/readyz")
            assert status == 503
            assert "revocation feed has been down" in body["reasons"]["revocation_feed"], body
            assert (await _get(http, api + "/healthz"))[0] == 200

            with redis_server(port, tmp_path):
                started = time.monotonic()
                await _wait_for(http, api + "/api/me", kept, 200, within=5)
                assert time.monotonic() - started < 5
                await _wait_for(http, private_url(api) + "/readyz", None, 200, within=3)
                # The list was reloaded on reconnect: the revocation no message announced is honoured.
                status, body, _ = await _get(http, api + "/api/me", revoked_later)
                assert (status, body["error"]) == (401, "invalid_token"), body


async def test_starts_closed_when_redis_is_not_there_yet(
    start_resource: ResourceFactory,
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    tmp_path: Path,
    redis_prefix: str,
) -> None:
    caller = await service_token(http, authz, db, scope="notes:read")
    port = free_port()
    # The Redis that comes up later has its lists (saved in tmp_path), as one an authorization server filled would.
    with redis_server(port, tmp_path):
        await _refilled(f"redis://127.0.0.1:{port}/0", redis_prefix, save=True)
    async with start_resource(
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        AUTHORIUM_RESOURCE_URL=RESOURCE_URL,
        AUTHORIUM_REVOCATION_MAX_STALENESS=str(STALENESS),
    ) as api:
        status, body, headers = await _get(http, api + "/api/me", caller)
        assert status == 503
        _assert_unavailable(body, headers)
        status, body, _ = await _get(http, private_url(api) + "/readyz")
        assert status == 503 and "revocation_feed" in body["reasons"], body
        with redis_server(port, tmp_path):
            await _wait_for(http, api + "/api/me", caller, 200, within=5)
            await _wait_for(http, private_url(api) + "/readyz", None, 200, within=3)
