"""Results: one row per scenario, written as JSON, as a Markdown table with the ratios (against node-oidc-provider and
against the bare framework) and as a PNG chart under bench/results/, plus one line per run in history.jsonl (and its
chart, history.png), so a regression shows at a glance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import Measured

CEILING = "ceiling"
HISTORY = "history.jsonl"


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
    stores = ""
    if r.get("postgres_statements") is not None:
        stores = (
            f"  pg {r['postgres_statements']} ({r.get('postgres_ms_per_statement')} ms)  redis {r['redis_commands']}"
        )
    return (
        f"{r['scenario']:<56} {r['requests_per_s']:>9.1f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
        f"p99 {r['p99_ms']:>7.2f} ms  non-2xx {r['non_2xx']}  cpu/1k {r['cpu_s_per_1k']}{stores}"
    )


def cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _ceiling(results: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in results["scenarios"] if r["scenario"] == CEILING), None)


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Authorium against each peer row of the same scenario, and each cached path against the ceiling."""
    ours = {r["scenario"]: r for r in results["scenarios"]}
    out: list[dict[str, Any]] = []
    for p in results.get("peers") or []:
        mine = ours.get(p["peer_of"])
        if mine and p["requests_per_s"] and mine["cpu_s_per_1k"]:
            out.append(
                {
                    "scenario": p["peer_of"],
                    "against": f"node-oidc-provider ({p['alg']})",
                    "throughput": round(mine["requests_per_s"] / p["requests_per_s"], 2),
                    "cpu_per_request": round(p["cpu_s_per_1k"] / mine["cpu_s_per_1k"], 2),
                }
            )
    ceiling = _ceiling(results)
    if ceiling and ceiling["requests_per_s"]:
        for r in results["scenarios"]:
            if r.get("against_ceiling"):
                out.append(
                    {
                        "scenario": r["scenario"],
                        "against": "bare aiohttp (ceiling)",
                        "throughput": round(r["requests_per_s"] / ceiling["requests_per_s"], 2),
                        "cpu_per_request": round(ceiling["cpu_s_per_1k"] / r["cpu_s_per_1k"], 2),
                    }
                )
    return out


def _stores(r: dict[str, Any]) -> tuple[str, str]:
    if r.get("postgres_statements") is None:
        return "", ""
    by_command = ", ".join(f"{k} {v:g}" for k, v in (r.get("redis_by_command") or {}).items())
    return f"{r['postgres_statements']:g}", f"{r['redis_commands']:g}" + (f" ({by_command})" if by_command else "")


def markdown(results: dict[str, Any]) -> str:
    machine, config = results["machine"], results["config"]
    out = [
        f"# Authorium benchmark, {results['date']}",
        "",
        f"{machine['cores']} cores ({machine['cpu']}), shared by the servers and the load generator; "
        f"{config.get('replicas', 1)} replica(s) of each service with {config['workers']} workers each, "
        f"{config['connections']} connections, "
        f"{config['duration_s']:g} s per scenario, load by {config['loader']}.",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | non-2xx | CPU ms per request | Postgres statements "
        "per request | Redis commands per request |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows = [*results["scenarios"], *results.get("scale", []), *(results.get("peers") or [])]
    for r in rows:
        postgres, redis = _stores(r)
        name = r["scenario"]
        if r.get("requests_per_flow"):
            name += f" (flows: {r['requests_per_flow']:g} requests each; figures per flow)"
        if r.get("expected"):
            name += f" (answered {r['expected']}, as expected; non-2xx counts other answers)"
        out.append(
            f"| {name} | {r['requests_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['non_2xx'] + r['socket_errors']} | {r['cpu_s_per_1k']} | {postgres} | {redis} |"
        )
    found = ratios(results)
    if found:
        out += [
            "",
            "| scenario | against | throughput ratio | CPU per request ratio (theirs / ours) |",
            "|---|---|---:|---:|",
        ]
        out += [
            f"| {r['scenario']} | {r['against']} | **{r['throughput']:.2f}x** | {r['cpu_per_request']:.2f}x |"
            for r in found
        ]
    memory = results.get("memory_rss_mb_per_worker") or {}
    if memory:
        out += [
            "",
            "Resident memory per worker after the runs (MB): " + "; ".join(f"{k} {v}" for k, v in memory.items()),
        ]
    return "\n".join(out) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    """Grouped bars per scenario, requests/s above and p99 below (log scales: the scenarios span three orders of
    magnitude): Authorium, then the peer's same scenario per algorithm, then the ceiling for the cached paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ceiling = _ceiling(results)
    groups: list[tuple[str, list[tuple[str, dict[str, Any]]]]] = []
    for r in results["scenarios"]:
        if r["scenario"] == CEILING:
            continue
        bars = [("Authorium", r)]
        peers = [p for p in results.get("peers") or [] if p["peer_of"] == r["scenario"]]
        bars += [(f"node-oidc-provider {p['alg']}", p) for p in peers]
        if r.get("against_ceiling") and ceiling:
            bars.append(("bare aiohttp (ceiling)", ceiling))
        groups.append((r["scenario"], bars))
    for r in results.get("scale", []):
        groups.append((r["scenario"], [("Authorium", r)]))
    colours = {"Authorium": "#2b6cb0", "bare aiohttp (ceiling)": "#a0aec0"}
    peer_colours = iter(["#dd6b20", "#f6ad55", "#c05621"])
    labels = sorted({label for _, bars in groups for label, _ in bars}, key=lambda x: (x != "Authorium", x))
    for label in labels:
        colours.setdefault(label, next(peer_colours, "#718096"))
    width = 0.8 / max(len(bars) for _, bars in groups) if groups else 0.8
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, 1.3 * len(groups)), 8), sharex=True)
    shown: set[str] = set()
    for i, (_, bars) in enumerate(groups):
        start = i - width * (len(bars) - 1) / 2
        for j, (label, r) in enumerate(bars):
            x = start + j * width
            legend = label if label not in shown else None
            shown.add(label)
            top.bar(x, max(r["requests_per_s"], 0.1), width, color=colours[label], label=legend)
            rps = max(r["requests_per_s"], 0.1)
            top.text(x, rps, f"{r['requests_per_s']:,.0f}", ha="center", va="bottom", fontsize=7)
            bottom.bar(x, max(r["p99_ms"], 0.1), width, color=colours[label])
    top.set_yscale("log")
    top.set_ylabel("requests/s")
    top.legend(fontsize=8, loc="upper right")
    bottom.set_yscale("log")
    bottom.set_ylabel("p99 latency, ms")
    bottom.axhline(50, color="#c53030", linestyle="--", linewidth=1)
    bottom.text(len(groups) - 0.5, 50, "50 ms target", color="#c53030", fontsize=7, ha="right", va="bottom")
    bottom.set_xticks(range(len(groups)), [name for name, _ in groups], rotation=30, ha="right", fontsize=8)
    config = results["config"]
    top.set_title(
        f"Authorium bench {results['date']}: {results['machine']['cores']} cores shared with wrk, "
        f"{config['workers']} workers, {config['connections']} connections, {config['duration_s']:g} s each",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def history_line(results: dict[str, Any], *, smoke: bool) -> dict[str, Any]:
    return {
        "date": results["date"],
        "smoke": smoke,
        "cores": results["machine"]["cores"],
        "workers": results["config"]["workers"],
        "connections": results["config"]["connections"],
        "duration_s": results["config"]["duration_s"],
        "scenarios": {
            r["scenario"]: [r["requests_per_s"], r["p99_ms"], r["cpu_s_per_1k"]]
            for r in [*results["scenarios"], *results.get("scale", []), *(results.get("peers") or [])]
        },
    }


def history_chart(folder: Path) -> Path | None:
    """requests/s of each scenario across the full (not smoke) runs in the history."""
    runs = [json.loads(text) for text in (folder / HISTORY).read_text().splitlines() if text.strip()]
    runs = [r for r in runs if not r.get("smoke")]
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(name for r in runs for name in r["scenarios"]))
    fig, axis = plt.subplots(figsize=(10, 5))
    for name in names:
        points = [(i, r["scenarios"][name][0]) for i, r in enumerate(runs) if name in r["scenarios"]]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    axis.set_yscale("log")
    axis.set_ylabel("requests/s")
    axis.set_xticks(range(len(runs)), [r["date"][:16] for r in runs], rotation=30, ha="right", fontsize=7)
    axis.legend(fontsize=6, loc="center left", bbox_to_anchor=(1, 0.5))
    axis.set_title("Authorium bench history (each full run)", fontsize=9)
    fig.tight_layout()
    path = folder / "history.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(results: dict[str, Any], folder: Path, *, smoke: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M")
    stem = f"{'smoke-' if smoke else ''}{stamp}-{results['machine']['cores']}cpu"
    paths = [folder / f"{stem}.json", folder / f"{stem}.md", folder / f"{stem}.png"]
    results = {**results, "ratios": ratios(results)}
    paths[0].write_text(json.dumps(results, indent=2) + "\n")
    paths[1].write_text(markdown(results))
    chart(results, paths[2])
    with (folder / HISTORY).open("a") as history:
        history.write(json.dumps(history_line(results, smoke=smoke)) + "\n")
    paths.append(folder / HISTORY)
    if not smoke:
        # What README shows: the latest full run.
        (folder / "latest.png").write_bytes(paths[2].read_bytes())
        paths.append(folder / "latest.png")
        drawn = history_chart(folder)
        if drawn:
            paths.append(drawn)
    return paths
