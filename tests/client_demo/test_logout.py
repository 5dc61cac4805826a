"""The demo client's side of logout: signing out through the authorization server's end-session endpoint
(RP-Initiated Logout 1.0 sections 2-3: id_token_hint, post_logout_redirect_uri, state, checked on the way back), and
its back-channel logout endpoint (Back-Channel Logout 1.0 sections 2.6-2.8): a logout token that passes every check
ends the sessions of its `sid` (or of its `sub`), answered 200; anything else 400 with an error, never cached, and no
session ended."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from authorium_shared.jwt import encode
from authorium_shared.keys import KeyEncryptionKeys, parse_kek
from authz.signing.ring import KeyRing
from tests.authz.flows import hidden_fields, token_request
from tests.client_demo.conftest import Visitor, stored_session
from tests.stack import Stack

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
async def ring(module_db: asyncpg.Pool, stack: Stack) -> AsyncIterator[KeyRing]:
    """The issuer's signing keys, to make logout tokens as the authorization server does."""
    keys = KeyRing(module_db, KeyEncryptionKeys(current=parse_kek(stack.environ["AUTHORIUM_KEK"]), previous=None))
    await keys.reload()
    yield keys


def id_claims(session: dict[str, Any]) -> dict[str, Any]:
    user = session["user"]
    assert isinstance(user, dict)
    claims: dict[str, Any] = user["id_token_claims"]
    return claims


def logout_claims(stack: Stack, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": stack.authz,
        "aud": stack.client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {EVENT: {}},
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def signed(ring: KeyRing, claims: dict[str, Any], typ: str = "logout+jwt") -> str:
    return encode(claims, ring.keyset.signing_key("RS256"), typ=typ)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: dict[str, Any]


async def post_token(http: aiohttp.ClientSession, stack: Stack, token: str | None, **extra: Any) -> Answer:
    """POST to the demo's back-channel logout endpoint (section 2.5): its status, headers and JSON body."""
    data = extra.pop("data", {"logout_token": token} if token is not None else {})
    async with http.post(stack.demo + "/backchannel-logout", data=data, **extra) as resp:
        raw = await resp.read()
        return Answer(resp.status, dict(resp.headers), orjson.loads(raw) if raw else {})


async def test_section_2_7_a_valid_logout_token_ends_the_session_of_its_sid(
    visitor: Visitor, username: str, redis: Redis, stack: Stack, http: aiohttp.ClientSession, ring: KeyRing
) -> None:
    """Sections 2.6-2.8: a token passing every check ends the demo session whose ID token carried that `sid`, and is
    answered 200 with Cache-Control no-store; the same token again (its jti) is refused."""
    await visitor.sign_in(username)
    sid = visitor.sid
    session = await stored_session(redis, stack.environ, sid)
    assert session is not None
    claims = id_claims(session)
    token = signed(ring, logout_claims(stack, sid=claims["sid"], sub=claims["sub"]))
    resp = await post_token(http, stack, token)
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert await stored_session(redis, stack.environ, sid) is None
    status, page, _ = await visitor.get("/")
    assert status == 200 and "Sign in with Authorium" in page
    again = await post_token(http, stack, token)
    assert again.status == 400 and "used before" in again.body["error_description"]


async def test_section_2_7_a_token_with_only_sub_ends_every_session_of_that_person(
    stack: Stack, username: str, redis: Redis, http: aiohttp.ClientSession, ring: KeyRing
) -> None:
    from tests.authz.flows import browser

    async with browser() as one, browser() as two:
        first, second = Visitor(stack, one), Visitor(stack, two)
        await first.sign_in(username)
        await second.sign_in(username)
        session = await stored_session(redis, stack.environ, first.sid)
        assert session is not None
        sub = id_claims(session)["sub"]
        resp = await post_token(http, stack, signed(ring, logout_claims(stack, sub=sub)))
        assert resp.status == 200
        assert await stored_session(redis, stack.environ, first.sid) is None
        assert await stored_session(redis, stack.environ, second.sid) is None


def foreign(claims: dict[str, Any]) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "foreign", "typ": "logout+jwt"})


async def test_section_2_6_every_check_refuses_with_400_and_ends_nothing(
    visitor: Visitor, username: str, redis: Redis, stack: Stack, http: aiohttp.ClientSession, ring: KeyRing
) -> None:
    """Section 2.6: signature (the issuer's JWKS), iss, aud, iat and exp, the event (a JSON object), no nonce, a sid
    or a sub, a jti, the explicit typ; section 2.8: each failure is 400 with a JSON error, no-store; the session
    lives on."""
    await visitor.sign_in(username)
    session = await stored_session(redis, stack.environ, visitor.sid)
    assert session is not None
    mine = {"sid": id_claims(session)["sid"], "sub": id_claims(session)["sub"]}
    now = int(time.time())
    bad = {
        "foreign key": foreign(logout_claims(stack, **mine)),
        "another issuer": signed(ring, logout_claims(stack, iss="https://evil.example", **mine)),
        "another audience": signed(ring, logout_claims(stack, aud="someone-else", **mine)),
        "expired": signed(ring, logout_claims(stack, iat=now - 600, exp=now - 300, **mine)),
        "no exp": signed(ring, logout_claims(stack, exp=None, **mine)),
        "no events": signed(ring, logout_claims(stack, events=None, **mine)),
        "another event": signed(ring, logout_claims(stack, events={"https://other.example/event": {}}, **mine)),
        "event not an object": signed(ring, logout_claims(stack, events={EVENT: "yes"}, **mine)),
        "a nonce": signed(ring, logout_claims(stack, nonce="n", **mine)),
        "neither sid nor sub": signed(ring, logout_claims(stack)),
        "no jti": signed(ring, logout_claims(stack, jti=None, **mine)),
        "an ID token's typ": signed(ring, logout_claims(stack, **mine), typ="JWT"),
        "not a JWT": "not.a.jwt",
    }
    for name, token in bad.items():
        resp = await post_token(http, stack, token)
        assert resp.status == 400, name
        assert resp.headers["Cache-Control"] == "no-store", name
        assert resp.body["error"] == "invalid_request", name
    good = signed(ring, logout_claims(stack, **mine))
    for data, headers in (
        ({}, {}),
        ([("logout_token", good), ("logout_token", good)], {}),
        (orjson.dumps({"logout_token": good}), {"Content-Type": "application/json"}),
    ):
        resp = await post_token(http, stack, None, data=data, headers=headers)
        assert resp.status == 400
    assert await stored_session(redis, stack.environ, visitor.sid) is not None, "a refused token ended the session"


async def test_sign_out_goes_through_the_end_session_endpoint_with_a_hint_and_state(
    visitor: Visitor, username: str, redis: Redis, stack: Stack, http: aiohttp.ClientSession
) -> None:
    """RP-Initiated Logout 1.0 sections 2-3: the demo ends its session (revoking its refresh token), sends the browser
    to the end-session endpoint with its ID token, its registered post_logout_redirect_uri and a fresh state; the way
    back must carry that state, once."""
    from tests.authz.flows import query_of

    await visitor.sign_in(username)
    session = await stored_session(redis, stack.environ, visitor.sid)
    assert session is not None
    tokens = session["tokens"]
    assert isinstance(tokens, dict)
    status, _, resp = await visitor.post("/logout", {"csrf": await visitor.csrf()})
    assert status == 303 and visitor.sid is None
    location = resp.headers["Location"]
    assert location.startswith(stack.authz + "/logout?")
    params = query_of(location)
    assert params["id_token_hint"] == tokens["id_token"]
    assert params["post_logout_redirect_uri"] == stack.demo + "/signed-out"
    assert len(params["state"]) == 43
    status, body, _ = await token_request(
        http, stack.authz, stack.client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert status == 400 and body["error"] == "invalid_grant"
    status, page, _ = await visitor.get("/signed-out?state=" + "B" * 43)
    assert status == 400 and "This sign-out link is not valid" in page
    async with visitor.http.get(location, allow_redirects=False) as back:
        assert back.status == 302, await back.text()
        assert back.headers["Location"] == f"{stack.demo}/signed-out?state={params['state']}"
    status, _, resp = await visitor.get(f"/signed-out?state={params['state']}")
    assert status == 303 and resp.headers["Location"] == "/?notice=signed-out"
    status, _, _ = await visitor.get(f"/signed-out?state={params['state']}")
    assert status == 400


async def test_signing_out_at_another_app_ends_the_demo_session_through_the_back_channel(
    visitor: Visitor, username: str, redis: Redis, stack: Stack, http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> None:
    """Back-Channel Logout 1.0 sections 2.5-2.7 end to end: the person signs out at the authorization server from
    another app of the same session; the authorization server posts a logout token to the demo, which ends its
    session."""
    from tests.authz.flows import code_flow, make_client
    from tests.waiting import eventually

    await visitor.sign_in(username)
    sid = visitor.sid
    other = await make_client(module_db, post_logout_redirect_uris=("https://other.example/bye",))
    # The same browser, already signed in at the authorization server: no password asked.
    tokens = await code_flow(http, visitor.http, stack.authz, other, None, scope="openid")
    async with visitor.http.get(
        stack.authz + "/logout",
        params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://other.example/bye"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "https://other.example/bye"

    async def ended() -> bool:
        return await stored_session(redis, stack.environ, sid) is None

    await eventually(ended, message="the demo to end its session")
    status, page, _ = await visitor.get("/")
    assert status == 200 and "Sign in with Authorium" in page


async def test_removing_the_demos_access_ends_its_session_at_its_next_api_call(
    visitor: Visitor, username: str, redis: Redis, stack: Stack
) -> None:
    """The person removes the demo's access on the account page (consent withdrawn, grants revoked); the notes API
    refuses the demo's token (RFC 6750 section 3.1 invalid_token), the refresh is refused too, so the demo ends its
    session and says so."""
    await visitor.sign_in(username)
    sid = visitor.sid
    async with visitor.http.get(stack.authz + "/account") as resp:
        page = await resp.text()
    assert "<h1>Your account</h1>" in page
    csrf = hidden_fields(page)["csrf"]
    async with visitor.http.post(
        stack.authz + "/account/apps/remove",
        data={"csrf": csrf, "client_id": stack.client.client_id},
        allow_redirects=False,
    ) as resp:
        assert resp.headers["Location"] == "/account?notice=access-removed"
    status, _, resp = await visitor.get("/")
    assert status == 303 and resp.headers["Location"] == "/?notice=expired"
    assert await stored_session(redis, stack.environ, sid) is None
    _, page, _ = await visitor.get("/?notice=expired")
    assert "Your session has ended" in page and "Sign in with Authorium" in page
