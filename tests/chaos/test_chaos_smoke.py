"""Chaos runs with real processes (scripts/chaos.py): a minute of the full fault mix breaks no promise, and a run
with a bug planted in the resource replicas is failed by the checker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"


def chaos(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp_path / "chaos.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--report", str(report), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    return run, json.loads(report.read_text())


def test_a_minute_of_chaos_breaks_no_promise(tmp_path: Path) -> None:
    """Issue 21: Redis killed and restarted empty, FLUSHALL, Redis stopped, Postgres restarted, replicas killed and
    added, under a steady workload: no revoked token accepted a second after its revocation, no code or refresh
    token used twice, no acknowledged note lost, no 5xx but 503, every replica ready within 10 s of the last fault."""
    run, report = chaos(tmp_path, "--duration", "60", "--seed", "21", "--fault-gap", "3")
    summary = report["summary"]
    assert sum(summary["faults"].values()) >= 5, summary
    violations = report["violations"]
    assert not violations, f"{len(violations)} violation(s), first: {violations[:5]}\n{run.stdout[-3000:]}"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_the_checker_fails_a_run_with_revocation_announcements_dropped(tmp_path: Path) -> None:
    run, report = chaos(tmp_path, "--duration", "20", "--seed", "3", "--plant-bug", "drop-announcements")
    assert run.returncode == 1, run.stdout[-3000:]
    caught = [v for v in report["violations"] if v["rule"] == "accepted-after-revocation" and not v["after_redis_loss"]]
    assert caught, report["summary"]
