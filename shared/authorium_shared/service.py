"""The parts every service's application factory shares, and running one application as a process."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from authorium_shared import metrics, redis_eviction, resources, schema, tracing
from authorium_shared.appkeys import (
    EVENT_SUBSCRIBERS,
    METRICS,
    METRICS_REGISTRY,
    PG_POOL,
    READINESS_CHECKS,
    SCHEMA,
    SERVICE_NAME,
)
from authorium_shared.health import add_health_routes, new_registry
from authorium_shared.listeners import declare_private, split_listeners
from authorium_shared.middleware import HttpMetrics, client_address, observe, render_errors
from authorium_shared.migrations import SchemaRequirement
from authorium_shared.settings import CommonSettings, env_bool

DEFAULT_MAX_BODY = 64 * 1024
MAX_HEADER_FIELD = 16 * 1024
SHUTDOWN_TIMEOUT = 10.0
# Between closing the listening socket and closing kept-alive connections (see `_serve_until_signalled`).
DRAIN_SECONDS = 0.5
# aiohttp's default listen backlog, for the sockets made here when a service waits for its schema.
BACKLOG = 128
CGROUP_ROOT = Path("/sys/fs/cgroup")


def base_app(
    service: str,
    common: CommonSettings,
    *,
    postgres: bool = True,
    max_body: int = DEFAULT_MAX_BODY,
    middlewares: tuple[Middleware, ...] = (),
    innermost: tuple[Middleware, ...] = (),
) -> web.Application:
    """An application with request ids, logs, metrics, error rendering, health routes (`/readyz` and `/metrics` on
    the private listener only, `listeners`), Redis, and Postgres
    unless the service keeps nothing there; with Postgres, `serve` waits for the schema of the migrations
    component named after `service`. `middlewares` see every response, error pages included; `innermost`
    ones see a handler's exceptions before the errors are rendered."""
    registry = new_registry()
    app = web.Application(
        middlewares=[
            *([client_address(common.trusted_proxy_hops)] if common.trusted_proxy_hops else []),
            observe(HttpMetrics(registry)),
            split_listeners,
            *middlewares,
            render_errors,
            *innermost,
        ],
        client_max_size=max_body,
        # Room for the largest bearer token a verifier will look at, so an over-long one gets an RFC 6750
        # answer from us rather than aiohttp's bare 400 at its default 8190-byte header limit.
        handler_args={"max_field_size": MAX_HEADER_FIELD},
    )
    app[SERVICE_NAME] = service
    app[METRICS_REGISTRY] = registry
    app[METRICS] = metrics.Metrics(registry)
    app[READINESS_CHECKS] = []
    app[EVENT_SUBSCRIBERS] = []
    if postgres:
        app[SCHEMA] = SchemaRequirement(service, common.database_url)
        app.cleanup_ctx.append(resources.postgres(common.database_url, max_size=common.pg_pool_size))
    app.cleanup_ctx.append(resources.redis(common.redis_url, common.redis_prefix))
    app.cleanup_ctx.append(redis_eviction.watch(common.redis_maxmemory_policy))
    app.cleanup_ctx.append(_sample_metrics)
    add_health_routes(app)
    return app


@contextlib.asynccontextmanager
async def _sample_metrics(app: web.Application) -> AsyncIterator[None]:
    async with resources.background(metrics.sample_periodically(app[METRICS], app.get(PG_POOL))):
        yield


async def start_site(
    app: web.Application, host: str, port: int, admin_port: int, *, reuse_port: bool = False
) -> web.AppRunner:
    """Start serving `app` on its public listener (`port`) and its private one (`admin_port`, `listeners`), both on
    `host`; the caller cleans up the returned runner (which drains in-flight requests)."""
    sockets = _bind_listeners([app], host, port, admin_port, reuse_port=reuse_port)
    try:
        runner = _runner(app)
        await runner.setup()
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    for sock in sockets:
        await web.SockSite(runner, sock).start()
    return runner


def _runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, handle_signals=False)


def _bind_listeners(
    apps: list[web.Application], host: str, port: int, admin_port: int, *, reuse_port: bool
) -> list[socket.socket]:
    """The listening sockets of both listeners, public then private, each app told which are private. With
    `reuse_port`, every worker binds its own (SO_REUSEPORT), and the kernel spreads connections over them."""
    public = _listening_sockets(host, port, reuse_port=reuse_port)
    sockets = list(public)
    try:
        private = _listening_sockets(host, admin_port, reuse_port=reuse_port)
        sockets.extend(private)
        for app in apps:
            declare_private(app, private, public)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def run_app(
    app: web.Application,
    host: str,
    port: int,
    admin_port: int,
    *,
    reuse_port: bool = False,
    schema_wait: schema.SchemaWait | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then stop accepting, let in-flight requests finish, and clean up. With
    `schema_wait`, `app` starts only once the schema is current (a holding application answers until then)."""
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(_serve_until_signalled(app, host, port, admin_port, reuse_port=reuse_port, schema_wait=schema_wait))


async def _serve_until_signalled(
    app: web.Application,
    host: str,
    port: int,
    admin_port: int,
    *,
    reuse_port: bool,
    schema_wait: schema.SchemaWait | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if schema_wait is None:
        runner = await start_site(app, host, port, admin_port, reuse_port=reuse_port)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    else:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        holding = schema.holding_app(app[SERVICE_NAME], schema_wait)
        sockets = _bind_listeners([holding, app], host, port, admin_port, reuse_port=reuse_port)
        started = await _start_once_schema_is_current(app, holding, sockets, schema_wait, stop)
        if started is None:
            return
        runner = started
    try:
        await stop.wait()
        # Stop accepting, then give requests that clients already sent on kept-alive connections time to be read:
        # the cleanup closes every connection with no request in progress, dropping whatever it has not read yet.
        for site in list(runner.sites):
            await site.stop()
        await asyncio.sleep(DRAIN_SECONDS)
    finally:
        await runner.cleanup()


async def _start_once_schema_is_current(
    app: web.Application,
    holding_app: web.Application,
    sockets: list[socket.socket],
    wait: schema.SchemaWait,
    stop: asyncio.Event,
) -> web.AppRunner | None:
    """Hold both listeners' `sockets` with `holding_app` until the schema is current (None if stopped first), then
    start `app` (its start-up runs while the holding application still answers) and hand it the sockets: connections
    that arrive in between wait in the kernel's queue, and none is refused."""
    holding = _runner(holding_app)
    handed_over = False
    try:
        await holding.setup()
        for sock in sockets:
            # A duplicate: stopping the holding site closes it, and leaves the listening socket open for `app`.
            await web.SockSite(holding, sock.dup()).start()
        waiting = asyncio.ensure_future(wait.until_current())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, stopping):
                task.cancel()
            await asyncio.gather(waiting, stopping, return_exceptions=True)
        if waiting.cancelled():
            return None
        waiting.result()  # SchemaTooNew
        runner = _runner(app)
        await runner.setup()
        for site in list(holding.sites):
            await site.stop()
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        handed_over = True
        return runner
    finally:
        await holding.cleanup()
        if not handed_over:
            for sock in sockets:
                sock.close()


def _listening_sockets(host: str, port: int, *, reuse_port: bool) -> list[socket.socket]:
    """Listening sockets as aiohttp's TCPSite makes them: one per address `host` resolves to."""
    sockets: list[socket.socket] = []
    seen = set()
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def available_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: its affinity, capped by the container's CPU limit, a cgroup v2 quota
    (`cpu.max`) or a cgroup v1 one (`cpu.cfs_quota_us` over `cpu.cfs_period_us`), rounded up."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_quota(root: Path) -> float | None:
    """The CPU quota in CPUs, or None without one (or where it cannot be read)."""
    try:
        quota, period = (root / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    # cgroup v1: the cpu controller is mounted on its own, or together with cpuacct; -1 means no quota.
    for controller in ("cpu", "cpu,cpuacct"):
        try:
            quota_us = int((root / controller / "cpu.cfs_quota_us").read_text())
            period_us = int((root / controller / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def supervise(target: Callable[[int], None], workers: int, *, ended: Callable[[int], None] | None = None) -> int:
    """Run `target` in `workers` forked processes (each serving on its own SO_REUSEPORT socket, so the kernel
    spreads connections over them). SIGINT and SIGTERM are passed on, and each worker drains its requests.
    If a worker dies on its own, the rest are stopped too: the orchestrator restarts the whole unit.
    `target` is given the worker's index; `ended`, if given, the pid of each worker that has ended."""
    running: set[int] = set()
    stopping = failed = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for index in range(workers):
            pid = os.fork()
            if pid == 0:
                os._exit(_run_worker(target, index))
            running.add(pid)
        while running:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            running.discard(pid)
            if ended is not None:
                ended(pid)
            if os.waitstatus_to_exitcode(status) != 0 and not stopping:
                failed = True
                stop(signal.SIGTERM, None)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 1 if failed else 0


def _run_worker(target: Callable[[int], None], index: int) -> int:
    # A forked worker inherits the supervisor's signal handlers; until the server installs its own graceful
    # ones, a signal must simply end the worker, not run the supervisor's forwarding in it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    try:
        target(index)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        tracing.flush()
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def serve(build: Callable[[], web.Application], host: str, port: int, admin_port: int, *, workers: int) -> int:
    """Serve the application `build` makes on its public `port` and private `admin_port`: in this process, or in
    `workers` processes sharing both ports. A service that keeps data in Postgres first checks the schema (`schema`):
    a newer one stops it here, with one line."""
    app = build()
    try:
        schema_wait = _schema_wait(app)
    except schema.SchemaTooNew as exc:
        return _refuse(exc)
    if workers <= 1:
        try:
            run_app(app, host, port, admin_port, schema_wait=schema_wait)
        except schema.SchemaTooNew as exc:  # migrations of a newer release appeared while it waited
            return _refuse(exc)
        return 0

    with metrics.directory_for_workers() as directory:

        def work(_: int) -> None:
            metrics.share_between_workers(directory)
            try:
                run_app(build(), host, port, admin_port, reuse_port=True, schema_wait=schema_wait)
            except schema.SchemaTooNew as exc:
                raise SystemExit(_refuse(exc)) from None

        return supervise(work, workers, ended=lambda pid: metrics.worker_ended(directory, pid))


def _schema_wait(app: web.Application) -> schema.SchemaWait | None:
    """None if `app` may start now; else what waits for its schema. Read once, before any worker is forked."""
    if SCHEMA not in app:
        return None
    # Read here, not in the settings: it is about this start only, and only `serve` acts on it.
    allow_newer = env_bool(os.environ, "AUTHORIUM_ALLOW_NEWER_SCHEMA", False)
    state = asyncio.run(schema.read(app[SCHEMA]))
    if schema.judge(state, allow_newer=allow_newer):
        return None
    return schema.SchemaWait(app[SCHEMA], state, allow_newer=allow_newer)


def _refuse(exc: Exception) -> int:
    print(f"authorium: {exc}", file=sys.stderr)
    return 1


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # uvloop is not built for every platform; the stdlib loop is correct, only slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
