"""Password hashing with Argon2id (RFC 9106), on a thread pool of its own because each hash costs tens of ms."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from types import TracebackType

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from authorium_shared.service import available_cores

MIN_LENGTH = 8
MAX_LENGTH = 1024

# Argon2id with OWASP's recommended floor (Password Storage Cheat Sheet: 19 MiB, 2 passes, 1 lane). RFC 9106's
# second profile (64 MiB, 3 passes, 4 lanes; argon2-cffi's default) measured ~250 ms a verification on this
# project's 2-core machine: 4 sign-ins a second per core, and 64 MiB resident per concurrent sign-in. Hashes
# carry their parameters, so hashes made with either still verify.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def check_strength(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValueError(f"a password must be {MIN_LENGTH} to {MAX_LENGTH} characters long")


class Passwords:
    """Hashes and verifies passwords off the event loop. Hashing is CPU-bound: more threads than cores only adds
    memory (each hash holds its memory_cost) and queueing. Close it (or use it as a context manager) to stop the
    threads."""

    def __init__(self, *, workers: int | None = None, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or HASHER
        self._pool = ThreadPoolExecutor(max_workers=workers or available_cores(), thread_name_prefix="argon2")

    @cached_property
    def dummy_hash(self) -> str:
        """What an unknown user's password is verified against, so a miss costs what a hit costs."""
        return self.hasher.hash("authorium-dummy-password")

    async def hash(self, password: str) -> str:
        """The Argon2id hash of `password`; ValueError when it is too short or too long."""
        check_strength(password)
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.hasher.hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash or self.dummy_hash, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when `password` matches; with no hash (unknown user) it still spends the time, then says no."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify, password_hash, password[:MAX_LENGTH]
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Passwords:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
