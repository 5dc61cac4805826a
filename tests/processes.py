"""Real server processes that tests start and stop themselves (a Redis they may kill, the CLI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.programs import redis_program

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing answered on port {port} within {timeout}s")


@contextmanager
def redis_server(
    port: int | None = None, directory: Path | None = None, *, config: Mapping[str, Sequence[str]] | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A throwaway Redis on its own port, so a test can stop it without touching anyone else's: an installed
    redis-server, else the embedded package's. It keeps nothing on disk, unless `directory` is given: then it loads
    (and SAVE writes) `directory`/dump.rdb, so a restart keeps data. `config` adds directives: name -> arguments."""
    port = port or free_port()
    options = {"port": str(port), "bind": "127.0.0.1", "save": "", "appendonly": "no"}
    if directory is not None:
        options["dir"] = str(directory)
    proc = subprocess.Popen(
        [
            str(redis_program().path),
            *(part for name, value in options.items() for part in (f"--{name}", value)),
            *(part for name, args in (config or {}).items() for part in (f"--{name}", *args)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own session: a Ctrl-C at the terminal reaches pytest, which then stops it in order.
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield port, proc
    finally:
        proc.kill()
        proc.wait()


# The variables naming the private listeners' ports of `serve` (one service) and of `run` (all three).
SERVE_ADMIN_PORT = "AUTHORIUM_ADMIN_PORT"
RUN_ADMIN_PORTS = ("AUTHORIUM_AUTHZ_ADMIN_PORT", "AUTHORIUM_RESOURCE_ADMIN_PORT", "AUTHORIUM_CLIENT_DEMO_ADMIN_PORT")


def private_ports(args: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """`env`, with a free port for each private listener `serve` or `run` would open that `env` does not name: tests
    run side by side, and the defaults (8010-8012) would meet. A test that calls a private listener names its port."""
    command = args[0] if args else ""
    variables = (SERVE_ADMIN_PORT,) if command == "serve" else RUN_ADMIN_PORTS if command == "run" else ()
    return {**{variable: str(free_port()) for variable in variables if variable not in env}, **env}


def authorium(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed `authorium` command the way an operator does (with `private_ports`)."""
    return subprocess.run(
        [sys.executable, "-m", "authorium", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **private_ports(args, env)},
        timeout=timeout,
        check=False,
    )


def authorium_popen(*args: str, env: Mapping[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start the installed `authorium` command (with `private_ports`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "authorium", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **private_ports(args, env)},
        cwd=cwd,
    )
