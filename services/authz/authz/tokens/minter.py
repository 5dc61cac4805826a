"""Minting tokens: RFC 9068 access tokens, OpenID Connect ID tokens and opaque refresh tokens, and the token
response every grant answers with (RFC 6749 section 5.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from authorium_shared import access_tokens
from authorium_shared.jwt import encode, half_hash
from authz.clients.records import Client
from authz.factors import assurance
from authz.settings import AuthzSettings
from authz.signing.ring import KeyRing

BEARER_TOKEN_TYPE = "Bearer"
# RFC 9449 section 5: the token type of an access token bound to a DPoP key.
DPOP_TOKEN_TYPE = "DPoP"


def new_jti() -> str:
    return secrets.token_urlsafe(16)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def access_token_lifetime(settings: AuthzSettings, client: Client) -> int:
    """The client's access-token lifetime, never longer than the server's (revocations are kept that long)."""
    return min(client.access_token_ttl or settings.access_token_ttl, settings.access_token_ttl)


def refresh_token_lifetime(settings: AuthzSettings, client: Client) -> int:
    return min(client.refresh_token_ttl or settings.refresh_token_ttl, settings.refresh_token_ttl)


def audience_claim(audience: Sequence[str]) -> str | list[str]:
    return audience[0] if len(audience) == 1 else list(audience)


@dataclass(frozen=True)
class Issue:
    """What a grant hands out: to whom, for which client, scopes and audience, under which token id."""

    client: Client
    subject: str
    scopes: Sequence[str]
    audience: Sequence[str]
    jti: str
    issued_at: int
    # Seconds the access token lives: its resources' `access_token_ttl`, at most AUTHORIUM_ACCESS_TOKEN_TTL.
    lifetime: int
    grant_id: str | None = None
    auth_time: int | None = None
    nonce: str | None = None
    refresh_token: str | None = None
    # Who acts for the subject (RFC 8693 section 4.1), and the acting client's service grant, set by token exchange.
    act: dict[str, Any] | None = None
    client_grant_id: str | None = None
    # The OpenID Connect session the grant was made in: the ID token's `sid` (Back-Channel Logout 1.0 section 2.1).
    sid: str | None = None
    # How the person signed in (RFC 8176 values), when a sign-in stands behind the grant: the ID token's `amr`, and its
    # `acr` (the level they reach, `authz.factors.assurance`), OIDC Core 2.
    amr: tuple[str, ...] = ()
    # The thumbprint of the client's DPoP key (`TokenRequest.dpop_jkt`): the access token is bound to it.
    dpop_jkt: str | None = None


# Back-Channel Logout 1.0 section 2.4: the event a logout token carries, and its `typ` (section 2.4 and RFC 8725).
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYP = "logout+jwt"
# A logout token is delivered at once; two minutes covers clock skew and a slow client (section 2.4 suggests short).
LOGOUT_TOKEN_TTL = 120


class TokenMinter:
    def __init__(self, settings: AuthzSettings, ring: KeyRing) -> None:
        self.settings = settings
        self.ring = ring
        # Refresh successors are derived, not drawn, so a grace-window repeat can hand out the same one.
        self._successor_key = hmac.new(settings.kek.current, b"authorium refresh successor", hashlib.sha256).digest()

    def successor_of(self, refresh_token: str) -> str:
        mac = hmac.new(self._successor_key, refresh_token.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def issue(self, issue: Issue) -> dict[str, Any]:
        """The token response of every grant (RFC 6749 section 5.1): an access token; an ID token when `openid`
        was granted (OIDC Core 3.1.3.3; on refresh, section 12.2: same claims, no nonce); the refresh token if the
        grant issued one. An access token bound to a DPoP key is of type DPoP (RFC 9449 section 5)."""
        access_token = self._access_token(issue)
        body: dict[str, Any] = {
            "access_token": access_token,
            "token_type": BEARER_TOKEN_TYPE if issue.dpop_jkt is None else DPOP_TOKEN_TYPE,
            "expires_in": issue.lifetime,
            "scope": " ".join(issue.scopes),
        }
        if issue.refresh_token is not None:
            body["refresh_token"] = issue.refresh_token
        if "openid" in issue.scopes:
            body["id_token"] = self._id_token(issue, access_token)
        return body

    def _access_token(self, issue: Issue) -> str:
        """RFC 9068 section 2.2."""
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": issue.subject,
            "aud": audience_claim(issue.audience),
            "exp": issue.issued_at + issue.lifetime,
            "iat": issue.issued_at,
            "jti": issue.jti,
            "client_id": issue.client.client_id,
            "scope": " ".join(issue.scopes),
        }
        if issue.auth_time is not None:
            claims["auth_time"] = issue.auth_time
        if issue.grant_id is not None:
            claims[access_tokens.GRANT_ID_CLAIM] = issue.grant_id
        if issue.act is not None:
            claims["act"] = issue.act
        if issue.client_grant_id is not None:
            claims[access_tokens.CLIENT_GRANT_ID_CLAIM] = issue.client_grant_id
        if issue.dpop_jkt is not None:
            # RFC 9449 section 6.1: the confirmation claim names the key's thumbprint.
            claims[access_tokens.CONFIRMATION_CLAIM] = {access_tokens.JKT: issue.dpop_jkt}
        key = self.ring.keyset.signing_key(self.settings.access_token_alg)
        return encode(claims, key, typ=access_tokens.TYP)

    def _id_token(self, issue: Issue, access_token: str) -> str:
        """OpenID Connect Core section 2, signed with the client's registered algorithm."""
        alg = issue.client.id_token_signed_response_alg
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": issue.subject,
            "aud": issue.client.client_id,
            "exp": now + self.settings.id_token_ttl,
            "iat": now,
            "at_hash": half_hash(access_token, alg),
        }
        if issue.auth_time is not None:
            body["auth_time"] = issue.auth_time
        if issue.nonce is not None:
            body["nonce"] = issue.nonce
        if issue.sid is not None:
            body["sid"] = issue.sid
        if issue.amr:
            body["amr"] = list(issue.amr)
            body["acr"] = assurance.acr_of(issue.amr)
        return encode(body, self.ring.keyset.signing_key(alg), typ="JWT")

    def logout_token(self, client: Client, *, sid: str | None, subject: str | None) -> str:
        """Back-Channel Logout 1.0 section 2.4: `iss`, `aud`, `iat`, `exp`, `jti`, the logout event, and `sid` and/or
        `sub`; never a `nonce` (section 2.4 forbids it, so a logout token cannot pass for an ID token). Signed as the
        client's ID tokens are."""
        assert sid is not None or subject is not None
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": new_jti(),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
        }
        if subject is not None:
            claims["sub"] = subject
        if sid is not None:
            claims["sid"] = sid
        key = self.ring.keyset.signing_key(client.id_token_signed_response_alg)
        return encode(claims, key, typ=LOGOUT_TOKEN_TYP)
