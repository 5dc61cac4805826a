"""An authorization server and a resource server on a Redis of the test's own, which the test may kill, stall or
bring back on the same port while traffic flows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from subprocess import Popen

import aiohttp
import asyncpg

from tests.authz.conftest import (
    cheap_password_hashing,  # noqa: F401 - a fixture the tests here use
    running_authz,
)
from tests.authz.flows import RegisteredClient, make_client
from tests.faults.token_traffic import TokenTraffic
from tests.processes import redis_server
from tests.resource.conftest import RESOURCE_URL, running_resource

# Short, so that a test sees the servers fail closed within a second of the feed going down.
STALENESS = 1.0


@dataclass
class RedisStack:
    authz: str
    api: str
    port: int
    redis: Popen[bytes]
    traffic: TokenTraffic
    env: dict[str, str]
    processes: ExitStack

    def restart_redis(self) -> None:
        """A new, empty Redis on the same port (the old one keeps nothing on disk): a restart that lost data."""
        _, self.redis = self.processes.enter_context(redis_server(self.port))


@asynccontextmanager
async def redis_stack(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession, **extra_env: str
) -> AsyncIterator[RedisStack]:
    """Both servers on a private Redis (each checks, when it stops, that it answered no 5xx other than 503),
    and a service client with traffic ready to run. The servers stop before any Redis does."""
    client: RegisteredClient = await make_client(
        db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=()
    )
    with ExitStack() as processes:
        port, proc = processes.enter_context(redis_server())
        env = {
            **environ,
            "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "AUTHORIUM_RESOURCE_URL": RESOURCE_URL,
            "AUTHORIUM_REVOCATION_MAX_STALENESS": str(STALENESS),
            **extra_env,
        }
        async with running_authz(env) as authz, running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
            yield RedisStack(authz, api, port, proc, TokenTraffic(http, authz, api, client), env, processes)
