"""The account page (`/account`): signing in for it through the login page (a parked request that resumes to it, OIDC
Core 3.1.2.3's login step), the apps with access and removing one (its consent withdrawn, its grants revoked: RFC 7009
section 2.2's effect on its tokens), the sessions and signing one out, changing the password (the current one
required; every other session ends), CSRF on every form and the pages' security headers."""

from __future__ import annotations

import re

import aiohttp
import asyncpg
import pytest

from authorium_shared.middleware import HTML_SECURITY_HEADERS
from tests.authz import flows

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
NEW_PASSWORD = "a brand new passphrase 42"
_SESSION = re.compile(r'name="session" value="([^"]+)"')


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


async def get(browser: aiohttp.ClientSession, url: str) -> tuple[int, str, aiohttp.ClientResponse]:
    async with browser.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text(), resp


async def post(
    browser: aiohttp.ClientSession, url: str, form: dict[str, str]
) -> tuple[int, str, aiohttp.ClientResponse]:
    async with browser.post(url, data=form, allow_redirects=False) as resp:
        return resp.status, await resp.text(), resp


async def open_account(
    browser: aiohttp.ClientSession, authz: str, username: str, password: str = flows.PASSWORD
) -> str:
    """Open /account, signing in on the way if asked: the account page."""
    status, body, _ = await get(browser, f"{authz}/account")
    if 'action="/authorize/login"' in body:
        assert "your Authorium account" in body
        form = {**flows.hidden_fields(body), "username": username, "password": password}
        status, body, resp = await post(browser, f"{authz}/authorize/login", form)
        assert status == 303, body[:300]
        status, body, resp = await get(browser, authz + resp.headers["Location"])
        assert status == 303 and resp.headers["Location"] == "/account"
        status, body, _ = await get(browser, f"{authz}/account")
    assert status == 200 and "<h1>Your account</h1>" in body, body[:300]
    return body


def apps_of(page: str) -> str:
    return page[page.index('id="apps-heading"') : page.index('id="sessions-heading"')]


def sessions_of(page: str) -> list[tuple[str, bool]]:
    """The sessions the page lists: (the id its sign-out form posts, whether it is this browser's)."""
    section = page[page.index('id="sessions-heading"') : page.index('id="password-heading"')]
    found = []
    for item in section.split("<li>")[1:]:
        match = _SESSION.search(item)
        assert match
        found.append((match.group(1), "this browser" in item))
    return found


def csrf_of(page: str) -> str:
    return flows.hidden_fields(page)["csrf"]


async def test_someone_not_signed_in_signs_in_first_and_comes_back(authz: str, db: asyncpg.Pool) -> None:
    """OIDC Core 3.1.2.3: the login page (the same one an authorization request shows), then back to /account; the
    pages carry the security headers every page of this server does."""
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        status, body, resp = await get(browser, f"{authz}/account")
        assert status == 200 and 'action="/authorize/login"' in body
        for name, value in HTML_SECURITY_HEADERS.items():
            assert resp.headers[name] == value
        wrong = {**flows.hidden_fields(body), "username": username, "password": "not the password"}
        status, body, _ = await post(browser, f"{authz}/authorize/login", wrong)
        assert status == 200 and "incorrect" in body
        page = await open_account(browser, authz, username)
        assert username in page and 'href="/account/security"' in page
        status, _, resp = await get(browser, f"{authz}/account")
        assert resp.headers["Cache-Control"] == "no-store" and resp.headers["X-Frame-Options"] == "DENY"


async def test_the_account_sign_in_cannot_be_posted_as_a_consent(authz: str, db: asyncpg.Pool) -> None:
    """The parked account sign-in is no authorization request: posting its id to the consent form is refused."""
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        _, body, _ = await get(browser, f"{authz}/account")
        fields = flows.hidden_fields(body)
        status, _, _ = await post(
            browser, f"{authz}/authorize/login", {**fields, "username": username, "password": flows.PASSWORD}
        )
        assert status == 303
        status, body, _ = await post(browser, f"{authz}/authorize/consent", {**fields, "decision": "allow"})
        assert status == 403, body[:300]


async def test_removing_an_apps_access_revokes_its_grants_and_consent(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """The app is listed (name, scopes, since, last used); "remove access" withdraws the consent and revokes its
    grants: its refresh token is refused (RFC 7009 section 2.2), and its next request asks the person again."""
    client = await flows.make_client(db)
    name = await db.fetchval("SELECT name FROM clients WHERE client_id = $1", client.client_id)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        tokens = await flows.code_flow(http, browser, authz, client, username, scope="openid offline_access notes:read")
        page = await open_account(browser, authz, username)
        assert name in apps_of(page) and "notes:read" in apps_of(page) and "last used" in apps_of(page)
        forged = {"csrf": "A" * 43, "client_id": client.client_id}
        status, _, _ = await post(browser, f"{authz}/account/apps/remove", forged)
        assert status == 403
        status, _, _ = await flows.token_request(
            http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert status == 200, "a forged form changed something"
        form = {"csrf": csrf_of(page), "client_id": client.client_id}
        status, _, resp = await post(browser, f"{authz}/account/apps/remove", form)
        assert status == 303 and resp.headers["Location"] == "/account?notice=access-removed"
        _, page, _ = await get(browser, f"{authz}/account?notice=access-removed")
        assert "Access removed" in page and name not in apps_of(page)
        status, body, _ = await flows.token_request(
            http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
        )
        assert (status, body["error"]) == (400, "invalid_grant")
        again = await flows.authorize(browser, authz, client, None, scope="openid notes:read", nonce="n")
        assert any('action="/authorize/consent"' in p for p in again.pages), "the app was not asked for again"
        status, _, resp = await post(
            browser, f"{authz}/account/apps/remove", {"csrf": csrf_of(page), "client_id": "x\x01"}
        )
        assert status == 303 and resp.headers["Location"] == "/account?notice=nothing-removed"


async def test_sessions_are_listed_and_each_can_be_signed_out(authz: str, db: asyncpg.Pool) -> None:
    """Every session of the person is listed, this one marked; signing another one out ends it there only."""
    username = await flows.make_user(db)
    async with flows.browser() as here, flows.browser() as there:
        await open_account(there, authz, username)
        page = await open_account(here, authz, username)
        listed = sessions_of(page)
        assert len(listed) == 2 and sorted(current for _, current in listed) == [False, True]
        other = next(sid for sid, current in listed if not current)
        status, _, resp = await post(here, f"{authz}/account/sessions/end", {"csrf": csrf_of(page), "session": other})
        assert status == 303 and resp.headers["Location"] == "/account?notice=session-ended"
        _, body, _ = await get(there, f"{authz}/account")
        assert 'action="/authorize/login"' in body, "the other session is still signed in"
        page = await open_account(here, authz, username)
        ((mine, current),) = sessions_of(page)
        assert current
        status, body, _ = await post(here, f"{authz}/account/sessions/end", {"csrf": csrf_of(page), "session": mine})
        assert status == 200 and "You are signed out" in body
        _, body, _ = await get(here, f"{authz}/account")
        assert 'action="/authorize/login"' in body
        status, _, _ = await post(here, f"{authz}/account/sessions/end", {"csrf": csrf_of(page), "session": mine})
        assert status == 403


async def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(
    authz: str, db: asyncpg.Pool
) -> None:
    """The current password is required (a wrong one changes nothing), the two new ones must agree and be usable;
    once changed, the new password signs in, the old one does not, and every other session is over."""
    username = await flows.make_user(db)
    async with flows.browser() as here, flows.browser() as there:
        await open_account(there, authz, username)
        page = await open_account(here, authz, username)
        url = f"{authz}/account/password"
        base = {"csrf": csrf_of(page), "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
        status, body, _ = await post(here, url, {**base, "current_password": "wrong"})
        assert status == 400 and "current password is not right" in body
        status, body, _ = await post(
            here, url, {**base, "current_password": flows.PASSWORD, "confirm_password": "something else"}
        )
        assert status == 400 and "differ" in body
        status, body, _ = await post(
            here,
            url,
            {**base, "current_password": flows.PASSWORD, "new_password": "short", "confirm_password": "short"},
        )
        assert status == 400 and "cannot be used" in body
        _, body, _ = await get(there, f"{authz}/account")
        assert "<h1>Your account</h1>" in body, "a refused change ended a session"
        status, _, resp = await post(here, url, {**base, "csrf": "A" * 43, "current_password": flows.PASSWORD})
        assert status == 403
        status, _, resp = await post(here, url, {**base, "current_password": flows.PASSWORD})
        assert status == 303 and resp.headers["Location"] == "/account?notice=password-changed"
        _, page, _ = await get(here, f"{authz}/account?notice=password-changed")
        assert "Your password is changed" in page
        _, body, _ = await get(there, f"{authz}/account")
        assert 'action="/authorize/login"' in body, "the other session is still signed in"
    async with flows.browser() as fresh:
        _, body, _ = await get(fresh, f"{authz}/account")
        form = {**flows.hidden_fields(body), "username": username, "password": flows.PASSWORD}
        _, body, _ = await post(fresh, f"{authz}/authorize/login", form)
        assert "incorrect" in body
        await open_account(fresh, authz, username, NEW_PASSWORD)
