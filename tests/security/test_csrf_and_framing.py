"""Cross-site request forgery and clickjacking against the pages people use: the authorization server's login
and consent forms and the demo client's forms.

Covered elsewhere and not repeated: the login and consent forms refusing a missing, wrong or other browser's CSRF
token or request id (tests/authz/test_login.py, test_consent.py), the demo's forms refusing a missing or wrong
token (tests/client_demo/test_session.py), a callback from another browser (login CSRF, test_signin.py), and the
framing headers on the login, consent and error pages and the demo's pages (the same modules). Here: a valid
token of the attacker's own session, state changes through GET, and the headers on the pages those attacks get."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from tests.authz import flows
from tests.authz.test_consent import granted, reach_consent_page
from tests.authz.test_login import assert_secure_page, open_login_page
from tests.client_demo.conftest import HTML, Visitor
from tests.stack import Stack

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


async def assert_unchanged(victim: Visitor) -> None:
    """The victim is still signed in to the demo, and no forged note was added."""
    _, home, _ = await victim.get("/")
    assert "forged" not in home
    assert "Sign out" in home


async def test_the_attackers_own_demo_form_token_does_not_work_in_the_victims_browser(
    stack: Stack,
    module_db: asyncpg.Pool,
) -> None:
    async with flows.browser() as attacker_http, flows.browser() as victim_http:
        attacker, victim = Visitor(stack, attacker_http), Visitor(stack, victim_http)
        await attacker.sign_in(await flows.make_user(module_db))
        await victim.sign_in(await flows.make_user(module_db))
        # A genuine token, of a genuine signed-in session: the attacker's own, placed in a page the victim opens.
        token = await attacker.csrf()
        assert token != await victim.csrf()
        for path, form in (("/notes", {"csrf": token, "title": "forged"}), ("/logout", {"csrf": token})):
            status, page, resp = await victim.post(path, form)
            assert status == 403, path
            assert "reload the page" in page
            assert_secure_page(resp.headers)
        await assert_unchanged(victim)


async def test_state_changes_cannot_be_made_with_a_get(
    stack: Stack,
    module_db: asyncpg.Pool,
) -> None:
    """A link or an <img> makes a GET with the victim's cookies (SameSite=Lax lets top-level ones through):
    none of the forms' actions may answer one."""
    client = await flows.make_client(module_db, scope="openid notes:read")
    username = await flows.make_user(module_db)
    async with flows.browser() as browser:
        _, page = await reach_consent_page(browser, stack.authz, client, username, scope="notes:read")
        consent = {**flows.hidden_fields(page), "decision": "allow"}
        async with browser.get(f"{stack.authz}/authorize/consent", params=consent, allow_redirects=False) as resp:
            assert resp.status == 405
            assert "Location" not in resp.headers
        login = {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD}
        async with browser.get(f"{stack.authz}/authorize/login", params=login, allow_redirects=False) as resp:
            assert resp.status == 405
    assert await granted(module_db, username, client) == frozenset()

    async with flows.browser() as http:
        victim = Visitor(stack, http)
        await victim.sign_in(await flows.make_user(module_db))
        token = await victim.csrf()
        for path in ("/logout", f"/notes?csrf={token}&title=forged", f"/logout?csrf={token}"):
            status, page, resp = await victim.get(path)
            assert status == 405, path
            assert_secure_page(resp.headers)
        await assert_unchanged(victim)


async def test_pages_answering_a_malformed_form_cannot_be_framed(
    stack: Stack,
    module_db: asyncpg.Pool,
) -> None:
    client = await flows.make_client(module_db)
    async with flows.browser() as browser:
        _, page = await open_login_page(browser, stack.authz, client)
        form = {**flows.hidden_fields(page), "username": "a\x00b", "password": flows.PASSWORD}
        for path in ("/authorize/login", "/authorize/consent"):
            async with browser.post(stack.authz + path, data=form, allow_redirects=False) as resp:
                assert resp.status == 400
                assert_secure_page(resp.headers)
        visitor = Visitor(stack, browser)
        await visitor.sign_in(await flows.make_user(module_db))
        duplicated = aiohttp.FormData([("csrf", await visitor.csrf()), ("title", "a"), ("title", "b")])
        async with browser.post(stack.demo + "/notes", data=duplicated, headers=HTML, allow_redirects=False) as resp:
            assert resp.status == 400
            assert_secure_page(resp.headers)


async def test_the_account_page_and_sign_out_resist_forgery(stack: Stack, module_db: asyncpg.Pool) -> None:
    """The account page's forms refuse the attacker's own genuine CSRF token and GETs; a sign-out link without the
    victim's ID token (RP-Initiated Logout 1.0 section 2) only asks, and the confirmation refuses another session's
    token. Every page answering these carries the framing headers."""
    client = await flows.make_client(module_db)
    async with flows.browser() as attacker, flows.browser() as victim:
        pages = {}
        for browser in (attacker, victim):
            await flows.code_flow(browser, browser, stack.authz, client, await flows.make_user(module_db))
            async with browser.get(f"{stack.authz}/account") as resp:
                pages[browser] = await resp.text()
                assert_secure_page(resp.headers)
        token = flows.hidden_fields(pages[attacker])["csrf"]
        forged = (
            ("/account/apps/remove", {"csrf": token, "client_id": client.client_id}),
            ("/account/password", {"csrf": token, "current_password": "x", "new_password": "y" * 20}),
            ("/account/sessions/end", {"csrf": token, "session": "A" * 43}),
            ("/logout/confirm", {"csrf": token, "decision": "sign-out"}),
        )
        for path, form in forged:
            async with victim.post(stack.authz + path, data=form, allow_redirects=False) as resp:
                assert resp.status == 403, path
                assert_secure_page(resp.headers)
            async with victim.get(stack.authz + path, params=form, allow_redirects=False) as resp:
                assert resp.status == 405, path
        async with victim.get(f"{stack.authz}/logout", allow_redirects=False) as resp:
            assert resp.status == 200 and 'action="/logout/confirm"' in await resp.text()
            assert_secure_page(resp.headers)
        async with victim.get(f"{stack.authz}/account") as resp:
            page = await resp.text()
        assert "<h1>Your account</h1>" in page, "the victim was signed out"
        assert page.count("Remove access") >= 1, "the victim's app access was removed"
