"""Registered clients in Postgres."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from authz.clients.records import Client, ClientSpec

_COLUMNS = (
    "client_id, name, secret_hash, token_endpoint_auth_method, grant_types, redirect_uris, scopes,"
    " id_token_signed_response_alg, metadata, created_at, auth_method_explicit, registration_token_hash,"
    " may_introspect, access_token_ttl, refresh_token_ttl, disabled, previous_secret_hash, previous_secret_expires_at,"
    " service_grant_id, updated_at, post_logout_redirect_uris, backchannel_logout_uri,"
    " backchannel_logout_session_required, jwks, jwks_uri, dpop_bound_access_tokens, may_exchange_for,"
    " require_pushed_authorization_requests"
)


_REPLACE = """ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash,
    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, grant_types = EXCLUDED.grant_types,
    redirect_uris = EXCLUDED.redirect_uris, scopes = EXCLUDED.scopes,
    id_token_signed_response_alg = EXCLUDED.id_token_signed_response_alg, metadata = EXCLUDED.metadata,
    auth_method_explicit = EXCLUDED.auth_method_explicit, registration_token_hash = EXCLUDED.registration_token_hash,
    may_introspect = EXCLUDED.may_introspect, access_token_ttl = EXCLUDED.access_token_ttl,
    refresh_token_ttl = EXCLUDED.refresh_token_ttl, post_logout_redirect_uris = EXCLUDED.post_logout_redirect_uris,
    backchannel_logout_uri = EXCLUDED.backchannel_logout_uri,
    backchannel_logout_session_required = EXCLUDED.backchannel_logout_session_required, jwks = EXCLUDED.jwks,
    jwks_uri = EXCLUDED.jwks_uri, dpop_bound_access_tokens = EXCLUDED.dpop_bound_access_tokens,
    may_exchange_for = EXCLUDED.may_exchange_for,
    require_pushed_authorization_requests = EXCLUDED.require_pushed_authorization_requests, updated_at = now()"""


def _metadata(spec: ClientSpec) -> tuple[Any, ...]:
    """The logout, key, DPoP, token-exchange and PAR members, in the order the statements above list them."""
    return (
        list(spec.post_logout_redirect_uris),
        spec.backchannel_logout_uri,
        spec.backchannel_logout_session_required,
        spec.jwks,
        spec.jwks_uri,
        spec.dpop_bound_access_tokens,
        list(spec.may_exchange_for),
        spec.require_pushed_authorization_requests,
    )


class ClientRepository:
    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self.pool = pool

    async def create(
        self,
        client_id: str,
        spec: ClientSpec,
        secret_hash: bytes | None,
        *,
        replace: bool = False,
        registration_token_hash: bytes | None = None,
    ) -> Client:
        """Insert the client; with `replace`, a client of that id is overwritten instead (configuration that
        declares a client, such as the demo's, stays the source of truth)."""
        row = await self.pool.fetchrow(
            f"""INSERT INTO clients (client_id, name, secret_hash, token_endpoint_auth_method, grant_types,
                    redirect_uris, scopes, id_token_signed_response_alg, metadata, auth_method_explicit,
                    registration_token_hash, may_introspect, access_token_ttl, refresh_token_ttl,
                    post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required, jwks,
                    jwks_uri, dpop_bound_access_tokens, may_exchange_for, require_pushed_authorization_requests)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                    $21, $22)
                {_REPLACE if replace else ""}
                RETURNING {_COLUMNS}""",
            client_id,
            spec.name,
            secret_hash,
            spec.token_endpoint_auth_method,
            list(spec.grant_types),
            list(spec.redirect_uris),
            list(spec.scopes),
            spec.id_token_signed_response_alg,
            spec.metadata,
            spec.auth_method_explicit,
            registration_token_hash,
            spec.may_introspect,
            spec.access_token_ttl,
            spec.refresh_token_ttl,
            *_metadata(spec),
        )
        assert row is not None
        return Client.from_row(row)

    async def get(self, client_id: str) -> Client | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE client_id = $1", client_id)
        return Client.from_row(row) if row else None

    @staticmethod
    async def update(conn: asyncpg.Connection, client_id: str, spec: ClientSpec) -> Client | None:
        """Replace the registered metadata of `client_id`; its credentials (secret, registration access token) and
        what only the operator grants (`may_introspect`) stay."""
        row = await conn.fetchrow(
            f"""UPDATE clients SET name = $2, token_endpoint_auth_method = $3, grant_types = $4, redirect_uris = $5,
                    scopes = $6, id_token_signed_response_alg = $7, auth_method_explicit = $8, access_token_ttl = $9,
                    refresh_token_ttl = $10, post_logout_redirect_uris = $11, backchannel_logout_uri = $12,
                    backchannel_logout_session_required = $13, jwks = $14, jwks_uri = $15,
                    dpop_bound_access_tokens = $16, may_exchange_for = $17,
                    require_pushed_authorization_requests = $18, updated_at = now()
                WHERE client_id = $1
                RETURNING {_COLUMNS}""",
            client_id,
            spec.name,
            spec.token_endpoint_auth_method,
            list(spec.grant_types),
            list(spec.redirect_uris),
            list(spec.scopes),
            spec.id_token_signed_response_alg,
            spec.auth_method_explicit,
            spec.access_token_ttl,
            spec.refresh_token_ttl,
            *_metadata(spec),
        )
        return Client.from_row(row) if row else None

    @staticmethod
    async def delete(conn: asyncpg.Connection, client_id: str) -> None:
        """Delete the client, and with it (ON DELETE CASCADE) its consents, grants and refresh tokens."""
        await conn.execute("DELETE FROM clients WHERE client_id = $1", client_id)

    async def page(
        self, *, after: str | None, limit: int, name: str | None = None, disabled: bool | None = None
    ) -> list[Client]:
        """Clients in `client_id` order after `after` (keyset pagination), optionally those whose name contains
        `name` (case-insensitive) or that are (not) disabled."""
        rows = await self.pool.fetch(
            f"""SELECT {_COLUMNS} FROM clients
                WHERE ($1::text IS NULL OR client_id > $1)
                  AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0)
                  AND ($3::boolean IS NULL OR disabled = $3)
                ORDER BY client_id LIMIT $4""",
            after,
            name,
            disabled,
            limit,
        )
        return [Client.from_row(r) for r in rows]

    @staticmethod
    async def locked(conn: asyncpg.Connection, client_id: str) -> Client | None:
        """The client, its row locked until the caller's transaction ends; None if there is no such client. A grant
        being created for the client holds a key-share lock on this row, so it waits for that grant, and every grant
        created after it waits in turn."""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE client_id = $1 FOR UPDATE", client_id)
        return Client.from_row(row) if row else None

    @staticmethod
    async def set_disabled(
        conn: asyncpg.Connection, client_id: str, disabled: bool, service_grant_id: uuid.UUID
    ) -> Client:
        row = await conn.fetchrow(
            f"""UPDATE clients SET disabled = $2, service_grant_id = $3, updated_at = now() WHERE client_id = $1
                RETURNING {_COLUMNS}""",
            client_id,
            disabled,
            service_grant_id,
        )
        assert row is not None
        return Client.from_row(row)

    @staticmethod
    async def set_may_introspect(conn: asyncpg.Connection, client_id: str, allowed: bool) -> Client:
        row = await conn.fetchrow(
            f"""UPDATE clients SET may_introspect = $2, updated_at = now() WHERE client_id = $1
                RETURNING {_COLUMNS}""",
            client_id,
            allowed,
        )
        assert row is not None
        return Client.from_row(row)

    @staticmethod
    async def set_secret(
        conn: asyncpg.Connection,
        client_id: str,
        secret_hash: bytes,
        previous_hash: bytes | None,
        previous_expires_at: datetime | None,
    ) -> None:
        await conn.execute(
            """UPDATE clients SET secret_hash = $2, previous_secret_hash = $3, previous_secret_expires_at = $4,
                   updated_at = now()
               WHERE client_id = $1""",
            client_id,
            secret_hash,
            previous_hash,
            previous_expires_at,
        )
