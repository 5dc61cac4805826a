"""`authorium serve`: JSON log lines carrying the request id, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal

import aiohttp

from tests.processes import authorium_popen, free_port, wait_for_port


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
