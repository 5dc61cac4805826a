"""Postgres and Redis servers of the tests' own, in temporary folders on free loopback ports: the whole run's, when
nothing usable answers where the run is pointed (so `make test` needs no configured servers), and single tests'
that stop and restart theirs (the machine's are shared by everyone and must never be stopped)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from authorium import devstack
from authorium_shared import migrations
from tests.processes import free_port, redis_server
from tests.programs import Programs, postgres_programs, redis_program


def _postgres_user(programs: Programs) -> pwd.struct_passwd | None:
    """initdb and postgres refuse to run as root. As root, installed programs run as the `postgres` user their
    package made; the embedded package's as the user it makes for `authorium run` (see devstack)."""
    if os.geteuid() != 0:
        return None
    if not programs.embedded:
        try:
            return pwd.getpwnam("postgres")
        except KeyError:
            pass
    user = devstack.embedded_postgres_user(programs.path)
    assert user is not None
    return pwd.getpwnam(user)


class PrivatePostgres:
    """A Postgres on 127.0.0.1:`port` with its data, socket and log in `directory`, which a test may stop and start
    again under load: a real restart, with its "terminating connection due to administrator command" and "the
    database system is starting up"."""

    def __init__(self, programs: Programs, directory: Path, port: int, *, max_connections: int = 40) -> None:
        self.programs = programs
        self.directory = directory
        self.data = directory / "data"
        self.port = port
        self.max_connections = max_connections
        self.user = _postgres_user(programs)
        if self.user is not None:
            os.chown(directory, self.user.pw_uid, self.user.pw_gid)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        as_user: dict[str, Any] = {}
        if self.user is not None:
            as_user = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        result = subprocess.run(
            [str(self.programs.path / program), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.directory,
            # Its own session: a Ctrl-C at the terminal reaches pytest, which then stops the server in order.
            start_new_session=True,
            check=False,
            **as_user,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} failed: {result.stdout}{result.stderr}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale")

    def init_standby(self, primary: PrivatePostgres) -> None:
        """A copy of `primary`'s data that follows it by streaming replication (read-only until promoted)."""
        self._run(
            "pg_basebackup",
            "-D",
            str(self.data),
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-R",
            "-c",
            "fast",  # a checkpoint now, not spread over minutes
        )

    def promote(self) -> None:
        """Make this standby a primary, as a failover does."""
        self._run("pg_ctl", "promote", "-D", str(self.data), "-w", "-t", "30")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
            f" -c full_page_writes=off -c synchronous_commit=off -c max_connections={self.max_connections}"
        )
        log = str(self.directory / "log")
        self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "30", "-l", log, "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """`fast`: what an orderly restart does; every session is terminated at once."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-t", "30", "-m", mode)

    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def close(self) -> None:
        """Stop it if it runs (no waiting for anyone) and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-t", "30", "-m", "immediate", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    async def migrated_database(self, name: str) -> str:
        admin = await asyncpg.connect(self.url())
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.url(name))
        try:
            await migrations.apply(conn, migrations.all_migrations())
        finally:
            await conn.close()
        return self.url(name)


@contextmanager
def private_postgres(
    *, max_connections: int = 40, standby_of: PrivatePostgres | None = None
) -> Iterator[PrivatePostgres]:
    """A Postgres of the test's own: a new one, or a standby following the primary `standby_of`."""
    # Not under pytest's tmp_path: its parents are private to root, and as root the server runs as another user.
    directory = Path(tempfile.mkdtemp(prefix="authorium-pg-"))
    try:
        server = PrivatePostgres(postgres_programs(), directory, free_port(), max_connections=max_connections)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    try:
        if standby_of is None:
            server.init()
        else:
            server.init_standby(standby_of)
        server.start()
        yield server
    finally:
        server.close()


# Started beside a run's private servers: when the run ends without saying "done" (killed, or crashed before its
# clean-up), it stops them and removes their folders, so nothing of the run outlives it.
_WATCHDOG = """
import os, shutil, signal, sys, time
pids, folders = [], []
for line in sys.stdin:
    what, _, arg = line.strip().partition(" ")
    if what == "done":
        sys.exit(0)
    if what == "pid":
        pid, sig = arg.split()
        pids.append((int(pid), int(sig)))
    elif what == "folder":
        folders.append(arg)
def signal_all(pids):
    for pid, sig in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
signal_all(pids)
deadline = time.monotonic() + 10
while any(alive(pid) for pid, _ in pids) and time.monotonic() < deadline:
    time.sleep(0.1)
signal_all([(pid, signal.SIGKILL) for pid, _ in pids if alive(pid)])
for folder in folders:
    shutil.rmtree(folder, ignore_errors=True)
"""


def _where(url: str, default_port: int) -> tuple[str, int] | None:
    """host and port of a URL with a TCP address, None for a unix socket or a URL without a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "redis") or not parts.hostname:
        return None
    return parts.hostname, parts.port or default_port


async def _postgres_problem(url: str) -> str | None:
    """None if the Postgres at `url` lets the tests in, else why not."""
    try:
        conn = await asyncpg.connect(url, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


def _redis_problem(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=10) as conn:
            conn.sendall(b"PING\r\n")
            answer = conn.recv(256)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if answer.startswith(b"+PONG") else answer.decode(errors="replace").strip()


@dataclass
class RunStores:
    """The Postgres and Redis a test run uses, and what it started for them. `notes` says which, one line each."""

    admin_url: str
    redis_url: str
    notes: list[str] = field(default_factory=list)
    postgres: PrivatePostgres | None = None
    redis: subprocess.Popen[bytes] | None = None
    _stack: ExitStack = field(default_factory=ExitStack)
    _watchdog: subprocess.Popen[str] | None = None

    @classmethod
    def start(cls, admin_url: str, redis_url: str, *, postgres_named: bool, redis_named: bool) -> RunStores:
        """Use the servers at `admin_url` / `redis_url` where they let the tests in. Where nothing answers there,
        or (for the default addresses, not ones the run was given) a server refuses a password-less login, start
        a private one. Blocking: call it before any event loop runs."""
        stores = cls(admin_url, redis_url)
        try:
            if (reason := stores._unusable("Postgres", admin_url, 5432, postgres_named)) is not None:
                stores._start_postgres(reason)
            if (reason := stores._unusable("Redis", redis_url, 6379, redis_named)) is not None:
                stores._start_redis(reason)
        except BaseException:
            stores.close()
            raise
        return stores

    def _unusable(self, name: str, url: str, default_port: int, named: bool) -> str | None:
        """Why the server at `url` will not do, so a private one must; or None, having noted that it is used."""
        where = _where(url, default_port)
        if where is None:
            self.notes.append(f"{name}: as configured")
            return None
        address = f"{where[0]}:{where[1]}"
        problem = asyncio.run(_postgres_problem(url)) if name == "Postgres" else _redis_problem(*where)
        if problem is None:
            self.notes.append(f"{name}: {address}")
            return None
        if named and devstack.port_answers(*where):
            # The server the run was pointed at answers but refuses the tests: every test will show its error.
            self.notes.append(f"{name}: {address} ({problem})")
            return None
        return f"{address}: {problem}"

    def _watch(self, line: str) -> None:
        if self._watchdog is None:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
        assert self._watchdog.stdin is not None
        self._watchdog.stdin.write(line + "\n")
        self._watchdog.stdin.flush()

    def _start_postgres(self, reason: str) -> None:
        programs = postgres_programs()
        directory = Path(tempfile.mkdtemp(prefix="authorium-test-pg-"))
        self._watch(f"folder {directory}")
        self._stack.callback(shutil.rmtree, directory, ignore_errors=True)
        # The suite's servers run several workers with pools of their own, at once.
        server = PrivatePostgres(programs, directory, free_port(), max_connections=200)
        self._stack.callback(server.close)
        server.init()
        server.start()
        self._watch(f"pid {server.pid()} {int(signal.SIGQUIT)}")  # SIGQUIT: Postgres's immediate shutdown
        self.admin_url = server.url()
        self.postgres = server
        self.notes.append(f"Postgres: private, 127.0.0.1:{server.port}, {programs.describe()} ({reason})")

    def _start_redis(self, reason: str) -> None:
        programs = redis_program()
        port, proc = self._stack.enter_context(redis_server())
        self._watch(f"pid {proc.pid} {int(signal.SIGKILL)}")
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.redis = proc
        self.notes.append(f"Redis: private, 127.0.0.1:{port}, {programs.describe()} ({reason})")

    def close(self) -> None:
        """Stop what was started and remove its folders; then the watchdog is told all is done, and exits."""
        try:
            self._stack.close()
        finally:
            if self._watchdog is not None:
                assert self._watchdog.stdin is not None
                self._watchdog.stdin.write("done\n")
                self._watchdog.stdin.close()
                self._watchdog.wait(10)
                self._watchdog = None
