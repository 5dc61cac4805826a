"""The client credentials grant (RFC 6749 section 4.4): a service acting for itself, `sub` is the client."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from tests.authz.flows import make_client, token_request
from tests.authz.test_authorization_code import DEFAULT_RESOURCE, verified


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module's tests (see conftest's `module_server`)."""
    return module_authz


async def test_token_is_for_the_client_itself_with_its_service_scopes_by_default(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db, scope="openid profile offline_access notes:read notes:admin")
    status, body, resp = await token_request(http, authz, client, grant_type="client_credentials")
    assert status == 200, body
    assert resp.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    # The user scopes are meaningless without a user: the default is the rest.
    assert body["scope"] == "notes:read notes:admin"
    # RFC 6749 section 4.4.3: no refresh token; and no ID token, nobody signed in.
    assert "refresh_token" not in body
    assert "id_token" not in body
    claims = await verified(http, authz, body["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert claims["sub"] == client.client_id
    assert claims["client_id"] == client.client_id
    assert claims["aud"] == DEFAULT_RESOURCE
    assert claims["scope"] == "notes:read notes:admin"
    assert claims["exp"] - claims["iat"] == 600
    assert claims["jti"]


async def test_a_subset_of_the_clients_scopes_can_be_asked_for(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db, scope="notes:read notes:write notes:admin")
    status, body, _ = await token_request(http, authz, client, grant_type="client_credentials", scope="notes:read")
    assert status == 200, body
    assert body["scope"] == "notes:read"
    claims = await verified(http, authz, body["access_token"], audience=DEFAULT_RESOURCE, typ="at+jwt")
    assert claims["scope"] == "notes:read"


@pytest.mark.parametrize(
    "scope",
    [
        "notes:admin",  # not registered for this client
        "notes:read notes:admin",
        "openid",  # needs a signed-in user
        "notes:read offline_access",
        "profile",
        'notes:read "quoted"',  # not a scope-token (RFC 6749 section 3.3)
    ],
)
async def test_scopes_outside_what_the_client_may_have_are_invalid_scope(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, scope: str
) -> None:
    client = await make_client(db)
    status, body, resp = await token_request(http, authz, client, grant_type="client_credentials", scope=scope)
    assert (status, body["error"]) == (400, "invalid_scope"), body
    assert resp.headers["Cache-Control"] == "no-store"
