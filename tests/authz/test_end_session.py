"""The end-session endpoint, OpenID Connect RP-Initiated Logout 1.0: discovery (section 2.1), the request and its
`id_token_hint` / `client_id` / confirmation rules (section 2), the redirect to an exactly registered
`post_logout_redirect_uri` with `state` (section 3), and validation failures shown, never redirected (section 4).
Signing out revokes the session's grants except offline_access ones (OIDC Core section 11)."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.authz import flows

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
AFTER = "https://client.example/signed-out"


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


async def client_with_logout(db: asyncpg.Pool, **extra: Any) -> flows.RegisteredClient:
    return await flows.make_client(db, post_logout_redirect_uris=(AFTER, AFTER + "?from=logout"), **extra)


async def signed_in(
    http: aiohttp.ClientSession, browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, db: Any
) -> dict[str, Any]:
    """Sign a new person in through `browser`: the client's token response."""
    return await flows.code_flow(http, browser, authz, client, await flows.make_user(db), scope="openid")


async def is_signed_in(browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient) -> bool:
    """Asked as a client would: prompt=none (OIDC Core 3.1.2.1)."""
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": "openid",
        "prompt": "none",
        "nonce": "n",
    }
    async with browser.get(f"{authz}/authorize", params=params, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return "code" in flows.query_of(resp.headers["Location"])


async def end_session(
    browser: aiohttp.ClientSession, authz: str, method: str = "GET", **params: str
) -> tuple[int, str, aiohttp.ClientResponse]:
    if method == "GET":
        request = browser.get(f"{authz}/logout?{urlencode(params)}", allow_redirects=False)
    else:
        request = browser.post(f"{authz}/logout", data=params, allow_redirects=False)
    async with request as resp:
        return resp.status, await resp.text(), resp


async def test_discovery_names_the_end_session_endpoint_and_back_channel_logout(
    authz: str, http: aiohttp.ClientSession
) -> None:
    """RP-Initiated Logout 1.0 section 2.1; Back-Channel Logout 1.0 section 2.1 (and `sid` among the claims)."""
    async with http.get(f"{authz}/.well-known/openid-configuration") as resp:
        meta = await resp.json()
    assert meta["end_session_endpoint"] == authz + "/logout"
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert "sid" in meta["claims_supported"]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_section_3_signs_out_and_redirects_to_the_registered_uri_with_state(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession, method: str
) -> None:
    """Sections 2 and 3: with an id_token_hint for the signed-in person the sign-out happens without a question; the
    browser goes to the registered post_logout_redirect_uri with `state` exactly as sent; the session is over."""
    client = await client_with_logout(db)
    async with flows.browser() as browser:
        tokens = await signed_in(http, browser, authz, client, db)
        state = "xyz-" + uuid.uuid4().hex + " &=?"
        status, body, resp = await end_session(
            browser,
            authz,
            method,
            id_token_hint=tokens["id_token"],
            post_logout_redirect_uri=AFTER + "?from=logout",
            state=state,
        )
        assert status == (303 if method == "POST" else 302), body[:300]
        location = resp.headers["Location"]
        assert location.startswith(AFTER + "?from=logout&")
        assert flows.query_of(location) == {"from": "logout", "state": state}
        assert not await is_signed_in(browser, authz, client)


async def test_section_3_without_state_or_redirect_uri(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Section 3: no `state` sent, none added; no post_logout_redirect_uri, a page saying the person is signed out."""
    client = await client_with_logout(db)
    async with flows.browser() as browser:
        tokens = await signed_in(http, browser, authz, client, db)
        status, _, resp = await end_session(
            browser, authz, id_token_hint=tokens["id_token"], post_logout_redirect_uri=AFTER
        )
        assert status == 302 and resp.headers["Location"] == AFTER
    async with flows.browser() as browser:
        tokens = await signed_in(http, browser, authz, client, db)
        status, body, resp = await end_session(browser, authz, id_token_hint=tokens["id_token"])
        assert status == 200 and "You are signed out" in body
        assert resp.headers["Cache-Control"] == "no-store"
        assert not await is_signed_in(browser, authz, client)


async def test_section_2_without_a_hint_the_person_is_asked_first(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Section 2: without an id_token_hint the OP asks the person whether to sign out; nothing ends until they say
    so (with the page's CSRF token), and then the redirect (checked against client_id) carries the state."""
    client = await client_with_logout(db)
    async with flows.browser() as browser:
        await signed_in(http, browser, authz, client, db)
        status, body, _ = await end_session(
            browser, authz, client_id=client.client_id, post_logout_redirect_uri=AFTER, state="s-1"
        )
        assert status == 200 and 'action="/logout/confirm"' in body
        assert await is_signed_in(browser, authz, client), "signed out without being asked"
        fields = flows.hidden_fields(body)
        assert fields["post_logout_redirect_uri"] == AFTER and fields["state"] == "s-1"
        forged = {**fields, "csrf": "A" * 43, "decision": "sign-out"}
        async with browser.post(f"{authz}/logout/confirm", data=forged, allow_redirects=False) as resp:
            assert resp.status == 403
        assert await is_signed_in(browser, authz, client)
        async with browser.post(
            f"{authz}/logout/confirm", data={**fields, "decision": "stay"}, allow_redirects=False
        ) as resp:
            assert resp.status == 200 and "still signed in" in await resp.text()
        assert await is_signed_in(browser, authz, client)
        async with browser.post(
            f"{authz}/logout/confirm", data={**fields, "decision": "sign-out"}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == AFTER + "?state=s-1"
        assert not await is_signed_in(browser, authz, client)


async def test_section_2_a_hint_for_someone_else_asks_first(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Section 2: an id_token_hint naming another person than the one signed in is not taken as their wish."""
    client = await client_with_logout(db)
    async with flows.browser() as other:
        theirs = await signed_in(http, other, authz, client, db)
    async with flows.browser() as browser:
        await signed_in(http, browser, authz, client, db)
        status, body, _ = await end_session(browser, authz, id_token_hint=theirs["id_token"])
        assert status == 200 and 'action="/logout/confirm"' in body
        assert await is_signed_in(browser, authz, client)


def foreign_id_token(client_id: str, subject: str, *, issuer: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"iss": issuer, "sub": subject, "aud": client_id, "iat": now, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "foreign", "typ": "JWT"})


def tampered(token: str) -> str:
    """The token with its payload changed and its signature kept."""
    header, _, signature = token.split(".")
    payload = jwt.utils.base64url_encode(b'{"iss":"x","sub":"someone else","aud":"y"}').decode()
    return f"{header}.{payload}.{signature}"


async def assert_refused_and_still_signed_in(
    browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, **params: str
) -> str:
    status, body, resp = await end_session(browser, authz, **params)
    assert status == 400, body[:300]
    assert "Location" not in resp.headers
    assert "Cannot sign out" in body or "Invalid request" in body
    assert await is_signed_in(browser, authz, client), "a refused request signed the person out"
    return body


async def test_section_4_refusals_are_pages_never_redirects_and_change_nothing(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Sections 2-4: an unregistered post_logout_redirect_uri (even a near match), an id_token_hint from another
    issuer or with a bad signature, a client_id that is not the hint's audience, or a redirect URI with no client to
    check it against: an error page, no redirect, and the person stays signed in."""
    client = await client_with_logout(db)
    other = await client_with_logout(db)
    async with flows.browser() as browser:
        tokens = await signed_in(http, browser, authz, client, db)
        hint = tokens["id_token"]
        sub = jwt.decode(hint, options={"verify_signature": False})["sub"]
        for uri in ("https://evil.example/", AFTER + "/", AFTER.upper(), AFTER + "?from=logout&x=1"):
            body = await assert_refused_and_still_signed_in(
                browser, authz, client, id_token_hint=hint, post_logout_redirect_uri=uri, state="s"
            )
            assert "not registered" in body
        await assert_refused_and_still_signed_in(
            browser,
            authz,
            client,
            id_token_hint=foreign_id_token(client.client_id, sub, issuer="https://evil.example"),
            post_logout_redirect_uri=AFTER,
        )
        await assert_refused_and_still_signed_in(
            browser,
            authz,
            client,
            id_token_hint=foreign_id_token(client.client_id, sub, issuer=authz),
            post_logout_redirect_uri=AFTER,
        )
        await assert_refused_and_still_signed_in(
            browser, authz, client, id_token_hint=tampered(hint), post_logout_redirect_uri=AFTER
        )
        await assert_refused_and_still_signed_in(
            browser, authz, client, id_token_hint=hint, client_id=other.client_id, post_logout_redirect_uri=AFTER
        )
        await assert_refused_and_still_signed_in(browser, authz, client, post_logout_redirect_uri=AFTER)
        await assert_refused_and_still_signed_in(
            browser, authz, client, client_id="no-such-client", post_logout_redirect_uri=AFTER
        )
        await assert_refused_and_still_signed_in(browser, authz, client, id_token_hint=hint, state="s" * 2000)


async def test_signing_out_revokes_the_sessions_grants_except_offline_access(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """OIDC Core section 11: refresh tokens issued for offline_access outlive the sign-in; the session's other grants
    are revoked, their refresh tokens refused and their access tokens inactive (RFC 7662 introspection) at once."""
    client = await client_with_logout(db)
    async with flows.browser() as browser:
        sign_in = await signed_in(http, browser, authz, client, db)
        online = await flows.code_flow(http, browser, authz, client, None, scope="notes:read")
        offline = await flows.code_flow(http, browser, authz, client, None, scope="openid offline_access")
        assert "refresh_token" in online and "refresh_token" in offline
        await end_session(browser, authz, id_token_hint=sign_in["id_token"])
    status, body, _ = await flows.token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=online["refresh_token"]
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    for token in (online["access_token"], sign_in["access_token"]):
        async with http.post(f"{authz}/introspect", data={"token": token}, headers=client.basic) as resp:
            assert (await resp.json())["active"] is False
    status, body, _ = await flows.token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=offline["refresh_token"]
    )
    assert status == 200, body


async def test_a_code_issued_before_signing_out_does_not_redeem_after(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """What signing out revoked cannot come back through a code issued in the session just before."""
    client = await client_with_logout(db)
    async with flows.browser() as browser:
        tokens = await signed_in(http, browser, authz, client, db)
        verifier, challenge = flows.pkce_pair()
        result = await flows.authorize(
            browser, authz, client, None, scope="openid", code_challenge=challenge, code_challenge_method="S256"
        )
        await end_session(browser, authz, id_token_hint=tokens["id_token"])
    status, body, _ = await flows.token_request(
        http,
        authz,
        client,
        grant_type="authorization_code",
        code=result.code,
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_no_session_still_redirects_a_valid_request(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Section 3: the person signed out already (another tab): the RP's request still ends at its registered URI."""
    client = await client_with_logout(db)
    async with flows.browser() as browser:
        tokens = await signed_in(http, browser, authz, client, db)
    async with flows.browser() as fresh:
        status, _, resp = await end_session(
            fresh, authz, id_token_hint=tokens["id_token"], post_logout_redirect_uri=AFTER, state="z"
        )
    assert status == 302 and resp.headers["Location"] == AFTER + "?state=z"
