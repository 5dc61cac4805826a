"""Redis restarted empty at once (a crash that its supervisor restarts in a moment) under real `authorium serve`
processes, with a busy deployment's backlog of revocations in Postgres: a token whose revocation was acknowledged
before the loss is never accepted again, not even in the moments after the servers' event feeds reconnect and
before the authorization server has put every revocation back into Redis (DESIGN, "State": a Redis that loses
its data un-revokes nothing)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from authorium_shared.resources import create_pg_pool
from tests.authz.flows import make_client, token_request
from tests.conftest import DatabaseFactory
from tests.processes import free_port, redis_server
from tests.resource.conftest import RESOURCE_URL
from tests.scale.test_scale_out import serving
from tests.waiting import eventually

pytestmark = pytest.mark.slow

# The revocations that can still matter (those of the last 11 minutes) at ~15 revocations a second: putting them
# back into an emptied Redis takes the authorization server a moment.
BACKLOG = 10_000
WATCH = 4.0


async def _me(http: aiohttp.ClientSession, api: str, token: str) -> int:
    async with http.get(api + "/api/me", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


async def test_a_revoked_token_stays_refused_while_redis_is_refilled(
    environ: dict[str, str], make_database: DatabaseFactory, http: aiohttp.ClientSession
) -> None:
    database_url = await make_database()
    db = await create_pg_pool(database_url, max_size=2)
    try:
        expires = datetime.now(UTC) + timedelta(minutes=10)
        async with db.acquire() as conn:
            await conn.copy_records_to_table(
                "revocations",
                records=[("token", uuid.uuid4().hex, expires) for _ in range(BACKLOG)],
                columns=["kind", "id", "expires_at"],
            )
        client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    finally:
        await db.close()

    authz_port = free_port()
    with ExitStack() as processes:
        port, redis = processes.enter_context(redis_server())
        env = {
            **environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "AUTHORIUM_ISSUER": f"http://127.0.0.1:{authz_port}",
            "AUTHORIUM_RESOURCE_URL": RESOURCE_URL,
        }
        async with serving("authz", env, authz_port) as authz, serving("resource", env, free_port()) as api:
            tokens = []
            for _ in range(2):
                status, body, _ = await token_request(http, authz, client, grant_type="client_credentials")
                assert status == 200, body
                tokens.append(body["access_token"])
            revoked, kept = tokens
            async with http.post(authz + "/revoke", data={"token": revoked}, headers=client.basic) as resp:
                assert resp.status == 200

            async def refused() -> bool:
                return await _me(http, api, revoked) == 401

            await eventually(refused, timeout=1.0, message="the revocation to reach the resource server")

            redis.kill()
            redis.wait()
            processes.enter_context(redis_server(port))
            seen: Counter[int] = Counter()
            # Not a wait: what must not happen (the token accepted) is looked for all through the WATCH seconds.
            deadline = time.monotonic() + WATCH
            while time.monotonic() < deadline:
                seen[await _me(http, api, revoked)] += 1
                await asyncio.sleep(0.002)

            assert seen[200] == 0, f"the revoked token was accepted after Redis lost its data: {seen}"
            assert set(seen) <= {401, 503}, seen  # refused, or not vouched for while the lists are reloaded

            async def recovered() -> bool:
                async with http.post(authz + "/introspect", data={"token": revoked}, headers=client.basic) as resp:
                    introspected = await resp.json()
                return introspected == {"active": False} and await _me(http, api, kept) == 200

            await eventually(recovered, timeout=15, message="both servers to serve again")
            assert await _me(http, api, revoked) == 401
