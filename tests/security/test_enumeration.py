"""User enumeration at the login page: an unknown username and a wrong password must be indistinguishable, in
time as well as in the page (the page, status and message alone are compared in tests/authz/test_login.py).

The server verifies unknown users against a dummy hash so that a miss costs what a hit does; this is timed at
the production Argon2id cost. A test server of its own keeps the sign-in throttle (LOGIN_FAILURES_PER_ADDRESS
failures per address per window, all of these from 127.0.0.1) from counting anyone else's failures, and each
existing user takes at most LOGIN_FAILURES_PER_USERNAME of them."""

from __future__ import annotations

import math
import statistics
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import argon2
import asyncpg
import pytest

from authz.endpoints.login import WRONG_CREDENTIALS
from authz.ratelimit import LOGIN_FAILURES_PER_ADDRESS, LOGIN_FAILURES_PER_USERNAME
from authz.users.passwords import Passwords
from tests.authz import flows
from tests.authz.conftest import AuthzFactory
from tests.authz.test_login import open_login_page, post_login

ATTEMPTS = 15  # of each kind


def test_the_dummy_hash_costs_what_a_real_hash_costs() -> None:
    """Verification time depends on the parameters stored in the hash, so the dummy's must be the hasher's."""
    with Passwords(workers=1) as passwords:
        dummy = argon2.extract_parameters(passwords.dummy_hash)
        assert dummy == argon2.extract_parameters(passwords.hasher.hash("a real user's password"))
    assert dummy.type == argon2.Type.ID


@pytest.fixture
def verification_cost() -> float:
    """What one Argon2id verification at the production cost takes on this machine."""
    costs = []
    with Passwords(workers=1) as passwords:
        dummy = passwords.dummy_hash
        for _ in range(3):
            started = time.perf_counter()
            passwords.hasher.verify(dummy, "authorium-dummy-password")
            costs.append(time.perf_counter() - started)
    return statistics.median(costs)


@pytest.fixture
async def isolated_authz(start_authz: AuthzFactory, environ: dict[str, str]) -> AsyncIterator[str]:
    prefix = f"{environ['AUTHORIUM_REDIS_PREFIX']}enumeration-{uuid.uuid4().hex[:8]}:"
    async with start_authz(AUTHORIUM_REDIS_PREFIX=prefix) as url:
        yield url


async def timed_failure(
    browser: aiohttp.ClientSession, authz: str, fields: dict[str, str], username: str, password: str
) -> tuple[float, str]:
    started = time.perf_counter()
    resp, page = await post_login(browser, authz, {**fields, "username": username, "password": password})
    elapsed = time.perf_counter() - started
    assert resp.status == 200, (resp.status, page[:300])
    assert WRONG_CREDENTIALS in page
    return elapsed, page.replace(username, "<username>")


async def test_an_unknown_username_is_not_answered_faster_than_a_wrong_password(
    isolated_authz: str, db: asyncpg.Pool, verification_cost: float
) -> None:
    assert 2 * ATTEMPTS <= LOGIN_FAILURES_PER_ADDRESS, "the test would be throttled"
    authz = isolated_authz
    client = await flows.make_client(db)
    users = [await flows.make_user(db) for _ in range(math.ceil(ATTEMPTS / LOGIN_FAILURES_PER_USERNAME))]
    async with flows.browser() as warm_up:
        # A successful sign-in first (it counts against no limit): pools, caches and the hasher are warm.
        await flows.authorize(warm_up, authz, client, users[0])
    timings: dict[str, list[float]] = {"unknown user": [], "wrong password": []}
    pages = set()
    async with flows.browser() as browser:
        _, login_page = await open_login_page(browser, authz, client)
        fields = flows.hidden_fields(login_page)
        for attempt in range(ATTEMPTS):
            unknown = (f"nobody-{uuid.uuid4().hex[:12]}", flows.PASSWORD)
            wrong = (users[attempt // LOGIN_FAILURES_PER_USERNAME], f"wrong password {attempt}")
            # Alternating which goes first, so that drift in the machine's load favours neither.
            order = [("unknown user", unknown), ("wrong password", wrong)]
            for kind, (username, password) in order if attempt % 2 else order[::-1]:
                elapsed, page = await timed_failure(browser, authz, fields, username, password)
                timings[kind].append(elapsed)
                pages.add(page)
    assert len(pages) == 1, "the pages for an unknown user and a wrong password differ"
    unknown_median = statistics.median(timings["unknown user"])
    wrong_median = statistics.median(timings["wrong password"])
    summary = (
        f"unknown user {unknown_median * 1000:.1f} ms, wrong password {wrong_median * 1000:.1f} ms (medians), "
        f"one verification {verification_cost * 1000:.1f} ms"
    )
    # A wrong password really costs a verification (else the comparison below would say nothing) ...
    assert wrong_median >= 0.8 * verification_cost, summary
    # ... and a miss costs about as much: without the dummy verification it would be a few per cent of a hit.
    assert unknown_median >= 0.5 * wrong_median, summary
