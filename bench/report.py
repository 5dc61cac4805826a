"""Results: one row per scenario, written as JSON and as a Markdown table under bench/results/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import Measured


def row(name: str, result: Measured, cpu_seconds: float) -> dict[str, Any]:
    return {
        "scenario": name,
        "requests_per_s": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
        "non_2xx": result.non_2xx,
        "socket_errors": result.socket_errors,
        "requests": result.requests,
        "cpu_s_per_1k": round(cpu_seconds / result.requests * 1000, 3) if result.requests else None,
        "loader": result.loader,
    }


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['scenario']:<48} {r['requests_per_s']:>9.1f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
        f"p99 {r['p99_ms']:>7.2f} ms  non-2xx {r['non_2xx']}  cpu/1k {r['cpu_s_per_1k']}"
    )


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def markdown(results: dict[str, Any]) -> str:
    machine, config = results["machine"], results["config"]
    out = [
        f"# Authorium benchmark, {results['date']}",
        "",
        f"{machine['cores']} cores ({machine['cpu']}), shared by the servers and the load generator; "
        f"{config['workers']} workers per service, {config['connections']} connections, "
        f"{config['duration_s']:g} s per scenario, load by {config['loader']}.",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | non-2xx | CPU s per 1,000 requests |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = [*results["scenarios"], *results.get("scale", [])]
    if results.get("peer"):
        rows.append(results["peer"])
    for r in rows:
        out.append(
            f"| {r['scenario']} | {r['requests_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['non_2xx'] + r['socket_errors']} | {r['cpu_s_per_1k']} |"
        )
    ours = next((r for r in results["scenarios"] if r["scenario"] == "client_credentials"), None)
    if ours and results.get("peer"):
        ratio = ours["requests_per_s"] / results["peer"]["requests_per_s"]
        out += ["", f"Client credentials: Authorium at **{ratio:.2f}x** node-oidc-provider in the same run."]
    memory = results.get("memory_rss_mb_per_worker") or {}
    if memory:
        out += [
            "",
            "Resident memory per worker after the runs (MB): " + "; ".join(f"{k} {v}" for k, v in memory.items()),
        ]
    return "\n".join(out) + "\n"


def write(results: dict[str, Any], folder: Path, *, smoke: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M")
    stem = f"{'smoke-' if smoke else ''}{stamp}-{results['machine']['cores']}cpu"
    paths = [folder / f"{stem}.json", folder / f"{stem}.md"]
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    paths[1].write_text(markdown(results))
    return paths
