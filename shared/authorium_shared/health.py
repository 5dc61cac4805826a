"""`/healthz`, `/readyz` and `/metrics`, served by every service."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from authorium_shared.appkeys import (
    METRICS,
    METRICS_REGISTRY,
    PG_POOL,
    READINESS_CHECKS,
    REDIS,
    SERVICE_NAME,
    ReadinessCheck,
)
from authorium_shared.metrics import exposition
from authorium_shared.middleware import json_response

log = logging.getLogger("authorium.health")

CHECK_TIMEOUT = 1.5


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def check_postgres(app: web.Application) -> str | None:
    await app[PG_POOL].fetchval("SELECT 1")
    return None


async def check_redis(app: web.Application) -> str | None:
    await app[REDIS].ping()
    return None


async def _run_check(app: web.Application, check: ReadinessCheck) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await check(app)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT}s"
    except Exception as exc:  # any failure of a dependency means not ready; the reason says which
        return f"{type(exc).__name__}: {exc}"[:200]


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, ReadinessCheck] = {"redis": check_redis}
    if PG_POOL in app:
        checks["postgres"] = check_postgres
    for check in app[READINESS_CHECKS]:
        checks[check.__name__.removeprefix("check_")] = check
    results = await asyncio.gather(*(_run_check(app, c) for c in checks.values()))
    reasons = {name: reason for name, reason in zip(checks, results, strict=True) if reason}
    if reasons:
        log.warning("not ready", extra={"reasons": reasons})
        return json_response({"status": "unavailable", "reasons": reasons}, status=503)
    return json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    if METRICS in app:  # not in the application that holds the listeners while the schema is upgraded
        app[METRICS].sample(app.get(PG_POOL))
    body = exposition(app[METRICS_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)
