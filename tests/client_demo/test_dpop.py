"""Signing in to the demo with DPoP (RFC 9449): the demo keeps a key per session, binds the code to it
(`dpop_jkt`, section 10) and its tokens (section 5), sends a proof with every API and userinfo call (section 7.1),
keeps the binding on a silent refresh, and the flow inspector shows the bound token."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import orjson
from joserfc.jwk import ECKey
from redis.asyncio import Redis

from tests.authz.flows import follow_authorization
from tests.client_demo.conftest import Visitor, stored_session
from tests.stack import Stack


async def sign_in_with_dpop(visitor: Visitor, username: str) -> dict[str, list[str]]:
    status, _, resp = await visitor.get("/login?dpop=1")
    assert status == 302
    request = parse_qs(urlsplit(resp.headers["Location"]).query)
    back = await follow_authorization(visitor.http, visitor.stack.authz, resp.headers["Location"], username)
    status, body, resp = await visitor.callback(back.location)
    assert status == 303 and resp.headers["Location"] == "/", body[:500]
    return request


async def session_of(redis: Redis, stack: Stack, visitor: Visitor) -> dict[str, object]:
    session = await stored_session(redis, stack.environ, visitor.sid)
    assert session is not None
    return session


def bound_to(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["cnf"]["jkt"])


async def test_sign_in_with_dpop_binds_the_sessions_tokens_to_its_key(
    visitor: Visitor, username: str, redis: Redis, stack: Stack, http: aiohttp.ClientSession
) -> None:
    request = await sign_in_with_dpop(visitor, username)
    session = await session_of(redis, stack, visitor)
    key = orjson.loads(str(session["dpop_key"]))
    jkt = ECKey.import_key(key).thumbprint()  # joserfc's RFC 7638, not the demo's
    assert request["dpop_jkt"] == [jkt]
    tokens = session["tokens"]
    assert isinstance(tokens, dict)
    assert bound_to(tokens["access_token"]) == jkt
    # A copy of the token is useless without the key: as a bearer token the API refuses it (section 7.2).
    async with http.get(stack.resource + "/api/me", headers={"Authorization": "Bearer " + tokens["access_token"]}) as r:
        assert r.status == 401
    # The demo itself, with its proofs, uses the API and userinfo.
    _, page, _ = await visitor.get("/")
    assert "Your notes" in page
    csrf = await visitor.csrf()
    _, _, resp = await visitor.post("/notes", {"csrf": csrf, "title": "bound"})
    assert resp.headers["Location"] == "/?notice=note-added"
    assert isinstance(session["user"], dict) and session["user"]["userinfo"]["sub"] == session["user"]["sub"]
    _, flow, _ = await visitor.get("/flow")
    for shown in (
        "&#34;token_type&#34;: &#34;DPoP&#34;",
        "&#34;cnf&#34;",
        "dpop+jwt",
        "&#34;ath&#34;",
        "DPoP " + tokens["access_token"][:8],
    ):
        assert shown in flow, shown
    assert key["d"] not in flow


async def test_a_silent_refresh_keeps_the_binding(visitor: Visitor, username: str, redis: Redis, stack: Stack) -> None:
    await sign_in_with_dpop(visitor, username)
    session = await session_of(redis, stack, visitor)
    before = session["tokens"]
    assert isinstance(before, dict)
    key = stack.environ["AUTHORIUM_REDIS_PREFIX"] + f"demo:session:{visitor.sid}"
    await redis.hset(key, "tokens", orjson.dumps({**before, "expires_at": time.time() - 1}))
    status, page, _ = await visitor.get("/")
    assert status == 200 and "Your notes" in page
    after = (await session_of(redis, stack, visitor))["tokens"]
    assert isinstance(after, dict)
    assert after["access_token"] != before["access_token"]
    assert bound_to(after["access_token"]) == bound_to(before["access_token"])
