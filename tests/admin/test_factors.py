"""The admin API's view of users' second factors (issue 16 item 5): list a user's factors, remove one, reset them all;
each change audited with the admin client as actor; unknown users and factors are 404 (RFC 9457 problem details)."""

from __future__ import annotations

import uuid

import aiohttp
import asyncpg
import pytest

from tests.admin.conftest import Admin, assert_problem, call
from tests.authz import flows
from tests.authz.factor_flows import signed_in_with_app


async def needs_second_factor(authz: str, client: flows.RegisteredClient, username: str) -> bool:
    async with flows.browser() as browser:
        query = {"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri}
        async with browser.get(f"{authz}/authorize", params=query) as resp:
            page = await resp.text()
        form = {**flows.hidden_fields(page), "username": username, "password": flows.PASSWORD}
        async with browser.post(f"{authz}/authorize/login", data=form) as resp:
            # The step's page, whatever it offers (a security key alone gets no code form).
            return resp.url.path == "/authorize/second-factor"


async def test_factors_are_listed_and_reset(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    """GET lists the authenticator app with its recovery codes left; DELETE resets: the person signs in with the
    password alone again (a lost phone), and the reset is audited."""
    client = await flows.make_client(db)
    async with flows.browser() as browser:
        username, _ = await signed_in_with_app(db, authz, client, browser)
    user_id = str(await db.fetchval("SELECT user_id FROM users WHERE username = $1", username))
    url = f"{admin_url}/admin/v1/users/{user_id}/factors"
    status, listed, _ = await call(http, admin, "GET", url)
    assert status == 200 and listed["next_cursor"] is None
    [factor] = listed["items"]
    assert factor["type"] == "totp" and factor["recovery_codes_left"] == 10
    assert "secret" not in factor
    assert await needs_second_factor(authz, client, username)

    status, _, _ = await call(http, admin, "DELETE", url)
    assert status == 204
    status, listed, _ = await call(http, admin, "GET", url)
    assert listed["items"] == []
    assert not await needs_second_factor(authz, client, username)
    actor = await db.fetchval(
        "SELECT details->>'actor' FROM audit_events WHERE event = 'second_factors_reset' AND user_id = $1",
        uuid.UUID(user_id),
    )
    assert actor == f"client:{admin.client.client_id}"


async def test_one_factor_is_removed_by_id(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    client = await flows.make_client(db)
    async with flows.browser() as browser:
        username, _ = await signed_in_with_app(db, authz, client, browser)
    user_id = str(await db.fetchval("SELECT user_id FROM users WHERE username = $1", username))
    url = f"{admin_url}/admin/v1/users/{user_id}/factors"
    _, listed, _ = await call(http, admin, "GET", url)
    factor_id = listed["items"][0]["factor_id"]
    status, problem, resp = await call(http, admin, "DELETE", f"{url}/{uuid.uuid4()}")
    assert_problem(status, problem, resp, 404, None)
    status, _, _ = await call(http, admin, "DELETE", f"{url}/{factor_id}")
    assert status == 204
    status, problem, resp = await call(http, admin, "DELETE", f"{url}/{factor_id}")
    assert_problem(status, problem, resp, 404, None)
    assert not await needs_second_factor(authz, client, username)


@pytest.mark.parametrize("user_id", ["not-a-uuid", str(uuid.UUID(int=0)), "%00", "x" * 300])
async def test_unknown_users_are_404(http: aiohttp.ClientSession, admin: Admin, admin_url: str, user_id: str) -> None:
    for method, suffix in (("GET", ""), ("DELETE", ""), ("DELETE", "/not-a-factor")):
        status, problem, resp = await call(http, admin, method, f"{admin_url}/admin/v1/users/{user_id}/factors{suffix}")
        assert_problem(status, problem, resp, 404, None)


async def test_factors_need_an_admin_token(http: aiohttp.ClientSession, admin_url: str) -> None:
    async with http.get(f"{admin_url}/admin/v1/users/{uuid.uuid4()}/factors") as resp:
        assert resp.status == 401
    async with http.delete(f"{admin_url}/admin/v1/users/{uuid.uuid4()}/factors") as resp:
        assert resp.status == 401
