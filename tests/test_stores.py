"""The run's own Postgres and Redis (tests/stores.py): started where nothing usable answers, serving, and gone with
their folders after the run, however the run ends."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from redis.asyncio import Redis

from tests.processes import REPO, free_port
from tests.stores import RunStores
from tests.waiting import eventually

pytestmark = pytest.mark.slow


def _gone(pid: int) -> bool:
    try:
        # A zombie has exited; only waiting for its parent (init, for a daemonized postmaster) to reap it.
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _what_runs(stores: RunStores) -> tuple[list[int], list[Path]]:
    """The private servers' processes (the postmaster with its children, redis) and their folders."""
    assert stores.postgres is not None and stores.redis is not None
    postmaster = psutil.Process(stores.postgres.pid())
    pids = [postmaster.pid, *(child.pid for child in postmaster.children(recursive=True)), stores.redis.pid]
    return pids, [stores.postgres.directory]


async def _serve(stores: RunStores) -> None:
    conn = await asyncpg.connect(stores.admin_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
    redis = Redis.from_url(stores.redis_url)
    try:
        assert await redis.ping() is True
    finally:
        await redis.aclose()


async def test_where_nothing_answers_the_run_starts_its_own_and_removes_them() -> None:
    nowhere_pg = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    nowhere_redis = f"redis://127.0.0.1:{free_port()}/0"
    stores = await asyncio.to_thread(RunStores.start, nowhere_pg, nowhere_redis, postgres_named=True, redis_named=True)
    try:
        assert stores.admin_url != nowhere_pg and stores.redis_url != nowhere_redis
        assert [note.split(",")[0] for note in stores.notes] == ["Postgres: private", "Redis: private"]
        assert "ConnectionRefusedError" in stores.notes[0]
        await _serve(stores)
        pids, folders = _what_runs(stores)
        assert all(folder.is_dir() for folder in folders)
    finally:
        await asyncio.to_thread(stores.close)

    await eventually(lambda: all(_gone(pid) for pid in pids), timeout=10, message="the private servers to exit")
    assert not any(folder.exists() for folder in folders)


@contextmanager
def _refusing_redis() -> Iterator[int]:
    """Something on a port that answers like a Redis wanting a password."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(64)
                conn.sendall(b"-NOAUTH Authentication required.\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


async def test_a_server_refusing_the_tests_is_replaced_only_where_the_run_was_not_pointed_at_it() -> None:
    unix_pg = "postgresql://postgres@/postgres?host=/nonexistent"  # not a TCP address: used as configured
    with _refusing_redis() as port:
        refusing = f"redis://127.0.0.1:{port}/0"
        named = await asyncio.to_thread(RunStores.start, unix_pg, refusing, postgres_named=True, redis_named=True)
        named.close()
        assert named.redis_url == refusing
        assert named.notes == ["Postgres: as configured", f"Redis: 127.0.0.1:{port} (-NOAUTH Authentication required.)"]

        default = await asyncio.to_thread(RunStores.start, unix_pg, refusing, postgres_named=False, redis_named=False)
        try:
            assert default.redis_url != refusing
            assert default.notes[1].startswith("Redis: private, ")
            assert default.notes[1].endswith(f"(127.0.0.1:{port}: -NOAUTH Authentication required.)")
            redis = Redis.from_url(default.redis_url)
            try:
                assert await redis.ping() is True
            finally:
                await redis.aclose()
        finally:
            default.close()


_KILLED_RUN = """
import json, sys
from tests.stores import RunStores
from tests.test_stores import _what_runs
stores = RunStores.start(sys.argv[1], sys.argv[2], postgres_named=True, redis_named=True)
pids, folders = _what_runs(stores)
print(json.dumps({"pids": pids, "folders": [str(f) for f in folders]}), flush=True)
sys.stdin.read()
"""


async def test_a_run_killed_outright_leaves_no_server_behind() -> None:
    """SIGKILL gives the run no chance to clean up: the watchdog beside the servers does it."""
    nowhere = [f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", f"redis://127.0.0.1:{free_port()}/0"]
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_RUN,
        *nowhere,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert run.stdout is not None
        line = await asyncio.wait_for(run.stdout.readline(), 60)
        assert line, "the run did not start its servers"
        started: dict[str, Any] = json.loads(line)
        assert not any(_gone(pid) for pid in started["pids"])
    finally:
        run.kill()
        await run.communicate()

    await eventually(
        lambda: all(_gone(pid) for pid in started["pids"]), timeout=15, message="the killed run's servers to exit"
    )
    await eventually(
        lambda: not any(Path(folder).exists() for folder in started["folders"]),
        timeout=5,
        message="the killed run's folders to go",
    )
