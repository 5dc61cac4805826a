"""The audit log in Postgres: who did what, when, from where. Never a secret, token or password."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from authorium_shared.logs import request_id


class AuditLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def record(
        self,
        event: str,
        *,
        client_id: str | None = None,
        user_id: uuid.UUID | None = None,
        remote_addr: str | None = None,
        details: dict[str, Any] | None = None,
        conn: asyncpg.Connection | None = None,
    ) -> None:
        """Record `event`; on `conn` to make it part of the caller's transaction."""
        await (conn or self.pool).execute(
            """INSERT INTO audit_events (event, client_id, user_id, remote_addr, request_id, details)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            event,
            client_id,
            user_id,
            remote_addr,
            request_id.get(),
            details or {},
        )


def event_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "occurred_at": row["occurred_at"].isoformat(),
        "type": row["event"],
        "client_id": row["client_id"],
        "user_id": str(row["user_id"]) if row["user_id"] else None,
        "remote_addr": row["remote_addr"],
        "request_id": row["request_id"],
        "details": row["details"],
    }


async def query(
    pool: asyncpg.Pool,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    event: str | None = None,
    user_id: uuid.UUID | None = None,
    client_id: str | None = None,
    before_id: int | None = None,
    limit: int,
) -> list[asyncpg.Record]:
    """Audit events, newest first (by id, below `before_id`): from `since` (inclusive) to `until` (exclusive), of
    type `event`, about `user_id`, about `client_id`."""
    rows: list[asyncpg.Record] = await pool.fetch(
        """SELECT id, occurred_at, event, client_id, user_id, remote_addr, request_id, details FROM audit_events
           WHERE ($1::timestamptz IS NULL OR occurred_at >= $1) AND ($2::timestamptz IS NULL OR occurred_at < $2)
             AND ($3::text IS NULL OR event = $3) AND ($4::uuid IS NULL OR user_id = $4)
             AND ($5::text IS NULL OR client_id = $5) AND ($6::bigint IS NULL OR id < $6)
           ORDER BY id DESC LIMIT $7""",
        since,
        until,
        event,
        user_id,
        client_id,
        before_id,
        limit,
    )
    return rows
