"""The operator's token exchange policy (RFC 8693) through the admin API: `may_exchange_for` on client create and
update names registered resources (RFC 8707), never the admin API; anything else is a 400 problem naming the member,
and changes nothing."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from authz.resources.records import Resource
from tests.admin.conftest import Admin, assert_problem, call
from tests.authz.flows import make_resource

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
NOTES_API = "http://127.0.0.1:8001"  # AUTHORIUM_RESOURCE_URL's default: always registered
ADMIN_API = "http://127.0.0.1:8010"  # AUTHORIUM_ADMIN_URL's default


@pytest.fixture
async def inventory(db: asyncpg.Pool, environ: dict[str, str], authz: str) -> Resource:
    return await make_resource(db, environ, authz)


@pytest.mark.parametrize("target", ["https://unregistered.example/api", ADMIN_API])
async def test_create_refuses_a_target_that_is_not_a_registered_resource_or_is_the_admin_api(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, db: asyncpg.Pool, target: str
) -> None:
    name = f"exchanger for {target}"
    body = {"name": name, "grant_types": [GRANT], "may_exchange_for": [NOTES_API, target]}
    status, problem, resp = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    assert_problem(status, problem, resp, 400, "may_exchange_for")
    assert target in problem["detail"] or "admin API" in problem["detail"]
    assert await db.fetchval("SELECT count(*) FROM clients WHERE name = $1", name) == 0


async def test_create_and_update_take_registered_resources(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str, inventory: Resource
) -> None:
    body = {"name": "exchanger", "grant_types": [GRANT], "may_exchange_for": [NOTES_API]}
    status, created, _ = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    assert status == 201, created
    assert created["may_exchange_for"] == [NOTES_API] and created["grant_types"] == [GRANT]
    url = f"{admin_url}/admin/v1/clients/{created['client_id']}"
    status, changed, _ = await call(
        http, admin, "PATCH", url, json={"may_exchange_for": [inventory.identifier, NOTES_API]}
    )
    assert status == 200, changed
    assert changed["may_exchange_for"] == [inventory.identifier, NOTES_API]

    for target in ("https://unregistered.example/api", ADMIN_API):
        status, problem, resp = await call(http, admin, "PATCH", url, json={"may_exchange_for": [target]})
        assert_problem(status, problem, resp, 400, "may_exchange_for")
    status, shown, _ = await call(http, admin, "GET", url)
    assert shown["may_exchange_for"] == [inventory.identifier, NOTES_API]
    # Other changes do not check the list again (a resource deleted since stays listed, and refused at exchange).
    status, renamed, _ = await call(http, admin, "PATCH", url, json={"name": "renamed exchanger"})
    assert status == 200, renamed


async def test_a_public_client_cannot_be_registered_for_token_exchange(
    http: aiohttp.ClientSession, admin: Admin, admin_url: str
) -> None:
    body = {"name": "public exchanger", "public": True, "grant_types": [GRANT], "redirect_uris": []}
    status, problem, resp = await call(http, admin, "POST", admin_url + "/admin/v1/clients", json=body)
    assert_problem(status, problem, resp, 400, "grant_types")
