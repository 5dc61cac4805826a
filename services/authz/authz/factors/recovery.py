"""Recovery codes: one-time codes a person keeps on paper for when the authenticator app is lost. Each is 80 random
bits, shown once when made; only a SHA-256 digest of each is stored."""

from __future__ import annotations

import hashlib
import secrets

COUNT = 10
# Crockford-like base32 without the look-alikes (0/o, 1/l/i): easy to read off paper and type.
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_LENGTH = 16  # 16 characters of a 31-letter alphabet: over 79 bits
_GROUP = 4


def generate() -> list[str]:
    """COUNT new codes, as shown: groups of four separated by hyphens."""
    return [_grouped("".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))) for _ in range(COUNT)]


def _grouped(code: str) -> str:
    return "-".join(code[i : i + _GROUP] for i in range(0, len(code), _GROUP))


def normalized(typed: str) -> str | None:
    """A code as typed (any case, with or without hyphens and spaces), or None if it cannot be one."""
    code = "".join(c for c in typed.lower() if c not in "- ")
    return code if len(code) == _LENGTH and all(c in _ALPHABET for c in code) else None


def digest(code: str) -> bytes:
    """The stored form of a normalized code."""
    return hashlib.sha256(b"authorium recovery code\x00" + code.encode()).digest()
