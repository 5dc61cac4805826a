"""Sessions at the authorization server: the OpenID Connect `sid` in ID tokens (Back-Channel Logout 1.0 section 2.1,
also after a refresh, OIDC Core section 12.2), and the idle and absolute lifetimes of a sign-in
(AUTHORIUM_SESSION_IDLE_TTL, AUTHORIUM_SESSION_MAX_TTL, and the older AUTHORIUM_SESSION_TTL as the absolute one)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import asyncpg
import jwt
import orjson
import pytest
from redis.asyncio import Redis

from authorium_shared.resources import create_redis
from authorium_shared.settings import ConfigError
from authz.settings import AuthzSettings
from tests.authz import flows
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
COOKIE = "authz_session"


@pytest.fixture
async def redis() -> Any:
    client = create_redis(REDIS_URL)
    yield client
    await client.aclose()


def claims_of(id_token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(id_token, options={"verify_signature": False})
    return claims


def session_cookie(browser: aiohttp.ClientSession) -> str:
    return next(c.value for c in browser.cookie_jar if c.key == COOKIE)


async def test_id_tokens_carry_one_sid_per_session_across_clients_and_refresh(
    module_authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Back-Channel Logout 1.0 section 2.1 (`sid` in ID tokens), OIDC Core 12.2: one session, one `sid`, whatever the
    client; a refreshed ID token keeps it; a new sign-in has a new one; never the session cookie's value."""
    first, second = await flows.make_client(db), await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        one = await flows.code_flow(http, browser, module_authz, first, username)
        two = await flows.code_flow(http, browser, module_authz, second, None)
        sid = claims_of(one["id_token"])["sid"]
        assert isinstance(sid, str) and len(sid) >= 32
        assert claims_of(two["id_token"])["sid"] == sid
        assert sid != session_cookie(browser)
    status, refreshed, _ = await flows.token_request(
        http, module_authz, first, grant_type="refresh_token", refresh_token=one["refresh_token"]
    )
    assert status == 200, refreshed
    assert claims_of(refreshed["id_token"])["sid"] == sid
    async with flows.browser() as other:
        again = await flows.code_flow(http, other, module_authz, first, username)
    assert claims_of(again["id_token"])["sid"] != sid


async def test_a_session_lasts_the_idle_lifetime_and_is_renewed_by_use(
    start_authz: Any, db: asyncpg.Pool, http: aiohttp.ClientSession, redis: Redis, environ: dict[str, str]
) -> None:
    """AUTHORIUM_SESSION_IDLE_TTL: a signed-in session is kept that long after its last use (its Redis lifetime), never
    past AUTHORIUM_SESSION_MAX_TTL (the cookie's Max-Age)."""
    client, username = await flows.make_client(db), await flows.make_user(db)
    async with (
        start_authz(AUTHORIUM_SESSION_IDLE_TTL="60", AUTHORIUM_SESSION_MAX_TTL="7200") as authz,
        flows.browser() as browser,
    ):
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
        async with browser.get(f"{authz}/authorize", params=params, allow_redirects=False) as resp:
            fields = flows.hidden_fields(await resp.text())
        form = {**fields, "username": username, "password": flows.PASSWORD}
        async with browser.post(f"{authz}/authorize/login", data=form, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.cookies[COOKIE]["max-age"] == "7200"
        key = environ["AUTHORIUM_REDIS_PREFIX"] + "session:" + session_cookie(browser)
        assert 50 <= await redis.ttl(key) <= 60
        await redis.expire(key, 30)
        await flows.code_flow(http, browser, authz, client, None)
        assert 50 <= await redis.ttl(key) <= 60, "using the session did not renew its idle lifetime"


async def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    module_authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession, redis: Redis, environ: dict[str, str]
) -> None:
    """AUTHORIUM_SESSION_MAX_TTL: past the session's absolute end, the person must sign in again even if the session
    was in use all along (here its end is moved into the past, as time would)."""
    client, username = await flows.make_client(db), await flows.make_user(db)
    async with flows.browser() as browser:
        await flows.code_flow(http, browser, module_authz, client, username)
        key = environ["AUTHORIUM_REDIS_PREFIX"] + "session:" + session_cookie(browser)
        stored = orjson.loads(await redis.get(key))
        stored["expires_at"] = int(time.time()) - 1
        await redis.set(key, orjson.dumps(stored), keepttl=True)
        result = await flows.authorize(browser, module_authz, client, username, scope="openid", nonce="n")
        assert any('action="/authorize/login"' in page for page in result.pages), "no sign-in was asked for"


def test_session_lifetimes_are_read_and_checked(environ: dict[str, str]) -> None:
    """The two lifetimes, validated at boot; AUTHORIUM_SESSION_TTL (earlier releases) still sets the absolute one."""
    settings = AuthzSettings.from_env(environ)
    assert (settings.session_idle_ttl, settings.session_max_ttl) == (7200, 28800)
    old = AuthzSettings.from_env({**environ, "AUTHORIUM_SESSION_TTL": "3600"})
    assert (old.session_idle_ttl, old.session_max_ttl) == (3600, 3600)
    both = AuthzSettings.from_env(
        {
            **environ,
            "AUTHORIUM_SESSION_TTL": "3600",
            "AUTHORIUM_SESSION_MAX_TTL": "600",
            "AUTHORIUM_SESSION_IDLE_TTL": "300",
        }
    )
    assert (both.session_idle_ttl, both.session_max_ttl) == (300, 600)
    with pytest.raises(ConfigError) as refused:
        AuthzSettings.from_env({**environ, "AUTHORIUM_SESSION_MAX_TTL": "600", "AUTHORIUM_SESSION_IDLE_TTL": "900"})
    assert refused.value.name == "AUTHORIUM_SESSION_IDLE_TTL"
