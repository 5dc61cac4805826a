"""Scale-out with real processes: two `authorium serve authz` and two `authorium serve resource` on their own
ports, sharing one Postgres and one Redis, as replicas behind load balancers would.

Tokens from either authorization server are accepted by both resource servers; a revocation at either is
honoured by both within a second; a key rotation is picked up by every process without a restart; and
concurrent `authorium migrate` runs all succeed."""

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
from tests.authz.flows import RegisteredClient, make_client, token_request
from tests.conftest import DatabaseFactory
from tests.processes import authorium, authorium_popen, free_port, wait_for_port
from tests.waiting import eventually

pytestmark = pytest.mark.slow

RESOURCE_ID = "https://api.example"  # the resource servers' identifier: the `aud` both sides agree on
REPLICAS = 2


@asynccontextmanager
async def serving(service: str, env: dict[str, str], port: int) -> AsyncIterator[str]:
    proc = authorium_popen("serve", service, "--port", str(port), env=env)
    try:
        try:
            await asyncio.to_thread(wait_for_port, port, 30)
        except TimeoutError:
            proc.kill()
            raise AssertionError(f"{service} did not start: {proc.communicate()[1][-2000:]}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
        assert proc.returncode == 0, f"{service} on {port} did not stop cleanly: {err[-2000:]}"


async def _seconds_until(check: Callable[[], Awaitable[bool]], limit: float, what: str) -> float:
    """How long `check` took to hold; fails past `limit` seconds."""
    started = time.monotonic()
    await eventually(check, timeout=limit, interval=0.01, message=what)
    return time.monotonic() - started


async def test_two_authorization_and_two_resource_servers_act_as_one(
    make_database: DatabaseFactory, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    database_url = await make_database(migrated=False)
    env = {**environ, "DATABASE_URL": database_url, "AUTHORIUM_JWKS_MAX_AGE": "0"}

    # Every replica's start-up job may run `migrate` at once; all succeed and the schema is applied once.
    runs = await asyncio.gather(*(asyncio.to_thread(authorium, "migrate", env=env) for _ in range(4)))
    assert [r.returncode for r in runs] == [0] * 4, [r.stderr for r in runs]
    assert sum("applied" in r.stdout for r in runs) == 1

    pool: asyncpg.Pool = await create_pg_pool(database_url, max_size=2)
    try:
        client = await make_client(pool, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    finally:
        await pool.close()

    authz_ports = [free_port() for _ in range(REPLICAS)]
    # One issuer for all: what the load balancer in front of them answers to.
    issuer = f"http://127.0.0.1:{authz_ports[0]}"
    shared = {**env, "AUTHORIUM_ISSUER": issuer, "AUTHORIUM_RESOURCE_URL": RESOURCE_ID}
    async with AsyncExitStack() as stack:
        authzs = [await stack.enter_async_context(serving("authz", shared, port)) for port in authz_ports]
        apis = [
            # Each resource server fetches its keys from a different authorization server.
            await stack.enter_async_context(
                serving("resource", {**shared, "AUTHORIUM_JWKS_URL": authz + "/jwks.json"}, free_port())
            )
            for authz in authzs
        ]
        await check_replicas(http, client, authzs, apis, env)


async def token_from(http: aiohttp.ClientSession, authz: str, client: RegisteredClient) -> str:
    status, body, _ = await token_request(http, authz, client, grant_type="client_credentials")
    assert status == 200, body
    return str(body["access_token"])


async def statuses(http: aiohttp.ClientSession, apis: list[str], token: str) -> list[int]:
    codes = []
    for api in apis:
        async with http.get(api + "/api/me", headers={"Authorization": f"Bearer {token}"}) as resp:
            codes.append(resp.status)
    return codes


async def check_replicas(
    http: aiohttp.ClientSession, client: RegisteredClient, authzs: list[str], apis: list[str], env: dict[str, str]
) -> None:
    # Tokens issued by either authorization server are accepted by both resource servers.
    tokens = [await token_from(http, authz, client) for authz in authzs]
    for token in tokens:
        assert await statuses(http, apis, token) == [200] * REPLICAS

    # A revocation at either authorization server is honoured by both resource servers within a second, and
    # by the other authorization server's introspection.
    for revoking, token in zip(authzs, reversed(tokens), strict=True):
        async with http.post(revoking + "/revoke", data={"token": token}, headers=client.basic) as resp:
            assert resp.status == 200

        async def refused_everywhere(token: str = token) -> bool:
            return await statuses(http, apis, token) == [401] * REPLICAS

        assert await _seconds_until(refused_everywhere, 1.0, "every resource server to refuse the token") < 1.0
        for other in authzs:
            async with http.post(other + "/introspect", data={"token": token}, headers=client.basic) as resp:
                assert await resp.json() == {"active": False}

    # A key rotation is picked up by every process without a restart.
    old_kids = {jwt.get_unverified_header(await token_from(http, authz, client))["kid"] for authz in authzs}
    assert len(old_kids) == 1, "both authorization servers sign with the same current key"
    rotated = await asyncio.to_thread(authorium, "keys", "rotate", env=env)
    assert rotated.returncode == 0, rotated.stderr

    async def all_signing_with_a_new_key() -> bool:
        kids = {jwt.get_unverified_header(await token_from(http, authz, client))["kid"] for authz in authzs}
        return not kids & old_kids

    assert await _seconds_until(all_signing_with_a_new_key, 2.0, "every authorization server to sign anew") < 2.0
    for authz in authzs:
        assert await statuses(http, apis, await token_from(http, authz, client)) == [200] * REPLICAS
