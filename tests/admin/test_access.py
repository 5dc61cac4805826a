"""Who may call the admin API: a Bearer access token from this issuer (RFC 6750 section 2.1) for the admin API's
audience with the `authorium:admin` scope. A missing token is 401 with a bare `Bearer` challenge (section 3.1); a
token that is invalid, for another audience or revoked is 401 `invalid_token`; a valid one without the scope is 403
`insufficient_scope` naming it (section 3.1)."""

from __future__ import annotations

import time
import uuid

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from authorium_shared.jwt import encode
from tests.admin.conftest import ADMIN_SCOPE, Admin, make_admin
from tests.authz.flows import make_client, token_request
from tests.resource.conftest import challenge, current_key

ADMIN_URL = "http://127.0.0.1:8010"  # AUTHORIUM_ADMIN_URL's default: the audience of admin tokens
REALM = "authorium-admin"


async def refusal(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    async with http.get(url + "/admin/v1/clients", headers=headers) as resp:
        scheme, params = challenge(resp)
        assert scheme == "Bearer" and params["realm"] == REALM
        assert resp.headers["Cache-Control"] == "no-store"
        return resp.status, params


async def test_a_token_from_the_admin_client_is_for_the_admin_api(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str
) -> None:
    """Asking for `authorium:admin` alone selects the admin API's audience (DESIGN.md, "Admin API")."""
    async with http.get(admin_url + "/admin/v1/clients", headers=admin.headers) as resp:
        assert resp.status == 200


async def test_no_token_is_401_with_a_bare_challenge(http: aiohttp.ClientSession, admin_url: str) -> None:
    for headers in ({}, {"Authorization": "Basic YTpi"}):
        status, params = await refusal(http, admin_url, headers)
        assert status == 401 and "error" not in params


async def test_a_malformed_or_foreign_token_is_invalid_token(
    http: aiohttp.ClientSession, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    """Another audience (a notes API token from a client that may also have the admin scope) and garbage alike."""
    client = await make_client(
        db, grant_types=("client_credentials",), scope=f"notes:read {ADMIN_SCOPE}", redirect_uris=()
    )
    _, notes, _ = await token_request(http, authz, client, grant_type="client_credentials", scope="notes:read")
    for token in (notes["access_token"], "not-a-jwt", "a.b.c"):
        status, params = await refusal(http, admin_url, {"Authorization": f"Bearer {token}"})
        assert (status, params["error"]) == (401, "invalid_token")


async def test_a_token_without_the_scope_is_insufficient_scope(
    http: aiohttp.ClientSession, admin_url: str, authz: str, db: asyncpg.Pool, environ: dict[str, str]
) -> None:
    """Signed by this issuer for the admin API's audience, but without `authorium:admin`: 403 naming the scope."""
    client = await make_client(db, grant_types=("client_credentials",), scope=ADMIN_SCOPE, redirect_uris=())
    now = int(time.time())
    claims = {
        "iss": authz,
        "sub": client.client_id,
        "aud": ADMIN_URL,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": client.client_id,
        "scope": "notes:read",
    }
    token = encode(claims, await current_key(db, environ, "ES256"), typ="at+jwt")
    status, params = await refusal(http, admin_url, {"Authorization": f"Bearer {token}"})
    assert (status, params["error"], params["scope"]) == (403, "insufficient_scope", ADMIN_SCOPE)
    # The same token with the scope is accepted: what was refused was the scope alone.
    token = encode({**claims, "scope": ADMIN_SCOPE}, await current_key(db, environ, "ES256"), typ="at+jwt")
    async with http.get(admin_url + "/admin/v1/clients", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
    # And with the wrong `typ` (an ID token's) it is not an access token at all (RFC 9068 section 4).
    token = encode({**claims, "scope": ADMIN_SCOPE}, await current_key(db, environ, "ES256"), typ="JWT")
    status, params = await refusal(http, admin_url, {"Authorization": f"Bearer {token}"})
    assert (status, params["error"]) == (401, "invalid_token")


async def test_a_revoked_token_is_refused(
    http: aiohttp.ClientSession, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    """Revoked at the revocation endpoint (RFC 7009), it is refused at once."""
    admin = await make_admin(http, authz, db)
    async with http.post(authz + "/revoke", data={"token": admin.token}, headers=admin.client.basic) as resp:
        assert resp.status == 200
    status, params = await refusal(http, admin_url, admin.headers)
    assert (status, params["error"]) == (401, "invalid_token")


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
async def test_changes_without_a_token_write_nothing(
    http: aiohttp.ClientSession, admin_url: str, db: asyncpg.Pool, method: str
) -> None:
    client = await make_client(db)
    path = "/admin/v1/clients" if method == "POST" else f"/admin/v1/clients/{client.client_id}"
    async with http.request(method, admin_url + path, json={"name": "intruder"}) as resp:
        assert resp.status == 401
    assert await db.fetchval("SELECT count(*) FROM clients WHERE name = 'intruder'") == 0
    assert await db.fetchval("SELECT count(*) FROM clients WHERE client_id = $1", client.client_id) == 1


async def test_every_admin_operation_needs_the_token(
    http: aiohttp.ClientSession, admin_url: str, authz_app: web.Application, authz: str, db: asyncpg.Pool
) -> None:
    """Each route under /admin/v1, whatever its method: 401 with a bare Bearer challenge without a token, and 401
    `invalid_token` with a token of this issuer for another audience (RFC 6750 section 3.1)."""
    client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    _, notes, _ = await token_request(http, authz, client, grant_type="client_credentials")
    routes = [
        (route.method, route.resource.canonical)
        for route in authz_app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/admin/v1") and route.method != "HEAD"
    ]
    assert len(routes) >= 24
    for method, path in routes:
        url = admin_url + (
            path.replace("{client_id}", "c")
            .replace("{user_id}", str(uuid.uuid4()))
            .replace("{grant_id}", str(uuid.uuid4()))
            .replace("{resource_id}", "r")
            .replace("{factor_id}", str(uuid.uuid4()))
        )
        for headers, expected in (
            ({}, (401, None)),
            ({"Authorization": f"Bearer {notes['access_token']}"}, (401, "invalid_token")),
        ):
            async with http.request(method, url, headers=headers, json={}) as resp:
                scheme, params = challenge(resp)
                assert (resp.status, params.get("error")) == expected, (method, path)
                assert scheme == "Bearer"
