"""Clients that register and manage themselves (RFC 7591, RFC 7592): client metadata documents read into a
`ClientSpec` under the operator's registration policy, a client written back as a client information response, the
registration access token, and replacing or deleting a registration. The rules every registration follows, the
CLI's included, are `authz.clients.registration`'s."""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import Any

import asyncpg

from authorium_shared.errors import InvalidClientMetadata
from authz.audit import AuditLog, audited_transaction
from authz.clients import credentials, management
from authz.clients.records import Client, ClientSpec
from authz.clients.registration import build_spec, check_known_scopes
from authz.clients.repository import ClientRepository
from authz.revocation.revoker import Revoker
from authz.scopes import DEFAULT_CLIENT_SCOPES
from authz.settings import AuthzSettings

DEFAULT_NAME = "Unnamed client"
# RFC 7591 section 2: the method when the document names none.
DEFAULT_AUTH_METHOD = "client_secret_basic"
# RFC 7592 section 3: what only the server sets, which an update request must not carry (section 2.2).
SERVER_MEMBERS = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)
# Compared against when there is no client or no token, so that costs what a wrong token does.
_NO_TOKEN_DIGEST = credentials.digest(credentials.new_secret())


def _string(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    return value


def _strings(document: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = document.get(name)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return value


def _bool(document: dict[str, Any], name: str) -> bool:
    value = document.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidClientMetadata(f"{name} must be a boolean")
    return value


def default_scope(settings: AuthzSettings) -> tuple[str, ...]:
    """What a client that names no scope gets (RFC 7591 section 2): DEFAULT_CLIENT_SCOPES, as far as the policy
    allows them."""
    return tuple(s for s in DEFAULT_CLIENT_SCOPES if s in settings.registration_scopes)


def check_policy(spec: ClientSpec, settings: AuthzSettings) -> None:
    """The operator's registration policy (RFC 7591 section 3.2.2): grant types and scopes beyond it are
    `invalid_client_metadata`. (Redirect URIs follow the rules every registration does.)"""
    grants = [g for g in spec.grant_types if g not in settings.registration_grant_types]
    if grants:
        raise InvalidClientMetadata(
            f"grant type {', '.join(grants)} is not open to registration here;"
            f" a registered client may use {', '.join(settings.registration_grant_types)}"
        )
    scopes = [s for s in spec.scopes if s not in settings.registration_scopes]
    if scopes:
        raise InvalidClientMetadata(
            f"scope {' '.join(scopes)} is not open to registration here;"
            f" a registered client may ask for {' '.join(settings.registration_scopes)}"
        )


def read_metadata(document: object, settings: AuthzSettings) -> ClientSpec:
    """A client metadata document (RFC 7591 section 2) as a spec within the policy. A member that is absent or null
    (or an empty `scope` or `client_name`) takes the section's default; RFC 7592 section 2.2 reads an omitted member
    as deleted, which comes to the same. Members this server does not use are ignored, as section 2 requires."""
    if not isinstance(document, dict):
        raise InvalidClientMetadata("the body must be a JSON object")
    grant_types = _strings(document, "grant_types", ["authorization_code"])
    response_types = _strings(document, "response_types", ["code"] if "authorization_code" in grant_types else [])
    # Section 2.1: response types and grant types must agree.
    if response_types not in ([], ["code"]) or (response_types == ["code"]) != ("authorization_code" in grant_types):
        raise InvalidClientMetadata('response_types must be ["code"] exactly when authorization_code is used')
    scope = _string(document, "scope") or " ".join(default_scope(settings))
    if not scope:
        raise InvalidClientMetadata(
            f"scope is required here: a registered client may ask for {' '.join(settings.registration_scopes)}"
        )
    method = _string(document, "token_endpoint_auth_method") or DEFAULT_AUTH_METHOD
    spec = build_spec(
        name=_string(document, "client_name") or DEFAULT_NAME,
        grant_types=grant_types,
        redirect_uris=_strings(document, "redirect_uris", []),
        scope=scope,
        public=method == "none",
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=_string(document, "id_token_signed_response_alg") or "RS256",
        post_logout_redirect_uris=_strings(document, "post_logout_redirect_uris", []),
        backchannel_logout_uri=_string(document, "backchannel_logout_uri"),
        backchannel_logout_session_required=_bool(document, "backchannel_logout_session_required"),
        jwks=document.get("jwks"),
        jwks_uri=_string(document, "jwks_uri"),
        dpop_bound_access_tokens=_bool(document, "dpop_bound_access_tokens"),
        require_pushed_authorization_requests=_bool(document, "require_pushed_authorization_requests"),
    )
    check_policy(spec, settings)
    return spec


def client_information(client: Client) -> dict[str, Any]:
    """The registered metadata of a client information response (RFC 7591 section 3.2.1), without its credentials."""
    return {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": " ".join(client.scopes),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        **({"backchannel_logout_uri": client.backchannel_logout_uri} if client.backchannel_logout_uri else {}),
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        **({"jwks": client.jwks} if client.jwks is not None else {}),
        **({"jwks_uri": client.jwks_uri} if client.jwks_uri is not None else {}),
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
    }


def new_registration_access_token() -> str:
    """256 random bits (RFC 7592 section 3, RFC 6750 section 2.1's b64token); only the client keeps it."""
    return credentials.new_secret()


def registration_token_matches(presented: str, client: Client | None) -> bool:
    """Whether `presented` is the registration access token of `client`: digests compared in constant time, and the
    same work done when there is no such client or it has no token (it was not registered dynamically)."""
    stored = client.registration_token_hash if client is not None else None
    same = hmac.compare_digest(credentials.digest(presented), stored or _NO_TOKEN_DIGEST)
    return same and stored is not None


def read_update(document: object, client: Client, settings: AuthzSettings) -> ClientSpec:
    """A client update request (RFC 7592 section 2.2) as the spec that replaces `client`'s: the registration rules
    and policy, this client's `client_id`, no member only the server sets, and a `client_secret` only if it is the
    one issued (a client never chooses its own). Whether the client is public stays as it was registered: a
    confidential client has a secret that a public one could not be given here, nor taken back."""
    if not isinstance(document, dict):
        raise InvalidClientMetadata("the body must be a JSON object")
    for name in SERVER_MEMBERS:
        if name in document:
            raise InvalidClientMetadata(
                f"{name} is set by the server; leave it out of an update (RFC 7592 section 2.2)"
            )
    if document.get("client_id") != client.client_id:
        raise InvalidClientMetadata("an update must carry this client's client_id (RFC 7592 section 2.2)")
    secret = document.get("client_secret")
    if secret is not None and not (isinstance(secret, str) and credentials.matches(secret, client.secret_hash)):
        raise InvalidClientMetadata("client_secret must be the one issued; a client cannot choose its own")
    # The operator's token-exchange policy stays: a client cannot widen (or drop) it itself.
    spec = replace(read_metadata(document, settings), may_exchange_for=client.may_exchange_for)
    if spec.takes_secret and client.secret_hash is None and not client.is_public:
        raise InvalidClientMetadata(
            "this client was registered without a secret (private_key_jwt); it cannot switch to a secret method"
        )
    if spec.is_public != client.is_public:
        raise InvalidClientMetadata(
            f"token_endpoint_auth_method must stay {'none' if client.is_public else 'a secret method'}:"
            " a client cannot change between public and confidential; register a new one"
        )
    return spec


async def replace_client(
    pool: asyncpg.Pool, audit: AuditLog, client_id: str, spec: ClientSpec, *, remote_addr: str | None
) -> Client | None:
    """Replace the metadata of `client_id` and record it, in one transaction; None if it no longer exists."""
    async with audited_transaction(pool) as conn:
        await check_known_scopes(conn, spec)
        client = await ClientRepository.update(conn, client_id, spec)
        if client is not None:
            details = {"name": client.name}
            await audit.record(
                "client_updated", client_id=client_id, remote_addr=remote_addr, details=details, conn=conn
            )
        return client


async def delete_client(
    pool: asyncpg.Pool, audit: AuditLog, revoker: Revoker, client_id: str, *, remote_addr: str | None
) -> bool:
    """Delete `client_id` with its consents, grants and refresh tokens, revoking each grant not revoked yet (RFC 7592
    section 2.3) so its access tokens are refused too; False if there was no such client. The revocations are
    recorded in Postgres in the same transaction as the deletion, then announced."""
    expires_at = revoker.grant_revocation_expiry()
    async with audited_transaction(pool) as conn:
        client = await ClientRepository.locked(conn, client_id)
        if client is None:
            return False
        revoked = await management.remove(conn, revoker, client, "client deleted", expires_at)
        details = {"grants_revoked": len(revoked) - 1}
        await audit.record("client_deleted", client_id=client_id, remote_addr=remote_addr, details=details, conn=conn)
    await revoker.announce_grants(revoked, expires_at)
    return True
