"""The container health check: asks `/readyz` of the service this container runs, on its private listener.

The image runs one `authorium serve <service> [--port P]` as process 1; its command line says which service, and the
environment the health check shares with it says the private listener's port (AUTHORIUM_ADMIN_PORT, else the
service's default), so one image-wide HEALTHCHECK fits every service. A container running anything else (the one-shot
`authorium setup`) has nothing to check. Healthy means ready: what compose's `service_healthy` waits for."""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from authorium.services import SERVICES
from authorium_shared.settings import admin_port

TIMEOUT = 3.0


def served_service(argv: Sequence[str]) -> str | None:
    """The service `authorium serve` runs, from its arguments; None for any other command."""
    args = list(argv)
    if "serve" not in args:
        return None
    rest = args[args.index("serve") + 1 :]
    return rest[0] if rest and rest[0] in SERVICES else None


def private_port(argv: Sequence[str], environ: Mapping[str, str]) -> int | None:
    """The port of the private listener of the service `argv` serves; None when it serves none."""
    service = served_service(argv)
    return None if service is None else admin_port(environ, SERVICES[service].default_admin_port)


def main() -> int:
    argv = Path("/proc/1/cmdline").read_bytes().decode().split("\0")
    port = private_port(argv, os.environ)
    if port is None:
        return 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=TIMEOUT) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
