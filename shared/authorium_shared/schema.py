"""The schema-version rule at start: a service whose code needs migrations the database lacks holds its port with an
application that answers only health checks, until `authorium migrate` has run; one that finds migrations its code
does not ship refuses to start."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiohttp import web

from authorium_shared.appkeys import METRICS_REGISTRY, SERVICE_NAME
from authorium_shared.errors import TemporarilyUnavailable
from authorium_shared.health import healthz, metrics, new_registry
from authorium_shared.listeners import split_listeners
from authorium_shared.middleware import HttpMetrics, json_response, observe, render_errors
from authorium_shared.migrations import SchemaRequirement, SchemaState, schema_state

log = logging.getLogger("authorium.schema")

# How often a waiting service looks at the schema again; it is ready at most this long after `migrate` ends.
POLL_SECONDS = 2.0
CONNECT_TIMEOUT = 5.0
RETRY_AFTER_SECONDS = 5


class SchemaTooNew(Exception):
    """The database has migrations this code does not ship; str() is the one line shown at start."""

    def __init__(self, state: SchemaState) -> None:
        versions = ", ".join(f"{v:04d}" for v in state.unknown)
        super().__init__(
            f"the database schema of {state.component} is newer than this code: it has migration {versions}, and"
            f" this code ships up to {state.need:04d}; run the release that applied it, or, to roll back on purpose,"
            " set AUTHORIUM_ALLOW_NEWER_SCHEMA=true (docs/operations.md, Upgrades and rollbacks)"
        )
        self.state = state


async def read(requirement: SchemaRequirement) -> SchemaState:
    conn = await asyncpg.connect(requirement.database_url, timeout=CONNECT_TIMEOUT)
    try:
        return await schema_state(conn, requirement.component)
    finally:
        await conn.close()


def judge(state: SchemaState, *, allow_newer: bool) -> bool:
    """Whether the service may start now: True when current, False when behind; a newer schema raises
    `SchemaTooNew` unless `allow_newer` (a deliberate rollback), which only logs it."""
    if state.newer:
        if not allow_newer:
            raise SchemaTooNew(state)
        log.warning(
            "serving on a schema newer than this code (AUTHORIUM_ALLOW_NEWER_SCHEMA)",
            extra={"component": state.component, "unknown_migrations": state.unknown, "code_needs": state.need},
        )
    return not state.behind


class SchemaWait:
    """Polls the schema until it is current, and says why the service is not ready meanwhile."""

    def __init__(
        self, requirement: SchemaRequirement, state: SchemaState, *, allow_newer: bool, interval: float = POLL_SECONDS
    ) -> None:
        self.requirement = requirement
        self.allow_newer = allow_newer
        self.interval = interval
        self.reasons = {"schema": state.describe()}

    async def until_current(self) -> None:
        """Returns once every migration the code ships is applied; raises `SchemaTooNew` if a newer release's
        migrations appear instead (and are not allowed)."""
        log.warning(
            "waiting for the database schema; run `authorium migrate`",
            extra={"component": self.requirement.component, "schema": self.reasons.get("schema")},
        )
        while True:
            try:
                state = await read(self.requirement)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.reasons = {"postgres": f"{type(exc).__name__}: {exc}"[:200]}
            else:
                if judge(state, allow_newer=self.allow_newer):
                    log.info("database schema is current; starting", extra={"component": state.component})
                    return
                self.reasons = {"schema": state.describe()}
            await asyncio.sleep(self.interval)

    async def readyz(self, request: web.Request) -> web.Response:
        return json_response({"status": "unavailable", "reasons": self.reasons}, status=503)


async def _unavailable(request: web.Request) -> web.Response:
    raise TemporarilyUnavailable(
        "the service is waiting for its database schema to be upgraded; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def holding_app(service: str, wait: SchemaWait) -> web.Application:
    """What answers on the service's listeners while it waits, split as the service's own routes are (`listeners`):
    `/healthz` on both (the process is alive, so no restarts), `/readyz` (503 with the reason) and `/metrics` on the
    private one, and 503 `temporarily_unavailable` for everything else on the listener it belongs to."""
    registry = new_registry()
    app = web.Application(middlewares=[observe(HttpMetrics(registry)), split_listeners, render_errors])
    app[SERVICE_NAME] = service
    app[METRICS_REGISTRY] = registry
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", wait.readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_route("*", "/{path:.*}", _unavailable)
    return app
