"""The container health check: asks `/healthz` of the service this container runs, on the port it serves.

The image runs one `authorium serve <service> [--port P]` as process 1; its command line says which port to
ask, so one image-wide HEALTHCHECK fits every service. A container running anything else (the one-shot
`authorium setup`) has nothing to check."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from authorium.services import SERVICES

TIMEOUT = 3.0


def served_port(argv: Sequence[str]) -> int | None:
    """The port `authorium serve` listens on, from its arguments; None for any other command."""
    args = list(argv)
    if "serve" not in args:
        return None
    rest = args[args.index("serve") + 1 :]
    if not rest or rest[0] not in SERVICES:
        return None
    for i, arg in enumerate(rest):
        if arg == "--port" and i + 1 < len(rest):
            return int(rest[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return SERVICES[rest[0]].default_port


def main() -> int:
    argv = Path("/proc/1/cmdline").read_bytes().decode().split("\0")
    port = served_port(argv)
    if port is None:
        return 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
