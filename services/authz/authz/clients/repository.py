"""Registered clients in Postgres."""

from __future__ import annotations

import asyncpg

from authz.clients.records import Client, ClientSpec

_COLUMNS = (
    "client_id, name, secret_hash, token_endpoint_auth_method, grant_types, redirect_uris, scopes,"
    " id_token_signed_response_alg, metadata, created_at, auth_method_explicit"
)


_REPLACE = """ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash,
    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, grant_types = EXCLUDED.grant_types,
    redirect_uris = EXCLUDED.redirect_uris, scopes = EXCLUDED.scopes,
    id_token_signed_response_alg = EXCLUDED.id_token_signed_response_alg, metadata = EXCLUDED.metadata,
    auth_method_explicit = EXCLUDED.auth_method_explicit, updated_at = now()"""


class ClientRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self, client_id: str, spec: ClientSpec, secret_hash: bytes | None, *, replace: bool = False
    ) -> Client:
        """Insert the client; with `replace`, a client of that id is overwritten instead (configuration that
        declares a client, such as the demo's, stays the source of truth)."""
        row = await self.pool.fetchrow(
            f"""INSERT INTO clients (client_id, name, secret_hash, token_endpoint_auth_method, grant_types,
                    redirect_uris, scopes, id_token_signed_response_alg, metadata, auth_method_explicit)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
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
        )
        assert row is not None
        return Client.from_row(row)

    async def get(self, client_id: str) -> Client | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE client_id = $1", client_id)
        return Client.from_row(row) if row else None
