"""`/metrics` of `authorium serve --workers 3`: one scrape, whichever worker answers it, reports every worker's
requests summed, and the supervisor removes the workers' shared metrics directory when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import authorium_popen, free_port, wait_for_port
from tests.waiting import eventually

WORKERS = 3
REQUESTS = 60


def sample(text: str, name: str, **labels: str) -> float:
    """The value of sample `name` with `labels` in a scrape (0 if absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_one_scrape_reports_every_worker(environ: dict[str, str], tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    env = {**environ, "AUTHORIUM_ADMIN_PORT": str(admin_port), "TMPDIR": str(tmp_path)}
    proc = authorium_popen(
        "serve", "resource", "--port", str(port), "--workers", str(WORKERS), env=env, new_session=True
    )
    try:
        await asyncio.to_thread(wait_for_port, port, 30)
        await asyncio.to_thread(wait_for_port, admin_port, 30)
        [shared] = await asyncio.to_thread(lambda: list(tmp_path.glob("authorium-metrics-*")))
        metrics_url = f"http://127.0.0.1:{admin_port}/metrics"
        # A new connection per request: the kernel spreads connections, not requests, over the workers.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:

            async def scrape() -> str:
                async with http.get(metrics_url) as resp:
                    assert resp.status == 200
                    return await resp.text()

            async def all_workers_up() -> bool:
                return sample(await scrape(), "authorium_workers") == WORKERS

            await eventually(all_workers_up, timeout=20, message="every worker to report")
            for _ in range(REQUESTS):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
            # Several scrapes, each answered by whichever worker takes the connection: every one sees the total.
            for _ in range(2 * WORKERS):
                text = await scrape()
                served = sample(text, "http_requests_total", route="/healthz", status="200")
                assert served == REQUESTS, text
                assert sample(text, "process_resident_memory_bytes") > 0
                assert sample(text, "process_cpu_seconds_total") > 0
        os.killpg(proc.pid, signal.SIGTERM)
        await asyncio.to_thread(proc.communicate, timeout=15)
        assert proc.returncode == 0
        assert not shared.exists(), "the supervisor removes the workers' metrics directory"
    finally:
        # Whatever happened, no worker outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
