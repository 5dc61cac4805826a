"""A PostgreSQL server of the test's own (the machine's is shared by everyone and must never be stopped), in a
temporary directory, which the test may stop and start again under load: a real restart, with its
"terminating connection due to administrator command" and "the database system is starting up"."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from authorium_shared import migrations
from tests.processes import free_port


class PrivatePostgres:
    def __init__(self, bin_dir: Path, directory: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.data = directory / "data"
        self.directory = directory
        self.port = port
        # initdb and postgres refuse to run as root; as root, run them as the packaged server's own user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*self.as_user, str(self.bin_dir / program), *args], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{program} failed: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=40"
        )
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.directory / "log"), "-o", options
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast`: what an orderly restart does; every session is terminated at once."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-t", "30", "-m", mode)

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
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        pytest.skip("PostgreSQL's server programs (Debian's postgresql package) are not installed")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as `postgres`.
    directory = Path(tempfile.mkdtemp(prefix="authorium-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    server = PrivatePostgres(found[-1].parent, directory, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        subprocess.run(
            [*server.as_user, str(server.bin_dir / "pg_ctl"), "stop", "-D", str(server.data), "-m", "immediate"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(directory, ignore_errors=True)
