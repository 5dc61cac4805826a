"""User codes of the device authorization grant (RFC 8628 section 6.1): eight characters of twenty consonants, which
read and type easily and spell no words, shown as XXXX-XXXX; entry ignores case, dashes and spaces."""

from __future__ import annotations

import secrets

# Section 6.1's example character set: base-20, no vowels (no words), no digits (no 0/O, 1/I confusion).
ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
LENGTH = 8  # 20^8, about 2^34.6: with entry throttled per address, guessing a live code is hopeless (section 5.1)
GROUP = 4
# What a person may type around the characters themselves (section 6.1: "ignore ... punctuation such as dashes").
_IGNORED = frozenset(" -\t")
# Longer input than this is not a mistyped user code; it is not looked at further.
MAX_INPUT = 64


def new_user_code() -> str:
    """A fresh code in its normal form (upper case, no dash)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def display(code: str) -> str:
    """The normal form grouped for reading, XXXX-XXXX."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalize(typed: str) -> str | None:
    """What a person typed as the normal form, or None if it cannot be a user code (section 6.1: case-insensitive,
    dashes and spaces ignored)."""
    if len(typed) > MAX_INPUT:
        return None
    code = "".join(c for c in typed if c not in _IGNORED).upper()
    if len(code) != LENGTH or not all(c in ALPHABET for c in code):
        return None
    return code
