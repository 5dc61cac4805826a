"""Client secrets: 256 random bits made by the server, stored as SHA-256 digests, compared in constant time.

A slow password hash buys nothing for a secret this random and would only burn CPU on every token request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from authz.clients.records import Client


def new_client_id() -> str:
    # 24 characters of base64url: never a user id's form (`uuid.UUID` needs 32 hex digits once hyphens, braces and a
    # "urn:uuid:" prefix are taken away, and 24 characters cannot hold that), so the `sub` of a client-credentials
    # token never names a user (RFC 9068 section 5).
    return secrets.token_urlsafe(18)


MAX_CLIENT_ID_LENGTH = 256


def could_be_client_id(value: str) -> bool:
    """Whether `value` is worth looking up: not over-long, and no control characters (a NUL, from Basic credentials
    or a percent-encoded path, would otherwise reach Postgres, which cannot store it)."""
    return len(value) <= MAX_CLIENT_ID_LENGTH and value.isprintable()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def matches_client(secret: str, client: Client, now: datetime | None = None) -> bool:
    """Whether `secret` is the client's: its current one, or the one it replaced while the overlap lasts. Both are
    compared, so the time taken says nothing about which matched."""
    current = matches(secret, client.secret_hash)
    expires = client.previous_secret_expires_at
    in_overlap = expires is not None and expires > (now or datetime.now(UTC))
    previous = matches(secret, client.previous_secret_hash if in_overlap else _NO_SECRET)
    return current or (previous and in_overlap)


def matches(secret: str, stored_digest: bytes | None) -> bool:
    if stored_digest is None:
        return False
    return hmac.compare_digest(digest(secret), stored_digest)


# What the previous secret is compared against outside an overlap, so the comparison costs the same.
_NO_SECRET = digest(new_secret())
