"""`authorium serve` and the schema-version rule, over real processes: a service started before `authorium migrate`
answers only health checks and is not ready, then becomes ready once the migrations are applied, without a restart,
its listeners split as always (readiness on the private one only); a schema with migrations the code does not ship
stops it at start with one line."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import aiohttp
import asyncpg
import pytest

from authorium_shared.migrations import COMPONENTS, load
from tests.conftest import DatabaseFactory
from tests.processes import authorium, authorium_popen, free_port, wait_for_port
from tests.waiting import eventually

# What each service serves that needs its tables, and how many workers it runs (both paths are covered).
CASES = {"authz": ("/jwks.json", 1), "resource": ("/api/notes", 2)}


def need(component: str) -> int:
    return max(m.version for m in load(component, COMPONENTS[component]))


def end(proc: subprocess.Popen[str]) -> str:
    """The process's stderr, once it has exited; if it still runs, SIGTERM first, which the supervisor passes on to
    its workers (a SIGKILL would leave them behind), then SIGKILL if it does not stop."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=20)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1]


@pytest.mark.parametrize("service", CASES)
async def test_a_service_started_before_migrate_waits_unready_then_serves_without_a_restart(
    service: str, environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    path, workers = CASES[service]
    url = await make_database(migrated=False)
    port, admin_port = free_port(), free_port()
    env = {**environ, "DATABASE_URL": url, "AUTHORIUM_LOG_LEVEL": "INFO", "AUTHORIUM_ADMIN_PORT": str(admin_port)}
    base, private = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}"
    proc = authorium_popen("serve", service, "--port", str(port), "--workers", str(workers), env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        # A new connection for every request, so that the hand-over from the holding application to the service
        # is crossed by many connections: each must be answered, none refused.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for listener in (base, private):
                async with http.get(listener + "/healthz") as resp:
                    assert resp.status == 200, "alive while it waits, so a liveness probe does not restart it"
                    assert (await resp.json())["service"] == service
            # The holding application splits its routes as the service does (issue 14).
            for where, what in ((base, "/readyz"), (base, "/metrics"), (private, path)):
                async with http.get(where + what) as resp:
                    assert resp.status == 404, where + what
            async with http.get(private + "/readyz") as resp:
                assert resp.status == 503
                assert await resp.json() == {
                    "status": "unavailable",
                    "reasons": {"schema": f"behind (have 0, need {need(service)})"},
                }
            async with http.get(base + path) as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "5"
                assert resp.headers["Cache-Control"] == "no-store"
                assert (await resp.json())["error"] == "temporarily_unavailable"
            # Still waiting after several polls: nothing touched the missing tables and crashed the process.
            await asyncio.sleep(2.5)
            assert proc.poll() is None

            migrated = await asyncio.to_thread(authorium, "migrate", env=env)
            assert migrated.returncode == 0, migrated.stderr

            async def ready() -> bool:
                async with http.get(private + "/readyz") as resp:
                    return resp.status == 200

            await eventually(ready, timeout=20, interval=0.05, message="ready after migrate")
            assert proc.poll() is None, "the same process serves: it was not restarted"
            async with http.get(base + "/readyz") as resp:
                assert resp.status == 404
            async with http.get(base + path) as resp:
                if service == "authz":  # its start-up made the signing keys once the tables were there
                    assert resp.status == 200
                    assert (await resp.json())["keys"]
                else:
                    assert resp.status == 401  # the real API: no token
    finally:
        err = end(proc)
    assert proc.returncode == 0, "a clean stop: " + err
    assert "waiting for the database schema" in err
    assert "database schema is current; starting" in err


async def _add_future_migration(url: str, component: str) -> int:
    version = need(component) + 1
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, 'from_a_newer_release')",
            component,
            version,
        )
    finally:
        await conn.close()
    return version


@pytest.mark.parametrize("service", CASES)
async def test_a_schema_newer_than_the_code_is_refused_with_one_line(
    service: str, environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    url = await make_database()
    future = await _add_future_migration(url, service)
    port = str(free_port())
    result = await asyncio.to_thread(
        authorium, "serve", service, "--port", port, "--workers", "1", env={**environ, "DATABASE_URL": url}, timeout=30
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"authorium: the database schema of {service} is newer than this code")
    assert f"migration {future:04d}" in result.stderr
    assert f"ships up to {need(service):04d}" in result.stderr


async def test_a_newer_schema_appearing_while_it_waits_stops_it_too(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    """A release still waiting when a newer one migrates the database would serve a schema it does not know: it
    stops, as it would at start."""
    url = await make_database()
    conn = await asyncpg.connect(url)
    try:
        # The tables are there, but the bookkeeping says resource's migrations are not: it waits.
        rows = await conn.fetch("DELETE FROM schema_migrations WHERE component = 'resource' RETURNING version, name")
        port = free_port()
        proc = authorium_popen("serve", "resource", "--port", str(port), env={**environ, "DATABASE_URL": url})
        try:
            await asyncio.to_thread(wait_for_port, port, 20)
            future = need("resource") + 1
            async with conn.transaction():  # what a newer release's migrate would leave, all at once
                for row in [*rows, {"version": future, "name": "from_a_newer_release"}]:
                    await conn.execute(
                        "INSERT INTO schema_migrations (component, version, name) VALUES ('resource', $1, $2)",
                        row["version"],
                        row["name"],
                    )
            await eventually(lambda: proc.poll() is not None, timeout=20, message="the service to stop")
        finally:
            err = end(proc)
    finally:
        await conn.close()
    assert proc.returncode == 1
    refusals = [line for line in err.splitlines() if line.startswith("authorium: ")]
    assert refusals and all(f"migration {future:04d}" in line for line in refusals), err


async def test_a_deliberate_rollback_may_serve_a_newer_schema(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    url = await make_database()
    await _add_future_migration(url, "resource")
    port, admin_port = free_port(), free_port()
    env = {
        **environ,
        "DATABASE_URL": url,
        "AUTHORIUM_ALLOW_NEWER_SCHEMA": "true",
        "AUTHORIUM_LOG_LEVEL": "INFO",
        "AUTHORIUM_ADMIN_PORT": str(admin_port),
    }
    proc = authorium_popen("serve", "resource", "--port", str(port), "--workers", "1", env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{admin_port}/readyz") as resp:
            assert resp.status == 200
    finally:
        err = end(proc)
    assert proc.returncode == 0, err
    assert "serving on a schema newer than this code" in err


async def test_a_waiting_service_stops_cleanly_on_sigterm(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    """Kubernetes may stop a pod that is still waiting (a rollout replaced, a node drained): it exits 0 at once."""
    url = await make_database(migrated=False)
    port, admin_port = free_port(), free_port()
    env = {**environ, "DATABASE_URL": url, "AUTHORIUM_ADMIN_PORT": str(admin_port)}
    proc = authorium_popen("serve", "resource", "--port", str(port), env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{admin_port}/readyz") as resp:
            assert resp.status == 503
        proc.send_signal(signal.SIGTERM)
        await eventually(lambda: proc.poll() is not None, timeout=10, message="the service to stop")
    finally:
        err = end(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
