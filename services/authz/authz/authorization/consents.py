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
