"""A running authorization server on a loopback port, and an HTTP client to call it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from authz.app import create_app
from authz.settings import AuthzSettings
from tests.servers import run_service


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def authz(environ: dict[str, str]) -> AsyncIterator[str]:
    async with run_service(AuthzSettings.from_env, create_app, environ, "AUTHORIUM_ISSUER") as (url, _):
        yield url
