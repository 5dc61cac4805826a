"""The admin API's audit events (filtered by `since`, `until`, `type`, `user`, `client`; keyset pages, newest first)
and signing keys (list; rotate by the rules of `authorium keys rotate`: not before the next key has been published for
the JWKS cache lifetime)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from authorium_shared.resources import create_pg_pool
from tests.admin.conftest import Admin, admin_base, assert_problem, call, make_admin
from tests.authz.conftest import running_authz
from tests.conftest import DatabaseFactory


async def test_audit_events_are_filtered_and_paged(http: aiohttp.ClientSession, admin: Admin, admin_url: str) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    body = {"name": f"audited {uuid.uuid4().hex[:8]}", "grant_types": ["client_credentials"], "scopes": ["notes:read"]}
    _, created, _ = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    client_id = created["client_id"]
    for name in ("one", "two", "three"):
        await call(http, admin, "PATCH", f"{admin_url}/admin/v1/clients/{client_id}", json={"name": name})
    url = admin_url + "/admin/v1/audit-events"
    params = {"client": client_id, "type": "client_updated", "since": start.isoformat(), "limit": "2"}
    status, first, _ = await call(http, admin, "GET", url, params=params)
    assert status == 200, first
    assert [e["type"] for e in first["items"]] == ["client_updated"] * 2
    assert all(e["client_id"] == client_id for e in first["items"])
    assert first["items"][0]["details"] == {"actor": f"client:{admin.client.client_id}", "changed": ["name"]}
    status, second, _ = await call(http, admin, "GET", url, params={**params, "cursor": first["next_cursor"]})
    assert status == 200 and len(second["items"]) == 1 and second["next_cursor"] is None
    ids = [e["id"] for e in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    status, none, _ = await call(http, admin, "GET", url, params={"client": client_id, "until": start.isoformat()})
    assert status == 200 and none["items"] == []
    status, registered, _ = await call(
        http, admin, "GET", url, params={"client": client_id, "type": "client_registered"}
    )
    assert [e["type"] for e in registered["items"]] == ["client_registered"]
    for bad in ({"since": "yesterday"}, {"until": "2026-13-01"}, {"user": "nobody"}, {"limit": "1000"}):
        status, answer, resp = await call(http, admin, "GET", url, params=bad)
        assert_problem(status, answer, resp, 400, next(iter(bad)))


async def test_keys_are_listed_without_private_parts(http: aiohttp.ClientSession, admin: Admin, admin_url: str) -> None:
    status, listed, resp = await call(http, admin, "GET", admin_url + "/admin/v1/keys")
    assert status == 200
    states = {(k["alg"], k["state"]) for k in listed["items"]}
    assert {("ES256", "current"), ("ES256", "next"), ("RS256", "current")} <= states
    assert "private" not in (await resp.text()).lower()


@pytest.fixture(params=["300", "0"], ids=["jwks-cached-300s", "jwks-cached-0s"])
async def own_keys(
    request: pytest.FixtureRequest, make_database: DatabaseFactory, environ: dict[str, str]
) -> AsyncIterator[tuple[str, str, asyncpg.Pool, bool]]:
    """An authorization server with signing keys of its own (rotating them must not touch other tests'), its JWKS
    cacheable for 300 s (the default: the next keys made at its start are not ready to sign) or 0 s (they are).
    Yields its URL, its admin API's, a pool on its database, and whether rotation may happen now."""
    env = {**environ, "DATABASE_URL": await make_database(), "AUTHORIUM_JWKS_MAX_AGE": request.param}
    pool = await create_pg_pool(env["DATABASE_URL"], max_size=2)
    try:
        async with running_authz(env) as url:
            yield url, admin_base(url), pool, request.param == "0"
    finally:
        await pool.close()


async def test_rotation_follows_the_rules_of_keys_rotate_and_is_audited(
    http: aiohttp.ClientSession, own_keys: tuple[str, str, asyncpg.Pool, bool]
) -> None:
    """Too early (the next key not yet published for the JWKS cache lifetime) is 409 and changes nothing; once it
    may, the next key signs, and the audit event names the admin client."""
    authz, admin_url, pool, may_rotate = own_keys
    admin = await make_admin(http, authz, pool)
    _, before, _ = await call(http, admin, "GET", admin_url + "/admin/v1/keys")
    url = admin_url + "/admin/v1/keys/rotate"
    status, answer, resp = await call(http, admin, "POST", url, json={"algs": ["HS256"]})
    assert_problem(status, answer, resp, 400, "algs")
    status, body, resp = await call(http, admin, "POST", url, json={"algs": ["ES256"]})
    _, after, _ = await call(http, admin, "GET", admin_url + "/admin/v1/keys")
    if not may_rotate:
        assert_problem(status, body, resp, 409, None)
        assert after == before
        return
    assert status == 200, body
    next_kid = next(k["kid"] for k in before["items"] if (k["alg"], k["state"]) == ("ES256", "next"))
    assert [p["alg"] for p in body["rotated"]] == ["ES256"] and body["rotated"][0]["promoted"] == next_kid
    assert any(k["kid"] == next_kid and k["state"] == "current" for k in after["items"])
    actor = await pool.fetchval(
        "SELECT details->>'actor' FROM audit_events WHERE event = 'key_rotation' ORDER BY id DESC LIMIT 1"
    )
    assert actor == f"client:{admin.client.client_id}"
