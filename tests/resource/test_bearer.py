"""Every way the resource server refuses a request's credentials (RFC 6750 section 3; RFC 9068 section 4),
each with the exact status, WWW-Authenticate challenge and JSON body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from multidict import CIMultiDict

from authorium_shared import dpop
from authorium_shared.jwt import encode
from authorium_shared.keys import SigningKey
from resource_server.access import REALM
from tests.resource.conftest import (
    RESOURCE_URL,
    Caller,
    bearer,
    claims_for,
    current_key,
    expect_refusal,
    refreshed,
    revoke,
    service_token,
    user_token,
)
from tests.waiting import eventually


@pytest.fixture(scope="module")
async def alice(module_http: aiohttp.ClientSession, authz: str, module_db: asyncpg.Pool) -> Caller:
    return await user_token(module_http, authz, module_db)


@pytest.fixture(scope="module")
async def reader(module_http: aiohttp.ClientSession, authz: str, module_db: asyncpg.Pool) -> Caller:
    return await user_token(module_http, authz, module_db, scope="notes:read")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


async def _me(http: aiohttp.ClientSession, api: str, token: str) -> tuple[int, dict[str, Any]]:
    async with http.get(api + "/api/me", headers=bearer(token)) as resp:
        return resp.status, await resp.json()


async def _refused_as_invalid(http: aiohttp.ClientSession, api: str, token: str, reason: str) -> None:
    params = await expect_refusal(
        http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(token)
    )
    assert reason in params["error_description"], params


async def test_a_token_from_the_authorization_server_is_accepted(
    api: str, http: aiohttp.ClientSession, alice: Caller
) -> None:
    caller = alice
    status, body = await _me(http, api, caller.token)
    assert status == 200, body
    assert body == {
        "sub": caller.sub,
        "client_id": caller.client_id,
        "scope": "notes:read notes:write",
        "kind": "user",
        "token_type": "Bearer",
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Digest username=x"}],
    ids=["none", "basic", "digest"],
)
async def test_no_bearer_token_gets_a_bare_challenge(
    api: str, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    async with http.get(api + "/api/notes", headers=headers) as resp:
        assert resp.status == 401
        # RFC 6750 section 3.1: no error code when the request carried no authentication information; RFC 9449
        # section 7.2: DPoP, accepted too, is offered beside Bearer.
        assert resp.headers.getall("WWW-Authenticate") == [
            f'Bearer realm="{REALM}", DPoP realm="{REALM}", algs="{" ".join(dpop.ALGORITHMS)}"'
        ]
        assert resp.headers["Cache-Control"] == "no-store"
        assert "error" not in await resp.json()


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer ", "Bearer not-a-jwt", "Bearer a.b.c", "Bearer a b", "Bearer é.x.y", "Bearer " + "a" * 8100],
)
async def test_a_malformed_token_is_invalid(api: str, http: aiohttp.ClientSession, value: str) -> None:
    params = await expect_refusal(
        http, "GET", api + "/api/me", status=401, error="invalid_token", headers={"Authorization": value}
    )
    assert params["error_description"]


async def test_alg_none_is_refused(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    kid = (await current_key(db, environ)).kid
    for alg in ("none", "None", "NONE"):
        token = f"{_segment({'alg': alg, 'typ': 'at+jwt', 'kid': kid})}.{_segment(claims_for(authz))}."
        await _refused_as_invalid(http, api, token, "the access token is invalid")
        token += _b64(b"x")
        await _refused_as_invalid(http, api, token, "algorithm not allowed")


async def test_hs256_signed_with_the_public_key_is_refused(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    """The algorithm-confusion attack: the verifier must not use the RSA public key as an HMAC secret."""
    key = await current_key(db, environ)
    async with http.get(authz + "/jwks.json") as resp:
        published = json.dumps(next(k for k in (await resp.json())["keys"] if k["kid"] == key.kid)).encode()
    pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (pem, published):
        signing_input = f"{_segment({'alg': 'HS256', 'typ': 'at+jwt', 'kid': key.kid})}.{_segment(claims_for(authz))}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        await _refused_as_invalid(http, api, f"{signing_input}.{_b64(signature)}", "algorithm not allowed")


async def test_a_token_signed_by_a_foreign_key_is_refused(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    foreign = SigningKey.generate("RS256")
    await _refused_as_invalid(http, api, encode(claims_for(authz), foreign, typ="at+jwt"), "unknown kid")
    # The same foreign key claiming to be the published current key: the signature check catches it.
    published_kid = (await current_key(db, environ)).kid
    impostor = SigningKey(kid=published_kid, alg="RS256", private_key=foreign.private_key)
    await _refused_as_invalid(http, api, encode(claims_for(authz), impostor, typ="at+jwt"), "bad signature")
    # An EdDSA key under the RS256 key's kid: the algorithm does not match the published key.
    ed = SigningKey.generate("EdDSA")
    impostor = SigningKey(kid=published_kid, alg="EdDSA", private_key=ed.private_key)
    await _refused_as_invalid(http, api, encode(claims_for(authz), impostor, typ="at+jwt"), "algorithm mismatch")


async def test_a_tampered_payload_is_refused(api: str, http: aiohttp.ClientSession, reader: Caller) -> None:
    caller = reader
    header, payload, signature = caller.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "notes:read notes:write notes:admin"
    await _refused_as_invalid(http, api, f"{header}.{_segment(claims)}.{signature}", "bad signature")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"iss": None}, "missing iss"),
        ({"aud": "https://other-api.example"}, "wrong audience"),
        ({"aud": ["https://other-api.example", "https://third.example"]}, "wrong audience"),
        ({"aud": None}, "missing aud"),
        ({"exp": timedelta(seconds=-30)}, "expired"),
        ({"exp": None}, "missing exp"),
        ({"nbf": timedelta(seconds=60)}, "not yet valid"),
        ({"iat": None}, "missing iat"),
        ({"jti": None}, "missing jti"),
        ({"client_id": None}, "missing client_id"),
        ({"sub": None}, "missing sub"),
        ({"sub": ""}, "malformed claims"),
        ({"sub": 42}, "malformed"),
        ({"scope": ["notes:read"]}, "malformed claims"),
        ({"grant_id": 7}, "malformed claims"),
        ({"exp": "9999999999"}, "the access token is invalid"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_claims_with_a_valid_signature_are_still_checked(
    api: str,
    authz: str,
    http: aiohttp.ClientSession,
    db: asyncpg.Pool,
    environ: dict[str, str],
    overrides: dict[str, Any],
    reason: str,
) -> None:
    key = await current_key(db, environ)
    await _refused_as_invalid(http, api, encode(claims_for(authz, **overrides), key, typ="at+jwt"), reason)


async def test_exp_and_nbf_get_the_configured_leeway(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    key = await current_key(db, environ)
    now = int(time.time())
    # Within the default 5 s leeway: accepted.
    for overrides in ({"exp": now - 2}, {"nbf": now + 3}, {"iat": now + 3}):
        status, body = await _me(http, api, encode(claims_for(authz, **overrides), key, typ="at+jwt"))
        assert status == 200, (overrides, body)
    # Beyond it: refused.
    await _refused_as_invalid(http, api, encode(claims_for(authz, exp=now - 8), key, typ="at+jwt"), "expired")
    await _refused_as_invalid(http, api, encode(claims_for(authz, nbf=now + 10), key, typ="at+jwt"), "not yet valid")


async def test_audience_may_be_a_list_naming_this_server(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    key = await current_key(db, environ)
    token = encode(claims_for(authz, aud=[authz, RESOURCE_URL]), key, typ="at+jwt")
    status, body = await _me(http, api, token)
    assert status == 200, body


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWS", "id_token+jwt", None])
async def test_a_token_that_is_not_an_access_token_is_refused(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str], typ: str | None
) -> None:
    key = await current_key(db, environ)
    # pyjwt leaves typ out when it is None.
    token = pyjwt.encode(claims_for(authz), key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})
    assert pyjwt.get_unverified_header(token).get("typ") == typ
    await _refused_as_invalid(http, api, token, "wrong typ")


async def test_application_at_jwt_is_the_same_type(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    key = await current_key(db, environ)
    status, body = await _me(http, api, encode(claims_for(authz), key, typ="application/at+jwt"))
    assert status == 200, body


async def test_an_id_token_is_not_an_access_token(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    caller = await user_token(http, authz, db, scope="openid notes:read", client_scope="openid notes:read")
    id_token = caller.response["id_token"]
    await expect_refusal(http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(id_token))


async def test_a_revoked_token_is_refused(api: str, authz: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    caller = await refreshed(http, authz, alice)
    assert (await _me(http, api, caller.token))[0] == 200
    await revoke(http, authz, caller)

    async def refused() -> bool:
        return (await _me(http, api, caller.token))[0] != 200

    await eventually(refused, timeout=1.0, interval=0.02, message="the revoked token to be refused")
    params = await expect_refusal(
        http, "GET", api + "/api/me", status=401, error="invalid_token", headers=caller.headers
    )
    assert params["error_description"] == "the access token was revoked"


async def test_insufficient_scope_is_403_naming_the_scope(
    api: str, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, reader: Caller
) -> None:
    params = await expect_refusal(
        http,
        "POST",
        api + "/api/notes",
        status=403,
        error="insufficient_scope",
        headers=reader.headers,
        json={"title": "t"},
    )
    assert params["scope"] == "notes:write"
    for method in ("PATCH", "DELETE"):
        params = await expect_refusal(
            http,
            method,
            f"{api}/api/notes/{uuid.uuid4()}",
            status=403,
            error="insufficient_scope",
            headers=reader.headers,
            json={"title": "t"},
        )
        assert params["scope"] == "notes:write"
    writer = await service_token(http, authz, db, scope="notes:write")
    params = await expect_refusal(
        http, "GET", api + "/api/notes", status=403, error="insufficient_scope", headers=writer.headers
    )
    assert params["scope"] == "notes:read"


async def test_a_token_in_the_query_string_is_refused(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    caller = alice
    await expect_refusal(
        http, "GET", api + "/api/me", status=400, error="invalid_request", params={"access_token": caller.token}
    )
    # Also alongside a header (RFC 6750 section 2: one method per request), so the URL copy is never honoured.
    await expect_refusal(
        http,
        "GET",
        api + "/api/me",
        status=400,
        error="invalid_request",
        params={"access_token": caller.token},
        headers=caller.headers,
    )


async def test_a_token_in_a_form_body_is_not_read(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    caller = alice
    await expect_refusal(http, "POST", api + "/api/notes", status=401, error=None, data={"access_token": caller.token})


async def test_two_authorization_headers_are_refused(api: str, http: aiohttp.ClientSession, alice: Caller) -> None:
    caller = alice
    headers = CIMultiDict([("Authorization", f"Bearer {caller.token}"), ("Authorization", f"Bearer {caller.token}")])
    await expect_refusal(http, "GET", api + "/api/me", status=400, error="invalid_request", headers=headers)


async def test_a_token_for_another_issuer_signed_by_its_key_is_refused(
    api: str, authz: str, http: aiohttp.ClientSession
) -> None:
    other = SigningKey.generate("ES256")
    await _refused_as_invalid(
        http, api, encode(claims_for("https://other-issuer.example"), other, typ="at+jwt"), "unknown kid"
    )
