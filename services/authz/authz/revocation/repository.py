"""The durable record of revocations in Postgres, from which Redis's lists are rebuilt after a loss."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from authorium_shared.revocation_lists import Kind, Revocation


async def record(db: asyncpg.Pool | asyncpg.Connection, kind: Kind, rid: str, expires_at: datetime) -> None:
    await db.execute(
        """INSERT INTO revocations (kind, id, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revocations.expires_at, EXCLUDED.expires_at)""",
        kind,
        rid,
        expires_at,
    )


async def record_many(
    db: asyncpg.Pool | asyncpg.Connection, kind: Kind, ids: Sequence[str], expires_at: datetime
) -> None:
    """`record` for many ids at once, in one statement."""
    await db.execute(
        """INSERT INTO revocations (kind, id, expires_at) SELECT $1, unnest($2::text[]), $3
           ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revocations.expires_at, EXCLUDED.expires_at)""",
        kind,
        list(ids),
        expires_at,
    )


async def unexpired(pool: asyncpg.Pool) -> list[Revocation]:
    rows = await pool.fetch("SELECT kind, id, expires_at FROM revocations WHERE expires_at > now()")
    return [Revocation(kind=r["kind"], id=r["id"], expires_at=int(r["expires_at"].timestamp())) for r in rows]
