"""Profiling a scenario: py-spy samples every worker of the service under load while the clock runs, and the
collapsed stacks are summarised as text (top functions by own time and by time including callees), so a profile
can be read, diffed and quoted without a browser. `python -m bench --profile DIR` turns it on."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

RATE = 250  # samples per second per worker: enough for a 4-8 s run, cheap enough not to distort it much
# `pip install py-spy` puts it beside the interpreter, which need not be on PATH.
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def available() -> bool:
    return Path(PY_SPY).exists()


@asynccontextmanager
async def sampling(pids: Sequence[int], folder: Path, name: str, duration: float) -> AsyncIterator[None]:
    """Record each of `pids` for `duration` seconds (the run's length) into FOLDER/NAME.<pid>.txt, collapsed."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    procs = [
        await asyncio.create_subprocess_exec(
            PY_SPY,
            "record",
            "--nonblocking",
            "--format",
            "raw",
            "--rate",
            str(RATE),
            "--duration",
            str(max(1, round(duration))),
            "--pid",
            str(pid),
            "-o",
            str(folder / f"{name}.{pid}.txt"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for pid in pids
    ]
    try:
        yield
    finally:
        await asyncio.gather(*(proc.wait() for proc in procs))


def _frame(frame: str) -> str:
    """`handler (authz/endpoints/token.py:25)` -> `handler (authz/endpoints/token.py)`: one entry per function."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/services/", "/shared/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


def summarise(folder: Path, name: str, top: int = 25) -> str:
    """The top functions of every worker's samples: own share (the frame on top) and inclusive share."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for path in sorted(folder.glob(f"{name}.*.txt")):
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_frame(f) for f in stack.split(";") if f]
            if not frames:
                continue
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    if not total:
        return f"## {name}\n\n(no samples)\n"
    out = [f"## {name}", "", f"{total} samples over the workers ({RATE}/s each).", "", "Own time:", ""]
    out += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    out += ["", "Including callees:", ""]
    out += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(out) + "\n"
