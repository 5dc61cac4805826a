"""Driving load: `wrk` with bench/lua/request.lua (Debian's package), or, only where wrk is missing, a small
aiohttp loader that measures the same things less precisely."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

LUA = Path(__file__).parent / "lua" / "request.lua"
THREADS = 2


@dataclass(frozen=True)
class Request:
    """What each request of a run is: one fixed request, or one line each of `bodies` (single-use material: a body,
    after any "Name: value\t" headers of its own; see bench/lua/request.lua). An answer is a success when it is 2xx,
    or, with `expect_status`, when it has that status (and `expect_body` in its body)."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None = None
    bodies: Sequence[str] | None = None
    expect_status: int | None = None
    expect_body: str | None = None


@dataclass(frozen=True)
class Measured:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    loader: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


async def run(request: Request, *, duration: float, connections: int) -> Measured:
    if wrk_available():
        return await _wrk(request, duration=duration, connections=connections)
    return await _aiohttp(request, duration=duration, connections=connections)


async def _wrk(request: Request, *, duration: float, connections: int) -> Measured:
    env = {
        **os.environ,
        "BENCH_METHOD": request.method,
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in request.headers.items()),
        "BENCH_THREADS": str(THREADS),
    }
    if request.body is not None:
        env["BENCH_BODY"] = request.body
    if request.expect_status is not None:
        env["BENCH_EXPECT_STATUS"] = str(request.expect_status)
        if request.expect_body:
            env["BENCH_EXPECT_BODY"] = request.expect_body
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as bodies:
        if request.bodies is not None:
            bodies.write("\n".join(request.bodies) + "\n")
            env["BENCH_BODIES_FILE"] = bodies.name
    try:
        proc = await asyncio.create_subprocess_exec(
            "wrk",
            f"-t{THREADS}",
            f"-c{max(connections, THREADS)}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            request.url,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    finally:
        os.unlink(bodies.name)
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {err.decode()[-500:]} {out.decode()[-500:]}")
    result = json.loads(lines[-1])
    return Measured(
        requests=result["requests"],
        seconds=result["duration_us"] / 1e6,
        non_2xx=result["non_2xx"],
        socket_errors=result["socket_errors"],
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        loader="wrk",
    )


async def _aiohttp(request: Request, *, duration: float, connections: int) -> Measured:
    latencies: list[float] = []
    failures = errors = 0
    bodies = iter(request.bodies) if request.bodies is not None else None
    deadline = time.monotonic() + duration

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal failures, errors
        while time.monotonic() < deadline:
            headers = dict(request.headers)
            body = request.body
            if bodies is not None:
                line = next(bodies, None)
                if line is None:
                    return
                *own, rest = line.split("\t")
                for field in own:
                    name, _, value = field.partition(": ")
                    headers[name] = value
                body = None if request.method == "GET" else rest
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            started = time.perf_counter()
            try:
                async with http.request(
                    request.method, request.url, data=body, headers=headers, allow_redirects=False
                ) as resp:
                    answer = await resp.read()
                    if request.expect_status is None:
                        failures += resp.status >= 400
                    elif resp.status != request.expect_status or (
                        request.expect_body and request.expect_body.encode() not in answer
                    ):
                        failures += 1
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(connections)))
    elapsed = time.monotonic() - started
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Measured(len(latencies), elapsed, failures, errors, quantiles[49] * 1000, quantiles[98] * 1000, "aiohttp")
