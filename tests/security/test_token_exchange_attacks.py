"""Attacks through token exchange (RFC 8693 section 5, RFC 8725), over HTTP against real servers: forged subject
tokens (keys the token names for itself, alg none, HS256 keyed with the public key, other algorithms with the real
key), oversized ones, scope and audience escalation, the admin API as a target, delegation loops, and an exchanged
token used where it was not issued for. Each is a 400 with section 2.2.2's code (or RFC 6750's refusal at the API),
never a token, never a 500, and leaves no audit event."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authorium_shared.keys import SigningKey
from authz.resources.records import Resource
from tests.authz.flows import RegisteredClient, make_client, make_resource
from tests.resource.conftest import RESOURCE_URL, Caller, bearer, claims_for, current_key, expect_refusal, user_token
from tests.resource.test_bearer import _b64, _segment
from tests.security.test_jwt_attacks import Attacker, attacker, self_signed_certificate  # noqa: F401 - fixture

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
ADMIN_API = "http://127.0.0.1:8010"  # AUTHORIUM_ADMIN_URL's default
AT_JWT = "at+jwt"


@pytest.fixture(scope="module")
async def key(module_db: asyncpg.Pool, module_environ: dict[str, str]) -> SigningKey:
    return await current_key(module_db, module_environ)


@pytest.fixture(scope="module")
async def user(authz: str, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool) -> Caller:
    """A user's access token for the notes API, with notes:read only."""
    return await user_token(module_http, authz, module_db, scope="notes:read")


@pytest.fixture(scope="module")
async def caller(module_db: asyncpg.Pool) -> RegisteredClient:
    """A service the operator lets exchange towards the notes API."""
    return await make_client(module_db, grant_types=(GRANT,), redirect_uris=(), may_exchange_for=(RESOURCE_URL,))


async def exchange(
    http: aiohttp.ClientSession, authz: str, caller: RegisteredClient, subject_token: str, *extra: tuple[str, str]
) -> tuple[int, dict[str, Any]]:
    form = [("grant_type", GRANT), ("subject_token", subject_token), ("subject_token_type", ACCESS_TOKEN), *extra]
    async with http.post(f"{authz}/token", data=form, headers=caller.basic) as resp:
        return resp.status, await resp.json()


async def recorded(db: asyncpg.Pool, client_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM audit_events WHERE event = 'token_exchanged' AND client_id = $1", client_id
    )
    return count


async def refused(
    http: aiohttp.ClientSession,
    authz: str,
    db: asyncpg.Pool,
    caller: RegisteredClient,
    subject_token: str,
    *extra: tuple[str, str],
    error: str = "invalid_request",
) -> str:
    before = await recorded(db, caller.client_id)
    status, body = await exchange(http, authz, caller, subject_token, *extra)
    assert (status, body.get("error")) == (400, error), body
    assert "access_token" not in body
    assert await recorded(db, caller.client_id) == before
    return str(body.get("error_description", ""))


def _pem(key: SigningKey) -> bytes:
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    return key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _unsigned(claims: dict[str, Any], kid: str) -> str:
    return f"{_segment({'alg': 'none', 'kid': kid, 'typ': AT_JWT})}.{_segment(claims)}."


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """The algorithm-confusion forgery: HMAC keyed with the public key's bytes (pyjwt refuses to make one)."""
    signing_input = f"{_segment({'alg': 'HS256', 'kid': kid, 'typ': AT_JWT})}.{_segment(claims)}"
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


@pytest.mark.parametrize("forgery", ["alg none", "HS256 with the public key", "RS384 with the real key", "kid path"])
async def test_forged_subject_tokens_are_invalid_request(
    authz: str,
    module_http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    key: SigningKey,
    user: Caller,
    caller: RegisteredClient,
    forgery: str,
) -> None:
    """RFC 8725 sections 3.1 and 3.10 at the token endpoint: the user's own claims, widened to notes:admin, under a
    signature this server never made, are an invalid subject_token (RFC 8693 section 2.2.2)."""
    claims = {**jwt.decode(user.token, options={"verify_signature": False}), "scope": "notes:read notes:admin"}
    if forgery == "alg none":
        token = _unsigned(claims, key.kid)
    elif forgery == "HS256 with the public key":
        token = _hs256(claims, _pem(key), key.kid)
    elif forgery == "RS384 with the real key":
        token = jwt.encode(claims, key.private_key, algorithm="RS384", headers={"kid": key.kid, "typ": AT_JWT})
    else:
        token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": "../jwks.json", "typ": AT_JWT})
    await refused(module_http, authz, db, caller, token, ("scope", "notes:admin"))


async def test_a_subject_token_naming_its_own_key_is_never_trusted_or_fetched(
    authz: str,
    module_http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    attacker: Attacker,  # noqa: F811 - the imported fixture
    caller: RegisteredClient,
) -> None:
    """RFC 8725 section 3.10: jwk, jku, x5u and x5c carry the attacker's key, which signed the token; the token
    endpoint neither trusts nor fetches any of them."""
    headers = {
        "typ": AT_JWT,
        "kid": attacker.kid,
        "jwk": attacker.jwk,
        "jku": f"{attacker.url}/jwks.json",
        "x5u": f"{attacker.url}/cert.pem",
        "x5c": [self_signed_certificate(attacker.key)],
    }
    token = jwt.encode(claims_for(authz, aud=RESOURCE_URL), attacker.key, algorithm="RS256", headers=headers)
    await refused(module_http, authz, db, caller, token)
    assert attacker.fetched == []


@pytest.mark.parametrize("size", [4097, 10_000])
async def test_an_oversized_subject_token_is_invalid_request(
    authz: str, module_http: aiohttp.ClientSession, db: asyncpg.Pool, caller: RegisteredClient, size: int
) -> None:
    """A subject_token longer than any this server issues is refused before it is parsed."""
    await refused(module_http, authz, db, caller, "a." + "b" * size + ".c")


async def test_an_exchange_never_widens_the_scopes(
    authz: str, module_http: aiohttp.ClientSession, db: asyncpg.Pool, user: Caller, caller: RegisteredClient
) -> None:
    """RFC 8693 section 5 (delegation must not become escalation): a user token with notes:read exchanged for
    notes:write or notes:admin, which the target declares and a service could otherwise use, is invalid_scope."""
    for scope in ("notes:write", "notes:admin", "notes:read notes:admin", "authorium:admin"):
        await refused(module_http, authz, db, caller, user.token, ("scope", scope), error="invalid_scope")


async def test_the_admin_api_is_never_an_exchange_target(
    authz: str, module_http: aiohttp.ClientSession, db: asyncpg.Pool, user: Caller
) -> None:
    """The admin API acts for the operator's admin clients, never for a user through a service: even a client whose
    record names it (a registration the checks would refuse, written straight into the table) is refused it
    (invalid_target, RFC 8693 section 2.2.2)."""
    rogue = await make_client(db, grant_types=(GRANT,), redirect_uris=(), may_exchange_for=(RESOURCE_URL,))
    await db.execute(
        "UPDATE clients SET may_exchange_for = $2 WHERE client_id = $1", rogue.client_id, [RESOURCE_URL, ADMIN_API]
    )
    description = await refused(
        module_http, authz, db, rogue, user.token, ("resource", ADMIN_API), error="invalid_target"
    )
    assert "admin" in description


async def test_a_delegation_loop_ends(
    authz: str, module_http: aiohttp.ClientSession, db: asyncpg.Pool, user: Caller, caller: RegisteredClient
) -> None:
    """RFC 8693 section 4.1 nests one `act` per exchange; services exchanging each other's tokens in a loop would
    grow the token without end. The chain stops at eight actors with invalid_request."""
    token = user.token
    for _ in range(8):
        status, body = await exchange(module_http, authz, caller, token)
        assert status == 200, body
        token = body["access_token"]
    depth, act = 0, jwt.decode(token, options={"verify_signature": False})["act"]
    while act is not None:
        depth, act = depth + 1, act.get("act")
    assert depth == 8
    assert "chain" in await refused(module_http, authz, db, caller, token)


async def test_an_exchanged_token_is_good_only_at_its_target(
    authz: str, api: str, module_http: aiohttp.ClientSession, db: asyncpg.Pool, module_environ: dict[str, str]
) -> None:
    """RFC 8707 with RFC 8693 section 2.1: a token exchanged for another API carries that API alone in `aud`; the
    notes API refuses it (RFC 6750 invalid_token), so a service cannot launder a user's token into a wider one."""
    inventory: Resource = await make_resource(db, module_environ, authz)
    user = await user_token(module_http, authz, db, scope=f"notes:read {inventory.scopes[0]}")
    service = await make_client(
        db, grant_types=(GRANT,), redirect_uris=(), may_exchange_for=(inventory.identifier, RESOURCE_URL)
    )
    status, body = await exchange(module_http, authz, service, user.token, ("resource", inventory.identifier))
    assert status == 200, body
    await expect_refusal(
        module_http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(body["access_token"])
    )
