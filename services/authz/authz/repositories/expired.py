"""Deleting rows that can no longer matter, a batch at a time: each batch is its own short statement found
through an index on the expiry column, so pruning never holds long locks or a long transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# table -> the timestamp column past which a row is dead. Deleting a grant deletes its refresh tokens
# (ON DELETE CASCADE); a grant's revocation lives on in `revocations` until it expires in turn.
EXPIRING = {
    "refresh_tokens": "expires_at",
    "grants": "expires_at",
    "revocations": "expires_at",
    "audit_events": "occurred_at",
}


async def delete_batch(pool: asyncpg.Pool, table: str, before: datetime, limit: int) -> int:
    column = EXPIRING[table]
    status = await pool.execute(
        f"""DELETE FROM {table} WHERE ctid = ANY(ARRAY(
                SELECT ctid FROM {table} WHERE {column} < $1 LIMIT $2))""",
        before,
        limit,
    )
    return int(status.split()[-1])
