"""The parts every service's application factory shares, and running one application as a process."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web
from aiohttp.typedefs import Middleware

from authorium_shared import resources
from authorium_shared.appkeys import METRICS_REGISTRY, READINESS_CHECKS, SERVICE_NAME
from authorium_shared.health import add_health_routes, new_registry
from authorium_shared.middleware import HttpMetrics, observe, render_errors
from authorium_shared.settings import CommonSettings

DEFAULT_MAX_BODY = 64 * 1024
SHUTDOWN_TIMEOUT = 10.0


def base_app(
    service: str,
    common: CommonSettings,
    *,
    postgres: bool = True,
    pg_max_size: int = 10,
    max_body: int = DEFAULT_MAX_BODY,
    middlewares: tuple[Middleware, ...] = (),
) -> web.Application:
    """An application with request ids, logs, metrics, error rendering, health routes, Redis, and Postgres
    unless the service keeps nothing there."""
    registry = new_registry()
    app = web.Application(
        middlewares=[observe(HttpMetrics(registry)), *middlewares, render_errors],
        client_max_size=max_body,
    )
    app[SERVICE_NAME] = service
    app[METRICS_REGISTRY] = registry
    app[READINESS_CHECKS] = []
    if postgres:
        app.cleanup_ctx.append(resources.postgres(common.database_url, max_size=pg_max_size))
    app.cleanup_ctx.append(resources.redis(common.redis_url, common.redis_prefix))
    add_health_routes(app)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start serving `app`; the caller cleans up the returned runner (which drains in-flight requests)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner


def run_app(app: web.Application, host: str, port: int, *, sock: socket.socket | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then stop accepting, let in-flight requests finish, and clean up."""
    web.run_app(
        app,
        host=None if sock else host,
        port=None if sock else port,
        sock=sock,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        print=None,
        loop=_new_loop(),
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # uvloop is not built for every platform; the stdlib loop is correct, only slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
