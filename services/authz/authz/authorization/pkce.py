"""Proof Key for Code Exchange (RFC 7636) with S256 only: `plain` offers no protection once the
authorization request leaks, so it is neither advertised nor accepted (RFC 9700 section 2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

METHOD = "S256"
# RFC 7636 section 4.1: 43 to 128 unreserved characters.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
# The S256 challenge is BASE64URL(SHA-256(verifier)): always 43 characters.
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def is_valid_challenge(challenge: str) -> bool:
    return bool(_CHALLENGE.fullmatch(challenge))


def is_valid_verifier(verifier: str) -> bool:
    return bool(_VERIFIER.fullmatch(verifier))


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def verify(verifier: str, challenge: str) -> bool:
    return is_valid_verifier(verifier) and hmac.compare_digest(challenge_of(verifier), challenge)
