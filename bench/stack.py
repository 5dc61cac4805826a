"""The stack under load: a database and Redis prefix of the bench's own, the services as real
`authorium serve` processes (with their workers), and the CPU time and memory those processes use."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from authorium_shared.keys import generate_kek

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ADMIN_URL = os.environ.get("AUTHORIUM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
CEILING = "ceiling"
REDIS_URL = os.environ.get("AUTHORIUM_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (workers of a `serve --workers N`)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found += descendants(int(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Service:
    """One service: one process tree per replica, all on `url` (SO_REUSEPORT: the kernel spreads connections over
    every worker of every replica, as a load balancer would over the replicas)."""

    name: str
    url: str
    procs: list[subprocess.Popen[bytes]]
    # Each replica's private listener, whose /metrics count its Postgres statements and Redis commands.
    admin_urls: list[str] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [pid for proc in self.procs for pid in descendants(proc.pid)]

    def cpu(self) -> float:
        return cpu_seconds(self.pids)

    @property
    def worker_pids(self) -> list[int]:
        """The processes that serve requests: each replica's workers, or the replica itself when it has none."""
        found: list[int] = []
        for proc in self.procs:
            pids = descendants(proc.pid)
            found += pids[1:] or pids
        return found

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each process that serves requests."""
        return [round(rss_mb(pid), 1) for pid in self.worker_pids]


@dataclass
class Stack:
    env: dict[str, str]
    database_url: str
    services: dict[str, Service] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.services[name].url


async def fresh_database(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start within {timeout}s")


def _authorium(*args: str, env: Mapping[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "authorium", *args], env=dict(env), check=True, stdout=subprocess.DEVNULL)


@asynccontextmanager
async def running(workers: int, database: str = "authorium_bench", *, replicas: int = 1) -> AsyncIterator[Stack]:
    """A fresh stack: migrated database, keys, and `replicas` authorization and resource servers with `workers`
    workers each. Everything it made is removed afterwards."""
    database_url = await fresh_database(database)
    ports = {name: free_port() for name in ("authz", "resource")}
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "AUTHORIUM_REDIS_PREFIX": f"authorium-bench:{secrets.token_hex(4)}:",
        "AUTHORIUM_KEK": generate_kek(),
        "AUTHORIUM_ISSUER": f"http://127.0.0.1:{ports['authz']}",
        "AUTHORIUM_RESOURCE_URL": f"http://127.0.0.1:{ports['resource']}",
        # The bench drives one client far beyond what the per-client limit allows a real one.
        "AUTHORIUM_TOKEN_RATE_LIMIT": "10000000",
        "AUTHORIUM_LOG_LEVEL": "WARNING",
    }
    await asyncio.to_thread(_authorium, "setup", env=env)
    stack = Stack(env, database_url)
    try:
        for name in ("authz", "resource"):
            service = stack.services[name] = Service(name, f"http://127.0.0.1:{ports[name]}", [])
            for _ in range(replicas):
                admin_port = free_port()
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "authorium",
                        "serve",
                        name,
                        "--port",
                        str(ports[name]),
                        "--workers",
                        str(workers),
                    ],
                    # The private listener on a free port too: the defaults may be taken on this machine.
                    env={**env, "AUTHORIUM_ADMIN_PORT": str(admin_port)},
                    stdout=subprocess.DEVNULL,
                )
                service.procs.append(proc)
                service.admin_urls.append(f"http://127.0.0.1:{admin_port}")
                await asyncio.to_thread(_wait_for, f"http://127.0.0.1:{admin_port}", proc)
        # The bare-framework ceiling (bench/ceiling.py), served the same way, measured in the same run.
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ceiling", str(port), str(workers)], env=env, stdout=subprocess.DEVNULL
        )
        stack.services[CEILING] = Service(CEILING, f"http://127.0.0.1:{port}", [proc])
        await asyncio.to_thread(_wait_for, stack.services[CEILING].url, proc)
        yield stack
    finally:
        procs = [proc for service in stack.services.values() for proc in service.procs]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await drop_database(database)
