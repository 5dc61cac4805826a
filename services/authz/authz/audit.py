"""The audit log in Postgres, and as one JSON line per event on the `authorium.audit` logger: who did what, when,
from where. Never a secret, token or password."""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from authorium_shared.logs import request_id

audit_log = logging.getLogger("authorium.audit")

# Events that say something was refused or went wrong; every other event says what was done.
_OUTCOMES = {
    "sign_in_failure": "failure",
    "code_replay": "failure",
    "client_assertion_replay": "failure",
    "refresh_reuse": "failure",
    "consent_denied": "denied",
    "passkey_registration_failure": "failure",
    "passkey_sign_count_not_increased": "failure",
    "backchannel_logout_abandoned": "failure",
    "password_change_failure": "failure",
}

# The connection of the `audited_transaction` being run in this task, and the lines it logs once committed.
_pending: contextvars.ContextVar[tuple[asyncpg.Connection, list[dict[str, Any]]] | None] = contextvars.ContextVar(
    "audit_pending", default=None
)


@asynccontextmanager
async def audited_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a transaction whose audit events are logged once it commits: a change rolled back (an error
    raised inside) must not leave a line saying it happened."""
    lines: list[dict[str, Any]] = []
    async with pool.acquire() as conn:
        token = _pending.set((conn, lines))
        try:
            async with conn.transaction():
                yield conn
        finally:
            _pending.reset(token)
    for line in lines:
        _log(line)


def _log(line: dict[str, Any]) -> None:
    audit_log.info("audit event", extra=line)


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
        """Record `event`; on `conn` to make it part of the caller's transaction, which `audited_transaction` must have
        opened so the log line waits for the commit."""
        line = {
            "event": event,
            "actor": (details or {}).get("actor"),
            "client_id": client_id,
            "user_id": str(user_id) if user_id is not None else None,
            "outcome": _OUTCOMES.get(event, "success"),
            "remote_addr": remote_addr,
            "request_id": request_id.get(),
            "details": details or {},
        }
        pending = _pending.get()
        in_transaction = conn is not None and conn.is_in_transaction()
        if in_transaction and (pending is None or pending[0] is not conn):
            raise RuntimeError("an audit event in a transaction not opened by audited_transaction")
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
        if in_transaction and pending is not None:
            pending[1].append(line)
        else:
            _log(line)


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
