"""Where the programs the tests run come from: Postgres and Redis servers as installed on the machine, else the
ones the `embedded` extra ships; and the tools a few tests need that a fresh machine lacks (`.ci/run` installs
them): missing on a developer's machine, those tests are skipped; missing in CI, they fail."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from authorium import devstack

# Set to 1 to run the embedded packages' servers even where servers are installed (what a fresh machine does).
FORCE_EMBEDDED = os.environ.get("AUTHORIUM_TEST_EMBEDDED", "") == "1"


@dataclass(frozen=True)
class Programs:
    """A server's programs: the folder of Postgres's, or Redis's one binary."""

    path: Path
    embedded: bool

    def describe(self) -> str:
        return f"{self.path} ({'embedded package' if self.embedded else 'installed'})"


def _installed_postgres() -> Path | None:
    # Debian and Ubuntu keep the server programs off PATH, one folder per major version.
    debian = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    if debian:
        return max(debian, key=lambda p: int(p.parent.name))
    on_path = shutil.which("postgres")  # Homebrew, Fedora, Arch
    if on_path is not None and (Path(on_path).parent / "initdb").exists():
        return Path(on_path).parent
    return None


def postgres_programs() -> Programs:
    """The newest installed Postgres server programs, else the embedded package's; EmbeddedUnavailableError if
    neither is there."""
    installed = None if FORCE_EMBEDDED else _installed_postgres()
    if installed is not None:
        return Programs(installed, embedded=False)
    return Programs(devstack.embedded_postgres_programs(), embedded=True)


def redis_program() -> Programs:
    """An installed redis-server (or valkey-server), else the embedded package's valkey-server;
    EmbeddedUnavailableError if none is there."""
    installed = None if FORCE_EMBEDDED else (shutil.which("redis-server") or shutil.which("valkey-server"))
    if installed is not None:
        return Programs(Path(installed), embedded=False)
    return Programs(devstack.embedded_redis_server(), embedded=True)


def require_program(path_or_name: str, debian_package: str) -> str:
    """The program's path. Where it is missing, the test is skipped, naming the package to install; in CI (`CI`
    set), where .ci/run installs it, the test fails instead."""
    found = shutil.which(path_or_name)
    if found is not None:
        return found
    message = f"{path_or_name} is not installed (Debian/Ubuntu: apt-get install {debian_package}; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
