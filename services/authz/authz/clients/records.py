"""A client: as registered (`ClientSpec`, before it has an id and a secret) and as stored (`Client`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg


def takes_secret(token_endpoint_auth_method: str) -> bool:
    """Whether a client authenticating this way has a secret the server issues: not a public client, nor one that
    signs its assertions with its own key (private_key_jwt, RFC 7523)."""
    return token_endpoint_auth_method not in ("none", "private_key_jwt")


@dataclass(frozen=True)
class ClientSpec:
    """A client as registered, before it has an id and a secret."""

    name: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    token_endpoint_auth_method: str
    id_token_signed_response_alg: str = "RS256"
    metadata: dict[str, Any] = field(default_factory=dict)
    # Whether the method was named (by the client at registration, or by the operator): then it is the only one.
    auth_method_explicit: bool = False
    # May introspect any token of this issuer (RFC 7662 section 2.1): for the operator to grant, never a client.
    may_introspect: bool = False
    # Lifetimes of this client's tokens; None means the server's (AUTHORIUM_ACCESS_TOKEN_TTL, ..._REFRESH_TOKEN_TTL).
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    # Where the person may be sent after signing out (RP-Initiated Logout 1.0 section 3.1), matched exactly.
    post_logout_redirect_uris: tuple[str, ...] = ()
    # Where logout tokens are POSTed, and whether they must carry `sid` (Back-Channel Logout 1.0 section 2.2).
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    # The public keys of a private_key_jwt client (RFC 7591 section 2, RFC 7523): a JWK Set, or where to fetch one.
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    # Its access tokens must be DPoP-bound (RFC 9449 section 5.2).
    dpop_bound_access_tokens: bool = False
    # The registered resources it may exchange a user's token towards (RFC 8693): the operator's policy, never the
    # client's to set.
    may_exchange_for: tuple[str, ...] = ()
    # It may only make pushed authorization requests (RFC 9126 section 6).
    require_pushed_authorization_requests: bool = False

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def takes_secret(self) -> bool:
        return takes_secret(self.token_endpoint_auth_method)


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    secret_hash: bytes | None
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    id_token_signed_response_alg: str
    metadata: dict[str, Any]
    created_at: datetime
    # False for a confidential client the operator made without naming a method: either secret method will do.
    auth_method_explicit: bool = False
    # The SHA-256 digest of a self-registered client's registration access token (RFC 7592); None for the others.
    registration_token_hash: bytes | None = None
    # May introspect any token of this issuer, not only its own (RFC 7662 section 2.1): a resource server.
    may_introspect: bool = False
    access_token_ttl: int | None = None
    refresh_token_ttl: int | None = None
    # A disabled client cannot authenticate (`ClientCache.get` does not return it).
    disabled: bool = False
    # After a secret rotation with an overlap, the old secret's digest and when it stops working.
    previous_secret_hash: bytes | None = None
    previous_secret_expires_at: datetime | None = None
    # The grant id its client-credentials access tokens carry (`authz.clients.management` revokes it).
    service_grant_id: uuid.UUID | None = None
    updated_at: datetime | None = None
    # As in ClientSpec.
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    dpop_bound_access_tokens: bool = False
    may_exchange_for: tuple[str, ...] = ()
    require_pushed_authorization_requests: bool = False

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def takes_secret(self) -> bool:
        return takes_secret(self.token_endpoint_auth_method)

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Client:
        return cls(
            client_id=row["client_id"],
            name=row["name"],
            secret_hash=row["secret_hash"],
            token_endpoint_auth_method=row["token_endpoint_auth_method"],
            grant_types=tuple(row["grant_types"]),
            redirect_uris=tuple(row["redirect_uris"]),
            scopes=tuple(row["scopes"]),
            id_token_signed_response_alg=row["id_token_signed_response_alg"],
            metadata=row["metadata"],
            created_at=row["created_at"],
            auth_method_explicit=row["auth_method_explicit"],
            registration_token_hash=row["registration_token_hash"],
            may_introspect=row["may_introspect"],
            access_token_ttl=row["access_token_ttl"],
            refresh_token_ttl=row["refresh_token_ttl"],
            disabled=row["disabled"],
            previous_secret_hash=row["previous_secret_hash"],
            previous_secret_expires_at=row["previous_secret_expires_at"],
            service_grant_id=row["service_grant_id"],
            updated_at=row["updated_at"],
            post_logout_redirect_uris=tuple(row["post_logout_redirect_uris"]),
            backchannel_logout_uri=row["backchannel_logout_uri"],
            backchannel_logout_session_required=row["backchannel_logout_session_required"],
            jwks=row["jwks"],
            jwks_uri=row["jwks_uri"],
            dpop_bound_access_tokens=row["dpop_bound_access_tokens"],
            may_exchange_for=tuple(row["may_exchange_for"]),
            require_pushed_authorization_requests=row["require_pushed_authorization_requests"],
        )
