"""A running stack for the demo client's tests, and a cookie-keeping client that signs in through it the way
a browser does (the browser itself is driven in tests/e2e)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from authorium_shared.resources import create_redis
from tests.authz.flows import Authorization, browser, follow_authorization, make_user
from tests.conftest import REDIS_URL
from tests.stack import Stack, running_stack

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
async def stack(module_environ: dict[str, str], module_db: asyncpg.Pool) -> AsyncIterator[Stack]:
    async with running_stack(module_environ, module_db) as running:
        yield running


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = create_redis(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def username(module_db: asyncpg.Pool) -> str:
    return await make_user(module_db)


@dataclass
class Visitor:
    """One browser: its cookie jar, and the pages it is shown."""

    stack: Stack
    http: aiohttp.ClientSession

    @property
    def sid(self) -> str | None:
        for cookie in self.http.cookie_jar:
            if cookie.key == "demo_session":
                return cookie.value
        return None

    async def get(self, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.stack.demo + path, allow_redirects=False, headers=HTML) as resp:
            return resp.status, await resp.text(), resp

    async def post(self, path: str, form: dict[str, str]) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.post(self.stack.demo + path, data=form, allow_redirects=False, headers=HTML) as resp:
            return resp.status, await resp.text(), resp

    async def start_sign_in(self) -> str:
        """GET /login; returns the authorization request URL the demo redirected to."""
        status, _, resp = await self.get("/login")
        assert status == 302, status
        return resp.headers["Location"]

    async def authorize(self, username: str, *, consent: str = "allow") -> Authorization:
        """Start a sign-in and walk the authorization server's pages; returns the redirect back to the demo."""
        return await follow_authorization(
            self.http, self.stack.authz, await self.start_sign_in(), username, consent=consent
        )

    async def callback(self, location: str) -> tuple[int, str, aiohttp.ClientResponse]:
        assert location.startswith(self.stack.demo + "/callback?"), location
        return await self.get(location.removeprefix(self.stack.demo))

    async def sign_in(self, username: str) -> str:
        """The whole sign-in; returns the signed-in home page."""
        status, body, resp = await self.callback((await self.authorize(username)).location)
        assert status == 303 and resp.headers["Location"] == "/", body[:500]
        status, body, _ = await self.get("/")
        assert status == 200
        return body

    async def csrf(self) -> str:
        _, body, _ = await self.get("/")
        match = _CSRF.search(body)
        assert match, "no form on the home page"
        return match.group(1)


HTML = {"Accept": "text/html"}


@pytest.fixture
async def visitor(stack: Stack) -> AsyncIterator[Visitor]:
    async with browser() as session:
        yield Visitor(stack, session)


async def stored_session(redis: Redis, environ: dict[str, str], sid: str | None) -> dict[str, object] | None:
    """The demo's server-side session as Redis holds it, or None."""
    if sid is None:
        return None
    raw = await redis.hgetall(environ["AUTHORIUM_REDIS_PREFIX"] + f"demo:session:{sid}")
    return {k.decode(): orjson.loads(v) for k, v in raw.items()} or None
