"""Password hashing with Argon2id (RFC 9106), run off the event loop because each hash costs tens of ms."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 1024

_hasher = PasswordHasher()  # argon2-cffi's defaults are RFC 9106's second recommended profile (Argon2id)
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
    return await asyncio.to_thread(_verify, password_hash, password[:MAX_LENGTH])
