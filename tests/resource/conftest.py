"""A running resource server beside a running authorization server, and clients registered at the latter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from resource_server.app import create_app
from resource_server.settings import ResourceSettings
from tests.authz.conftest import AuthzFactory, http, server_errors, start_authz  # noqa: F401 - fixtures
from tests.servers import run_service

ResourceFactory = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
async def authz(start_authz: AuthzFactory) -> AsyncIterator[str]:  # noqa: F811
    async with start_authz() as url:
        yield url


@pytest.fixture
def start_resource(environ: dict[str, str], authz: str) -> ResourceFactory:
    """Starts a resource server trusting `authz`; its identifier (the `aud` it requires) is its own URL
    unless AUTHORIUM_RESOURCE_URL is given."""

    @asynccontextmanager
    async def start(**extra_env: str) -> AsyncIterator[str]:
        env = {**environ, "AUTHORIUM_ISSUER": authz, **extra_env}
        async with run_service(ResourceSettings.from_env, create_app, env) as (url, app):
            yield url
            assert server_errors(app) == 0, "the resource server answered a request with a 5xx"

    return start
