"""Real server processes that tests start and stop themselves (a Redis they may kill, the CLI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis as SyncRedis

from tests.programs import redis_program

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` different free ports (each held while the next is picked)."""
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


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
    argv = [
        str(redis_program().path),
        *(part for name, value in options.items() for part in (f"--{name}", value)),
        *(part for name, args in (config or {}).items() for part in (f"--{name}", *args)),
    ]
    with _listening(argv, port) as proc:
        yield port, proc


@contextmanager
def redis_sentinel(
    directory: Path, master_port: int, *, name: str = "mymaster", quorum: int = 2, down_after_ms: int = 1000
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A Redis Sentinel (the server program run with `--sentinel`) on its own port, watching the master on
    `master_port` as `name`: it declares it down after `down_after_ms` without an answer and, with `quorum`
    sentinels agreeing, promotes a replica. `directory` holds its configuration file, which it rewrites."""
    port = free_port()
    conf = directory / f"sentinel-{port}.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\n"
        f"sentinel monitor {name} 127.0.0.1 {master_port} {quorum}\n"
        f"sentinel down-after-milliseconds {name} {down_after_ms}\n"
        f"sentinel failover-timeout {name} {down_after_ms * 3}\n"
    )
    with _listening([str(redis_program().path), str(conf), "--sentinel"], port) as proc:
        yield port, proc


@contextmanager
def _listening(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A server process `argv`, once it listens on `port`; killed at the end."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own session: a Ctrl-C at the terminal reaches pytest, which then stops it in order.
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield proc
    finally:
        proc.kill()
        proc.wait()


CLUSTER_SLOTS = 16384


@dataclass
class ClusterNodes:
    ports: list[int]  # the masters', in slot order
    processes: dict[int, subprocess.Popen[bytes]]  # every node's, by port
    replicas: dict[int, int]  # master port -> its replica's port

    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"


@contextmanager
def redis_cluster(masters: int = 3, *, replicas: bool = False) -> Iterator[ClusterNodes]:
    """A Redis Cluster of `masters` nodes on loopback ports, with the slots split evenly between them (what
    `redis-cli --cluster create` does, done by commands so that only a server program is needed), and, with
    `replicas`, one replica per master, which the cluster promotes when its master fails."""
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authorium-cluster-")))
        count = masters * (2 if replicas else 1)
        # The bus port is the port + 10000 unless told, which may be taken or past 65535: free ports of their own.
        chosen = free_ports(2 * count)
        ports, bus_ports = chosen[:count], chosen[count:]
        processes = {}
        for n in range(count):
            (directory / str(n)).mkdir()
            config = {"cluster-enabled": ["yes"], "cluster-node-timeout": ["1000"], "cluster-port": [str(bus_ports[n])]}
            server = redis_server(ports[n], directory=directory / str(n), config=config)
            _, processes[ports[n]] = stack.enter_context(server)
        clients = [stack.enter_context(SyncRedis(port=port)) for port in ports]
        for n, client in enumerate(clients):
            if n < masters:
                first, last = n * CLUSTER_SLOTS // masters, (n + 1) * CLUSTER_SLOTS // masters - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            if n:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", ports[0], bus_ports[0])
        pairs = {ports[n]: ports[n + masters] for n in range(masters)} if replicas else {}
        for n, replica in enumerate(pairs.values()):
            master_id = clients[n].execute_command("CLUSTER", "MYID").decode()
            _until(lambda r=replica, m=master_id: _knows(r, m), "the replicas to learn of their masters")
            clients[n + masters].execute_command("CLUSTER", "REPLICATE", master_id)
        _until(
            lambda: all(b"cluster_state:ok" in c.execute_command("CLUSTER", "INFO") for c in clients),
            "the cluster to form",
        )
        # A replica that never synced is not promoted: the failover would lose its master's data.
        _until(
            lambda: all(c.info("replication").get("master_link_status") == "up" for c in clients[masters:]),
            "the replicas to sync",
        )
        yield ClusterNodes(ports[:masters], processes, pairs)


def _knows(port: int, node_id: str) -> bool:
    with SyncRedis(port=port) as client:
        return node_id.encode() in client.execute_command("CLUSTER", "NODES")


def _until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


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


def authorium_popen(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    """Start the installed `authorium` command (with `private_ports`); with `new_session`, in a process group of its
    own, which a test kills whole (`os.killpg`) so that no worker outlives it."""
    return subprocess.Popen(
        [sys.executable, "-m", "authorium", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": os.environ.get("PATH", ""), **private_ports(args, env)},
        cwd=cwd,
        start_new_session=new_session,
    )
