"""Property-based fuzzing of the services over real HTTP: the Hypothesis profile these tests run under, and the
servers each module starts once on loopback.

The profile is deterministic (`derandomize`, no example database), so a CI failure replays the same examples on
any machine; `print_blob` prints what `@reproduce_failure` needs. For a longer, random exploration:
`AUTHORIUM_FUZZ_PROFILE=authorium-fuzz-explore AUTHORIUM_FUZZ_EXAMPLES=2000 pytest tests/fuzz`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from hypothesis import HealthCheck, settings

from authz.app import create_app as create_authz
from authz.clients.registration import build_spec, declare_client
from authz.settings import AuthzSettings
from resource_server.app import create_app as create_resource
from resource_server.settings import ResourceSettings
from tests.authz.conftest import server_errors
from tests.fuzz import strategies as s
from tests.fuzz.wire import CLIENT_TIMEOUT, Served
from tests.resource.conftest import RESOURCE_URL
from tests.servers import run_service

_COMMON: dict[str, Any] = {
    "deadline": None,
    "print_blob": True,
    # Servers, clients and HTTP sessions are module fixtures shared by every example on purpose.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile(
    "authorium-fuzz",
    max_examples=int(os.environ.get("AUTHORIUM_FUZZ_EXAMPLES", "100")),
    derandomize=True,
    database=None,
    **_COMMON,
)
settings.register_profile(
    "authorium-fuzz-explore", max_examples=int(os.environ.get("AUTHORIUM_FUZZ_EXAMPLES", "1000")), **_COMMON
)
# Applied per test (`@FUZZ`), so the rest of the suite keeps Hypothesis's own defaults.
FUZZ = settings.get_profile(os.environ.get("AUTHORIUM_FUZZ_PROFILE", "authorium-fuzz"))

# The operator's initial access token for RFC 7591 registration on the fuzzed authorization servers: fixed, like the
# clients' secrets, so that failing examples replay exactly.
REGISTRATION_TOKEN = "fuzz-registration-token-0123456789abcdef"


@asynccontextmanager
async def serving(
    settings_from_env: Callable[[Mapping[str, str]], Any],
    create_app: Callable[[Any], web.Application],
    env: Mapping[str, str],
    url_variable: str | None,
) -> AsyncIterator[Served]:
    """`run_service`, keeping the application so that its 5xx count is checked when the module is done."""
    async with run_service(settings_from_env, create_app, env, url_variable) as (url, app):
        yield Served(url, app)
        assert server_errors(app) == 0, f"{url} answered a request with a 5xx other than 503"


@pytest.fixture(scope="module")
def fuzz_environ(module_environ: dict[str, str]) -> dict[str, str]:
    """The run's environment with a Redis prefix of the fuzz tests' own (removed with the run's at the end): the
    failed sign-ins they cause must not throttle other tests' sign-ins from the same address."""
    return {
        **module_environ,
        "AUTHORIUM_REDIS_PREFIX": module_environ["AUTHORIUM_REDIS_PREFIX"] + "fuzz:",
        "AUTHORIUM_REGISTRATION_TOKEN": REGISTRATION_TOKEN,
        # Services may register too, so registration documents of every grant can succeed as well as fail.
        "AUTHORIUM_REGISTRATION_GRANT_TYPES": "authorization_code refresh_token client_credentials",
    }


@pytest.fixture(scope="module")
async def fuzz_clients(module_db: asyncpg.Pool) -> None:
    """The clients the strategies name (tests.fuzz.strategies), with their fixed ids and secrets."""
    everything = ("authorization_code", "refresh_token", "client_credentials")
    code_flow = ("authorization_code", "refresh_token")
    scope = "openid profile email offline_access notes:read notes:write"
    for client_id, secret, grants, public in (
        (s.CLIENT_ID, s.CLIENT_SECRET, everything, False),
        (s.CODE_CLIENT_ID, s.CODE_CLIENT_SECRET, code_flow, False),
        (s.PUBLIC_CLIENT_ID, None, code_flow, True),
    ):
        spec = build_spec(
            name=f"fuzz {client_id}",
            grant_types=grants,
            redirect_uris=(s.REDIRECT_URI,),
            scope=scope,
            public=public,
            post_logout_redirect_uris=(s.POST_LOGOUT_REDIRECT_URI,),
        )
        await declare_client(module_db, client_id, spec, secret)


@pytest.fixture(scope="module")
async def authz_server(fuzz_environ: dict[str, str], fuzz_clients: None) -> AsyncIterator[Served]:
    """An authorization server (registration on), started once per module."""
    async with serving(AuthzSettings.from_env, create_authz, fuzz_environ, "AUTHORIUM_ISSUER") as served:
        yield served


@pytest.fixture(scope="module")
async def resource_server(fuzz_environ: dict[str, str], authz_server: Served) -> AsyncIterator[Served]:
    """A resource server trusting `authz_server` and accepting the tokens it issues by default."""
    env = {**fuzz_environ, "AUTHORIUM_ISSUER": authz_server.url, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL}
    async with serving(ResourceSettings.from_env, create_resource, env, None) as served:
        yield served


@pytest.fixture(scope="module")
async def fuzz_http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client with a deadline, opening a connection per request (a server may close a connection after refusing
    a body, and reusing it would fail the next example for the wrong reason), keeping no cookies."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        yield session
