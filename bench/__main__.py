"""`python -m bench`: start the stack, seed it, drive each scenario with wrk for a fixed time, run the same
client-credentials load against node-oidc-provider, and write the figures to bench/results/.

    .venv/bin/python -m bench                      # every scenario, 10 s each, 50 connections
    .venv/bin/python -m bench --smoke              # seconds, not minutes: CI runs this so the harness cannot rot
    .venv/bin/python -m bench --scale              # then again with 100k clients, 100k users, 1M refresh families
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from authorium_shared.resources import create_pg_pool
from authorium_shared.service import available_cores
from bench import counts, flows, load, peer, profile, report, seed
from bench.stack import CEILING, REDIS_URL, Service, Stack, cpu_seconds, rss_mb, running

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Scenario:
    name: str
    service: str  # whose CPU the scenario spends: "authz" or "resource"
    # Builds the request shape once the stack is seeded; `count` is how many single-use bodies to make.
    build: Callable[[Stack, seed.Seeded, int], Awaitable[load.Request]]
    single_use: bool = False
    # Single-use material per second of run, generously above what the machine can serve.
    per_second: int = 0
    # Set on the cached paths, which the report sets beside the bare framework (`ceiling`).
    against_ceiling: bool = False
    # A scenario of several requests (bench/flows.py), driven by virtual browsers instead of wrk; `build` unused.
    flow: flows.Flow | None = None


# Adding a scenario is a few lines: a `build` function returning the request shape (one fixed request, or a list of
# single-use bodies, each line optionally starting with headers of its own, "Cookie: ...\t<body>", "DPoP: ...\t" for a
# GET; with `expect_status` when the normal answer is an error), and a row below; a `Flow` (bench/flows.py) instead
# for what takes several requests. A peer counterpart, if node-oidc-provider has one, goes in PEER_SCENARIOS.


async def _client_credentials(stack: Stack, seeded: seed.Seeded, _: int) -> load.Request:
    return load.Request(
        "POST",
        stack.url("authz") + "/token",
        {"Authorization": seed.basic(*seeded.service_client)},
        body="grant_type=client_credentials&scope=notes:read",
    )


async def _introspection(stack: Stack, seeded: seed.Seeded, _: int) -> load.Request:
    return load.Request(
        "POST",
        stack.url("authz") + "/introspect",
        {"Authorization": seed.basic(*seeded.service_client)},
        body=f"token={seeded.service_token}",
    )


async def _api_me(stack: Stack, seeded: seed.Seeded, _: int) -> load.Request:
    return load.Request("GET", stack.url("resource") + "/api/me", {"Authorization": f"Bearer {seeded.user_token}"})


async def _api_notes(stack: Stack, seeded: seed.Seeded, _: int) -> load.Request:
    return load.Request(
        "GET", stack.url("resource") + "/api/notes?limit=20", {"Authorization": f"Bearer {seeded.user_token}"}
    )


async def _no_request(stack: Stack, seeded: seed.Seeded, _: int) -> load.Request:
    raise AssertionError("a flow scenario makes its own requests")


async def _ceiling(stack: Stack, seeded: seed.Seeded, _: int) -> load.Request:
    return load.Request("GET", stack.url(CEILING) + "/api/me", {"Authorization": f"Bearer {seeded.user_token}"})


async def _refresh(stack: Stack, seeded: seed.Seeded, count: int) -> load.Request:
    pool = await create_pg_pool(stack.database_url, max_size=2)
    try:
        bodies = await seed.refresh_families(pool, seeded.user_client[0], [seeded.user_id], count)
    finally:
        await pool.close()
    return load.Request(
        "POST", stack.url("authz") + "/token", {"Authorization": seed.basic(*seeded.user_client)}, bodies=bodies
    )


async def _code_exchange(stack: Stack, seeded: seed.Seeded, count: int) -> load.Request:
    redis = Redis.from_url(REDIS_URL)
    try:
        bodies = await seed.mint_codes(redis, stack.env["AUTHORIUM_REDIS_PREFIX"], seeded, count)
    finally:
        await redis.aclose()
    return load.Request(
        "POST", stack.url("authz") + "/token", {"Authorization": seed.basic(*seeded.user_client)}, bodies=bodies
    )


async def _sign_in(stack: Stack, seeded: seed.Seeded, count: int) -> load.Request:
    bodies = await seed.pending_sign_ins(stack.url("authz"), seeded, count)
    return load.Request("POST", stack.url("authz") + "/authorize/login", {}, bodies=bodies)


async def _token_exchange(stack: Stack, seeded: seed.Seeded, _: int) -> load.Request:
    """RFC 8693: a service exchanges the user's access token for one towards the notes API, acting for the user.
    Every request exchanges the same subject token, which an exchange does not consume."""
    target = stack.env["AUTHORIUM_RESOURCE_URL"]
    pool = await create_pg_pool(stack.database_url, max_size=2)
    try:
        service = await seed.exchanging_service(pool, target, stack.env)
    finally:
        await pool.close()
    return load.Request(
        "POST",
        stack.url("authz") + "/token",
        {"Authorization": seed.basic(*service)},
        body=seed.exchange_body(seeded.user_token, target),
    )


# The longest dpop_api_me run whose pre-signed proofs all stay within the server's 60 s (authorium_shared.dpop.MAX_AGE),
# leaving time to sign them (about 2.5 s per 30,000 on the bench machine).
DPOP_MAX_DURATION = 50.0


async def _dpop_api_me(stack: Stack, seeded: seed.Seeded, count: int) -> load.Request:
    """/api/me with a DPoP-bound token (RFC 9449 section 7): each request carries its own proof, since a proof's jti
    is single-use (section 11.1); wrk cannot sign, so the proofs are made here, all just before the run. The server
    takes a proof's `iat` up to 60 s old (plus 5 s of clock skew): a run longer than about 50 s (less the time the
    signing takes, about 6 s for 10 s at `per_second`) would end on refused proofs, counted as non-2xx: `main` warns
    beyond DPOP_MAX_DURATION."""
    key = seed.DPoPKey.generate()
    token = await seed.dpop_token(stack.url("authz"), seeded.service_client, key)
    url = stack.url("resource") + "/api/me"
    proofs = await asyncio.to_thread(lambda: [key.proof("GET", url, access_token=token) for _ in range(count)])
    return load.Request("GET", url, {"Authorization": f"DPoP {token}"}, bodies=[f"DPoP: {p}\t" for p in proofs])


async def _private_key_jwt(stack: Stack, seeded: seed.Seeded, count: int) -> load.Request:
    """Client credentials with the client authenticated by a signed assertion (RFC 7523 section 2.2): one assertion
    per request, since each jti is single-use; they are valid 300 s, the most the server takes, so a run longer than
    about 290 s would end on expired ones."""
    pool = await create_pg_pool(stack.database_url, max_size=2)
    try:
        client_id, key = await seed.key_client(pool)
    finally:
        await pool.close()
    issuer = stack.env["AUTHORIUM_ISSUER"]
    bodies = await asyncio.to_thread(seed.assertion_bodies, client_id, key, issuer, count)
    return load.Request("POST", stack.url("authz") + "/token", {}, bodies=bodies)


async def _device_poll(stack: Stack, seeded: seed.Seeded, count: int) -> load.Request:
    """A fleet of devices waiting for their people (RFC 8628 section 3.4): each poll answered 400
    authorization_pending, which is this scenario's success (any other answer counts as a failure). One device code
    per request, so that no device polls faster than its five-second interval and none is told slow_down (section
    3.5): every poll is a first poll, the same work (one Redis script) as a device's later ones."""
    pool = await create_pg_pool(stack.database_url, max_size=2)
    redis = Redis.from_url(REDIS_URL)
    try:
        client_id = await seed.device_client(pool)
        target = stack.env["AUTHORIUM_RESOURCE_URL"]
        bodies = await seed.device_codes(redis, stack.env["AUTHORIUM_REDIS_PREFIX"], client_id, count, target=target)
    finally:
        await pool.close()
        await redis.aclose()
    return load.Request(
        "POST", stack.url("authz") + "/token", {}, bodies=bodies, expect_status=400, expect_body="authorization_pending"
    )


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(CEILING, CEILING, _ceiling),
        Scenario("resource_me", "resource", _api_me, against_ceiling=True),
        Scenario("introspection", "authz", _introspection, against_ceiling=True),
        Scenario("client_credentials", "authz", _client_credentials),
        Scenario("resource_notes", "resource", _api_notes),
        # Single-use requests made ahead: enough for the fastest run seen (5,500/s on 2 cores), or the run ends on
        # replayed proofs and polled-again device codes, counted as non-2xx.
        Scenario("dpop_api_me", "resource", _dpop_api_me, single_use=True, per_second=8000),
        Scenario("token_exchange", "authz", _token_exchange),
        Scenario("private_key_jwt_client_credentials", "authz", _private_key_jwt, single_use=True, per_second=3000),
        Scenario("device_poll", "authz", _device_poll, single_use=True, per_second=8000),
        Scenario("refresh_token", "authz", _refresh, single_use=True, per_second=3000),
        Scenario("code_exchange", "authz", _code_exchange, single_use=True, per_second=3000),
        Scenario("password_sign_in", "authz", _sign_in, single_use=True, per_second=150),
        Scenario("browser_sign_in", "authz", _no_request, flow=flows.browser_sign_in),
    )
}


async def measure(
    scenario: Scenario,
    stack: Stack,
    seeded: seed.Seeded,
    *,
    duration: float,
    connections: int,
    profile_to: Path | None = None,
) -> dict[str, Any]:
    service: Service = stack.services[scenario.service]

    async def drive() -> tuple[load.Measured, int | None]:
        if scenario.flow is not None:
            return await flows.run(scenario.flow, stack, seeded, duration=duration, connections=connections)
        return await load.run(request, duration=duration, connections=connections), None

    if scenario.flow is None:
        request = await scenario.build(stack, seeded, int(scenario.per_second * duration) + 100)
        if not scenario.single_use:
            await load.run(request, duration=min(2.0, duration), connections=connections)  # warm up
    stores_before = await counts.read(service.admin_urls) if service.admin_urls else None
    cpu_before = service.cpu()
    if profile_to is None:
        result, http_requests = await drive()
    else:
        async with profile.sampling(service.worker_pids, profile_to, scenario.name, duration):
            result, http_requests = await drive()
    cpu_used = service.cpu() - cpu_before
    row = report.row(scenario.name, result, cpu_used)
    if http_requests is not None and result.requests:
        # The row counts flows; per flow, this many HTTP requests (and the CPU and store figures are per flow).
        row["requests_per_flow"] = round(http_requests / result.requests, 1)
    if scenario.against_ceiling:
        row["against_ceiling"] = True
    if scenario.flow is None and request.expect_status is not None:
        # Its normal answer is an error (a device's authorization_pending): `non_2xx` counts the other answers.
        row["expected"] = f"{request.expect_status} {request.expect_body or ''}".strip()
    if service.admin_urls and stores_before is not None:
        row.update(counts.per_request(await counts.read(service.admin_urls) - stores_before, result.requests))
    return row


@dataclass(frozen=True)
class PeerScenario:
    """A scenario run against node-oidc-provider, beside the Authorium scenario named `ours`."""

    ours: str
    build: Callable[[peer.Peer, int], Awaitable[load.Request]]
    single_use: bool = False


async def _peer_client_credentials(node: peer.Peer, _: int) -> load.Request:
    return load.Request(
        "POST",
        node.url + "/token",
        {"Authorization": seed.basic(*peer.CLIENT)},
        body="grant_type=client_credentials&scope=notes:read",
    )


async def _peer_introspection(node: peer.Peer, _: int) -> load.Request:
    token = await peer.opaque_token(node)
    return load.Request(
        "POST", node.url + node.introspection_path, {"Authorization": seed.basic(*peer.CLIENT)}, body=f"token={token}"
    )


async def _peer_refresh(node: peer.Peer, count: int) -> load.Request:
    tokens = await peer.refresh_tokens(node, count)
    return load.Request(
        "POST",
        node.url + "/token",
        {"Authorization": seed.basic(*peer.CLIENT)},
        bodies=[f"grant_type=refresh_token&refresh_token={t}" for t in tokens],
    )


# Run against the peer signing with each algorithm; the first is Authorium's default (like for like), the others
# are labelled rows.
PEER_SCENARIOS: dict[str, tuple[PeerScenario, ...]] = {
    "ES256": (
        PeerScenario("client_credentials", _peer_client_credentials),
        PeerScenario("introspection", _peer_introspection),
        PeerScenario("refresh_token", _peer_refresh, single_use=True),
    ),
    "RS256": (PeerScenario("client_credentials", _peer_client_credentials),),
}


async def measure_peer(scenario: PeerScenario, node: peer.Peer, *, duration: float, connections: int) -> dict[str, Any]:
    request = await scenario.build(node, int(SCENARIOS[scenario.ours].per_second * duration) + 100)
    if not scenario.single_use:
        await load.run(request, duration=min(2.0, duration), connections=connections)
    before = cpu_seconds([node.pid])
    result = await load.run(request, duration=duration, connections=connections)
    row = report.row(
        f"peer: node-oidc-provider {node.version} {scenario.ours} ({node.alg})",
        result,
        cpu_seconds([node.pid]) - before,
    )
    row.update(peer_of=scenario.ours, alg=node.alg, rss_mb=round(rss_mb(node.pid), 1))
    return row


@asynccontextmanager
async def peers_running(names: list[str], *, wanted: bool) -> AsyncIterator[dict[str, peer.Peer]]:
    """node-oidc-provider, once per algorithm that has a scenario in `names`, for the whole run: each peer scenario
    runs right after Authorium's, so both meet the same conditions on a machine whose load may change."""
    if not wanted:
        yield {}
        return
    if not peer.available():
        print("node/npm not found: no peer scenario", file=sys.stderr)
        yield {}
        return
    async with AsyncExitStack() as stack:
        nodes = {
            alg: await stack.enter_async_context(peer.running(alg))
            for alg, scenarios in PEER_SCENARIOS.items()
            if any(s.ours in names for s in scenarios)
        }
        yield nodes


async def prepare(stack: Stack) -> seed.Seeded:
    pool = await create_pg_pool(stack.database_url, max_size=2)
    redis = Redis.from_url(REDIS_URL)
    try:
        seeded = await seed.seed(pool, stack.url("authz"))
        token = await seed.user_token(redis, stack.env["AUTHORIUM_REDIS_PREFIX"], seeded, stack.url("authz"))
    finally:
        await pool.close()
        await redis.aclose()
    return replace(seeded, user_token=token)


async def main(args: argparse.Namespace) -> int:
    names = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    if "dpop_api_me" in names and args.duration > DPOP_MAX_DURATION:
        print(
            f"dpop_api_me: proofs are signed before the run and the server takes them at most 60 s old; beyond"
            f" {DPOP_MAX_DURATION:g} s its last requests will be refused (non-2xx)",
            file=sys.stderr,
        )
    rows: list[dict[str, Any]] = []
    memory: dict[str, list[float]] = {}
    peer_rows: list[dict[str, Any]] = []
    async with (
        running(args.workers, replicas=args.replicas) as stack,
        peers_running(names, wanted=not args.no_peer) as nodes,
    ):
        seeded = await prepare(stack)
        await seed.create_notes(stack.url("resource"), seeded.user_token, 20)
        profile_to = Path(args.profile) if args.profile else None
        for name in names:
            rows.append(
                await measure(
                    SCENARIOS[name],
                    stack,
                    seeded,
                    duration=args.duration,
                    connections=args.connections,
                    profile_to=profile_to,
                )
            )
            print(report.line(rows[-1]), flush=True)
            if profile_to is not None:
                (profile_to / f"{name}.summary.txt").write_text(profile.summarise(profile_to, name))
            for alg, node in nodes.items():
                for counterpart in (s for s in PEER_SCENARIOS[alg] if s.ours == name):
                    peer_rows.append(
                        await measure_peer(counterpart, node, duration=args.duration, connections=args.connections)
                    )
                    print(report.line(peer_rows[-1]), flush=True)
        scale_rows: list[dict[str, Any]] = []
        if args.scale:
            pool = await create_pg_pool(stack.database_url, max_size=2)
            try:
                print("loading 100k clients, 100k users, 1M refresh families...", flush=True)
                await seed.scale_rows(pool, clients=100_000, users=100_000, families=1_000_000)
            finally:
                await pool.close()
            for name in ("client_credentials", "refresh_token", "introspection"):
                row = await measure(
                    SCENARIOS[name], stack, seeded, duration=args.duration, connections=args.connections
                )
                row["scenario"] += " (scale)"
                scale_rows.append(row)
                print(report.line(row), flush=True)
        memory = {name: service.worker_rss_mb() for name, service in stack.services.items() if name != CEILING}
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "cores_available": available_cores(),
            "cpu": report.cpu_model(),
            "python": platform.python_version(),
            "note": "the load generator (wrk, 2 threads) shares these cores with the servers",
        },
        "config": {
            "duration_s": args.duration,
            "connections": args.connections,
            "workers": args.workers,
            "replicas": args.replicas,
            "loader": "wrk" if load.wrk_available() else "aiohttp",
        },
        "scenarios": rows,
        "scale": scale_rows,
        "peers": peer_rows,
        "memory_rss_mb_per_worker": memory,
    }
    out = Path(args.out)
    paths = report.write(results, out, smoke=args.smoke)
    print("\n" + report.markdown(results))
    print(f"written: {', '.join(str(p) for p in paths)}")
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    p.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    p.add_argument("--workers", type=int, default=available_cores(), help="workers per service (default: CPUs)")
    p.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="replicas of each service on one port (SO_REUSEPORT, as behind a load balancer); needs --workers >= 2",
    )
    p.add_argument("--scenarios", help=f"comma-separated subset of: {', '.join(SCENARIOS)}")
    p.add_argument("--no-peer", action="store_true", help="skip node-oidc-provider")
    p.add_argument("--scale", action="store_true", help="also measure with a large database")
    p.add_argument("--profile", metavar="DIR", help="sample the workers with py-spy during each scenario into DIR")
    p.add_argument("--smoke", action="store_true", help="1 s per scenario, 10 connections: checks the harness works")
    p.add_argument("--out", default=str(RESULTS), help="where to write the results (default bench/results)")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.connections = 1.0, 10
    if args.replicas < 1 or (args.replicas > 1 and args.workers < 2):
        p.error("--replicas N > 1 needs --workers 2 or more (a single-worker service does not share its port)")
    if args.profile and not profile.available():
        p.error("--profile needs py-spy (pip install py-spy)")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
