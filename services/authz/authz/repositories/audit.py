"""Audit events in Postgres: who did what, when, from where. Never a secret, token or password."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from authorium_shared.logs import request_id


async def record(
    db: asyncpg.Pool | asyncpg.Connection,
    event: str,
    *,
    client_id: str | None = None,
    user_id: uuid.UUID | None = None,
    remote_addr: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        """INSERT INTO audit_events (event, client_id, user_id, remote_addr, request_id, details)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        event,
        client_id,
        user_id,
        remote_addr,
        request_id.get(),
        details or {},
    )
