"""Redis Sentinel promotes the replica when the master is killed under token, revocation, introspection and API
traffic: both servers, configured with a `redis+sentinel://` URL, answer 503 (never a 500, never a 200 for a revoked
token) while the master is gone, follow the failover without a restart, and lose no acknowledged revocation; a code
redeemed before the failover cannot be redeemed again after it."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from subprocess import Popen

import aiohttp
import pytest
from redis import Redis as SyncRedis

from authorium_shared.resources import create_pg_pool
from tests.authz.conftest import running_authz
from tests.authz.flows import authorize as walk_authorization
from tests.authz.flows import browser, make_client, make_user, pkce_pair, token_request
from tests.faults.conftest import STALENESS
from tests.faults.token_traffic import TokenTraffic
from tests.faults.traffic import Load, assert_only, is_unavailable
from tests.processes import redis_sentinel, redis_server
from tests.resource.conftest import RESOURCE_URL, running_resource
from tests.waiting import eventually

pytestmark = pytest.mark.slow

MASTER = "mymaster"
SENTINELS = 3


def _sentinels_ready(sentinels: list[int]) -> bool:
    """Every sentinel knows the replica and the other sentinels: a failover can be agreed and carried out."""
    for port in sentinels:
        with SyncRedis(port=port) as sentinel:
            if len(sentinel.sentinel_sentinels(MASTER)) < SENTINELS - 1 or not sentinel.sentinel_slaves(MASTER):
                return False
    return True


@contextmanager
def sentinel_deployment() -> Iterator[tuple[list[int], Popen[bytes], int]]:
    """A master, its replica and three sentinels (quorum 2): the sentinels' ports, the master, the replica's port."""
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authorium-sentinel-")))
        master_port, master = stack.enter_context(redis_server())
        replica, _ = stack.enter_context(redis_server(config={"replicaof": ["127.0.0.1", str(master_port)]}))
        sentinels = [stack.enter_context(redis_sentinel(directory, master_port))[0] for _ in range(SENTINELS)]
        deadline = time.monotonic() + 20
        while not _sentinels_ready(sentinels):
            assert time.monotonic() < deadline, "the sentinels did not find each other and the replica within 20 s"
            time.sleep(0.2)
        yield sentinels, master, replica


async def test_sentinel_failover_under_traffic(
    private_redis_environ: dict[str, str], http: aiohttp.ClientSession, cheap_password_hashing: None
) -> None:
    db = await create_pg_pool(private_redis_environ["DATABASE_URL"], max_size=2)
    try:
        client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
        app_client = await make_client(db, grant_types=("authorization_code",), scope="notes:read")
        username = await make_user(db)
    finally:
        await db.close()
    with sentinel_deployment() as (sentinels, master, replica_port):
        hosts = ",".join(f"127.0.0.1:{port}" for port in sentinels)
        env = {
            **private_redis_environ,
            "REDIS_URL": f"redis+sentinel://{hosts}/{MASTER}/0",
            "AUTHORIUM_RESOURCE_URL": RESOURCE_URL,
            "AUTHORIUM_REVOCATION_MAX_STALENESS": str(STALENESS),
        }
        async with running_authz(env) as authz, running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
            traffic = TokenTraffic(http, authz, api, client)
            verifier, challenge = pkce_pair()
            async with browser() as session:
                signed_in = await walk_authorization(
                    session,
                    authz,
                    app_client,
                    username,
                    scope="notes:read",
                    code_challenge=challenge,
                    code_challenge_method="S256",
                )
            code = {
                "grant_type": "authorization_code",
                "code": signed_in.code,
                "redirect_uri": app_client.redirect_uri,
                "code_verifier": verifier,
            }
            await traffic.stock(100)
            # The sleep sets the fault's timeline (traffic before the kill): not a wait.
            async with Load(traffic.steps, concurrency=6) as load:
                await asyncio.sleep(1.0)
                status, redeemed, _ = await token_request(http, authz, app_client, **code)
                assert status == 200, redeemed
                master.kill()
                master.wait()
                killed = time.monotonic()

                async def promoted() -> bool:
                    with SyncRedis(port=sentinels[0]) as sentinel:
                        return sentinel.sentinel_get_master_addr_by_name(MASTER)[1] == replica_port

                await eventually(promoted, timeout=20, interval=0.2, message="the sentinels to promote the replica")
                await eventually(traffic.all_served, timeout=15, message="both servers to serve on the new master")
                recovered = time.monotonic()
                await asyncio.sleep(1.0)

            # Only the documented answers throughout: no 500, no request cut or left hanging.
            for op in ("token", "revoke", "introspect"):
                assert_only(load.of(op), 200, 503)
            assert_only(load.of("me"), 200, 401, 503)
            # The failover was seen (as 503 temporarily_unavailable), and traffic flowed again after it.
            during = [a for a in load.answers if a.within(killed, recovered) and a.status == 503]
            assert during and all(map(is_unavailable, during)), load.statuses()
            for op in ("token", "revoke", "introspect", "me"):
                after = [a.status for a in load.of(op) if a.started > recovered]
                assert 200 in after, (op, after)
            # No acknowledged revocation was undone, at any moment or now; those acknowledged after the failover reached
            # the resource server over the feed, resubscribed on the new master.
            assert any(at < killed for at in traffic.revoked.values())
            assert any(at > recovered for at in traffic.revoked.values())
            traffic.honoured_throughout(load.answers)
            await traffic.honoured_now()
            # The code redeemed on the old master is not usable again on the new one.
            status, body, _ = await token_request(http, authz, app_client, **code)
            assert (status, body["error"]) == (400, "invalid_grant"), body
