"""Minting tokens: RFC 9068 access tokens, OpenID Connect ID tokens, and opaque refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from typing import Any

from authorium_shared import access_tokens
from authorium_shared.jwt import encode, half_hash
from authz.keys import KeyRing
from authz.settings import AuthzSettings


def new_jti() -> str:
    return secrets.token_urlsafe(16)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def audience_claim(audience: Sequence[str]) -> str | list[str]:
    return audience[0] if len(audience) == 1 else list(audience)


class TokenMinter:
    def __init__(self, settings: AuthzSettings, ring: KeyRing) -> None:
        self.settings = settings
        self.ring = ring
        # Refresh successors are derived, not drawn, so a grace-window repeat can hand out the same one.
        self._successor_key = hmac.new(settings.kek, b"authorium refresh successor", hashlib.sha256).digest()

    def successor_of(self, refresh_token: str) -> str:
        mac = hmac.new(self._successor_key, refresh_token.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def access_token(
        self,
        *,
        subject: str,
        client_id: str,
        scopes: Sequence[str],
        audience: Sequence[str],
        jti: str,
        issued_at: int,
        grant_id: str | None = None,
        auth_time: int | None = None,
    ) -> str:
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": audience_claim(audience),
            "exp": issued_at + self.settings.access_token_ttl,
            "iat": issued_at,
            "jti": jti,
            "client_id": client_id,
            "scope": " ".join(scopes),
        }
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if grant_id is not None:
            claims[access_tokens.GRANT_ID_CLAIM] = grant_id
        key = self.ring.keyset.signing_key(self.settings.access_token_alg)
        return encode(claims, key, typ=access_tokens.TYP)

    def id_token(
        self,
        *,
        subject: str,
        client_id: str,
        alg: str,
        auth_time: int | None,
        nonce: str | None,
        access_token: str,
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": client_id,
            "exp": now + self.settings.id_token_ttl,
            "iat": now,
            "at_hash": half_hash(access_token, alg),
        }
        if auth_time is not None:
            body["auth_time"] = auth_time
        if nonce is not None:
            body["nonce"] = nonce
        return encode(body, self.ring.keyset.signing_key(alg), typ="JWT")
