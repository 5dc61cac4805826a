"""A running authorization server on a loopback port, and an HTTP client to call it.

Every test that uses the server also checks, afterwards, that the server answered no request with a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from authorium_shared.appkeys import METRICS_REGISTRY
from authz.app import create_app
from authz.settings import AuthzSettings
from tests.servers import run_service


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def server_errors(app: web.Application) -> float:
    """How many requests this server answered with a 5xx other than 503 (which is a deliberate answer)."""
    total = 0.0
    for metric in app[METRICS_REGISTRY].collect():
        for sample in metric.samples:
            status = sample.labels.get("status", "")
            if sample.name == "http_requests_total" and status.startswith("5") and status != "503":
                total += sample.value
    return total


AuthzFactory = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def start_authz(environ: dict[str, str]) -> AuthzFactory:
    """Starts an authorization server with extra environment (e.g. AUTHORIUM_REFRESH_REUSE_GRACE_SECONDS)."""

    @asynccontextmanager
    async def start(**extra_env: str) -> AsyncIterator[str]:
        env = {**environ, **extra_env}
        url_variable = None if "AUTHORIUM_ISSUER" in extra_env else "AUTHORIUM_ISSUER"
        async with run_service(AuthzSettings.from_env, create_app, env, url_variable) as (url, app):
            yield url
            assert server_errors(app) == 0, "the authorization server answered a request with a 5xx"

    return start


@pytest.fixture
async def authz(start_authz: AuthzFactory) -> AsyncIterator[str]:
    async with start_authz() as url:
        yield url
