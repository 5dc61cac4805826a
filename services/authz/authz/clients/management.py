"""Managing registered clients (the admin API and `authorium client ...`): list, show, create, update, disable and
enable, delete, and rotate the secret with an overlap. Registration's rules are `authz.clients.registration`'s.

A disabled or deleted client's tokens stop working everywhere within a second: its grants are revoked, and so is its
service grant (the `grant_id` its client-credentials access tokens carry), through the revocation lists every
resource server follows; and its record is dropped from every replica's cache, so it no longer authenticates."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from authorium_shared.errors import OAuthError
from authz.audit import audited_transaction
from authz.clients import credentials
from authz.clients.records import Client, ClientSpec
from authz.clients.registration import build_spec, check_exchange_targets
from authz.clients.repository import ClientRepository
from authz.control import (
    BadInput,
    Control,
    NotFound,
    Page,
    check_limit,
    check_members,
    check_version,
    decode_cursor,
    page_of,
)
from authz.revocation import repository as revocations
from authz.revocation.revoker import Revoker

MAX_SECRET_OVERLAP = 86400
# What an update may change (DESIGN.md, "Admin API"), with the type each member must have.
CHANGEABLE = {
    "name": str,
    "redirect_uris": list,
    "grant_types": list,
    "scopes": list,
    "access_token_ttl": int,
    "refresh_token_ttl": int,
    "id_token_signed_response_alg": str,
    "token_endpoint_auth_method": str,
    "disabled": bool,
    # May introspect any token of this issuer (RFC 7662 section 2.1): a resource server. The operator's to grant.
    "introspect": bool,
    # Registration's members of the same names (authz.clients.records.ClientSpec says what each is for).
    "post_logout_redirect_uris": list,
    "backchannel_logout_uri": str,
    "backchannel_logout_session_required": bool,
    "jwks": dict,
    "jwks_uri": str,
    "dpop_bound_access_tokens": bool,
    "may_exchange_for": list,
    "require_pushed_authorization_requests": bool,
}
# The members taken over unchanged from the stored client when an update names others.
_CARRIED = (
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "jwks",
    "jwks_uri",
    "dpop_bound_access_tokens",
    "may_exchange_for",
    "require_pushed_authorization_requests",
)
# Creation takes these too; `public` only then (a client never changes between public and confidential).
CREATE_ONLY = {"public": bool}
NULLABLE = ("access_token_ttl", "refresh_token_ttl", "backchannel_logout_uri", "jwks", "jwks_uri")
# Registration's names for the members (RFC 7591 section 2) where ours differ.
_OUR_NAMES = {"client_name": "name", "scope": "scopes"}


def client_view(client: Client) -> dict[str, Any]:
    """A client as the admin API and `authorium client show --json` show it: never a secret or a digest."""
    expires = client.previous_secret_expires_at
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "grant_types": list(client.grant_types),
        "redirect_uris": list(client.redirect_uris),
        "scopes": list(client.scopes),
        "access_token_ttl": client.access_token_ttl,
        "refresh_token_ttl": client.refresh_token_ttl,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "disabled": client.disabled,
        "introspect": client.may_introspect,
        **{name: _shown(getattr(client, name)) for name in _CARRIED},
        "created_at": client.created_at.isoformat(),
        # While the previous secret still works after a rotation with an overlap.
        "previous_secret_expires_at": expires.isoformat() if expires and expires > datetime.now(UTC) else None,
    }


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _spec(fields: Mapping[str, Any], control: Control, *, public: bool, explicit_method: bool) -> ClientSpec:
    """Registration's rules over `fields`, and token lifetimes no longer than the server's."""
    settings = control.settings
    for name, server in (
        ("access_token_ttl", settings.access_token_ttl),
        ("refresh_token_ttl", settings.refresh_token_ttl),
    ):
        value = fields.get(name)
        if value is not None and value > server:
            raise BadInput(name, f"{name} may not be longer than the server's ({server} s)")
    try:
        return build_spec(
            name=fields["name"],
            grant_types=fields["grant_types"],
            redirect_uris=fields["redirect_uris"],
            scope=" ".join(fields["scopes"]),
            public=public,
            token_endpoint_auth_method=fields.get("token_endpoint_auth_method") if explicit_method else None,
            id_token_signed_response_alg=fields["id_token_signed_response_alg"],
            access_token_ttl=fields.get("access_token_ttl"),
            refresh_token_ttl=fields.get("refresh_token_ttl"),
            may_introspect=fields.get("introspect", False),
            **{name: fields[name] for name in _CARRIED if fields.get(name) is not None},
        )
    except OAuthError as exc:
        field = _OUR_NAMES.get(exc.field or "", exc.field)
        raise BadInput(field, exc.description or exc.error) from None


async def list_clients(
    pool: asyncpg.Pool,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    name: str | None = None,
    disabled: bool | None = None,
) -> Page:
    """Clients in `client_id` order, a page at a time."""
    size = check_limit(limit)
    after = decode_cursor(cursor, 1)
    rows = await ClientRepository(pool).page(
        after=str(after[0]) if after else None, limit=size + 1, name=name, disabled=disabled
    )
    return page_of(rows, size, client_view, lambda c: [c.client_id])


async def get_client(pool: asyncpg.Pool, client_id: str) -> Client:
    client = await ClientRepository(pool).get(client_id) if credentials.could_be_client_id(client_id) else None
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


async def _locked(conn: asyncpg.Connection, client_id: str, expected_version: str | None = None) -> Client:
    """The client's row, locked for the caller's transaction: NotFound if there is none, Stale if `expected_version`
    is given and not the current one."""
    client = await ClientRepository.locked(conn, client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    check_version(client_view(client), expected_version)
    return client


async def create_client(control: Control, document: object) -> tuple[Client, str | None]:
    """Register a client from the admin API's members; returns it with its secret (None for a public client), which
    exists only in this return value."""
    fields = check_members(document, {**CHANGEABLE, **CREATE_ONLY}, nullable=NULLABLE)
    if "name" not in fields:
        raise BadInput("name", "name is required")
    if "disabled" in fields:
        raise BadInput("disabled", "a client is created enabled; disable it afterwards")
    grant_types = fields.get("grant_types", ["authorization_code", "refresh_token"])
    defaults = {"redirect_uris": [], "scopes": [], "id_token_signed_response_alg": "RS256", "grant_types": grant_types}
    spec = _spec(
        {**defaults, **fields},
        control,
        public=fields.get("public", False),
        explicit_method="token_endpoint_auth_method" in fields,
    )
    secret = credentials.new_secret() if spec.takes_secret else None
    async with audited_transaction(control.pool) as conn:
        await _check_exchange_targets(conn, control, spec)
        client = await ClientRepository(conn).create(
            credentials.new_client_id(), spec, None if secret is None else credentials.digest(secret)
        )
        await control.record(conn, "client_registered", client_id=client.client_id, details={"name": client.name})
    return client, secret


async def update_client(
    control: Control, client_id: str, document: object, *, expected_version: str | None = None
) -> Client:
    """Change the members `document` names (`disabled` disables or enables); the rest stay. BadInput, NotFound or
    Stale (when `expected_version` is not the current one) change nothing."""
    changes = check_members(document, CHANGEABLE, nullable=NULLABLE)
    revoked: list[uuid.UUID] = []
    expires_at = control.revoker.grant_revocation_expiry()
    async with audited_transaction(control.pool) as conn:
        locked = await _locked(conn, client_id, expected_version)
        current = client = locked
        # Only what changes is checked again: disabling must work for a client registered under older rules.
        changed = sorted(k for k in changes if k != "disabled")
        if any(k != "introspect" for k in changed):
            client = await _replace_spec(conn, control, current, changes)
        if "introspect" in changes:
            client = await _set_introspect(conn, client, changes["introspect"])
        if changed:
            await control.record(conn, "client_updated", client_id=client_id, details={"changed": changed})
        disabled = changes.get("disabled")
        if disabled is not None and disabled != current.disabled:
            if disabled:
                revoked = await _revoke_tokens(conn, control.revoker, current, "client disabled", expires_at)
            # A new service grant either way: tokens of the old one are revoked (or were, at the last disabling).
            client = await ClientRepository.set_disabled(conn, client_id, disabled, uuid.uuid4())
            details = {"grants_revoked": len(revoked) - 1} if disabled else {}
            event = "client_disabled" if disabled else "client_enabled"
            await control.record(conn, event, client_id=client_id, details=details)
    await control.client_changed(client_id)
    await control.revoker.announce_grants(revoked, expires_at)
    return client


async def _replace_spec(
    conn: asyncpg.Connection, control: Control, current: Client, changes: Mapping[str, Any]
) -> Client:
    """`current` with `changes` to its registration, checked by registration's rules as a whole."""
    fields = {
        "name": current.name,
        "redirect_uris": list(current.redirect_uris),
        "grant_types": list(current.grant_types),
        "scopes": list(current.scopes),
        "access_token_ttl": current.access_token_ttl,
        "refresh_token_ttl": current.refresh_token_ttl,
        "id_token_signed_response_alg": current.id_token_signed_response_alg,
        "token_endpoint_auth_method": current.token_endpoint_auth_method,
        **{name: _shown(getattr(current, name)) for name in _CARRIED},
        **{k: v for k, v in changes.items() if k not in ("disabled", "introspect")},
    }
    explicit = current.auth_method_explicit or "token_endpoint_auth_method" in changes
    spec = _spec(fields, control, public=current.is_public, explicit_method=explicit)
    if "may_exchange_for" in changes:
        await _check_exchange_targets(conn, control, spec)
    if spec.takes_secret and current.secret_hash is None:
        raise BadInput(
            "token_endpoint_auth_method",
            "this client was registered without a secret (private_key_jwt); it cannot switch to a secret method",
        )
    client = await ClientRepository.update(conn, current.client_id, replace(spec, metadata=current.metadata))
    assert client is not None
    return client


async def _check_exchange_targets(conn: asyncpg.Connection, control: Control, spec: ClientSpec) -> None:
    """Registration's check that `may_exchange_for` names registered resources (and not the admin API)."""
    try:
        await check_exchange_targets(conn, spec, control.settings.built_in_resources)
    except OAuthError as exc:
        raise BadInput(exc.field, exc.description or exc.error) from None


async def _set_introspect(conn: asyncpg.Connection, client: Client, allowed: bool) -> Client:
    """Grant or withdraw the permission to introspect any token of this issuer; never for a public client, which
    has no credentials to introspect with (RFC 7662 section 2.1)."""
    if allowed and client.is_public:
        raise BadInput("introspect", "a public client cannot introspect: it has no credentials (RFC 7662 section 2.1)")
    return await ClientRepository.set_may_introspect(conn, client.client_id, allowed)


async def _revoke_tokens(
    conn: asyncpg.Connection, revoker: Revoker, client: Client, reason: str, expires_at: datetime
) -> list[uuid.UUID]:
    """Revoke every grant of `client`, and its service grant, in the caller's transaction (which holds the client's
    row lock); returns the grant ids to announce once it commits."""
    revoked = await revoker.grants.revoke_client(conn, client.client_id, reason, expires_at)
    if client.service_grant_id is not None:
        await revocations.record(conn, "grant", str(client.service_grant_id), expires_at)
        revoked.append(client.service_grant_id)
    return revoked


async def delete_client(control: Control, client_id: str, *, expected_version: str | None = None) -> None:
    """Delete the client with its consents, grants and refresh tokens, revoking its tokens (see the module)."""
    expires_at = control.revoker.grant_revocation_expiry()
    async with audited_transaction(control.pool) as conn:
        locked = await _locked(conn, client_id, expected_version)
        revoked = await remove(conn, control.revoker, locked, "client deleted", expires_at)
        await control.record(conn, "client_deleted", client_id=client_id, details={"grants_revoked": len(revoked) - 1})
    await control.client_changed(client_id)
    await control.revoker.announce_grants(revoked, expires_at)


async def remove(
    conn: asyncpg.Connection, revoker: Revoker, client: Client, reason: str, expires_at: datetime
) -> list[uuid.UUID]:
    """Revoke the client's tokens and delete it (consents, grants and refresh tokens go with it: ON DELETE CASCADE),
    in the caller's transaction, which holds the client's row lock. Returns the grant ids to announce."""
    revoked = await _revoke_tokens(conn, revoker, client, reason, expires_at)
    await ClientRepository.delete(conn, client.client_id)
    return revoked


async def rotate_secret(control: Control, client_id: str, *, overlap: int = 0) -> str:
    """A new secret for a confidential client; the old one keeps working `overlap` seconds (0 to a day), then not."""
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= MAX_SECRET_OVERLAP:
        raise BadInput("overlap", f"overlap must be a whole number of seconds from 0 to {MAX_SECRET_OVERLAP}")
    client = await get_client(control.pool, client_id)
    if not client.takes_secret:
        raise BadInput(
            None, f"a client that authenticates with {client.token_endpoint_auth_method} has no secret to rotate"
        )
    secret = credentials.new_secret()
    async with audited_transaction(control.pool) as conn:
        locked = await _locked(conn, client_id)
        keep = overlap > 0 and locked.secret_hash is not None
        await ClientRepository.set_secret(
            conn,
            client_id,
            credentials.digest(secret),
            locked.secret_hash if keep else None,
            datetime.now(UTC) + timedelta(seconds=overlap) if keep else None,
        )
        await control.record(conn, "client_secret_rotated", client_id=client_id, details={"overlap": overlap})
    await control.client_changed(client_id)
    return secret
