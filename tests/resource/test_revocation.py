"""Revocation at the authorization server reaches the resource server through the pub/sub feed within a second,
and revocations made before it started are loaded at start (RFC 7009 at the authz, RFC 6750 refusals here)."""

from __future__ import annotations

import time

import aiohttp
import asyncpg
import pytest

from tests.resource.conftest import (
    RESOURCE_URL,
    Caller,
    ResourceFactory,
    expect_refusal,
    refreshed,
    revoke,
    service_token,
    user_token,
)
from tests.servers import private_url
from tests.waiting import eventually


@pytest.fixture(scope="module")
async def alice(module_http: aiohttp.ClientSession, authz: str, module_db: asyncpg.Pool) -> Caller:
    return await user_token(module_http, authz, module_db)


async def _status(http: aiohttp.ClientSession, api: str, caller: Caller) -> int:
    async with http.get(api + "/api/me", headers=caller.headers) as resp:
        return resp.status


async def refused_within(http: aiohttp.ClientSession, api: str, caller: Caller, seconds: float = 1.0) -> float:
    """Poll until the token is refused as revoked; fail if that takes `seconds` or more. Returns the time taken."""
    started = time.monotonic()

    async def refused() -> int | None:
        status = await _status(http, api, caller)
        return None if status == 200 else status

    status = await eventually(refused, timeout=seconds, interval=0.01, message="the revoked token to be refused")
    elapsed = time.monotonic() - started
    assert elapsed < seconds
    assert status == 401
    params = await expect_refusal(
        http, "GET", api + "/api/me", status=401, error="invalid_token", headers=caller.headers
    )
    assert params["error_description"] == "the access token was revoked"
    return elapsed


async def test_a_revoked_access_token_is_refused_within_a_second_and_only_it(
    api: str, authz: str, http: aiohttp.ClientSession, alice: Caller
) -> None:
    doomed, sibling = await refreshed(http, authz, alice), await refreshed(http, authz, alice)
    assert await _status(http, api, doomed) == 200
    await revoke(http, authz, doomed)
    await refused_within(http, api, doomed)
    # Revoking one access token revokes that token (its jti), not its grant's other tokens.
    assert await _status(http, api, sibling) == 200


async def test_revoking_the_refresh_token_revokes_every_access_token_of_the_grant(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, alice: Caller
) -> None:
    # A grant of its own, so the module's `alice` grant stays usable.
    bob = await user_token(http, authz, db)
    later = await refreshed(http, authz, bob)
    assert await _status(http, api, bob) == 200 and await _status(http, api, later) == 200
    await revoke(http, authz, later, later.refresh_token)
    await refused_within(http, api, later)
    await refused_within(http, api, bob)
    # Other grants are untouched.
    assert await _status(http, api, alice) == 200


async def test_a_service_token_can_be_revoked(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    service = await service_token(http, authz, db, scope="notes:read")
    assert await _status(http, api, service) == 200
    await revoke(http, authz, service)
    await refused_within(http, api, service)


async def test_revocations_made_before_start_are_loaded_at_start(
    start_resource: ResourceFactory, authz: str, http: aiohttp.ClientSession, alice: Caller
) -> None:
    revoked, kept = await refreshed(http, authz, alice), await refreshed(http, authz, alice)
    await revoke(http, authz, revoked)
    async with start_resource(AUTHORIUM_RESOURCE_URL=RESOURCE_URL) as fresh:
        # No event reached this server: only the list it loaded at start can know.
        assert await _status(http, fresh, revoked) == 401
        assert await _status(http, fresh, kept) == 200
        async with http.get(private_url(fresh) + "/readyz") as resp:
            assert resp.status == 200, await resp.text()
