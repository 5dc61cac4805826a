"""`authorium serve`: JSON log lines carrying the request id, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp

from tests.processes import authorium, authorium_popen, free_port, wait_for_port


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


async def test_workers_share_the_port_and_stop_together(environ: dict[str, str]) -> None:
    port = free_port()
    proc = authorium_popen("serve", "resource", "--port", str(port), "--workers", "3", env=environ)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        workers = _children(proc.pid)
        assert len(workers) == 3
        # New connections are spread by the kernel; every one is answered whichever worker takes it.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(30):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert not any(map(_alive, workers)), "every worker stopped with the supervisor"


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
