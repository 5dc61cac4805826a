"""The authorization code grant at the token endpoint (RFC 6749 section 4.1.3, RFC 7636, OIDC Core 3.1.3)
and the attacks on it that RFC 9700 names: code replay, PKCE downgrade, code injection across clients.

Also home of the helpers the other token-endpoint test modules share (redeeming codes, verifying tokens
against the published JWKS, introspection); the server and the signed-in person they share are in conftest."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from tests.authz.conftest import AuthzFactory, Person
from tests.authz.flows import (
    RegisteredClient,
    authorize,
    make_client,
    pkce_pair,
    token_request,
)
from tests.conftest import REDIS_URL

DEFAULT_RESOURCE = "http://127.0.0.1:8001"


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module's tests (see conftest's `module_server`)."""
    return module_authz


async def published_keys(http: aiohttp.ClientSession, authz: str) -> jwt.PyJWKSet:
    async with http.get(authz + "/jwks.json") as resp:
        assert resp.status == 200
        return jwt.PyJWKSet.from_dict(await resp.json())


async def verified(http: aiohttp.ClientSession, authz: str, token: str, *, audience: str, typ: str) -> dict[str, Any]:
    """The claims of `token`, verified against the server's published JWKS (signature, typ, iss, aud, exp)."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == typ
    keys = await published_keys(http, authz)
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[header["alg"]],
        audience=audience,
        issuer=authz,
        options={"require": ["exp", "iat", "iss", "sub", "aud"]},
    )
    return claims


async def code_for(
    authz: str, client: RegisteredClient, person: Person, *, scope: str, challenge: str | None = None, **params: str
) -> str:
    """Walk the authorization endpoint as `person` and return the code it sends the client."""
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    result = await authorize(person.browser, authz, client, person.username, scope=scope, state="xyz", **params)
    assert result.params["state"] == "xyz", result.location
    return result.code


async def redeem(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, code: str, **extra: str
) -> tuple[int, dict[str, Any]]:
    """Redeem `code`; an empty value in `extra` leaves that parameter out."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri, **extra}
    status, body, resp = await token_request(http, authz, client, **{k: v for k, v in form.items() if v})
    assert resp.headers["Cache-Control"] == "no-store"
    return status, body


async def tokens_for(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, person: Person, *, scope: str
) -> dict[str, Any]:
    """The whole code flow with PKCE: the token response."""
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope=scope, challenge=challenge)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, body
    return body


async def introspect(
    http: aiohttp.ClientSession, authz: str, client: RegisteredClient, token: str, hint: str | None = None
) -> dict[str, Any]:
    form = {"token": token}
    if hint:
        form["token_type_hint"] = hint
    async with http.post(authz + "/introspect", data=form, headers=client.basic) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


def half_hash(value: str) -> str:
    """OIDC Core 3.1.3.6 at_hash for the SHA-256 algorithms (RS256, ES256)."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


async def test_code_with_pkce_yields_verifiable_access_and_id_tokens(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="openid notes:read", challenge=challenge, nonce="n-0S6")
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "openid notes:read"
    # OIDC Core section 11: without offline_access a sign-in gets no refresh token.
    assert "refresh_token" not in body

    at = await verified(http, authz, body["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert set(at["aud"]) == {DEFAULT_RESOURCE, authz}
    assert at["sub"] == person.user_id
    assert at["client_id"] == client.client_id
    assert at["scope"] == "openid notes:read"
    assert at["jti"]
    assert at["exp"] - at["iat"] == 600

    assert jwt.get_unverified_header(body["id_token"])["alg"] == "RS256"
    idt = await verified(http, authz, body["id_token"], audience=client.client_id, typ="JWT")
    assert idt["aud"] == client.client_id
    assert idt["sub"] == person.user_id
    assert idt["nonce"] == "n-0S6"
    assert time.time() - 3600 < idt["auth_time"] <= time.time()
    assert idt["at_hash"] == half_hash(body["access_token"])


async def test_plain_oauth_code_gets_resource_audience_and_a_refresh_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read notes:write", challenge=challenge)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, body
    assert "id_token" not in body
    assert body["refresh_token"]
    at = await verified(http, authz, body["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert at["aud"] == DEFAULT_RESOURCE


async def test_offline_access_with_openid_gets_a_refresh_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="openid offline_access", challenge=challenge)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, body
    assert body["refresh_token"] and body["id_token"]


async def test_a_client_registered_for_es256_gets_an_es256_id_token(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db, id_token_alg="ES256")
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="openid", challenge=challenge, nonce="abc")
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, body
    assert jwt.get_unverified_header(body["id_token"])["alg"] == "ES256"
    idt = await verified(http, authz, body["id_token"], audience=client.client_id, typ="JWT")
    assert idt["nonce"] == "abc"
    assert idt["at_hash"] == half_hash(body["access_token"])


async def test_public_client_redeems_with_client_id_and_pkce(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db, public=True)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, body
    assert body["access_token"]


async def test_code_replay_fails_and_revokes_what_the_first_redemption_issued(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    status, first = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, first
    assert (await introspect(http, authz, client, first["access_token"]))["active"] is True
    assert (await introspect(http, authz, client, first["refresh_token"], "refresh_token"))["active"] is True

    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert (status, body["error"]) == (400, "invalid_grant")

    assert await introspect(http, authz, client, first["access_token"]) == {"active": False}
    assert await introspect(http, authz, client, first["refresh_token"], "refresh_token") == {"active": False}
    status, body, _ = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_code_redis_forgot_redeeming_is_still_a_replay(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person, redis_prefix: str
) -> None:
    """A Redis that fails over after a code was redeemed, before its replica had the consumption, hands the code
    out again. Postgres already holds the grant the code names: the second redemption is a replay (invalid_grant,
    and what the first one issued is revoked), not a second set of tokens and not a 500."""
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    key = RedisKeys(redis_prefix)("code", hashlib.sha256(code.encode()).hexdigest())
    redis = create_redis(REDIS_URL)
    try:
        before = await redis.hgetall(key)  # what the replica had
        status, first = await redeem(http, authz, client, code, code_verifier=verifier)
        assert status == 200, first
        await redis.hset(key, mapping=before)  # the failover: the replica, promoted, never saw the consumption
        status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    finally:
        await redis.aclose()
    assert (status, body["error"]) == (400, "invalid_grant")
    assert await introspect(http, authz, client, first["access_token"]) == {"active": False}
    assert await introspect(http, authz, client, first["refresh_token"], "refresh_token") == {"active": False}


async def test_code_issued_with_a_challenge_needs_the_verifier(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    _, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    status, body = await redeem(http, authz, client, code)
    assert status == 400
    assert body["error"] in ("invalid_request", "invalid_grant")


@pytest.mark.parametrize("challenged", [False, True], ids=["code_issued_without_challenge", "wrong_verifier"])
async def test_a_verifier_not_matching_the_codes_challenge_is_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person, challenged: bool
) -> None:
    client = await make_client(db)
    _, challenge = pkce_pair()
    verifier, _ = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge if challenged else None)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_confidential_client_without_pkce_still_works(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    code = await code_for(authz, client, person, scope="notes:read")
    status, body = await redeem(http, authz, client, code)
    assert status == 200, body


async def test_redirect_uri_mismatch_is_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    other = "https://client.example/other"
    client = await make_client(db, redirect_uris=("https://client.example/callback", other))
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier, redirect_uri=other)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_missing_redirect_uri_when_the_request_had_one_is_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier, redirect_uri="")
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_code_issued_to_another_client_is_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 6749 section 4.1.3: the server must "ensure that the authorization code was issued to the authenticated
    confidential client". Another client's attempt is invalid_grant, and it spends nothing: the code's own client
    redeems it afterwards."""
    victim = await make_client(db)
    attacker = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, victim, person, scope="notes:read", challenge=challenge)
    status, body = await redeem(http, authz, attacker, code, code_verifier=verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await redeem(http, authz, victim, code, code_verifier=verifier)
    assert status == 200, body


async def test_another_clients_replay_revokes_nothing(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 6749 section 4.1.2 and 4.1.3: a code used twice revokes what it issued, but only when the client it was
    issued to presents it again; anyone else holding a leaked code cannot revoke the victim's tokens with it."""
    victim = await make_client(db)
    attacker = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, victim, person, scope="notes:read", challenge=challenge)
    status, tokens = await redeem(http, authz, victim, code, code_verifier=verifier)
    assert status == 200, tokens
    status, body = await redeem(http, authz, attacker, code, code_verifier=verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert (await introspect(http, authz, victim, tokens["access_token"]))["active"] is True
    assert (await introspect(http, authz, victim, tokens["refresh_token"]))["active"] is True


async def test_unknown_code_is_invalid_grant(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    status, body = await redeem(http, authz, client, "not-a-code", code_verifier=pkce_pair()[0])
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_missing_code_is_invalid_request(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    status, body, _ = await token_request(
        http, authz, client, grant_type="authorization_code", redirect_uri=client.redirect_uri
    )
    assert (status, body["error"]) == (400, "invalid_request")


@pytest.mark.slow
async def test_expired_code_is_invalid_grant(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    async with start_authz(AUTHORIUM_CODE_TTL="5") as authz:
        verifier, challenge = pkce_pair()
        code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
        await asyncio.sleep(5.5)  # past the code's lifetime: the time passing is the test
        status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_a_client_deleted_while_its_code_waits_gets_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """RFC 6749 section 5.2: a code whose grant can no longer be recorded is `invalid_grant`, not a 500. The client
    is deleted between the authorization and the token request, while this replica still holds it in its cache
    (a deletion another replica has not announced yet)."""
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    await db.execute("DELETE FROM clients WHERE client_id = $1", client.client_id)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert (status, body["error"]) == (400, "invalid_grant"), body


async def test_a_user_disabled_while_their_code_waits_gets_invalid_grant_and_no_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """That the user exists and is not disabled is checked in the statement that stores the grant: a user disabled
    between the authorization and the token request gets `invalid_grant`, and nothing is written."""
    client = await make_client(db)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="openid offline_access notes:read", challenge=challenge)
    await db.execute("UPDATE users SET disabled = true WHERE user_id = $1::uuid", person.user_id)
    try:
        status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    finally:
        await db.execute("UPDATE users SET disabled = false WHERE user_id = $1::uuid", person.user_id)
    assert (status, body["error"]) == (400, "invalid_grant"), body
    assert await db.fetchval("SELECT count(*) FROM grants WHERE client_id = $1", client.client_id) == 0
    assert (
        await db.fetchval(
            "SELECT count(*) FROM refresh_tokens t JOIN grants g USING (grant_id) WHERE g.client_id = $1",
            client.client_id,
        )
        == 0
    )
