"""Apps in a browser calling the authorization server directly (CORS, the Fetch standard's protocol): discovery
and the JWK Set for any origin; the token, revocation and userinfo endpoints only for the web origins a public
client registered (its redirect URIs' origins). OIDC Core 5.3 and RFC 6750 2.2: userinfo's token in a form body."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from tests.authz.flows import authorize, browser, make_client, make_user, pkce_pair, sign_in_and_redeem, token_request

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")

SPA = "https://spa.example"


async def test_discovery_and_keys_may_be_read_from_any_origin(authz: str, http: aiohttp.ClientSession) -> None:
    """Public documents: a browser app of any origin reads the metadata (RFC 8414 3) and the JWK Set (RFC 7517)."""
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/jwks.json"):
        async with http.get(authz + path, headers={"Origin": "https://anyone.example"}) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == "https://anyone.example"
            assert "Access-Control-Allow-Credentials" not in resp.headers


async def test_a_preflight_is_answered_for_the_endpoints_browsers_call(authz: str, http: aiohttp.ClientSession) -> None:
    """The Fetch standard's CORS preflight (OPTIONS with Access-Control-Request-Method) for a form POST with an
    Authorization header."""
    for path in ("/token", "/revoke", "/userinfo"):
        headers = {
            "Origin": SPA,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        async with http.options(authz + path, headers=headers) as resp:
            assert resp.status == 200, path
            assert resp.headers["Access-Control-Allow-Origin"] == SPA
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            assert "AUTHORIZATION" in resp.headers["Access-Control-Allow-Headers"].upper()


async def test_a_public_clients_registered_origin_redeems_and_reads_userinfo(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """A single-page app (a public client whose redirect URI is on its origin) redeems its code, calls userinfo and
    revokes from its origin, and can read each answer (Access-Control-Allow-Origin names it)."""
    spa = await make_client(db, public=True, redirect_uris=(SPA + "/callback",))
    verifier, challenge = pkce_pair()
    async with browser() as session:
        result = await authorize(
            session,
            authz,
            spa,
            await make_user(db),
            scope="openid profile",
            code_challenge=challenge,
            code_challenge_method="S256",
            state="s",
        )
    form = {
        "grant_type": "authorization_code",
        "code": result.code,
        "redirect_uri": spa.redirect_uri,
        "code_verifier": verifier,
        "client_id": spa.client_id,
    }
    async with http.post(authz + "/token", data=form, headers={"Origin": SPA}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Access-Control-Allow-Origin"] == SPA
        tokens = await resp.json()
    headers = {"Origin": SPA, "Authorization": f"Bearer {tokens['access_token']}"}
    async with http.get(authz + "/userinfo", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Access-Control-Allow-Origin"] == SPA
    revocation = {"token": tokens["access_token"], "client_id": spa.client_id}
    async with http.post(authz + "/revoke", data=revocation, headers={"Origin": SPA}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == SPA


async def test_another_origin_or_a_confidential_client_is_refused(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """A page on an origin the client never registered cannot use the client's code, tokens or refresh tokens from
    the browser; nor can any page use a confidential client (whose secret no browser may hold)."""
    spa = await make_client(db, public=True, redirect_uris=(SPA + "/callback",))
    tokens = await sign_in_and_redeem(http, authz, spa, await make_user(db), scope="openid profile")
    evil = {"Origin": "https://evil.example"}
    async with http.get(
        authz + "/userinfo", headers={**evil, "Authorization": f"Bearer {tokens['access_token']}"}
    ) as resp:
        assert resp.status == 400
        assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]
    async with http.post(
        authz + "/revoke", data={"token": tokens["access_token"], "client_id": spa.client_id}, headers=evil
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
    # Not revoked by that refusal.
    async with http.get(authz + "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}) as resp:
        assert resp.status == 200

    confidential = await make_client(db)
    async with http.post(
        authz + "/token", data={"grant_type": "client_credentials"}, headers={**confidential.basic, "Origin": SPA}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
    # Without Origin (a server, not a browser) it works as ever.
    status, body, _ = await token_request(http, authz, confidential, grant_type="client_credentials")
    assert status == 200, body
