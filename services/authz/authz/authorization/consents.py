"""Remembered consent in Postgres: which scopes a user has granted a client."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg


class ConsentRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def granted(self, user_id: uuid.UUID, client_id: str) -> frozenset[str]:
        scopes = await self.pool.fetchval(
            "SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2", user_id, client_id
        )
        return frozenset(scopes or ())

    async def grant(self, user_id: uuid.UUID, client_id: str, scopes: Iterable[str]) -> None:
        """Add `scopes` to what the user has granted the client (never removes any)."""
        await self.pool.execute(
            """INSERT INTO consents (user_id, client_id, scopes) VALUES ($1, $2, $3)
               ON CONFLICT (user_id, client_id) DO UPDATE
               SET scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1),
                   updated_at = now()""",
            user_id,
            client_id,
            sorted(set(scopes)),
        )

    async def of_user(self, user_id: uuid.UUID, *, after: str | None, limit: int) -> list[asyncpg.Record]:
        """The user's consents in client order after `after`, with each client's name."""
        rows: list[asyncpg.Record] = await self.pool.fetch(
            """SELECT c.client_id, k.name AS client_name, c.scopes, c.granted_at, c.updated_at
               FROM consents c JOIN clients k USING (client_id)
               WHERE c.user_id = $1 AND ($2::text IS NULL OR c.client_id > $2)
               ORDER BY c.client_id LIMIT $3""",
            user_id,
            after,
            limit,
        )
        return rows

    @staticmethod
    async def withdraw(conn: asyncpg.Connection, user_id: uuid.UUID, client_id: str) -> bool:
        """Forget what the user granted the client; False if they had granted it nothing."""
        deleted = await conn.fetchval(
            "DELETE FROM consents WHERE user_id = $1 AND client_id = $2 RETURNING true", user_id, client_id
        )
        return deleted is not None
