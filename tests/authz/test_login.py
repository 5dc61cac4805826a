"""The authorization endpoint's login page: generic failures, the session cookie, session fixation, CSRF,
and brute-force throttling per username and per address."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import asyncpg
import pytest

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authz.endpoints.login import THROTTLED, WRONG_CREDENTIALS
from authz.interaction import EXPIRED
from authz.ratelimit import LOGIN_FAILURES_PER_ADDRESS, LOGIN_FAILURES_PER_USERNAME, LOGIN_WINDOW, Counter
from tests.authz import flows
from tests.conftest import REDIS_URL

COOKIE = "authz_session"
SECURE_COOKIE = "__Host-authz_session"


pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module (starting one costs more than most tests here); tests share nothing else,
    each making its own client, user and browser."""
    return module_authz


@pytest.fixture
def own_prefix(environ: dict[str, str]) -> str:
    """A Redis prefix of the test's own, under the run's: failed sign-ins counted here (all from 127.0.0.1)
    do not throttle other tests' sign-ins."""
    return f"{environ['AUTHORIUM_REDIS_PREFIX']}login-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def isolated_authz(start_authz: Any, own_prefix: str) -> AsyncIterator[str]:
    async with start_authz(AUTHORIUM_REDIS_PREFIX=own_prefix) as url:
        yield url


async def open_login_page(
    browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, **extra: str
) -> tuple[aiohttp.ClientResponse, str]:
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri, **extra}
    async with browser.get(f"{authz}/authorize", params=params, allow_redirects=False) as resp:
        body = await resp.text()
    assert resp.status == 200, body[:300]
    assert 'action="/authorize/login"' in body
    return resp, body


async def post_login(
    browser: aiohttp.ClientSession, authz: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None
) -> tuple[aiohttp.ClientResponse, str]:
    async with browser.post(f"{authz}/authorize/login", data=dict(form), headers=headers, allow_redirects=False) as r:
        return r, await r.text()


async def signed_in(browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient) -> bool:
    """Whether this browser is signed in, asked the way a client would: prompt=none."""
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "prompt": "none",
    }
    async with browser.get(f"{authz}/authorize", params=params, allow_redirects=False) as resp:
        error = flows.query_of(resp.headers["Location"]).get("error")
    return error != "login_required"


def set_cookie(resp: aiohttp.ClientResponse, name: str) -> tuple[str, str]:
    """The value of cookie `name` set by this response, and its Set-Cookie header as sent."""
    for header in resp.headers.getall("Set-Cookie", []):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie[name].value, header
    raise AssertionError(f"no {name} cookie in {resp.headers.getall('Set-Cookie', [])}")


def assert_secure_page(headers: Mapping[str, str]) -> None:
    assert headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


async def test_wrong_password_and_unknown_user_look_the_same(isolated_authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    outcomes = []
    async with flows.browser() as browser:
        for who, password in ((username, "wrong password"), (f"nobody-{uuid.uuid4().hex[:8]}", flows.PASSWORD)):
            _, page = await open_login_page(browser, isolated_authz, client)
            resp, body = await post_login(
                browser, isolated_authz, {**flows.hidden_fields(page), "username": who, "password": password}
            )
            assert "Location" not in resp.headers
            assert WRONG_CREDENTIALS in body
            assert password not in body
            assert_secure_page(resp.headers)
            outcomes.append((resp.status, body.replace(who, "<username>")))
        assert not await signed_in(browser, isolated_authz, client)
    (status_wrong, page_wrong), (status_unknown, page_unknown) = outcomes
    assert status_wrong == status_unknown == 200

    # Apart from the hidden request id, the two pages are the same page.
    def without_rid(page: str) -> str:
        return page.replace(flows.hidden_fields(page)["rid"], "<rid>")

    assert without_rid(page_wrong) == without_rid(page_unknown)


async def test_malformed_usernames_fail_like_any_other(isolated_authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    async with flows.browser() as browser:
        _, page = await open_login_page(browser, isolated_authz, client)
        for username in ("", "x" * 300, "名前", "' OR '1'='1"):
            resp, body = await post_login(
                browser,
                isolated_authz,
                {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD},
            )
            assert resp.status == 200, username
            assert WRONG_CREDENTIALS in body
        # A NUL is no username at all: the form is refused as malformed, and nobody is signed in.
        resp, body = await post_login(
            browser, isolated_authz, {**flows.hidden_fields(page), "username": "a\x00b", "password": flows.PASSWORD}
        )
        assert resp.status == 400
        assert "NUL" in body
        assert not await signed_in(browser, isolated_authz, client)


async def test_session_cookie_attributes_over_http(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        resp, page = await open_login_page(browser, authz, client)
        _, anonymous = set_cookie(resp, COOKIE)
        resp, _ = await post_login(
            browser, authz, {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD}
        )
        assert resp.status == 303
        _, signed = set_cookie(resp, COOKIE)
    for header in (anonymous, signed):
        attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
        assert {"httponly", "path", "samesite"} <= attributes, header
        assert "samesite=lax" in header.lower()
        assert "path=/" in header.lower()
        assert "domain" not in attributes
        # Plain http (development on loopback): a Secure cookie would never come back.
        assert "secure" not in attributes


async def test_session_cookie_is_secure_and_host_bound_when_the_issuer_is_https(
    start_authz: Any, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    async with start_authz(AUTHORIUM_ISSUER="https://auth.example.test") as url, aiohttp.ClientSession() as http:
        resp, page = await open_login_page(http, url, client)
        sid, anonymous = set_cookie(resp, SECURE_COOKIE)
        # The test talks plain http to the server, so it sends the cookie itself, as a browser would over https.
        resp, _ = await post_login(
            http,
            url,
            {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD},
            headers={"Cookie": f"{SECURE_COOKIE}={sid}"},
        )
        assert resp.status == 303
        _, signed = set_cookie(resp, SECURE_COOKIE)
        assert COOKIE + "=" not in signed.replace(SECURE_COOKIE, "")
    for header in (anonymous, signed):
        attributes = {a.strip().split("=")[0].lower() for a in header.split(";")[1:]}
        assert {"httponly", "secure", "path", "samesite"} <= attributes, header
        assert "samesite=lax" in header.lower()
        assert "domain" not in attributes


async def test_the_session_id_changes_at_sign_in(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        resp, page = await open_login_page(browser, authz, client)
        planted, _ = set_cookie(resp, COOKIE)
        resp, _ = await post_login(
            browser, authz, {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD}
        )
        assert resp.status == 303
        fresh, _ = set_cookie(resp, COOKIE)
        assert fresh != planted
        assert planted not in await resp.text()
        assert await signed_in(browser, authz, client)
    # An attacker who planted (or read) the pre-login id holds nothing: it is not signed in, nor even valid.
    async with flows.browser() as attacker:
        attacker.cookie_jar.update_cookies({COOKIE: planted}, resp.url)
        assert not await signed_in(attacker, authz, client)
        # It is treated as no session: the login page starts a new one.
        resp, _ = await open_login_page(attacker, authz, client)
        assert set_cookie(resp, COOKIE)[0] not in (planted, fresh)
    async with flows.browser() as victim:
        victim.cookie_jar.update_cookies({COOKIE: fresh}, resp.url)
        assert await signed_in(victim, authz, client)


async def test_the_login_page_holds_nothing_secret(authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    _, challenge = flows.pkce_pair()
    async with flows.browser() as browser:
        resp, page = await open_login_page(
            browser, authz, client, code_challenge=challenge, code_challenge_method="S256", nonce="n-0S6_WzA2Mj"
        )
        sid, _ = set_cookie(resp, COOKIE)
        assert_secure_page(resp.headers)
        form = {**flows.hidden_fields(page), "username": username, "password": "a wrong password"}
        _, retry = await post_login(browser, authz, form)
    assert client.secret is not None
    for body in (page, retry):
        assert set(flows.hidden_fields(body)) == {"rid", "csrf"}
        for secret in (sid, client.secret, challenge, "a wrong password", flows.PASSWORD):
            assert secret not in body
        assert 'type="password"' in body
    assert f'value="{username}"' in retry  # the username is kept, the password is not


async def test_login_form_csrf(isolated_authz: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    authz = isolated_authz
    async with flows.browser() as victim, flows.browser() as other, aiohttp.ClientSession() as no_cookies:
        _, page = await open_login_page(victim, authz, client)
        fields = flows.hidden_fields(page)
        _, other_page = await open_login_page(other, authz, client)
        other_fields = flows.hidden_fields(other_page)
        credentials = {"username": username, "password": flows.PASSWORD}
        attempts = [
            (no_cookies, {**fields, **credentials}),
            (victim, {**fields, **credentials, "csrf": other_fields["csrf"]}),
            (victim, {**fields, **credentials, "csrf": ""}),
            (victim, {"rid": fields["rid"], **credentials}),
            (victim, {**fields, **credentials, "rid": other_fields["rid"]}),
            (other, {**fields, **credentials}),  # another browser posting this browser's request
            (victim, {**fields, **credentials, "rid": "x" * 43}),
        ]
        for browser, form in attempts:
            resp, body = await post_login(browser, authz, form)
            assert resp.status == 403, form
            assert "Location" not in resp.headers
            assert "Set-Cookie" not in resp.headers
            assert EXPIRED in body
            assert_secure_page(resp.headers)
        async with victim.post(
            f"{authz}/authorize/login", json={**fields, **credentials}, allow_redirects=False
        ) as resp:
            assert resp.status == 400
            assert "Location" not in resp.headers
        assert not await signed_in(victim, authz, client)
        assert not await signed_in(other, authz, client)
        # Nothing was spent either: the genuine form still works.
        resp, _ = await post_login(victim, authz, {**fields, **credentials})
        assert resp.status == 303


async def test_failures_for_one_username_throttle_it_alone(isolated_authz: str, db: asyncpg.Pool) -> None:
    authz = isolated_authz
    client = await flows.make_client(db)
    target = await flows.make_user(db)
    bystander = await flows.make_user(db)
    async with flows.browser() as browser:
        _, page = await open_login_page(browser, authz, client)
        fields = flows.hidden_fields(page)
        for attempt in range(LOGIN_FAILURES_PER_USERNAME):
            # The username is matched however it is capitalised, and so is its counter.
            who = target.upper() if attempt % 2 else target
            resp, body = await post_login(
                browser, authz, {**fields, "username": who, "password": "guess " + str(attempt)}
            )
            assert resp.status == 200, attempt
            assert WRONG_CREDENTIALS in body

        for who in (target, target.upper()):
            resp, body = await post_login(browser, authz, {**fields, "username": who, "password": flows.PASSWORD})
            assert resp.status == 429
            assert 0 < int(resp.headers["Retry-After"]) <= LOGIN_WINDOW + 1
            assert THROTTLED in body
            assert WRONG_CREDENTIALS not in body
            assert "Location" not in resp.headers
            assert_secure_page(resp.headers)
        assert not await signed_in(browser, authz, client)

        resp, _ = await post_login(browser, authz, {**fields, "username": bystander, "password": flows.PASSWORD})
        assert resp.status == 303


async def test_failures_from_one_address_throttle_it(isolated_authz: str, own_prefix: str, db: asyncpg.Pool) -> None:
    client = await flows.make_client(db)
    username = await flows.make_user(db)
    redis = create_redis(REDIS_URL)
    try:
        # The server's own counter, as many failures as the limit allows, from this test's address.
        counter = Counter(
            redis, RedisKeys(own_prefix), "login-addr", limit=LOGIN_FAILURES_PER_ADDRESS, window=LOGIN_WINDOW
        )
        for _ in range(LOGIN_FAILURES_PER_ADDRESS - 1):
            assert await counter.hit("127.0.0.1") is None
        async with AsyncExitStack() as stack:
            browser = await stack.enter_async_context(flows.browser())
            _, page = await open_login_page(browser, isolated_authz, client)
            fields = flows.hidden_fields(page)
            # One more failure (a fresh username, so the per-username limit is far off) reaches the limit.
            resp, _ = await post_login(browser, isolated_authz, {**fields, "username": "someone", "password": "x" * 8})
            assert resp.status == 200
            resp, body = await post_login(
                browser, isolated_authz, {**fields, "username": username, "password": flows.PASSWORD}
            )
            assert resp.status == 429
            assert "Retry-After" in resp.headers
            assert THROTTLED in body
    finally:
        await redis.aclose()


async def test_counter_limits_each_subject_in_its_window(own_prefix: str) -> None:
    redis = create_redis(REDIS_URL)
    try:
        counter = Counter(redis, RedisKeys(own_prefix), "login-addr", limit=3, window=LOGIN_WINDOW)
        assert await counter.exceeded("198.51.100.7") is None
        assert [await counter.hit("198.51.100.7") is None for _ in range(4)] == [True, True, True, False]
        retry_after = await counter.exceeded("198.51.100.7")
        assert retry_after is not None and 0 < retry_after <= LOGIN_WINDOW + 1
        assert await counter.exceeded("198.51.100.8") is None
        await counter.reset("198.51.100.7")
        assert await counter.exceeded("198.51.100.7") is None
        # The keys expire on their own.
        await counter.hit("198.51.100.8")
        keys = [k async for k in redis.scan_iter(match=own_prefix + "*")]
        assert keys
        for key in keys:
            assert 0 < await redis.ttl(key) <= LOGIN_WINDOW + 1
    finally:
        await redis.aclose()


def test_login_limits_are_the_documented_ones() -> None:
    assert (LOGIN_FAILURES_PER_USERNAME, LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW) == (5, 30, 900)
