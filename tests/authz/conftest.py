"""A running authorization server on a loopback port, and an HTTP client to call it.

Every test that uses the server also checks, afterwards, that the server answered no request with a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from argon2 import PasswordHasher

from authorium_shared.appkeys import METRICS_REGISTRY
from authorium_shared.resources import create_pg_pool
from authz.app import create_app
from authz.settings import AuthzSettings
from authz.users import passwords
from tests.authz.flows import browser, make_user
from tests.servers import run_service


def server_errors(app: web.Application) -> float:
    """How many requests this server answered with a 5xx other than 503 (which is a deliberate answer)."""
    total = 0.0
    for metric in app[METRICS_REGISTRY].collect():
        for sample in metric.samples:
            status = sample.labels.get("status", "")
            if sample.name == "http_requests_total" and status.startswith("5") and status != "503":
                total += sample.value
    return total


@asynccontextmanager
async def running_authz(env: Mapping[str, str]) -> AsyncIterator[str]:
    """An authorization server with environment `env` (its own URL as AUTHORIUM_ISSUER unless `env` names one),
    checked when it stops for 5xx answers."""
    url_variable = None if "AUTHORIUM_ISSUER" in env else "AUTHORIUM_ISSUER"
    async with run_service(AuthzSettings.from_env, create_app, env, url_variable) as (url, app):
        yield url
        assert server_errors(app) == 0, "the authorization server answered a request with a 5xx"


AuthzFactory = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def start_authz(environ: dict[str, str]) -> AuthzFactory:
    """Starts an authorization server with extra environment (e.g. AUTHORIUM_REFRESH_REUSE_GRACE_SECONDS)."""

    def start(**extra_env: str) -> AbstractAsyncContextManager[str]:
        return running_authz({**environ, **extra_env})

    return start


@pytest.fixture
async def authz(start_authz: AuthzFactory) -> AsyncIterator[str]:
    async with start_authz() as url:
        yield url


@pytest.fixture(scope="module")
async def module_server(module_environ: dict[str, str]) -> AsyncIterator[tuple[str, web.Application]]:
    """One authorization server per test module (the environment `environ` gives, default settings): starting
    one costs ~0.4 s, mostly loading RSA keys, which would dominate many tests. Modules whose tests share it
    override `authz` with `module_authz`; tests that need other settings use `start_authz`."""
    async with run_service(AuthzSettings.from_env, create_app, module_environ, "AUTHORIUM_ISSUER") as served:
        yield served


@pytest.fixture
def module_authz(module_server: tuple[str, web.Application]) -> Iterator[str]:
    """The module's server; like `authz`, each test checks it served no 5xx."""
    url, app = module_server
    before = server_errors(app)
    yield url
    assert server_errors(app) == before, "the authorization server answered a request with a 5xx"


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at production cost takes about 0.25 s a hash; for tests about the flow, not the hash
    (request it with `pytestmark = pytest.mark.usefixtures("cheap_password_hashing")`)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", cheap)


@dataclass(frozen=True)
class Person:
    """A user signed in once in a browser that the module's tests share, so each test pays for consent only
    (Argon2id costs a few hundred milliseconds per hash). Sessions live in Redis, so the sign-in holds across
    the servers the tests start."""

    username: str
    user_id: str
    browser: aiohttp.ClientSession


@asynccontextmanager
async def signed_in_person(db_url: str) -> AsyncIterator[Person]:
    pool = await create_pg_pool(db_url, max_size=1)
    try:
        username = await make_user(pool)
        user_id = str(await pool.fetchval("SELECT user_id FROM users WHERE username = $1", username))
    finally:
        await pool.close()
    async with browser() as session:
        yield Person(username, user_id, session)


@pytest.fixture(scope="module")
async def person(db_url: str) -> AsyncIterator[Person]:
    async with signed_in_person(db_url) as signed_in:
        yield signed_in
