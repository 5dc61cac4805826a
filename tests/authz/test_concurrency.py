"""Races at the token endpoint (acceptance): one code or one refresh token presented 50 times at once.
Single use must hold under concurrency, not only in sequence (RFC 6749 section 4.1.2, RFC 9700 section 4.14.2)."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import asyncpg
import jwt
import pytest

from tests.authz.conftest import AuthzFactory, Person
from tests.authz.flows import make_client, pkce_pair, token_request
from tests.authz.test_authorization_code import code_for, introspect, redeem, tokens_for

N = 50


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module's tests (see conftest's `module_server`)."""
    return module_authz


async def test_one_code_redeemed_concurrently_succeeds_exactly_once(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    results = await asyncio.gather(*(redeem(http, authz, client, code, code_verifier=verifier) for _ in range(N)))
    outcomes = Counter(200 if status == 200 else (status, body["error"]) for status, body in results)
    assert outcomes == {200: 1, (400, "invalid_grant"): N - 1}


async def test_one_refresh_token_used_concurrently_rotates_once_and_revokes_the_family(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    first = await tokens_for(http, authz, client, person, scope="notes:read")
    results = await asyncio.gather(
        *(
            token_request(http, authz, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
            for _ in range(N)
        )
    )
    outcomes = Counter(200 if status == 200 else (status, body["error"]) for status, body, _ in results)
    assert outcomes == {200: 1, (400, "invalid_grant"): N - 1}
    winner = next(body for status, body, _ in results if status == 200)
    # The losers were reuse: the winner's tokens belong to a revoked family.
    status, body, _ = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=winner["refresh_token"]
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await introspect(http, authz, client, winner["refresh_token"], "refresh_token") == {"active": False}
    assert await introspect(http, authz, client, winner["access_token"]) == {"active": False}


async def test_with_a_grace_window_concurrent_uses_all_get_the_same_successor(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    async with start_authz(AUTHORIUM_REFRESH_REUSE_GRACE_SECONDS="5") as url:
        first = await tokens_for(http, url, client, person, scope="notes:read")
        results = await asyncio.gather(
            *(
                token_request(http, url, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
                for _ in range(N)
            )
        )
        assert [status for status, _, _ in results] == [200] * N, [b for s, b, _ in results if s != 200][:3]
        assert len({body["refresh_token"] for _, body, _ in results}) == 1
        jtis = {jwt.decode(body["access_token"], options={"verify_signature": False})["jti"] for _, body, _ in results}
        assert len(jtis) == 1
        successor = results[0][1]
        assert (await introspect(http, url, client, successor["refresh_token"], "refresh_token"))["active"] is True
        assert (await introspect(http, url, client, successor["access_token"]))["active"] is True
