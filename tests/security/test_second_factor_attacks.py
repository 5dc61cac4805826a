"""Attacks on the second factor (issue 16 items 4-5): injection payloads as codes, cross-site request forgery and
framing against the security page's forms and the second-factor step, state changes by GET. Each is refused with a
clear 4xx (or the page's own "wrong code"), never a 5xx, and changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from authz.factors.step import WRONG_CODE
from authz.interaction import EXPIRED
from tests.authz import flows
from tests.authz.conftest import running_authz
from tests.authz.factor_flows import post, security_page, signed_in_with_app
from tests.authz.test_login import assert_secure_page
from tests.security.test_injection import has_nul, payloads

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
SECOND_FACTOR_FORM = 'action="/authorize/second-factor"'
FORMS = ("/account/security/totp/remove", "/account/security/recovery-codes", "/account/security/totp/confirm")


@pytest.fixture(scope="module")
async def factor_authz(module_environ: dict[str, str]) -> AsyncIterator[str]:
    """An authorization server with a Redis prefix of its own: the wrong codes sent here (all from 127.0.0.1) count
    against no other module's per-address throttle."""
    prefix = f"{module_environ['AUTHORIUM_REDIS_PREFIX']}factor-attacks-{uuid.uuid4().hex[:8]}:"
    async with running_authz({**module_environ, "AUTHORIUM_REDIS_PREFIX": prefix}) as url:
        yield url


async def at_second_factor(browser: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, who: str) -> str:
    query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
    async with browser.get(f"{authz}/authorize", params=query) as resp:
        page = await resp.text()
    form = {**flows.hidden_fields(page), "username": who, "password": flows.PASSWORD}
    async with browser.post(f"{authz}/authorize/login", data=form) as resp:
        page = await resp.text()
    assert SECOND_FACTOR_FORM in page
    return page


async def factor_count(db: asyncpg.Pool, username: str) -> Any:
    return await db.fetchval(
        """SELECT count(*) FROM totp_factors t JOIN users u USING (user_id)
           WHERE u.username = $1 AND t.confirmed_at IS NOT NULL""",
        username,
    )


@payloads
async def test_payloads_as_codes_are_wrong_codes(factor_authz: str, module_db: asyncpg.Pool, payload: str) -> None:
    """A payload is data: a wrong code (or, with a NUL, a malformed form: 400), never a sign-in or a change."""
    authz, db = factor_authz, module_db
    client = await flows.make_client(db)
    async with flows.browser() as browser:
        username, _ = await signed_in_with_app(db, authz, client, browser)
        _, page = await security_page(browser, authz)
        csrf = flows.hidden_fields(page)["csrf"]
        for path in FORMS:
            status, body, _ = await post(browser, authz, path, {"csrf": csrf, "code": payload})
            assert status in ((400,) if has_nul(payload) else (200, 409)), (path, status, body[:300])
        async with flows.browser() as other:
            fields = flows.hidden_fields(await at_second_factor(other, authz, client, username))
            status, body, _ = await post(other, authz, "/authorize/second-factor", {**fields, "code": payload})
            assert (status, WRONG_CODE in body) == ((400, False) if has_nul(payload) else (200, True)), body[:300]
            for name in ("rid", "csrf"):
                status, _, _ = await post(other, authz, "/authorize/second-factor", {**fields, name: payload})
                assert status == (400 if has_nul(payload) else 403)
    assert await factor_count(db, username) == 1
    for table in ("totp_factors", "recovery_codes", "users"):
        await db.fetchval(f'SELECT count(*) FROM "{table}"')


async def test_the_attackers_own_csrf_token_does_not_work_in_the_victims_browser(
    factor_authz: str, module_db: asyncpg.Pool
) -> None:
    """A genuine CSRF token of the attacker's own signed-in session, put in a page the victim opens, is refused on
    every form of the security page; the victim's factor stays."""
    authz, db = factor_authz, module_db
    client = await flows.make_client(db)
    async with flows.browser() as attacker, flows.browser() as victim:
        _, attacker_app = await signed_in_with_app(db, authz, client, attacker)
        victim_name, _ = await signed_in_with_app(db, authz, client, victim)
        _, page = await security_page(attacker, authz)
        token = flows.hidden_fields(page)["csrf"]
        for path in ("/account/security/totp", *FORMS):
            status, body, resp_location = await post(victim, authz, path, {"csrf": token, "code": attacker_app.code()})
            assert status == 403 and EXPIRED in body, path
            assert resp_location == ""
    assert await factor_count(db, victim_name) == 1


async def test_state_changes_cannot_be_made_with_a_get(factor_authz: str, module_db: asyncpg.Pool) -> None:
    """A link or an <img> makes a GET with the victim's cookies: no form action of the security page or the
    second-factor step answers one with a change."""
    authz, db = factor_authz, module_db
    client = await flows.make_client(db)
    async with flows.browser() as browser:
        username, app = await signed_in_with_app(db, authz, client, browser)
        _, page = await security_page(browser, authz)
        params = {"csrf": flows.hidden_fields(page)["csrf"], "code": app.code()}
        for path in ("/account/security/totp", *FORMS):
            async with browser.get(f"{authz}{path}", params=params, allow_redirects=False) as resp:
                assert resp.status == 405, path
    assert await factor_count(db, username) == 1


async def test_the_pages_cannot_be_framed(factor_authz: str, module_db: asyncpg.Pool) -> None:
    """The security page (which shows the key and the recovery codes) and the second-factor step carry the framing
    and no-store headers, as do their refusals."""
    authz, db = factor_authz, module_db
    client = await flows.make_client(db)
    async with flows.browser() as browser:
        username, _ = await signed_in_with_app(db, authz, client, browser)
        async with browser.get(f"{authz}/account/security") as resp:
            assert_secure_page(resp.headers)
        _, page = await security_page(browser, authz)
        async with browser.post(
            f"{authz}/account/security/recovery-codes", data={"csrf": flows.hidden_fields(page)["csrf"], "code": "x"}
        ) as resp:
            assert_secure_page(resp.headers)
    async with flows.browser() as browser:
        fields = flows.hidden_fields(await at_second_factor(browser, authz, client, username))
        async with browser.get(f"{authz}/authorize/second-factor", params={"rid": fields["rid"]}) as resp:
            assert resp.status == 200
            assert_secure_page(resp.headers)
        async with browser.post(f"{authz}/authorize/second-factor", data={**fields, "csrf": "x"}) as resp:
            assert resp.status == 403
            assert_secure_page(resp.headers)
