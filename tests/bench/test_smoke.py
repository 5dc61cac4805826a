"""The benchmark harness, run for seconds (`python -m bench --smoke`), so it cannot rot: every scenario serves
requests with no failures, the peer answers (with each algorithm), the ceiling is measured, and the results are
written: JSON, Markdown, a PNG chart and a history line. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import PEER_SCENARIOS, SCENARIOS
from tests.conftest import ADMIN_URL, REDIS_URL
from tests.programs import require_program

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_bench_runs_every_scenario_and_the_peer(tmp_path: Path) -> None:
    require_program("node", "nodejs")
    require_program("npm", "npm")
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        # On the run's servers, which may be private ones (tests/stores.py).
        env={**os.environ, "AUTHORIUM_BENCH_POSTGRES": ADMIN_URL, "AUTHORIUM_BENCH_REDIS": REDIS_URL},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (report,) = tmp_path.glob("smoke-*.json")
    results = json.loads(report.read_text())
    rows = {row["scenario"]: row for row in results["scenarios"]}
    assert set(rows) == set(SCENARIOS)
    for name, row in rows.items():
        assert row["requests"] > 0, f"{name} served nothing"
        # Single-use scenarios may run out of material in a slow run; no scenario may fail otherwise.
        assert row["socket_errors"] == 0, f"{name}: {row}"
        assert row["non_2xx"] == 0 or SCENARIOS[name].single_use, f"{name}: {row}"
        assert row["cpu_s_per_1k"] > 0
    # The device fleet's normal answer is an error: counted as success only when it is authorization_pending.
    assert rows["device_poll"]["expected"] == "400 authorization_pending"
    # Authorium's store operations per request are counted from its own metrics.
    assert rows["refresh_token"]["postgres_statements"] > 0 and rows["client_credentials"]["redis_commands"] > 0
    peers = {(row["peer_of"], row["alg"]): row for row in results["peers"]}
    assert set(peers) == {(s.ours, alg) for alg, scenarios in PEER_SCENARIOS.items() for s in scenarios}
    for key, row in peers.items():
        assert row["requests"] > 0 and row["non_2xx"] == 0 and row["socket_errors"] == 0, f"{key}: {row}"
    against = {(r["scenario"], r["against"]) for r in results["ratios"]}
    assert ("client_credentials", "node-oidc-provider (ES256)") in against
    assert ("resource_me", "bare aiohttp (ceiling)") in against
    assert results["machine"]["cores"] >= 1
    assert all(results["memory_rss_mb_per_worker"].values())
    table = (tmp_path / report.name.replace(".json", ".md")).read_text()
    assert "| client_credentials |" in table and "| device_poll (answered 400 authorization_pending" in table
    assert (tmp_path / report.name.replace(".json", ".png")).read_bytes().startswith(b"\x89PNG")
    (history,) = (tmp_path / "history.jsonl").read_text().splitlines()
    assert json.loads(history)["smoke"] is True
