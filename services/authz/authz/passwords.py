"""Password hashing with Argon2id (RFC 9106), run off the event loop because each hash costs tens of ms."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from authorium_shared.service import available_cores

MIN_LENGTH = 8
MAX_LENGTH = 1024

# Argon2id with OWASP's recommended floor (Password Storage Cheat Sheet: 19 MiB, 2 passes, 1 lane). RFC 9106's
# second profile (64 MiB, 3 passes, 4 lanes; argon2-cffi's default) measured ~250 ms a verification on this
# project's 2-core machine: 4 sign-ins a second per core, and 64 MiB resident per concurrent sign-in. Hashes
# carry their parameters, so hashes made with either still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Hashing is CPU-bound; more threads than cores only adds memory (each hash holds its memory_cost) and queueing.
_pool = ThreadPoolExecutor(max_workers=available_cores(), thread_name_prefix="argon2")
# Verifying against this when the user does not exist makes the miss cost what a hit costs.
_DUMMY_HASH = _hasher.hash("authorium-dummy-password")


def check_strength(password: str) -> None:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValueError(f"a password must be {MIN_LENGTH} to {MAX_LENGTH} characters long")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash (unknown user) it still spends the time, then says no."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _verify, password_hash, password[:MAX_LENGTH])
