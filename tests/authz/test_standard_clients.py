"""Off-the-shelf clients against the running server (acceptance): Authlib's OAuth 2.0 client for the client
credentials grant and the authorization code flow with PKCE, PyJWT's JWKS client to verify what they get."""

from __future__ import annotations

import asyncio
import secrets
import warnings
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import asyncpg
import jwt
import pytest
from authlib.deprecate import AuthlibDeprecationWarning

from tests.authz.conftest import AuthzFactory, Person
from tests.authz.flows import RegisteredClient, authorize, make_client
from tests.authz.test_authorization_code import DEFAULT_RESOURCE, half_hash
from tests.servers import private_url

with warnings.catch_warnings():
    # Authlib 1.9 prefers the `httpx2` package and warns that falling back to httpx (installed here) is deprecated.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module's tests (see conftest's `module_server`)."""
    return module_authz


async def verify_with_pyjwt(authz: str, token: str, *, audience: str) -> dict[str, Any]:
    """Verify as a third-party resource server would: PyJWKClient fetches the JWKS and picks the key by kid.
    It blocks (urllib), and the server runs on this event loop, so it runs in a thread."""
    jwks = jwt.PyJWKClient(authz + "/jwks.json", cache_keys=False)
    key = await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)
    header = jwt.get_unverified_header(token)
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256", "ES256", "EdDSA"], audience=audience, issuer=authz
    )
    claims["_typ"] = header.get("typ")
    return claims


async def discovered(http: aiohttp.ClientSession, authz: str) -> dict[str, Any]:
    async with http.get(authz + "/.well-known/openid-configuration") as resp:
        meta: dict[str, Any] = await resp.json()
        return meta


async def test_authlib_client_credentials(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await make_client(db, scope="notes:read notes:write")
    meta = await discovered(http, authz)
    async with AsyncOAuth2Client(client.client_id, client.secret, scope="notes:read") as oauth:
        token = await oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "notes:read"
    assert "refresh_token" not in token
    claims = await verify_with_pyjwt(authz, token["access_token"], audience=DEFAULT_RESOURCE)
    assert claims["_typ"] == "at+jwt"
    assert claims["sub"] == client.client_id
    assert claims["scope"] == "notes:read"


async def test_authlib_authorization_code_with_pkce(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    meta = await discovered(http, authz)
    verifier = secrets.token_urlsafe(48)
    async with AsyncOAuth2Client(
        client.client_id,
        client.secret,
        scope="openid offline_access notes:read",
        redirect_uri=client.redirect_uri,
        code_challenge_method="S256",
    ) as oauth:
        url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n1")
        assert url.startswith(authz + "/authorize?")
        # Act as the user: open Authlib's URL in the browser, sign in, consent.
        params = dict(parse_qsl(urlsplit(url).query))
        assert params["code_challenge_method"] == "S256"
        result = await authorize(person.browser, authz, client, person.username, **params)
        assert result.params["state"] == state
        token = await oauth.fetch_token(
            meta["token_endpoint"], authorization_response=result.location, code_verifier=verifier
        )
        assert token["token_type"] == "Bearer"
        assert token["refresh_token"]
        # Authlib refreshes too; the server rotates the refresh token.
        refreshed = await oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]

    access = await verify_with_pyjwt(authz, token["access_token"], audience=DEFAULT_RESOURCE)
    assert access["_typ"] == "at+jwt"
    assert access["sub"] == person.user_id
    assert access["client_id"] == client.client_id
    assert set(access["aud"]) == {DEFAULT_RESOURCE, authz}
    id_token = await verify_with_pyjwt(authz, token["id_token"], audience=client.client_id)
    assert id_token["sub"] == person.user_id
    assert id_token["nonce"] == "n1"
    assert id_token["at_hash"] == half_hash(token["access_token"])


async def test_a_client_registered_without_scope_signs_in_with_authlib(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, person: Person
) -> None:
    """RFC 7591 section 2: a client registered with no `scope` gets the server's documented default
    (`openid profile email offline_access`), so an off-the-shelf client signs a person in with `scope=openid` and
    gets an ID token (OIDC Core 3.1.3.3), verified by PyJWT against the JWKS."""
    token = secrets.token_urlsafe(32)
    redirect_uri = "https://registered.example/callback"
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=token) as authz:
        meta = await discovered(http, authz)
        registration = {"redirect_uris": [redirect_uri], "client_name": "Registered with no scope"}
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(meta["registration_endpoint"], json=registration, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            registered = await resp.json()
        client = RegisteredClient(registered["client_id"], registered["client_secret"], redirect_uri)
        verifier = secrets.token_urlsafe(48)
        async with AsyncOAuth2Client(
            client.client_id,
            client.secret,
            scope="openid",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        ) as oauth:
            url, state = oauth.create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce="n"
            )
            params = dict(parse_qsl(urlsplit(url).query))
            result = await authorize(person.browser, authz, client, person.username, **params)
            assert result.params["state"] == state
            tokens = await oauth.fetch_token(
                meta["token_endpoint"], authorization_response=result.location, code_verifier=verifier
            )
        assert tokens["scope"] == "openid"
        id_token = await verify_with_pyjwt(authz, tokens["id_token"], audience=client.client_id)
        assert id_token["sub"] == person.user_id
        assert id_token["nonce"] == "n"


async def test_authlib_calls_the_admin_api_with_a_resource_indicator(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """An off-the-shelf client drives the control plane: Authlib fetches a client-credentials token naming the admin
    API as its resource (RFC 8707 section 2), PyJWT verifies its audience, and the same Authlib client lists the
    clients on authz's private listener with it (RFC 6750 section 2.1)."""
    admin_url = "http://127.0.0.1:8010"  # AUTHORIUM_ADMIN_URL's default: an identifier, not where the API answers
    client = await make_client(db, grant_types=("client_credentials",), scope="authorium:admin", redirect_uris=())
    meta = await discovered(http, authz)
    async with AsyncOAuth2Client(client.client_id, client.secret, scope="authorium:admin") as oauth:
        token = await oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials", resource=admin_url)
        claims = await verify_with_pyjwt(authz, token["access_token"], audience=admin_url)
        assert claims["scope"] == "authorium:admin"
        listed = await oauth.get(private_url(authz) + "/admin/v1/clients", params={"limit": "1"})
        public = await oauth.get(authz + "/admin/v1/clients")
    assert listed.status_code == 200, listed.text
    assert set(listed.json()) == {"items", "next_cursor"} and len(listed.json()["items"]) == 1
    assert public.status_code == 404  # never on the public listener
