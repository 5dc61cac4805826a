"""`/healthz`, `/readyz` and `/metrics` on every service, each on the listener it belongs to (`/readyz` and
`/metrics` on the private one only, `/healthz` on both), with a Redis that really stops and comes back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from authz.app import create_app as create_authz
from authz.appkeys import SETTINGS
from authz.settings import AuthzSettings
from client_demo.app import create_app as create_client_demo
from client_demo.settings import ClientDemoSettings
from resource_server.app import create_app as create_resource
from resource_server.settings import ResourceSettings
from tests.conftest import DEMO_CLIENT_ENV
from tests.processes import redis_server
from tests.revocations import refilled
from tests.servers import private_url, run_service
from tests.waiting import eventually

SERVICES: list[tuple[str, Callable[..., Any], Callable[[Any], web.Application]]] = [
    ("authz", AuthzSettings.from_env, create_authz),
    ("resource", ResourceSettings.from_env, create_resource),
    ("client-demo", ClientDemoSettings.from_env, create_client_demo),
]


# A route of each service's public listener, which the private one must not answer.
PUBLIC_ROUTES = {"authz": "/.well-known/openid-configuration", "resource": "/api/me", "client-demo": "/"}


@pytest.mark.parametrize(("name", "settings", "factory"), SERVICES, ids=[s[0] for s in SERVICES])
async def test_health_readiness_and_metrics(
    name: str, settings: Callable[..., Any], factory: Callable[[Any], web.Application], environ: dict[str, str]
) -> None:
    env = {**environ, **DEMO_CLIENT_ENV}
    async with run_service(settings, factory, env) as (url, app), aiohttp.ClientSession() as http:
        private = private_url(app)
        for listener in (url, private):
            async with http.get(listener + "/healthz") as resp:
                assert resp.status == 200
                assert (await resp.json())["service"] == name
                assert resp.headers["X-Request-ID"]
        async with http.get(private + "/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json()) == {"status": "ready"}
        async with http.get(private + "/metrics") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            text = await resp.text()
        assert 'http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in text


@pytest.mark.parametrize(("name", "settings", "factory"), SERVICES, ids=[s[0] for s in SERVICES])
async def test_readiness_and_metrics_are_not_on_the_public_listener(
    name: str, settings: Callable[..., Any], factory: Callable[[Any], web.Application], environ: dict[str, str]
) -> None:
    """Issue 14: what an ingress routes (the public listener) answers `/readyz`, `/metrics` and anything under
    `/admin/` with 404, as if they did not exist (RFC 9110 section 15.5.5), in any method; the private listener
    answers none of the public routes."""
    env = {**environ, **DEMO_CLIENT_ENV}
    async with run_service(settings, factory, env) as (url, app), aiohttp.ClientSession() as http:
        for method, path in (("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/metrics"), ("GET", "/admin/v1/x")):
            async with http.request(method, url + path, allow_redirects=False) as resp:
                assert resp.status == 404, (method, path)
        async with http.get(url + PUBLIC_ROUTES[name], allow_redirects=False) as resp:
            assert resp.status != 404
        async with http.get(private_url(app) + PUBLIC_ROUTES[name], allow_redirects=False) as resp:
            assert resp.status == 404


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
        async with run_service(settings, factory, env) as (url, app), aiohttp.ClientSession() as http:
            private = private_url(app)
            async with http.get(private + "/readyz") as resp:
                assert resp.status == 200
            proc.kill()
            proc.wait()
            async with http.get(private + "/readyz") as resp:
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
                    async with http.get(private + "/readyz") as resp:
                        return resp.status == 200

                await eventually(ready, timeout=10, message="readiness to come back once Redis answers")


async def test_routes_under_admin_answer_on_the_private_listener_only(environ: dict[str, str]) -> None:
    """Issue 14: once a service adds routes under `/admin/` (authz's admin API, in `authz.routes.add_private_routes`),
    they answer on the private listener, reaching the same `request.app[KEY]` objects as public handlers, and are
    404 on the public one."""

    def with_admin_route(settings: AuthzSettings) -> web.Application:
        app = create_authz(settings)

        async def ping(request: web.Request) -> web.Response:
            return web.json_response({"issuer": request.app[SETTINGS].issuer})

        app.router.add_get("/admin/v1/ping", ping)
        return app

    async with (
        run_service(AuthzSettings.from_env, with_admin_route, environ, "AUTHORIUM_ISSUER") as (url, app),
        aiohttp.ClientSession() as http,
    ):
        async with http.get(private_url(app) + "/admin/v1/ping") as resp:
            assert resp.status == 200
            assert await resp.json() == {"issuer": url}
        async with http.get(url + "/admin/v1/ping") as resp:
            assert resp.status == 404
