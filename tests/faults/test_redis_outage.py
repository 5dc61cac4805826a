"""Redis killed while tokens are issued, revoked, introspected and used: the authorization server answers 503
`temporarily_unavailable` with Retry-After (never a 500) for what needs Redis, recovers by itself when a Redis
comes back empty on the same port, and no acknowledged revocation is lost (Postgres holds them; the feed's
reconnect puts them back into Redis and announces a resync). An authorization code issued before the loss is
simply unknown afterwards (docs/operations.md, "When Redis loses its data")."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import asyncpg
import pytest

from tests.authz.flows import authorize as walk_authorization
from tests.authz.flows import browser, make_client, make_user, pkce_pair, token_request
from tests.faults.conftest import STALENESS, redis_stack
from tests.faults.traffic import Load, assert_only, call, is_unavailable
from tests.servers import private_url
from tests.waiting import eventually

pytestmark = pytest.mark.slow

OUTAGE = 2.5


async def test_redis_killed_mid_stream(environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession) -> None:
    app_client = await make_client(db, grant_types=("authorization_code",), scope="notes:read")
    username = await make_user(db)
    async with redis_stack(environ, db, http) as stack:
        traffic = stack.traffic
        # A sign-in that ended with the redirect to the client: the code is acknowledged, not yet redeemed.
        verifier, challenge = pkce_pair()
        async with browser() as session:
            signed_in = await walk_authorization(
                session,
                stack.authz,
                app_client,
                username,
                scope="notes:read",
                code_challenge=challenge,
                code_challenge_method="S256",
                state="before-the-outage",
            )

        await traffic.stock(150)
        # The sleeps below set the fault's timeline (traffic before, an outage of OUTAGE seconds with readiness
        # asked halfway, traffic after): not waits.
        async with Load(traffic.steps, concurrency=6) as load:
            await asyncio.sleep(1.0)
            stack.redis.kill()
            stack.redis.wait()
            killed = time.monotonic()
            await asyncio.sleep(OUTAGE / 2)
            ready = await call(http, "readyz", "GET", private_url(stack.authz) + "/readyz")
            await asyncio.sleep(OUTAGE / 2)
            revoked_before = next(token for token, at in traffic.revoked.items() if at < killed)
            watching = asyncio.create_task(traffic.watch(revoked_before, seconds=5.0))
            stack.restart_redis()
            back = time.monotonic()

            await eventually(traffic.all_served, timeout=10, message="recovery after Redis came back")
            recovery = time.monotonic() - back
            watched = await watching

            await asyncio.sleep(1.0)

        assert ready.status == 503 and "redis" in ready.body["reasons"], ready
        # Nothing but the documented answers, at every moment: no 500, no request left hanging or cut.
        for op in ("token", "revoke", "introspect"):
            assert_only(load.of(op), 200, 503)
        assert_only(load.of("me"), 200, 401, 503)
        # While Redis was away, whatever needed it was refused in the documented form.
        down = [a for a in load.answers if a.within(killed, back)]
        for op in ("token", "revoke"):
            during = [a for a in down if a.op == op]
            assert during and all(map(is_unavailable, during)), (op, {a.status for a in during})
        stale = [a for a in down if a.op in ("introspect", "me") and a.started > killed + STALENESS + 0.3]
        assert {a.op for a in stale} == {"introspect", "me"}
        assert all(map(is_unavailable, stale)), {(a.op, a.status) for a in stale}
        # The 503s were quick, not timeouts: a client learns at once that it should come back.
        assert max(a.seconds for a in down) < 2.0
        # And before and after, the same traffic succeeded.
        for op in ("token", "revoke", "introspect", "me"):
            assert any(a.status == 200 and a.ended < killed for a in load.of(op)), op
            assert any(a.status == 200 and a.started > back for a in load.of(op)), op
        assert recovery < 5, f"took {recovery:.1f}s to recover"

        # No acknowledged revocation was lost, before, during or after the outage.
        before = [t for t, at in traffic.revoked.items() if at < killed]
        after = [t for t, at in traffic.revoked.items() if at > back]
        assert before and after
        import itertools as _it

        print("WATCH", [(k, len(list(g))) for k, g in _it.groupby(a.status for a in watched)])
        traffic.honoured_throughout(load.answers + watched)
        await traffic.honoured_now()

        # The code acknowledged before Redis lost its data is simply unknown now.
        status, body, _ = await token_request(
            http,
            stack.authz,
            app_client,
            grant_type="authorization_code",
            code=signed_in.code,
            redirect_uri=app_client.redirect_uri,
            code_verifier=verifier,
        )
        assert (status, body) == (
            400,
            {
                "error": "invalid_grant",
                "error_description": "the authorization code is invalid, expired, or already used",
            },
        )
