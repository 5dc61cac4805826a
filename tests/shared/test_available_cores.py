"""`available_cores`: the CPUs a process may use, capped by a container's CPU limit under cgroup v2 and v1 (read
from a fake cgroup root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from authorium_shared.service import available_cores


@pytest.fixture(autouse=True)
def eight_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "cores"),
    [
        ({}, 8),  # no cgroup CPU controller to be seen: the affinity
        ({"cpu.max": "max 100000"}, 8),  # v2, no limit
        ({"cpu.max": "200000 100000"}, 2),  # v2, limits.cpu: 2
        ({"cpu.max": "150000 100000"}, 2),  # v2, 1.5 CPUs: rounded up
        ({"cpu.max": "25000 100000"}, 1),  # v2, 250m: at least one
        ({"cpu.max": "1600000 100000"}, 8),  # a limit above the affinity: the affinity
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, 8),  # v1, no limit
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3),  # v1
        ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 1),  # v1, 500m
        ({"cpu,cpuacct/cpu.cfs_quota_us": "250000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 3),  # v1, joint mount
        ({"cpu/cpu.cfs_quota_us": "garbage", "cpu/cpu.cfs_period_us": "100000"}, 8),  # unreadable: no cap
    ],
)
def test_available_cores_follows_the_cgroup_cpu_quota(tmp_path: Path, files: dict[str, str], cores: int) -> None:
    assert available_cores(_write(tmp_path, files)) == cores


def test_cgroup_v2_wins_over_leftover_v1_files(tmp_path: Path) -> None:
    root = _write(
        tmp_path, {"cpu.max": "max 100000", "cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"}
    )
    assert available_cores(root) == 8
