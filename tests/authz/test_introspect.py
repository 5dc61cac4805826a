"""Token introspection (RFC 7662) over HTTP: what an active token's answer holds, that anything the client may not
know about (expired, revoked, unknown, foreign, another client's) is exactly {"active": false}, that a resource
server the operator allowed (`--introspect`) may know about any token of this issuer, and that public clients may
not introspect at all (section 2.1)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import asyncpg
import jwt

from authorium_shared.jwt import encode
from authorium_shared.keys import KeyEncryptionKeys, KeySet, SigningKey, parse_kek
from authz.signing.repository import KeyRepository
from tests.authz.conftest import AuthzFactory
from tests.authz.flows import RegisteredClient, make_client, make_user, sign_in_and_redeem, token_request
from tests.authz.test_register import TOKEN, register
from tests.processes import authorium

INACTIVE = {"active": False}


async def introspect(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, token: str, **extra: str
) -> dict[str, Any]:
    if client.secret is None:
        headers, data = {}, {"token": token, "client_id": client.client_id, **extra}
    else:
        headers, data = client.basic, {"token": token, **extra}
    async with http.post(f"{authz}/introspect", data=data, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"
        body: dict[str, Any] = await resp.json()
        return body


async def signing_key(db: asyncpg.Pool, environ: dict[str, str]) -> SigningKey:
    stored = await KeyRepository(KeyEncryptionKeys(parse_kek(environ["AUTHORIUM_KEK"]))).load(db)
    return KeySet(tuple(stored)).signing_key("RS256")


async def test_an_active_user_access_token_is_described(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    username = await make_user(db)
    tokens = await sign_in_and_redeem(http, authz, client, username, scope="openid profile offline_access")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    for hint in ({}, {"token_type_hint": "access_token"}, {"token_type_hint": "refresh_token"}):
        body = await introspect(http, authz, client, tokens["access_token"], **hint)
        assert body["active"] is True
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "openid profile offline_access"
        assert body["client_id"] == client.client_id
        assert body["username"] == username
        assert body["iss"] == authz
        for name in ("sub", "aud", "exp", "iat", "jti"):
            assert body[name] == claims[name], name
        assert body["exp"] > time.time()


async def test_an_active_refresh_token_is_described(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    """RFC 7662 section 2.2: a refresh token is described too; its audience is this server's token endpoint."""
    client = await make_client(db)
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid offline_access")
    sub = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"]
    for hint in ({}, {"token_type_hint": "refresh_token"}):
        body = await introspect(http, authz, client, tokens["refresh_token"], **hint)
        assert body["active"] is True
        assert body["client_id"] == client.client_id
        assert body["scope"] == "openid offline_access"
        assert body["sub"] == sub
        assert body["iss"] == authz
        assert body["aud"] == authz
        assert body["exp"] > time.time()
    # Once rotated, the old refresh token is no longer active; its successor is.
    status, refreshed, _ = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert status == 200, refreshed
    assert await introspect(http, authz, client, tokens["refresh_token"]) == INACTIVE
    assert (await introspect(http, authz, client, refreshed["refresh_token"]))["active"] is True
    assert (await introspect(http, authz, client, refreshed["access_token"]))["active"] is True


async def test_tokens_the_client_may_not_know_about_are_just_inactive(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    client = await make_client(db)
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid offline_access")
    now = int(time.time())
    good = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    expired = encode({**good, "iat": now - 3600, "exp": now - 600}, await signing_key(db, environ), typ="at+jwt")
    foreign = encode({**good, "jti": "foreign"}, SigningKey.generate("RS256"), typ="at+jwt")
    other = await make_client(db)

    for token in (expired, foreign, "unknown", "a.b.c", "x" * 300):
        assert await introspect(http, authz, client, token) == INACTIVE
    # Another client's tokens, access or refresh, are inactive to it (RFC 7662 section 2.2).
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert await introspect(http, authz, other, token) == INACTIVE
        assert (await introspect(http, authz, client, token))["active"] is True

    async with http.post(f"{authz}/revoke", data={"token": tokens["access_token"]}, headers=client.basic) as resp:
        assert resp.status == 200
    assert await introspect(http, authz, client, tokens["access_token"]) == INACTIVE
    async with http.post(f"{authz}/revoke", data={"token": tokens["refresh_token"]}, headers=client.basic) as resp:
        assert resp.status == 200
    assert await introspect(http, authz, client, tokens["refresh_token"]) == INACTIVE


async def test_a_client_credentials_token_and_client_authentication(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    status, tokens, _ = await token_request(http, authz, client, grant_type="client_credentials", scope="notes:read")
    assert status == 200, tokens
    token = tokens["access_token"]
    # A client credentials token is the client's own: its subject is the client, and it has no username.
    body = await introspect(http, authz, client, token)
    assert body["active"] is True
    assert body["sub"] == client.client_id
    assert body["scope"] == "notes:read"
    assert "username" not in body

    attempts: list[tuple[dict[str, str], dict[str, str], int]] = [
        ({}, {"token": token}, 400),
        (RegisteredClient(client.client_id, "wrong").basic, {"token": token}, 401),
        (RegisteredClient("no-such-client", "wrong").basic, {"token": token}, 401),
        ({}, {"token": token, "client_id": client.client_id, "client_secret": "wrong"}, 400),
        ({}, {"token": token, "client_id": client.client_id}, 400),
    ]
    for headers, data, expected in attempts:
        async with http.post(f"{authz}/introspect", data=data, headers=headers) as resp:
            assert resp.status == expected, data
            assert (await resp.json())["error"] == "invalid_client"
            assert resp.headers["Cache-Control"] == "no-store"
            if expected == 401:
                assert resp.headers["WWW-Authenticate"].startswith("Basic")
    async with http.post(f"{authz}/introspect", data={}, headers=client.basic) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"


async def test_a_resource_server_allowed_to_introspect_sees_any_token_of_this_issuer(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    """RFC 7662 section 2.1: a protected resource the operator registered with `authorium client create
    --introspect` learns about a user's access token issued to another client (authorization code flow), with
    `sub`, `aud`, `scope` and `client_id` (section 2.2); a confidential client without the permission learns
    nothing about that token (`{"active": false}`)."""
    made = await asyncio.to_thread(
        authorium,
        *("client", "create", "--name", "notes API", "--grant-type", "client_credentials", "--introspect", "--json"),
        env=environ,
    )
    assert made.returncode == 0, made.stderr
    printed = json.loads(made.stdout)
    api = RegisteredClient(printed["client_id"], printed["client_secret"])
    app = await make_client(db)
    username = await make_user(db)
    tokens = await sign_in_and_redeem(http, authz, app, username, scope="openid notes:read offline_access")
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})

    body = await introspect(http, authz, api, tokens["access_token"])
    assert body["active"] is True
    assert body["sub"] == claims["sub"]
    assert body["aud"] == claims["aud"]
    assert body["scope"] == "openid notes:read offline_access"
    assert body["client_id"] == app.client_id
    assert body["username"] == username
    assert body["token_type"] == "Bearer"
    refresh = await introspect(http, authz, api, tokens["refresh_token"], token_type_hint="refresh_token")
    assert refresh["active"] is True and refresh["client_id"] == app.client_id and refresh["sub"] == claims["sub"]

    bystander = await make_client(db)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert await introspect(http, authz, bystander, token) == INACTIVE
    # The permission does not make revoked tokens active.
    async with http.post(f"{authz}/revoke", data={"token": tokens["access_token"]}, headers=app.basic) as resp:
        assert resp.status == 200
    assert await introspect(http, authz, api, tokens["access_token"]) == INACTIVE


async def test_a_public_client_may_not_introspect(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    """RFC 7662 section 2.1 asks client authentication of the caller, which a public client cannot give: its attempt
    is `invalid_client` (RFC 6749 section 5.2), 401 with a Basic challenge when it tried HTTP Basic, else 400, even
    for its own tokens."""
    client = await make_client(db, public=True)
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid offline_access")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        attempts: list[tuple[dict[str, str], dict[str, str], int]] = [
            ({}, {"token": token, "client_id": client.client_id}, 400),
            (RegisteredClient(client.client_id, "").basic, {"token": token}, 401),
        ]
        for headers, data, expected in attempts:
            async with http.post(f"{authz}/introspect", data=data, headers=headers) as resp:
                assert resp.status == expected
                assert (await resp.json())["error"] == "invalid_client"
                assert resp.headers["Cache-Control"] == "no-store"
                assert resp.headers.get("WWW-Authenticate", "").startswith("Basic") == (expected == 401)


async def test_a_client_cannot_give_itself_the_introspection_permission_by_registering(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 7591 section 2 lets a server ignore metadata it does not use; whatever a self-registering client asks
    for, introspecting others' tokens (RFC 7662 section 2.1) stays the operator's to grant."""
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as authz:
        status, registered, _ = await register(
            http,
            authz,
            {
                "client_name": "sneaky",
                "redirect_uris": ["https://sneaky.example/cb"],
                "introspect": True,
                "may_introspect": True,
                "scope": "openid",
            },
        )
        assert status == 201, registered
        sneaky = RegisteredClient(registered["client_id"], registered["client_secret"])
        victim = await make_client(db)
        tokens = await sign_in_and_redeem(http, authz, victim, await make_user(db), scope="openid offline_access")
        for token in (tokens["access_token"], tokens["refresh_token"]):
            assert await introspect(http, authz, sneaky, token) == INACTIVE
        stored = await db.fetchval("SELECT may_introspect FROM clients WHERE client_id = $1", sneaky.client_id)
        assert stored is False


async def test_a_public_client_cannot_be_given_the_permission(environ: dict[str, str]) -> None:
    """RFC 7662 section 2.1: only a client that can authenticate may introspect; the CLI refuses the combination."""
    result = await asyncio.to_thread(
        authorium,
        *("client", "create", "--name", "spa", "--public", "--redirect-uri", "https://spa.example/cb", "--introspect"),
        env=environ,
    )
    assert result.returncode == 2
    assert "public client cannot introspect" in result.stderr
