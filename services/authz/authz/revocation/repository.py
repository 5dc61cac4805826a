"""The durable record of revocations in Postgres, and the outbox of what Redis's lists do not have yet: every
(re)recorded revocation is unpublished until the publisher (or the revoking request) has put it into Redis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from authorium_shared.revocation_lists import Kind, Revocation


async def record(db: asyncpg.Pool | asyncpg.Connection, kind: Kind, rid: str, expires_at: datetime) -> None:
    await db.execute(
        """INSERT INTO revocations (kind, id, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revocations.expires_at, EXCLUDED.expires_at),
               published = false""",
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
           ON CONFLICT (kind, id) DO UPDATE SET expires_at = greatest(revocations.expires_at, EXCLUDED.expires_at),
               published = false""",
        kind,
        list(ids),
        expires_at,
    )


def _revocation(row: asyncpg.Record) -> Revocation:
    return Revocation(kind=row["kind"], id=row["id"], expires_at=int(row["expires_at"].timestamp()))


async def unexpired(db: asyncpg.Pool | asyncpg.Connection) -> list[Revocation]:
    rows = await db.fetch("SELECT kind, id, expires_at FROM revocations WHERE expires_at > now()")
    return [_revocation(r) for r in rows]


async def unpublished(db: asyncpg.Pool | asyncpg.Connection, *, limit: int = 1000) -> list[Revocation]:
    """The oldest unexpired revocations Redis may not have yet."""
    rows = await db.fetch(
        """SELECT kind, id, expires_at FROM revocations WHERE NOT published AND expires_at > now()
           ORDER BY revoked_at LIMIT $1""",
        limit,
    )
    return [_revocation(r) for r in rows]


async def mark_published(db: asyncpg.Pool | asyncpg.Connection, found: Sequence[Revocation]) -> None:
    """`found` is in Redis. A row recorded again since it was read (a later expiry) stays unpublished."""
    if not found:
        return
    await db.execute(
        """UPDATE revocations r SET published = true
           FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(kind, id, expires_at)
           WHERE r.kind = u.kind AND r.id = u.id AND floor(extract(epoch FROM r.expires_at)) = u.expires_at
             AND NOT r.published""",
        [r.kind for r in found],
        [r.id for r in found],
        [r.expires_at for r in found],
    )


async def latest_published(db: asyncpg.Pool | asyncpg.Connection) -> Revocation | None:
    """The newest unexpired revocation already in Redis: a Redis without it has lost data. One about to expire is
    passed over: Redis keeps whole-second expiries and prunes them on its own clock, so it may be gone already."""
    row = await db.fetchrow(
        """SELECT kind, id, expires_at FROM revocations WHERE published AND expires_at > now() + interval '5 seconds'
           ORDER BY revoked_at DESC LIMIT 1"""
    )
    return None if row is None else _revocation(row)
