"""The UserInfo endpoint (OpenID Connect Core section 5.3) over HTTP, and its RFC 6750 refusals."""

from __future__ import annotations

import aiohttp
import asyncpg
import jwt

from authorium_shared import dpop
from tests.authz.flows import make_client, make_user, sign_in_and_redeem, token_request

BARE_CHALLENGE = 'Bearer realm="authorium"'
DPOP_CHALLENGE = f'DPoP realm="authorium", algs="{" ".join(dpop.ALGORITHMS)}"'


async def test_get_and_post_answer_with_the_users_claims(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    username = await make_user(db)
    tokens = await sign_in_and_redeem(http, authz, client, username, scope="openid profile")
    sub = jwt.decode(tokens["access_token"], options={"verify_signature": False})["sub"]
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    for method in ("GET", "POST"):
        async with http.request(method, f"{authz}/userinfo", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.content_type == "application/json"
            assert resp.headers["Cache-Control"] == "no-store"
            body = await resp.json()
        assert body["sub"] == sub
        assert body["preferred_username"] == username
        # The ID token and userinfo name the same subject (OIDC Core section 5.3.2).
        assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"] == sub

    # Revoked, the same token is refused.
    async with http.post(f"{authz}/revoke", data={"token": tokens["access_token"]}, headers=client.basic) as resp:
        assert resp.status == 200
    async with http.get(f"{authz}/userinfo", headers=headers) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith(BARE_CHALLENGE + ', error="invalid_token"')


async def test_no_token_is_a_bare_challenge_and_a_bad_one_invalid_token(
    authz: str, http: aiohttp.ClientSession
) -> None:
    for method, headers in (("GET", {}), ("POST", {}), ("GET", {"Authorization": "Basic dXNlcjpwYXNz"})):
        async with http.request(method, f"{authz}/userinfo", headers=headers) as resp:
            assert resp.status == 401
            # RFC 6750 section 3.1: no error code when the request carried no token at all; RFC 9449 section 7.2:
            # DPoP, accepted too, is offered beside Bearer.
            assert resp.headers["WWW-Authenticate"] == BARE_CHALLENGE + ", " + DPOP_CHALLENGE
            assert resp.headers["Cache-Control"] == "no-store"
    for token in ("garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "bad token!"):
        async with http.get(f"{authz}/userinfo", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 401, token
            challenge = resp.headers["WWW-Authenticate"]
            assert challenge.startswith(BARE_CHALLENGE + ', error="invalid_token"'), challenge
            assert (await resp.json())["error"] == "invalid_token"
            assert resp.headers["Cache-Control"] == "no-store"


async def test_a_token_not_meant_for_userinfo_is_refused(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    # A client credentials token names only the resource server as audience, never this issuer.
    status, tokens, _ = await token_request(http, authz, client, grant_type="client_credentials", scope="notes:read")
    assert status == 200, tokens
    # A user's token without openid names no issuer audience either.
    no_openid = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="notes:read")
    for token in (tokens["access_token"], no_openid["access_token"]):
        audience = jwt.decode(token, options={"verify_signature": False})["aud"]
        assert authz not in ([audience] if isinstance(audience, str) else audience)
        async with http.get(f"{authz}/userinfo", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 401
            assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_without_profile_only_sub_and_never_a_token_in_the_url(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid")
    token = tokens["access_token"]
    # Without the profile scope, only the subject is told.
    async with http.get(f"{authz}/userinfo", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert set(await resp.json()) == {"sub"}
    async with http.get(f"{authz}/userinfo", params={"access_token": token}) as resp:
        assert resp.status in (400, 401)
        assert "WWW-Authenticate" in resp.headers
        assert resp.headers["Cache-Control"] == "no-store"


async def test_the_token_in_a_form_body_on_post(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    """RFC 6750 section 2.2 (OIDC Core 5.3.1 names it for userinfo): on POST the access token may come as the
    form-encoded `access_token`; never on GET, and never beside an Authorization header (section 2: one method)."""
    client = await make_client(db)
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid")
    token = tokens["access_token"]
    sub = jwt.decode(token, options={"verify_signature": False})["sub"]
    async with http.post(f"{authz}/userinfo", data={"access_token": token}) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json()) == {"sub": sub}
    both = {"Authorization": f"Bearer {token}"}
    async with http.post(f"{authz}/userinfo", data={"access_token": token}, headers=both) as resp:
        assert resp.status == 400
        assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]
    async with http.post(f"{authz}/userinfo", data={"access_token": "bad token!"}) as resp:
        assert resp.status == 401
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


async def test_email_comes_with_email_verified(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    """OIDC Core 5.4: the `email` scope asks for `email` and `email_verified`; Authorium verifies no address, so
    `email_verified` is false (5.1: true only when the address was verified)."""
    client = await make_client(db)
    username = await make_user(db)
    await db.execute("UPDATE users SET email = $2 WHERE username = $1", username, f"{username}@example.com")
    tokens = await sign_in_and_redeem(http, authz, client, username, scope="openid email")
    async with http.get(f"{authz}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}) as resp:
        body = await resp.json()
    assert body["email"] == f"{username}@example.com"
    assert body["email_verified"] is False
