"""Client authentication at the token, revocation and introspection endpoints, over HTTP: a client registered with a
`token_endpoint_auth_method` authenticates only that way (OpenID Connect Core section 9, RFC 7591 section 2); an
operator-made client that named none may send its secret either way (RFC 6749 section 2.3.1), as before."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from authorium.setup import ensure_demo_client
from authorium_shared import migrations
from authz.clients import credentials
from tests.authz.conftest import AuthzFactory, running_authz
from tests.authz.flows import basic_header
from tests.authz.test_register import TOKEN, WITH_CLIENT_CREDENTIALS, register
from tests.conftest import DatabaseFactory
from tests.processes import authorium

ENDPOINTS = {"/token": {"grant_type": "client_credentials"}, "/revoke": {"token": "x"}, "/introspect": {"token": "x"}}
EVERYWHERE = {path: 200 for path in ENDPOINTS}


@pytest.fixture
async def authz(start_authz: AuthzFactory) -> AsyncIterator[str]:
    """Registration on, and services may register (so the token endpoint has a grant to try each method on)."""
    async with start_authz(
        AUTHORIUM_REGISTRATION_TOKEN=TOKEN, AUTHORIUM_REGISTRATION_GRANT_TYPES=WITH_CLIENT_CREDENTIALS
    ) as url:
        yield url


async def with_basic(http: aiohttp.ClientSession, authz: str, client_id: str, secret: str) -> dict[str, int]:
    """Each endpoint's status when the client authenticates with client_secret_basic."""
    found = {}
    for path, form in ENDPOINTS.items():
        async with http.post(authz + path, data=form, headers={"Authorization": basic_header(client_id, secret)}) as r:
            found[path] = r.status
            if r.status == 401:
                assert (await r.json())["error"] == "invalid_client"
                assert r.headers["WWW-Authenticate"].startswith("Basic ")
    return found


async def with_post(http: aiohttp.ClientSession, authz: str, client_id: str, secret: str) -> dict[str, int]:
    """Each endpoint's status when the client authenticates with client_secret_post."""
    found = {}
    for path, form in ENDPOINTS.items():
        async with http.post(authz + path, data={**form, "client_id": client_id, "client_secret": secret}) as r:
            found[path] = r.status
            if r.status == 401:
                assert (await r.json())["error"] == "invalid_client"
    return found


async def registered_service(http: aiohttp.ClientSession, authz: str, **metadata: str) -> tuple[str, str]:
    status, answer, _ = await register(http, authz, {"grant_types": ["client_credentials"], **metadata})
    assert status == 201, answer
    return answer["client_id"], answer["client_secret"]


@pytest.mark.parametrize(
    "metadata", [{"token_endpoint_auth_method": "client_secret_basic"}, {}], ids=["named", "default"]
)
async def test_a_client_registered_for_client_secret_basic_may_not_post_its_secret(
    authz: str, http: aiohttp.ClientSession, metadata: dict[str, str]
) -> None:
    """OpenID Connect Core section 9 and RFC 7591 section 2: the registered `token_endpoint_auth_method` is how the
    client authenticates, client_secret_basic when registration omitted it. The secret in the body is then
    `invalid_client` (RFC 6749 section 5.2), with a 401 whose challenge names the scheme that would work."""
    client_id, secret = await registered_service(http, authz, **metadata)
    assert await with_basic(http, authz, client_id, secret) == EVERYWHERE
    assert await with_post(http, authz, client_id, secret) == {path: 401 for path in ENDPOINTS}


async def test_a_client_registered_for_client_secret_post_may_not_use_basic(
    authz: str, http: aiohttp.ClientSession
) -> None:
    """OpenID Connect Core section 9 and RFC 7591 section 2: a client_secret_post client sends its secret in the
    body only; Basic credentials are `invalid_client`, 401 with a challenge (RFC 6749 section 5.2: the
    Authorization header was used)."""
    client_id, secret = await registered_service(http, authz, token_endpoint_auth_method="client_secret_post")
    assert await with_post(http, authz, client_id, secret) == EVERYWHERE
    assert await with_basic(http, authz, client_id, secret) == {path: 401 for path in ENDPOINTS}


async def created_by_the_cli(environ: dict[str, str], *args: str) -> tuple[str, str]:
    result = await asyncio.to_thread(
        authorium,
        "client",
        "create",
        "--name",
        "cli",
        "--grant-type",
        "client_credentials",
        *args,
        "--json",
        env=environ,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    return printed["client_id"], printed["client_secret"]


async def test_the_cli_holds_a_client_to_the_method_it_names_and_only_then(
    authz: str, http: aiohttp.ClientSession, environ: dict[str, str], db: asyncpg.Pool
) -> None:
    """OpenID Connect Core section 9: `authorium client create --auth-method M` registers M, and only M then
    authenticates. A client the operator made without naming a method (`client create` without --auth-method, the
    demo client `authorium setup` declares) may use either secret method (RFC 6749 section 2.3.1), as before."""
    client_id, secret = await created_by_the_cli(environ, "--auth-method", "client_secret_post")
    assert await with_post(http, authz, client_id, secret) == EVERYWHERE
    assert await with_basic(http, authz, client_id, secret) == {path: 401 for path in ENDPOINTS}
    client_id, secret = await created_by_the_cli(environ, "--auth-method", "client_secret_basic")
    assert await with_basic(http, authz, client_id, secret) == EVERYWHERE
    assert await with_post(http, authz, client_id, secret) == {path: 401 for path in ENDPOINTS}

    client_id, secret = await created_by_the_cli(environ)
    assert await with_basic(http, authz, client_id, secret) == EVERYWHERE
    assert await with_post(http, authz, client_id, secret) == EVERYWHERE
    demo_id, demo_secret = "auth-method-demo", "a-demo-secret-of-well-over-thirty-two-characters"
    await ensure_demo_client(db, demo_id, demo_secret, "https://demo.example")
    expected = {"/token": 400, "/revoke": 200, "/introspect": 200}  # 400: the demo may not use client_credentials
    assert await with_basic(http, authz, demo_id, demo_secret) == expected
    assert await with_post(http, authz, demo_id, demo_secret) == expected


async def test_a_client_stored_before_methods_were_recorded_still_accepts_either_secret_method(
    make_database: DatabaseFactory, environ: dict[str, str], http: aiohttp.ClientSession
) -> None:
    """RFC 6749 section 2.3.1, for rows written before the migration that records whether a method was named: those
    clients keep authenticating as they did (a guard: this held before the change too, and must go on holding)."""
    url = await make_database(migrated=False)
    secret = credentials.new_secret()
    conn = await asyncpg.connect(url)
    try:
        everything = migrations.all_migrations()
        await migrations.apply(conn, [m for m in everything if m.component != "authz" or m.version <= 2])
        await conn.execute(
            """INSERT INTO clients (client_id, name, secret_hash, token_endpoint_auth_method, grant_types)
               VALUES ('old-client', 'old', $1, 'client_secret_basic', '{client_credentials}')""",
            credentials.digest(secret),
        )
        await migrations.apply(conn, everything)
    finally:
        await conn.close()
    async with running_authz({**environ, "DATABASE_URL": url}) as authz:
        assert await with_basic(http, authz, "old-client", secret) == EVERYWHERE
        assert await with_post(http, authz, "old-client", secret) == EVERYWHERE
