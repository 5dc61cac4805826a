"""`/healthz`, `/readyz` and `/metrics` on every service, with a Redis that really stops and comes back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from authz.app import create_app as create_authz
from authz.settings import AuthzSettings
from client_demo.app import create_app as create_client_demo
from client_demo.settings import ClientDemoSettings
from resource_server.app import create_app as create_resource
from resource_server.settings import ResourceSettings
from tests.conftest import DEMO_CLIENT_ENV
from tests.processes import redis_server
from tests.revocations import refilled
from tests.servers import run_service
from tests.waiting import eventually

SERVICES: list[tuple[str, Callable[..., Any], Callable[[Any], web.Application]]] = [
    ("authz", AuthzSettings.from_env, create_authz),
    ("resource", ResourceSettings.from_env, create_resource),
    ("client-demo", ClientDemoSettings.from_env, create_client_demo),
]


@pytest.mark.parametrize(("name", "settings", "factory"), SERVICES, ids=[s[0] for s in SERVICES])
async def test_health_readiness_and_metrics(
    name: str, settings: Callable[..., Any], factory: Callable[[Any], web.Application], environ: dict[str, str]
) -> None:
    env = {**environ, **DEMO_CLIENT_ENV}
    async with run_service(settings, factory, env) as (url, _), aiohttp.ClientSession() as http:
        async with http.get(url + "/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json())["service"] == name
            assert resp.headers["X-Request-ID"]
        async with http.get(url + "/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json()) == {"status": "ready"}
        async with http.get(url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            text = await resp.text()
        assert 'http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in text


@pytest.mark.parametrize(("name", "settings", "factory"), SERVICES, ids=[s[0] for s in SERVICES])
async def test_readyz_is_503_with_a_reason_while_redis_is_stopped_and_recovers(
    name: str,
    settings: Callable[..., Any],
    factory: Callable[[Any], web.Application],
    private_redis_environ: dict[str, str],
) -> None:
    with redis_server() as (port, proc):
        env = {**private_redis_environ, **DEMO_CLIENT_ENV, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        await refilled(env["REDIS_URL"], env["AUTHORIUM_REDIS_PREFIX"])  # as an authz would have
        async with run_service(settings, factory, env) as (url, _), aiohttp.ClientSession() as http:
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 200
            proc.kill()
            proc.wait()
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 503
                body = await resp.json()
            assert body["status"] == "unavailable"
            assert set(body["reasons"]) == {"redis"}
            async with http.get(url + "/healthz") as resp:
                assert resp.status == 200, "liveness must not depend on Redis"
            with redis_server(port):
                # Redis came back empty: a resource server waits for an authz to refill the revocation lists
                # (issue 21); the others are ready as soon as Redis answers.
                async def ready() -> bool:
                    if name == "resource":
                        await refilled(env["REDIS_URL"], env["AUTHORIUM_REDIS_PREFIX"])
                    async with http.get(url + "/readyz") as resp:
                        return resp.status == 200

                await eventually(ready, timeout=10, message="readiness to come back once Redis answers")
