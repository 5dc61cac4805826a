"""The audit log in Postgres: who did what, when, from where. Never a secret, token or password."""

from __future__ import annotations

import uuid
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
