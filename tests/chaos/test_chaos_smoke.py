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


class KnownGap(AssertionError):
    """Only violations of issue 21's known class: a revoked token accepted after Redis lost its lists."""


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


# Until the outbox and generation marker of issue 21 land, FLUSHALL and an empty Redis restart can leave a
# revocation out of Redis's lists (lost, or skipped by a retried /revoke that found it in Postgres), and a replica
# started or restarted afterwards accepts the token. Only that class of violation makes this an expected failure
# (`raises=KnownGap`); any other violation fails the test. Remove the marker once the fix is merged.
@pytest.mark.xfail(
    raises=KnownGap,
    strict=False,
    reason="issue 21: after FLUSHALL / Redis restarted empty, a (re)started replica can accept revoked tokens",
)
def test_a_minute_of_chaos_breaks_no_promise(tmp_path: Path) -> None:
    run, report = chaos(tmp_path, "--duration", "60", "--seed", "21", "--fault-gap", "3")
    summary = report["summary"]
    assert sum(summary["faults"].values()) >= 5, summary
    others = [
        v for v in report["violations"] if not (v["rule"] == "accepted-after-revocation" and v["after_redis_loss"])
    ]
    assert not others, f"{len(others)} violation(s), first: {others[:5]}\n{run.stdout[-3000:]}"
    if report["violations"]:
        raise KnownGap(f"{len(report['violations'])} violation(s) of the known class, first: {report['violations'][0]}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def test_the_checker_fails_a_run_with_revocation_announcements_dropped(tmp_path: Path) -> None:
    run, report = chaos(tmp_path, "--duration", "20", "--seed", "3", "--plant-bug", "drop-announcements")
    assert run.returncode == 1, run.stdout[-3000:]
    caught = [v for v in report["violations"] if v["rule"] == "accepted-after-revocation" and not v["after_redis_loss"]]
    assert caught, report["summary"]
