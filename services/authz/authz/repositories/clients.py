"""Registered clients in Postgres."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from authz.clients import ClientSpec

_COLUMNS = (
    "client_id, name, secret_hash, token_endpoint_auth_method, grant_types, redirect_uris, scopes,"
    " id_token_signed_response_alg, metadata, created_at"
)


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

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

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
        )


_REPLACE = """ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, secret_hash = EXCLUDED.secret_hash,
    token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method, grant_types = EXCLUDED.grant_types,
    redirect_uris = EXCLUDED.redirect_uris, scopes = EXCLUDED.scopes,
    id_token_signed_response_alg = EXCLUDED.id_token_signed_response_alg, metadata = EXCLUDED.metadata,
    updated_at = now()"""


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
                    redirect_uris, scopes, id_token_signed_response_alg, metadata)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
        )
        assert row is not None
        return Client.from_row(row)

    async def get(self, client_id: str) -> Client | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM clients WHERE client_id = $1", client_id)
        return Client.from_row(row) if row else None

    async def find_by_name(self, name: str) -> Client | None:
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS} FROM clients WHERE name = $1 ORDER BY created_at LIMIT 1", name
        )
        return Client.from_row(row) if row else None
