"""`authorium serve`: JSON log lines carrying the request id, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import aiohttp

from tests.processes import authorium, authorium_popen, free_port, wait_for_port
from tests.waiting import eventually


async def test_serve_logs_json_with_request_ids_and_stops_on_sigterm(environ: dict[str, str]) -> None:
    port = free_port()
    proc = authorium_popen("serve", "resource", "--port", str(port), env={**environ, "AUTHORIUM_LOG_LEVEL": "INFO"})
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz?code=secret-code", headers={"X-Request-ID": "req-123"}) as resp,
        ):
            assert resp.status == 200
            assert resp.headers["X-Request-ID"] == "req-123"
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    access = [line for line in lines if line.get("path") == "/healthz"]
    assert access, err
    assert access[0]["request_id"] == "req-123"
    assert access[0]["status"] == 200
    assert access[0]["service"] == "resource"
    assert "secret-code" not in err, "query strings (which can carry codes) are never logged"


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _listening_on(port: int) -> set[int]:
    """The inodes of the sockets listening on `port` (any address), from the kernel's tables."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def _sockets_of(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


async def test_workers_share_the_port_and_stop_together(environ: dict[str, str]) -> None:
    """Every worker serves both listeners (issue 14): each holds its own SO_REUSEPORT socket on the public port and
    on the private one, so either keeps answering whichever worker the kernel hands a connection to."""
    port, admin_port = free_port(), free_port()
    env = {**environ, "AUTHORIUM_ADMIN_PORT": str(admin_port)}
    proc = authorium_popen("serve", "resource", "--port", str(port), "--workers", "3", env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        await asyncio.to_thread(wait_for_port, admin_port, 20)
        workers = _children(proc.pid)
        assert len(workers) == 3
        for listening in (port, admin_port):
            await eventually(
                lambda p=listening: all(_sockets_of(w) & _listening_on(p) for w in workers),
                timeout=20,
                message=f"every worker listening on {listening}",
            )
        # New connections are spread by the kernel; every one is answered whichever worker takes it.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(30):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
                async with http.get(f"http://127.0.0.1:{admin_port}/metrics") as resp:
                    assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert not any(map(_alive, workers)), "every worker stopped with the supervisor"


async def test_the_private_port_must_differ_from_the_public_one(environ: dict[str, str]) -> None:
    """A request is told apart by the port it came in on: one port for both listeners stops start-up, one line."""
    env = {**environ, "AUTHORIUM_ADMIN_PORT": "8801"}
    result = await asyncio.to_thread(authorium, "serve", "resource", "--port", "8801", "--workers", "1", env=env)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "authorium: configuration error: AUTHORIUM_ADMIN_PORT must differ from the public port (8801)"
    )


async def test_a_worker_that_dies_takes_the_others_down_so_the_orchestrator_restarts_them(
    environ: dict[str, str],
) -> None:
    port = free_port()
    proc = authorium_popen("serve", "resource", "--port", str(port), "--workers", "2", env=environ)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        first, second = _children(proc.pid)
        os.kill(first, signal.SIGKILL)
        await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert not _alive(second)


async def test_workers_below_one_are_refused(environ: dict[str, str]) -> None:
    result = await asyncio.to_thread(authorium, "serve", "resource", "--workers", "0", env=environ)
    assert result.returncode == 2 and "--workers" in result.stderr
