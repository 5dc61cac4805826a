"""Driving the device authorization grant (RFC 8628) the way a device and a person's browser do, for the tests: ask for
codes, poll the token endpoint, enter a user code at the verification page, sign in, approve or deny."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg

from tests.authz import flows

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPE = "openid profile offline_access notes:read notes:write"


async def make_device_client(
    db: asyncpg.Pool,
    *,
    public: bool = True,
    grant_types: tuple[str, ...] = (DEVICE_GRANT, "refresh_token"),
    scope: str = SCOPE,
) -> flows.RegisteredClient:
    """A client registered for the device grant (a public one by default: a device keeps no secret), without
    redirect URIs: the device flow has none."""
    return await flows.make_client(db, public=public, grant_types=grant_types, scope=scope, redirect_uris=())


async def device_authorization(
    http: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, **form: str
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    """POST to the device authorization endpoint (section 3.1), authenticating as at the token endpoint."""
    headers = {}
    data = dict(form)
    if client.secret is None:
        data["client_id"] = client.client_id
    else:
        headers = client.basic
    async with http.post(f"{authz}/device_authorization", data=data, headers=headers) as resp:
        return resp.status, await resp.json(), resp


async def codes(http: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, **form: str) -> dict[str, Any]:
    status, body, _ = await device_authorization(http, authz, client, **form)
    assert status == 200, body
    return body


async def poll(
    http: aiohttp.ClientSession, authz: str, client: flows.RegisteredClient, device_code: str
) -> tuple[int, dict[str, Any]]:
    """One polling request (section 3.4)."""
    status, body, _ = await flows.token_request(http, authz, client, grant_type=DEVICE_GRANT, device_code=device_code)
    return status, body


@dataclass
class Visit:
    """What the browser was shown at the verification page: every page, the last one last."""

    pages: list[str]
    status: int
    headers: dict[str, str]

    @property
    def last(self) -> str:
        return self.pages[-1]


async def visit(
    browser: aiohttp.ClientSession,
    authz: str,
    user_code: str,
    username: str | None,
    *,
    decision: str | None = "allow",
    typed: bool = False,
    second_factor: Callable[[], str] | None = None,
) -> Visit:
    """Go to the verification page with `user_code` (in verification_uri_complete, or `typed` into the form), sign in
    as `username` if asked (giving `second_factor()` if that step is shown), and answer the consent page with
    `decision` (None: stop there)."""
    if typed:
        request = browser.post(f"{authz}/device", data={"user_code": user_code}, allow_redirects=False)
    else:
        request = browser.get(f"{authz}/device?{urlencode({'user_code': user_code})}", allow_redirects=False)
    async with request as resp:
        status, body, headers = resp.status, await resp.text(), dict(resp.headers)
    pages = [body]
    for _ in range(5):
        if status != 200:
            return Visit(pages, status, headers)
        fields = flows.hidden_fields(body)
        if 'action="/authorize/login"' in body:
            assert username is not None, "the login page was shown"
            form, action = {**fields, "username": username, "password": flows.PASSWORD}, "/authorize/login"
        elif 'action="/authorize/second-factor"' in body:
            assert second_factor is not None, "the second-factor page was shown"
            form, action = {**fields, "code": second_factor()}, "/authorize/second-factor"
        elif 'action="/authorize/consent"' in body and decision is not None:
            form, action = {**fields, "decision": decision}, "/authorize/consent"
        else:
            return Visit(pages, status, headers)
        async with browser.post(authz + action, data=form) as resp:  # follows each step's 303 to the next page
            status, body, headers = resp.status, await resp.text(), dict(resp.headers)
        pages.append(body)
    raise AssertionError("too many steps")
