"""The admin API's users (DESIGN.md, "Admin API"): create, show (ETag), list, update (name, email, password,
disabled) with `If-Match`, delete, sign out everywhere; a user's grants (revoke one) and consents (withdraw one).
Disabling, deleting and signing out revoke the user's grants: the refresh token is refused at once (RFC 6749 section
5.2 `invalid_grant`), the access token inactive at introspection (RFC 7662 section 2.2)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.admin.conftest import Admin, assert_problem, call
from tests.authz.flows import PASSWORD, RegisteredClient, authorize, browser, make_client, make_user, token_request
from tests.resource.conftest import Caller, user_token

SCOPE = "notes:read notes:write"


async def create_user(http: aiohttp.ClientSession, admin: Admin, admin_url: str, **fields: Any) -> dict[str, Any]:
    body = {"username": f"u-{uuid.uuid4().hex[:10]}", "password": PASSWORD, **fields}
    status, created, resp = await call(http, admin, "POST", admin_url + "/admin/v1/users", json=body)
    assert status == 201, created
    assert resp.headers["Location"] == f"/admin/v1/users/{created['user_id']}"
    return dict(created)


async def refresh_status(http: aiohttp.ClientSession, authz: str, caller: Caller) -> int:
    status, _, _ = await token_request(
        http, authz, caller.client, grant_type="refresh_token", refresh_token=caller.refresh_token
    )
    return status


async def active(http: aiohttp.ClientSession, authz: str, caller: Caller) -> bool:
    async with http.post(authz + "/introspect", data={"token": caller.token}, headers=caller.client.basic) as resp:
        return bool((await resp.json())["active"])


async def signs_in(authz: str, client: RegisteredClient, username: str, password: str = PASSWORD) -> bool:
    """Whether `username` gets through the login page with `password` (a fresh browser)."""
    async with browser() as session:
        try:
            await authorize(session, authz, client, username, password=password, scope="notes:read")
        except AssertionError:
            return False
    return True


async def test_a_user_is_created_shown_listed_and_changed(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str
) -> None:
    created = await create_user(http, admin, admin_url, name="Ada")
    assert "password" not in created and "password_hash" not in created
    url = f"{admin_url}/admin/v1/users/{created['user_id']}"
    status, shown, resp = await call(http, admin, "GET", url)
    assert status == 200 and shown == created
    etag = resp.headers["ETag"]
    status, listed, _ = await call(
        http, admin, "GET", admin_url + "/admin/v1/users", params={"username": shown["username"]}
    )
    assert status == 200 and listed == {"items": [shown], "next_cursor": None}
    status, changed, _ = await call(
        http, admin, "PATCH", url, json={"email": "ada@example.com"}, headers={"If-Match": etag}
    )
    assert status == 200 and changed["email"] == "ada@example.com"
    status, body, resp = await call(http, admin, "PATCH", url, json={"name": "lost"}, headers={"If-Match": etag})
    assert_problem(status, body, resp, 412, None)


async def test_bad_input_names_the_member_and_writes_nothing(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, db: asyncpg.Pool
) -> None:
    """RFC 9457 problem details naming the member; a taken username is 409."""
    name = f"u-{uuid.uuid4().hex[:10]}"
    for body, field in [
        ({"username": name}, "password"),
        ({"password": PASSWORD}, "username"),
        ({"username": name, "password": "short"}, "password"),
        ({"username": "has space", "password": PASSWORD}, "username"),
        ({"username": name, "password": PASSWORD, "role": "root"}, "role"),
        ({"username": name, "password": PASSWORD, "disabled": True}, "disabled"),
    ]:
        status, answer, resp = await call(http, admin, "POST", admin_url + "/admin/v1/users", json=body)
        assert_problem(status, answer, resp, 400, field)
    assert await db.fetchval("SELECT count(*) FROM users WHERE username = $1", name) == 0
    created = await create_user(http, admin, admin_url)
    status, answer, resp = await call(
        http,
        admin,
        "POST",
        admin_url + "/admin/v1/users",
        json={"username": created["username"].upper(), "password": PASSWORD},
    )
    assert_problem(status, answer, resp, 409, None)
    url = f"{admin_url}/admin/v1/users/{created['user_id']}"
    for body, field in [
        ({"disabled": "yes"}, "disabled"),
        ({"password": "short"}, "password"),
        ({"username": "x"}, "username"),
    ]:
        status, answer, resp = await call(http, admin, "PATCH", url, json=body)
        assert_problem(status, answer, resp, 400, field)
    _, after, _ = await call(http, admin, "GET", url)
    assert after == created
    for path in ("/admin/v1/users/nope", f"/admin/v1/users/{uuid.uuid4()}"):
        status, answer, resp = await call(http, admin, "GET", admin_url + path)
        assert_problem(status, answer, resp, 404, None)


async def test_a_disabled_user_cannot_sign_in_and_loses_their_grants(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    caller = await user_token(http, authz, db, scope=SCOPE)
    url = f"{admin_url}/admin/v1/users/{caller.sub}"
    status, shown, _ = await call(http, admin, "PATCH", url, json={"disabled": True})
    assert status == 200 and shown["disabled"] is True
    assert await refresh_status(http, authz, caller) == 400
    assert not await active(http, authz, caller)
    assert not await signs_in(authz, caller.client, shown["username"])
    status, _, _ = await call(http, admin, "PATCH", url, json={"disabled": False})
    assert status == 200
    assert await signs_in(authz, caller.client, shown["username"])


async def test_setting_a_password_replaces_the_old_one(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    client = await make_client(db, scope="notes:read")
    created = await create_user(http, admin, admin_url)
    status, _, _ = await call(
        http, admin, "PATCH", f"{admin_url}/admin/v1/users/{created['user_id']}", json={"password": "a new passphrase"}
    )
    assert status == 200
    assert not await signs_in(authz, client, created["username"])
    assert await signs_in(authz, client, created["username"], "a new passphrase")


async def test_sign_out_ends_sessions_and_revokes_grants(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    """`POST /admin/v1/users/{id}/sign-out`: the browser must sign in again, the refresh token is refused."""
    client = await make_client(db, scope=SCOPE)
    username = await make_user(db)
    async with browser() as session:
        first = await authorize(session, authz, client, username, scope="notes:read")
        status, tokens, _ = await token_request(
            http, authz, client, grant_type="authorization_code", code=first.code, redirect_uri=client.redirect_uri
        )
        assert status == 200, tokens
        # Signed in: the next request needs no login page.
        await authorize(session, authz, client, None, scope="notes:read")
        user_id = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
        status, body, _ = await call(http, admin, "POST", f"{admin_url}/admin/v1/users/{user_id}/sign-out")
        assert status == 200 and body == {"grants_revoked": 1}
        with pytest.raises(AssertionError, match="login page"):
            await authorize(session, authz, client, None, scope="notes:read")
    status, _, _ = await token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert status == 400


async def test_deleting_a_user_removes_grants_and_consents(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    caller = await user_token(http, authz, db, scope=SCOPE)
    url = f"{admin_url}/admin/v1/users/{caller.sub}"
    status, _, _ = await call(http, admin, "DELETE", url)
    assert status == 204
    assert await refresh_status(http, authz, caller) == 400
    assert not await active(http, authz, caller)
    uid = uuid.UUID(caller.sub)
    assert await db.fetchval("SELECT count(*) FROM grants WHERE user_id = $1", uid) == 0
    assert await db.fetchval("SELECT count(*) FROM consents WHERE user_id = $1", uid) == 0
    status, answer, resp = await call(http, admin, "DELETE", url)
    assert_problem(status, answer, resp, 404, None)


async def test_a_users_grants_are_listed_and_one_is_revoked(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    caller = await user_token(http, authz, db, scope=SCOPE)
    status, listed, _ = await call(http, admin, "GET", f"{admin_url}/admin/v1/users/{caller.sub}/grants")
    assert status == 200 and listed["next_cursor"] is None
    [grant] = listed["items"]
    assert grant["client_id"] == caller.client_id and grant["scopes"] == SCOPE.split()
    assert grant["created_at"] and grant["last_used_at"]
    status, _, _ = await call(http, admin, "DELETE", f"{admin_url}/admin/v1/grants/{grant['grant_id']}")
    assert status == 204
    assert await refresh_status(http, authz, caller) == 400
    assert not await active(http, authz, caller)
    status, listed, _ = await call(http, admin, "GET", f"{admin_url}/admin/v1/users/{caller.sub}/grants")
    assert listed["items"] == []
    for grant_id in (grant["grant_id"], "not-a-uuid"):
        status, answer, resp = await call(http, admin, "DELETE", f"{admin_url}/admin/v1/grants/{grant_id}")
        assert_problem(status, answer, resp, 404, None)


async def test_a_consent_is_listed_and_withdrawn(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, authz: str, db: asyncpg.Pool
) -> None:
    """Withdrawing a consent forgets it and revokes the client's grants from the user: it must ask again."""
    caller = await user_token(http, authz, db, scope=SCOPE)
    consents = f"{admin_url}/admin/v1/users/{caller.sub}/consents"
    status, listed, _ = await call(http, admin, "GET", consents)
    assert status == 200
    assert [(c["client_id"], c["scopes"]) for c in listed["items"]] == [(caller.client_id, sorted(SCOPE.split()))]
    status, _, _ = await call(http, admin, "DELETE", f"{consents}/{caller.client_id}")
    assert status == 204
    assert await refresh_status(http, authz, caller) == 400
    _, listed, _ = await call(http, admin, "GET", consents)
    assert listed["items"] == []
    status, answer, resp = await call(http, admin, "DELETE", f"{consents}/{caller.client_id}")
    assert_problem(status, answer, resp, 404, None)
