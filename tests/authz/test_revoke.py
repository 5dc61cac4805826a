"""Token revocation (RFC 7009) over HTTP: access tokens by jti, refresh tokens by grant, the durable record
in Postgres, the Redis lists, the announcement on the event channel, and rebuilding Redis from Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import jwt
import orjson
import pytest
from redis.asyncio import Redis

from authorium_shared import events
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authorium_shared.revocation_lists import RevocationCache, RevocationList
from authz.revocation.revoker import Revoker
from authz.settings import AuthzSettings
from authz.tokens.families import GrantRepository
from tests.authz.conftest import AuthzFactory
from tests.authz.flows import RegisteredClient, make_client, make_user, sign_in_and_redeem, token_request
from tests.conftest import REDIS_URL
from tests.waiting import eventually


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = create_redis(REDIS_URL)
    yield client
    await client.aclose()


def auth(client: RegisteredClient, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and form for client authentication: Basic for confidential clients, client_id for public."""
    if client.secret is None:
        return {}, {**form, "client_id": client.client_id}
    return client.basic, form


async def revoke(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, **form: str
) -> tuple[int, str, aiohttp.ClientResponse]:
    headers, data = auth(client, form)
    async with http.post(f"{authz}/revoke", data=data, headers=headers) as resp:
        return resp.status, await resp.text(), resp


async def introspect(http: aiohttp.ClientSession, authz: str, client: RegisteredClient, token: str) -> dict[str, Any]:
    headers, data = auth(client, {"token": token})
    async with http.post(f"{authz}/introspect", data=data, headers=headers) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def userinfo_status(http: aiohttp.ClientSession, authz: str, token: str) -> tuple[int, str]:
    async with http.get(f"{authz}/userinfo", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, resp.headers.get("WWW-Authenticate", "")


async def signed_in(
    http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool, scope: str = "openid profile offline_access"
) -> tuple[RegisteredClient, dict[str, Any]]:
    client = await make_client(db)
    username = await make_user(db)
    return client, await sign_in_and_redeem(http, authz, client, username, scope=scope)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


async def test_revoking_an_access_token_makes_it_inactive_everywhere(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, redis: Redis, redis_prefix: str
) -> None:
    client, tokens = await signed_in(http, authz, db)
    refresh = tokens["refresh_token"]
    # The hint only orders the search (RFC 7009 section 2.1): absent, right, wrong or unknown, it works.
    for hint in (None, "access_token", "refresh_token", "something_else"):
        status, fresh, _ = await token_request(http, authz, client, grant_type="refresh_token", refresh_token=refresh)
        assert status == 200, fresh
        access, refresh = fresh["access_token"], fresh["refresh_token"]
        await _revoke_access_token(http, authz, db, redis, redis_prefix, client, access, hint)
        # The refresh token is untouched: revoking one access token does not end the grant.
        assert (await introspect(http, authz, client, refresh))["active"] is True


async def _revoke_access_token(
    http: aiohttp.ClientSession,
    authz: str,
    db: asyncpg.Pool,
    redis: Redis,
    redis_prefix: str,
    client: RegisteredClient,
    access: str,
    hint: str | None,
) -> None:
    jti = claims_of(access)["jti"]
    assert (await introspect(http, authz, client, access))["active"] is True
    assert (await userinfo_status(http, authz, access))[0] == 200

    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    reader = await events.subscribe(redis, pubsub, events.channel(RedisKeys(redis_prefix)))
    try:
        form = {"token": access} if hint is None else {"token": access, "token_type_hint": hint}
        status, body, resp = await revoke(http, authz, client, **form)
        assert (status, body) == (200, ""), hint
        assert resp.headers["Cache-Control"] == "no-store"
        announced = await _revocation_event(reader, jti)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert announced["type"] == "revoked"
    assert announced["kind"] == "token"
    assert announced["expires_at"] >= claims_of(access)["exp"]

    assert await introspect(http, authz, client, access) == {"active": False}
    status, challenge = await userinfo_status(http, authz, access)
    assert status == 401
    assert 'error="invalid_token"' in challenge
    assert await RevocationList(redis, RedisKeys(redis_prefix)).is_revoked(jti=jti, grant_id=None)
    row = await db.fetchrow("SELECT expires_at FROM revocations WHERE kind = 'token' AND id = $1", jti)
    assert row is not None
    assert row["expires_at"].timestamp() >= claims_of(access)["exp"]


async def _revocation_event(pubsub: Any, rid: str) -> dict[str, Any]:
    async def announced() -> dict[str, Any] | None:
        message = await pubsub.get_message(timeout=0.5)  # waits for the next message itself
        if message is not None and message["type"] in events.MESSAGE_TYPES:
            event: dict[str, Any] = orjson.loads(message["data"])
            if event.get("id") == rid:
                return event
        return None

    return await eventually(announced, timeout=5, interval=0, message=f"the revocation of {rid} to be announced")


async def test_revoking_a_refresh_token_revokes_its_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, redis: Redis, redis_prefix: str
) -> None:
    client, tokens = await signed_in(http, authz, db)
    status, refreshed, _ = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert status == 200, refreshed
    grant_id = claims_of(tokens["access_token"])["grant_id"]
    assert claims_of(refreshed["access_token"])["grant_id"] == grant_id

    status, body, resp = await revoke(
        http, authz, client, token=refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    assert status == 200, body
    assert resp.headers["Cache-Control"] == "no-store"

    status, answer, _ = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=refreshed["refresh_token"]
    )
    assert (status, answer["error"]) == (400, "invalid_grant")
    # Every access token of the grant, old and new, is inactive now.
    for token in (tokens["access_token"], refreshed["access_token"], refreshed["refresh_token"]):
        assert await introspect(http, authz, client, token) == {"active": False}
    assert (await userinfo_status(http, authz, refreshed["access_token"]))[0] == 401
    assert await RevocationList(redis, RedisKeys(redis_prefix)).is_revoked(jti=None, grant_id=grant_id)
    assert await db.fetchval("SELECT count(*) FROM revocations WHERE kind = 'grant' AND id = $1", grant_id) == 1
    assert await db.fetchval("SELECT revoked_at IS NOT NULL FROM grants WHERE grant_id = $1::uuid", grant_id)

    # Revoking again, either token, is still a plain 200 (section 2.2: nothing left to revoke is no error).
    for token in (refreshed["refresh_token"], tokens["refresh_token"], refreshed["access_token"]):
        assert (await revoke(http, authz, client, token=token))[:2] == (200, "")

    # Audited once per revocation that happened, naming the grant and never the token itself.
    rows = await db.fetch(
        "SELECT details FROM audit_events WHERE event = 'token_revoked' AND client_id = $1 ORDER BY id",
        client.client_id,
    )
    details = [orjson.loads(r["details"]) if isinstance(r["details"], str) else r["details"] for r in rows]
    assert details[0] == {"token_type": "refresh_token", "grant_id": grant_id}
    text = orjson.dumps(details).decode()
    # The token strings only: `expires_in` (600) can turn up inside a random grant id.
    for name in ("access_token", "refresh_token", "id_token"):
        for token in (tokens.get(name), refreshed.get(name)):
            assert token is None or token not in text


async def test_a_public_client_revokes_its_refresh_token_even_with_the_access_token_hint(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db, public=True)
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid offline_access")
    status, _, _ = await revoke(http, authz, client, token=tokens["refresh_token"], token_type_hint="access_token")
    assert status == 200
    # A public client may not introspect (RFC 7662 section 2.1): a resource server allowed to looks instead.
    api = await make_client(db, introspect=True)
    assert await introspect(http, authz, api, tokens["access_token"]) == {"active": False}
    assert await introspect(http, authz, api, tokens["refresh_token"]) == {"active": False}


async def test_unknown_or_garbage_tokens_answer_200(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    garbage = [
        "not-a-token",
        "a.b.c",
        "x" * 4000,  # near the form limit (4096), and too long to be a refresh token
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "\u00e9\u00e9\u00e9",
    ]
    for token in garbage:
        for hint in ("access_token", "refresh_token"):
            status, body, resp = await revoke(http, authz, client, token=token, token_type_hint=hint)
            assert (status, body) == (200, ""), token[:20]
            assert resp.headers["Cache-Control"] == "no-store"


async def test_another_clients_tokens_are_refused_and_stay_active(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    owner, tokens = await signed_in(http, authz, db)
    intruder = await make_client(db)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        status, body, resp = await revoke(http, authz, intruder, token=token)
        assert status == 400
        assert orjson.loads(body)["error"] == "unauthorized_client"
        assert resp.headers["Cache-Control"] == "no-store"
        assert (await introspect(http, authz, owner, token))["active"] is True


async def test_client_authentication_and_the_token_are_required(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    status, tokens, _ = await token_request(http, authz, client, grant_type="client_credentials")
    assert status == 200, tokens
    token = tokens["access_token"]
    async with http.post(f"{authz}/revoke", data={"token": token}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_client"
        assert resp.headers["Cache-Control"] == "no-store"
    wrong = RegisteredClient(client.client_id, "wrong secret")
    async with http.post(f"{authz}/revoke", data={"token": token}, headers=wrong.basic) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "invalid_client"
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert (await introspect(http, authz, client, token))["active"] is True
    async with http.post(f"{authz}/revoke", data={"token_type_hint": "access_token"}, headers=client.basic) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
        assert resp.headers["Cache-Control"] == "no-store"


async def test_rebuild_restores_the_redis_lists_from_postgres(
    start_authz: AuthzFactory,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    redis: Redis,
    redis_prefix: str,
    environ: dict[str, str],
) -> None:
    keys = RedisKeys(redis_prefix)
    listed = RevocationList(redis, keys)
    async with start_authz() as authz:
        client = await make_client(db)
        status, tokens, _ = await token_request(http, authz, client, grant_type="client_credentials")
        assert status == 200, tokens
        other_client, others = await signed_in(http, authz, db)
        assert (await revoke(http, authz, client, token=tokens["access_token"]))[0] == 200
        assert (await revoke(http, authz, other_client, token=others["refresh_token"]))[0] == 200
    jti = claims_of(tokens["access_token"])["jti"]
    grant_id = claims_of(others["access_token"])["grant_id"]

    # Redis loses its data.
    await redis.delete(keys.grouped("revoked", "token"), keys.grouped("revoked", "grant"))
    assert not await listed.is_revoked(jti=jti, grant_id=None)
    assert not await listed.is_revoked(jti=None, grant_id=grant_id)

    settings = AuthzSettings.from_env({**environ, "AUTHORIUM_ISSUER": "http://127.0.0.1:1"})
    revoker = Revoker(db, GrantRepository(db), listed, settings, RevocationCache(listed, max_staleness=5))
    assert await revoker.rebuild() >= 2
    assert await listed.is_revoked(jti=jti, grant_id=None)
    assert await listed.is_revoked(jti=None, grant_id=grant_id)

    # A server starting does the same.
    await redis.delete(keys.grouped("revoked", "token"), keys.grouped("revoked", "grant"))
    async with start_authz() as authz:
        assert await listed.is_revoked(jti=jti, grant_id=None)
        assert await listed.is_revoked(jti=None, grant_id=grant_id)
        assert await introspect(http, authz, client, tokens["access_token"]) == {"active": False}
        assert await introspect(http, authz, other_client, others["access_token"]) == {"active": False}
