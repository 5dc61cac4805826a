"""The issue's acceptance, with real processes: two `authorium serve resource` replicas on their own ports.
A revocation at the authorization server is refused by both within a second; after `authorium keys rotate`,
tokens signed with the new key are accepted by both without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import asyncpg
import jwt
import pytest

from authorium_shared.resources import create_pg_pool
from tests.authz.flows import make_client, token_request
from tests.conftest import DatabaseFactory
from tests.processes import authorium, authorium_popen, free_port, wait_for_port
from tests.resource.conftest import RESOURCE_URL, running_authz

pytestmark = pytest.mark.slow


@asynccontextmanager
async def resource_process(env: dict[str, str]) -> AsyncIterator[str]:
    port = free_port()
    proc = authorium_popen("serve", "resource", "--port", str(port), env=env)
    try:
        # In a thread: the authorization server runs on this event loop and must answer the JWKS fetch.
        await asyncio.to_thread(wait_for_port, port, 20)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.communicate, timeout=15)


async def _status(http: aiohttp.ClientSession, api: str, token: str) -> int:
    async with http.get(api + "/api/me", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


async def _until(check: Callable[[], Awaitable[bool]], limit: float) -> float:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < limit, f"not within {limit}s"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_two_resource_processes_honour_revocation_and_rotation(
    make_database: DatabaseFactory, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    env = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": "0"}
    pool: asyncpg.Pool = await create_pg_pool(env["DATABASE_URL"], max_size=2)
    try:
        client = await make_client(pool, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    finally:
        await pool.close()
    async with running_authz(env) as authz:
        replica_env = {**env, "AUTHORIUM_ISSUER": authz, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL}
        async with AsyncExitStack() as stack:
            apis = [await stack.enter_async_context(resource_process(replica_env)) for _ in range(2)]

            async def token() -> str:
                status, body, _ = await token_request(http, authz, client, grant_type="client_credentials")
                assert status == 200, body
                return str(body["access_token"])

            first = await token()
            assert [await _status(http, api, first) for api in apis] == [200, 200]
            async with http.post(authz + "/revoke", data={"token": first}, headers=client.basic) as resp:
                assert resp.status == 200

            async def refused_everywhere() -> bool:
                return all([await _status(http, api, first) == 401 for api in apis])

            assert await _until(refused_everywhere, 1.0) < 1.0

            old_kid = jwt.get_unverified_header(await token())["kid"]
            rotated = await asyncio.to_thread(authorium, "keys", "rotate", "--alg", "RS256", env=env)
            assert rotated.returncode == 0, rotated.stderr

            async def signing_with_new_key() -> bool:
                return bool(jwt.get_unverified_header(await token())["kid"] != old_kid)

            await _until(signing_with_new_key, 5.0)
            fresh = await token()
            assert [await _status(http, api, fresh) for api in apis] == [200, 200]
