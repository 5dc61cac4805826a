"""The refresh token grant (RFC 6749 section 6): rotation on every use, reuse detection that revokes the whole
family (RFC 9700 section 4.14.2), scope narrowing, and the optional grace window for a client racing itself."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest

from tests.authz.conftest import AuthzFactory, Person
from tests.authz.flows import RegisteredClient, make_client, token_request
from tests.authz.test_authorization_code import DEFAULT_RESOURCE, introspect, tokens_for, verified


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module's tests (see conftest's `module_server`)."""
    return module_authz


async def refresh(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, token: str, **extra: str
) -> tuple[int, dict[str, Any]]:
    status, body, resp = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=token, **extra
    )
    assert resp.headers["Cache-Control"] == "no-store"
    return status, body


def jti_of(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["jti"])


async def assert_family_revoked(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, latest: dict[str, Any]
) -> None:
    """The newest refresh token and access token of a family are dead too."""
    assert await introspect(http, authz, client, latest["refresh_token"], "refresh_token") == {"active": False}
    assert await introspect(http, authz, client, latest["access_token"]) == {"active": False}
    status, body = await refresh(http, authz, client, latest["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_every_use_rotates_the_refresh_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    first = await tokens_for(http, authz, client, person, scope="notes:read notes:write")
    seen_refresh, seen_jti = {first["refresh_token"]}, {jti_of(first["access_token"])}
    current = first
    for _ in range(2):
        status, body = await refresh(http, authz, client, current["refresh_token"])
        assert status == 200, body
        assert body["scope"] == "notes:read notes:write"
        assert body["refresh_token"] not in seen_refresh
        assert jti_of(body["access_token"]) not in seen_jti
        assert "id_token" not in body
        seen_refresh.add(body["refresh_token"])
        seen_jti.add(jti_of(body["access_token"]))
        claims = await verified(http, authz, body["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
        assert claims["sub"] == person.user_id
        assert claims["client_id"] == client.client_id
        assert claims["exp"] - claims["iat"] == 600
        # The token just used is spent; the new one is live.
        assert await introspect(http, authz, client, current["refresh_token"], "refresh_token") == {"active": False}
        assert (await introspect(http, authz, client, body["refresh_token"], "refresh_token"))["active"] is True
        current = body


async def test_reusing_a_rotated_token_fails_and_revokes_the_whole_family(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    first = await tokens_for(http, authz, client, person, scope="notes:read")
    status, second = await refresh(http, authz, client, first["refresh_token"])
    assert status == 200, second
    assert (await introspect(http, authz, client, second["access_token"]))["active"] is True

    # Straight away, as an attacker holding the stolen first token would.
    status, body = await refresh(http, authz, client, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    await assert_family_revoked(http, authz, client, second)


async def test_reuse_detected_after_a_pause_revokes_the_family(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    first = await tokens_for(http, authz, client, person, scope="notes:read")
    status, second = await refresh(http, authz, client, first["refresh_token"])
    assert status == 200, second
    # Into the next second, so that any same-second leniency cannot be what decides.
    await asyncio.sleep(1.05 - time.time() % 1)
    status, body = await refresh(http, authz, client, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    await assert_family_revoked(http, authz, client, second)


async def test_narrowing_scope_keeps_the_original_scope_for_the_next_refresh(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    first = await tokens_for(http, authz, client, person, scope="notes:read notes:write")
    status, narrow = await refresh(http, authz, client, first["refresh_token"], scope="notes:read")
    assert status == 200, narrow
    assert narrow["scope"] == "notes:read"
    claims = await verified(http, authz, narrow["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert claims["scope"] == "notes:read"
    # RFC 6749 section 6: the new refresh token carries the scope the user granted, not the narrowed one.
    status, wide = await refresh(http, authz, client, narrow["refresh_token"])
    assert status == 200, wide
    assert wide["scope"] == "notes:read notes:write"


async def test_widening_scope_is_invalid_scope_and_does_not_spend_the_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    first = await tokens_for(http, authz, client, person, scope="notes:read")
    status, body = await refresh(http, authz, client, first["refresh_token"], scope="notes:read notes:write")
    assert (status, body["error"]) == (400, "invalid_scope")
    status, body = await refresh(http, authz, client, first["refresh_token"])
    assert status == 200, body
    assert body["scope"] == "notes:read"


async def test_another_clients_refresh_token_is_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    owner = await make_client(db)
    thief = await make_client(db)
    first = await tokens_for(http, authz, owner, person, scope="notes:read")
    status, body = await refresh(http, authz, thief, first["refresh_token"])
    assert (status, body["error"]) == (400, "invalid_grant")
    # The owner's token is untouched.
    status, body = await refresh(http, authz, owner, first["refresh_token"])
    assert status == 200, body


async def test_unknown_refresh_token_is_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    status, body = await refresh(http, authz, client, "no-such-refresh-token")
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_refreshing_a_sign_in_gets_a_new_id_token_without_nonce(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    first = await tokens_for(http, authz, client, person, scope="openid offline_access notes:read")
    first_id = await verified(http, authz, first["id_token"], audience=client.client_id, typ="JWT")
    status, body = await refresh(http, authz, client, first["refresh_token"])
    assert status == 200, body
    claims = await verified(http, authz, body["id_token"], audience=client.client_id, typ="JWT")
    # OIDC Core section 12.2: same iss, sub, aud and auth_time as at sign-in.
    assert claims["sub"] == first_id["sub"] == person.user_id
    assert claims["auth_time"] == first_id["auth_time"]
    assert "nonce" not in claims
    access = await verified(http, authz, body["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert set(access["aud"]) == {DEFAULT_RESOURCE, authz}


async def test_grace_window_repeats_the_same_successor_but_older_tokens_still_revoke(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    async with start_authz(AUTHORIUM_REFRESH_REUSE_GRACE_SECONDS="5") as url:
        first = await tokens_for(http, url, client, person, scope="notes:read")
        status, second = await refresh(http, url, client, first["refresh_token"])
        assert status == 200, second
        # The client lost the response and retries: it gets the same pair again, nothing is revoked.
        status, again = await refresh(http, url, client, first["refresh_token"])
        assert status == 200, again
        assert again["refresh_token"] == second["refresh_token"]
        assert jti_of(again["access_token"]) == jti_of(second["access_token"])
        assert (await introspect(http, url, client, second["access_token"]))["active"] is True

        status, third = await refresh(http, url, client, second["refresh_token"])
        assert status == 200, third
        assert third["refresh_token"] != second["refresh_token"]
        # Two rotations back is no retry: the family goes.
        status, body = await refresh(http, url, client, first["refresh_token"])
        assert (status, body["error"]) == (400, "invalid_grant")
        await assert_family_revoked(http, url, client, third)
