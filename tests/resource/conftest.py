"""A running resource server beside a running authorization server, clients registered at the latter, and
helpers to get (or forge) access tokens and read RFC 6750 challenges."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest

from authorium_shared.keys import KeyEncryptionKeys, KeySet, SigningKey, parse_kek
from authz.signing.repository import KeyRepository
from resource_server.access import REALM
from resource_server.app import create_app
from resource_server.settings import ResourceSettings
from tests.authz.conftest import running_authz, server_errors, start_authz  # noqa: F401 - fixtures
from tests.authz.flows import RegisteredClient, make_client, make_user, sign_in_and_redeem, token_request
from tests.servers import run_service

ResourceFactory = Callable[..., AbstractAsyncContextManager[str]]

# The `aud` the authorization server puts in its access tokens by default (AUTHORIUM_RESOURCE_URL's default).
RESOURCE_URL = "http://127.0.0.1:8001"
USER_SCOPE = "notes:read notes:write"
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@asynccontextmanager
async def running_resource(env: dict[str, str]) -> AsyncIterator[str]:
    async with run_service(ResourceSettings.from_env, create_app, env) as (url, app):
        yield url
        assert server_errors(app) == 0, "the resource server answered a request with a 5xx"


@pytest.fixture(scope="module")
async def authz(module_environ: dict[str, str]) -> AsyncIterator[str]:
    """One authorization server for a module's tests (they make their own clients and users)."""
    async with running_authz(module_environ) as url:
        yield url


@pytest.fixture
def start_resource(environ: dict[str, str], authz: str) -> ResourceFactory:
    """Starts a resource server trusting `authz`; its identifier (the `aud` it requires) is its own URL
    unless AUTHORIUM_RESOURCE_URL is given."""

    @asynccontextmanager
    async def start(**extra_env: str) -> AsyncIterator[str]:
        async with running_resource({**environ, "AUTHORIUM_ISSUER": authz, **extra_env}) as url:
            yield url

    return start


@pytest.fixture(scope="module")
async def api(module_environ: dict[str, str], authz: str) -> AsyncIterator[str]:
    """A resource server whose identifier is the one the authorization server's tokens are issued for,
    shared by a module's tests."""
    env = {**module_environ, "AUTHORIUM_ISSUER": authz, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL}
    async with running_resource(env) as url:
        yield url


@pytest.fixture(scope="module")
async def module_http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass(frozen=True)
class Caller:
    token: str
    sub: str
    client_id: str
    response: dict[str, Any]
    client: RegisteredClient
    # The grant's current refresh token, shared by every Caller refreshed from the same grant: refresh tokens
    # rotate on use, and presenting a used one revokes the whole family.
    grant: dict[str, str]

    @property
    def refresh_token(self) -> str:
        return self.grant["refresh_token"]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    @property
    def kid(self) -> str:
        return str(jwt.get_unverified_header(self.token)["kid"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def revoke(http: aiohttp.ClientSession, authz: str, caller: Caller, token: str | None = None) -> None:
    """Revoke the caller's access token (or `token`, e.g. its refresh token) at the authorization server."""
    async with http.post(authz + "/revoke", data={"token": token or caller.token}, headers=caller.client.basic) as resp:
        assert resp.status == 200, await resp.text()


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _caller(response: dict[str, Any], client: RegisteredClient, grant: dict[str, str] | None = None) -> Caller:
    token = response["access_token"]
    claims = unverified_claims(token)
    grant = {} if grant is None else grant
    if "refresh_token" in response:
        grant["refresh_token"] = response["refresh_token"]
    return Caller(
        token=token, sub=claims["sub"], client_id=claims["client_id"], response=response, client=client, grant=grant
    )


async def refreshed(http: aiohttp.ClientSession, authz: str, caller: Caller) -> Caller:
    """Another access token for the same user and grant, through the refresh token (no password hashing)."""
    status, body, _ = await token_request(
        http, authz, caller.client, grant_type="refresh_token", refresh_token=caller.refresh_token
    )
    assert status == 200, body
    return _caller(body, caller.client, caller.grant)


async def user_token(
    http: aiohttp.ClientSession,
    authz: str,
    db: asyncpg.Pool,
    *,
    scope: str = USER_SCOPE,
    client_scope: str | None = None,
) -> Caller:
    """A new user signed in through a new client with the code flow: the user's access token."""
    client = await make_client(db, scope=client_scope or scope)
    username = await make_user(db)
    return _caller(await sign_in_and_redeem(http, authz, client, username, scope=scope), client)


async def service_token(
    http: aiohttp.ClientSession,
    authz: str,
    db: asyncpg.Pool,
    *,
    scope: str,
) -> Caller:
    """A client-credentials token of a new service client registered for `scope`."""
    client = await make_client(db, grant_types=("client_credentials",), scope=scope, redirect_uris=())
    status, body, _ = await token_request(http, authz, client, grant_type="client_credentials", scope=scope)
    assert status == 200, body
    return _caller(body, client)


async def current_key(db: asyncpg.Pool, environ: dict[str, str], alg: str = "RS256") -> SigningKey:
    """The authorization server's own current signing key, to sign tokens with a valid signature."""
    stored = await KeyRepository(KeyEncryptionKeys(parse_kek(environ["AUTHORIUM_KEK"]))).load(db)
    return KeySet(tuple(stored)).signing_key(alg)


def claims_for(issuer: str, **overrides: Any) -> dict[str, Any]:
    """Access-token claims (RFC 9068) the resource server accepts; `None` values are left out, and a
    timedelta means that long from now (computed here, not when a test module is collected)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": f"forged-{uuid.uuid4().hex[:8]}",
        "aud": RESOURCE_URL,
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": "forged-client",
        "scope": USER_SCOPE,
    }
    claims.update({k: now + int(v.total_seconds()) if isinstance(v, timedelta) else v for k, v in overrides.items()})
    return {k: v for k, v in claims.items() if v is not None}


def challenge(response: aiohttp.ClientResponse) -> tuple[str, dict[str, str]]:
    """The scheme and parameters of the one WWW-Authenticate header."""
    values = response.headers.getall("WWW-Authenticate", [])
    assert len(values) == 1, values
    scheme, _, rest = values[0].partition(" ")
    return scheme, dict(_CHALLENGE_PARAM.findall(rest))


async def expect_refusal(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    status: int,
    error: str | None,
    **kwargs: Any,
) -> dict[str, str]:
    """Make the request and check the RFC 6750 answer: status, challenge with `error`, matching JSON body.
    Returns the challenge's parameters."""
    async with http.request(method, url, **kwargs) as resp:
        body = await resp.json()
        assert resp.status == status, (resp.status, body)
        scheme, params = challenge(resp)
        assert resp.headers["Cache-Control"] == "no-store"
    assert scheme == "Bearer"
    assert params["realm"] == REALM
    if error is None:
        assert "error" not in params, params
        assert "error" not in body, body
    else:
        assert params["error"] == error
        assert body["error"] == error
        assert params.get("error_description") == body.get("error_description")
    return params
