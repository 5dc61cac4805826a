"""The admin API on a running authorization server, an admin client with a token for it, and helpers to call it.

Tests reach the admin API only through the `admin_url` fixture, so it can be pointed at whichever listener serves it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tests.authz.conftest import module_authz, module_server  # noqa: F401 - fixtures
from tests.authz.flows import RegisteredClient, make_client, token_request
from tests.servers import private_url

ADMIN_SCOPE = "authorium:admin"
PROBLEM = "application/problem+json"


@pytest.fixture
def authz(module_authz: str) -> str:  # noqa: F811
    return module_authz


def admin_base(authz_url: str) -> str:
    """Where the admin API of the authorization server at `authz_url` answers: its private listener
    (AUTHORIUM_ADMIN_PORT)."""
    return private_url(authz_url)


@pytest.fixture
def admin_url(authz: str) -> str:
    """The admin API of the module's authorization server: tests reach it only through this (or `admin_base`)."""
    return admin_base(authz)


@pytest.fixture
def authz_app(module_server: tuple[str, web.Application]) -> Iterator[web.Application]:  # noqa: F811
    yield module_server[1]


@dataclass(frozen=True)
class Admin:
    client: RegisteredClient
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def admin_token(http: aiohttp.ClientSession, authz: str, client: RegisteredClient) -> str:
    status, body, _ = await token_request(http, authz, client, grant_type="client_credentials", scope=ADMIN_SCOPE)
    assert status == 200, body
    return str(body["access_token"])


async def make_admin(http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool) -> Admin:
    client = await make_client(db, grant_types=("client_credentials",), scope=ADMIN_SCOPE, redirect_uris=())
    return Admin(client, await admin_token(http, authz, client))


@pytest.fixture
async def admin(http: aiohttp.ClientSession, authz: str, db: asyncpg.Pool) -> Admin:
    return await make_admin(http, authz, db)


async def call(
    http: aiohttp.ClientSession, admin: Admin, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    """One admin API request with the admin's token: its status, JSON body (None when empty) and response."""
    headers = {**admin.headers, **kwargs.pop("headers", {})}
    async with http.request(method, url, headers=headers, **kwargs) as resp:
        text = await resp.text()
        return resp.status, (await resp.json(content_type=None) if text else None), resp


def assert_problem(status: int, body: Any, resp: aiohttp.ClientResponse, expected: int, field: str | None) -> None:
    """An RFC 9457 problem details answer with `expected` status naming `field` in `invalid_params`."""
    assert status == expected, body
    assert resp.content_type == PROBLEM
    assert body["status"] == expected
    assert body["title"] and body["detail"]
    if field is not None:
        assert [p["name"] for p in body["invalid_params"]] == [field], body
