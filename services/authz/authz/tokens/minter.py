"""Minting tokens: RFC 9068 access tokens, OpenID Connect ID tokens and opaque refresh tokens, and the token
response every grant answers with (RFC 6749 section 5.1)."""

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
from authz.clients.records import Client
from authz.settings import AuthzSettings
from authz.signing.ring import KeyRing


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

    def issue(
        self,
        *,
        client: Client,
        subject: str,
        scopes: Sequence[str],
        audience: Sequence[str],
        jti: str,
        issued_at: int,
        grant_id: str | None = None,
        auth_time: int | None = None,
        nonce: str | None = None,
        refresh_token: str | None = None,
    ) -> dict[str, Any]:
        """The token response of every grant (RFC 6749 section 5.1): an access token; an ID token when `openid`
        was granted (OIDC Core 3.1.3.3; on refresh, section 12.2: same claims, no nonce); the refresh token if the
        grant issued one."""
        access_token = self.access_token(
            subject=subject,
            client_id=client.client_id,
            scopes=scopes,
            audience=audience,
            jti=jti,
            issued_at=issued_at,
            grant_id=grant_id,
            auth_time=auth_time,
        )
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.settings.access_token_ttl,
            "scope": " ".join(scopes),
        }
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        if "openid" in scopes:
            body["id_token"] = self.id_token(
                subject=subject,
                client_id=client.client_id,
                alg=client.id_token_signed_response_alg,
                auth_time=auth_time,
                nonce=nonce,
                access_token=access_token,
            )
        return body
