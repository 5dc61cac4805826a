"""A Redis that stalls (the process stopped with SIGSTOP, its sockets still open, so nothing is refused: calls
just get no answer) while tokens are issued, revoked, introspected and used: every request that needs Redis is
answered 503 within the client's 1 s socket timeout plus a little (shared/authorium_shared/resources.py), none
hangs, and everything is served again as soon as Redis goes on (SIGCONT), with no acknowledged revocation lost."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import asyncpg
import pytest

from tests.faults.conftest import STALENESS, redis_stack
from tests.faults.traffic import Answer, Load, assert_only, is_unavailable
from tests.waiting import eventually

pytestmark = pytest.mark.slow

# One Redis call times out after 1 s; a request makes at most a few, one after another.
BOUND = 3.0
# A silent Redis and an idle channel look alike: the event feeds ping after 3 s without a message, and take
# the unanswered ping (1 s) as the feed lost; STALENESS later, introspection and the resource server fail closed.
FEED_NOTICES = 3.0 + 1.0
# Refusals are waited for until then, a second later than they must start, to spare a busy machine.
CLOSED_FROM = FEED_NOTICES + STALENESS + 1.0
STALL = CLOSED_FROM + 1.0


async def test_stalled_redis_is_answered_503_in_bounded_time(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    async with redis_stack(environ, db, http) as stack:
        traffic = stack.traffic
        await traffic.stock(100)

        async def failing_closed() -> list[Answer]:
            closed = []
            for token in list(traffic.live)[-3:]:
                closed += [await traffic.introspect_token(token), await traffic.me_with(token)]
            assert len(closed) == 6 and all(map(is_unavailable, closed)), [(a.op, a.status) for a in closed]
            return closed

        async with Load(traffic.steps, concurrency=6) as load:
            await asyncio.sleep(1.0)  # traffic served before the stall
            os.kill(stack.redis.pid, signal.SIGSTOP)
            stalled = time.monotonic()
            try:
                await eventually(
                    failing_closed,
                    timeout=CLOSED_FROM,
                    interval=0.2,
                    message="introspection and the resource server to fail closed",
                )
                # The stall lasts STALL seconds whatever: the time passing is the test.
                await asyncio.sleep(max(0.0, stalled + STALL - time.monotonic()))
            finally:
                os.kill(stack.redis.pid, signal.SIGCONT)
            resumed = time.monotonic()
            await eventually(traffic.all_served, timeout=10, message="recovery after Redis went on")
            recovery = time.monotonic() - resumed
            await asyncio.sleep(1.0)

        for op in ("token", "revoke"):
            assert_only(load.of(op), 200, 503)
        assert_only(load.of("introspect"), 200, 503)
        assert_only(load.of("me"), 200, 401, 503)
        slowest = max(load.answers, key=lambda a: a.seconds)
        assert slowest.seconds < BOUND, f"{slowest.op} took {slowest.seconds:.2f}s"
        # Asked while Redis was stalled and answered before it went on: refused, in the documented form.
        for op in ("token", "revoke"):
            during = [a for a in load.of(op) if a.within(stalled, resumed)]
            assert during and all(map(is_unavailable, during)), (op, {a.status for a in during})
        # Introspection and the resource server answer from their copy of the revocation lists (no revocation
        # can be acknowledged meanwhile) until the feed has been known to be down for longer than STALENESS:
        # `failing_closed` above.
        for op in ("token", "revoke", "introspect", "me"):
            assert any(a.status == 200 and a.ended < stalled for a in load.of(op)), op
            assert any(a.status == 200 and a.started > resumed for a in load.of(op)), op
        assert recovery < 5, f"took {recovery:.1f}s to recover"

        assert any(at < stalled for at in traffic.revoked.values())
        assert any(at > resumed for at in traffic.revoked.values())
        traffic.honoured_throughout(load.answers)
        await traffic.honoured_now()
