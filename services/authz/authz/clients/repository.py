"""Registered clients in Postgres."""

from __future__ import annotations

import asyncpg

from authz.clients.records import Client, ClientSpec

_COLUMNS = (
    "client_id, name, secret_hash, token_endpoint_auth_method, grant_types, redirect_uris, scopes,"
    " id_token_signed_response_alg, metadata, created_at, auth_method_explicit, registration_token_hash,"
    " may_introspect"
)


_REPLACE = """ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash,
    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, grant_types = EXCLUDED.grant_types,
    redirect_uris = EXCLUDED.redirect_uris, scopes = EXCLUDED.scopes,
    id_token_signed_response_alg = EXCLUDED.id_token_signed_response_alg, metadata = EXCLUDED.metadata,
    auth_method_explicit = EXCLUDED.auth_method_explicit, registration_token_hash = EXCLUDED.registration_token_hash,
    may_introspect = EXCLUDED.may_introspect, updated_at = now()"""


class ClientRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
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
                    registration_token_hash, may_introspect)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
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
                    scopes = $6, id_token_signed_response_alg = $7, auth_method_explicit = $8, updated_at = now()
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
        )
        return Client.from_row(row) if row else None

    @staticmethod
    async def lock(conn: asyncpg.Connection, client_id: str) -> bool:
        """Lock the client's row until the caller's transaction ends; False if there is no such client. A grant
        being created for the client holds a key-share lock on this row, so it waits for that grant, and every grant
        created after it waits in turn."""
        return await conn.fetchval("SELECT true FROM clients WHERE client_id = $1 FOR UPDATE", client_id) is not None

    @staticmethod
    async def delete(conn: asyncpg.Connection, client_id: str) -> None:
        """Delete the client, and with it (ON DELETE CASCADE) its consents, grants and refresh tokens."""
        await conn.execute("DELETE FROM clients WHERE client_id = $1", client_id)
