"""A Redis that loses its data un-revokes nothing (DESIGN, "State"): revocations live in Postgres too, and
when the authorization server's event feed reconnects to the emptied Redis it puts them back and tells every
replica to reload, so a resource server that reloaded the empty lists a moment before reloads again."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from authorium_shared.resources import create_pg_pool
from tests.authz.flows import make_client, token_request
from tests.conftest import DatabaseFactory
from tests.processes import redis_server
from tests.resource.conftest import RESOURCE_URL, running_authz, running_resource
from tests.waiting import eventually

pytestmark = pytest.mark.slow


async def _me(http: aiohttp.ClientSession, api: str, token: str) -> int:
    async with http.get(api + "/api/me", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


async def test_revocations_survive_a_redis_that_loses_everything(
    environ: dict[str, str], make_database: DatabaseFactory, http: aiohttp.ClientSession
) -> None:
    # A database of its own: one deployment is one Postgres with one Redis, and the revocations other tests make in
    # the shared database were never published to this test's Redis.
    database_url = await make_database()
    db = await create_pg_pool(database_url, max_size=2)
    try:
        client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    finally:
        await db.close()
    with redis_server() as (port, proc):
        env = {
            **environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "AUTHORIUM_RESOURCE_URL": RESOURCE_URL,
        }
        async with running_authz(env) as authz, running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
            tokens = []
            for _ in range(2):
                status, body, _ = await token_request(http, authz, client, grant_type="client_credentials")
                assert status == 200, body
                tokens.append(body["access_token"])
            revoked, kept = tokens
            assert await _me(http, api, revoked) == 200
            async with http.post(authz + "/revoke", data={"token": revoked}, headers=client.basic) as resp:
                assert resp.status == 200

            async def refused() -> bool:
                return await _me(http, api, revoked) == 401

            await eventually(refused, timeout=0.3, interval=0.02, message="the revocation to reach the resource server")

            # Redis dies and comes back empty (it keeps nothing on disk), on the same port.
            proc.kill()
            proc.wait()
            with redis_server(port):

                async def recovered() -> bool:
                    statuses = (await _me(http, api, revoked), await _me(http, api, kept))
                    if statuses[0] == 200:  # not something to wait out: fail at once
                        pytest.fail("the revoked token was accepted after Redis lost its data")
                    # Both feeds are back, the lists are rebuilt and reloaded everywhere.
                    assert statuses == (401, 200), f"not recovered: {statuses}"
                    return True

                await eventually(recovered, timeout=15, interval=0.1, message="recovery from the emptied Redis")
                async with http.post(authz + "/introspect", data={"token": revoked}, headers=client.basic) as resp:
                    assert await resp.json() == {"active": False}
                # Stable afterwards too: the revoked token stays refused (a second passes, then it is asked again).
                await asyncio.sleep(1.0)
                assert await _me(http, api, revoked) == 401
