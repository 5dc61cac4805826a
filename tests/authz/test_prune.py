"""Pruning: expired refresh tokens, grants and revocations, and audit events past retention, go; everything
that can still matter stays. Batches are small statements, so the live tables are never locked for long."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from authz.pruning import prune
from tests.authz.flows import make_client
from tests.processes import authorium

NOW = datetime.now(UTC)


async def _grant(db: asyncpg.Pool, client_id: str, expires_at: datetime) -> uuid.UUID:
    grant_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO grants (grant_id, client_id, scopes, expires_at) VALUES ($1, $2, '{}', $3)",
        grant_id,
        client_id,
        expires_at,
    )
    await db.execute(
        "INSERT INTO refresh_tokens (token_hash, grant_id, scopes, expires_at) VALUES ($1, $2, '{}', $3)",
        uuid.uuid4().bytes,
        grant_id,
        expires_at,
    )
    return grant_id


async def test_prune_removes_only_what_is_dead(db: asyncpg.Pool, environ: dict[str, str]) -> None:
    client = await make_client(db)
    dead = [await _grant(db, client.client_id, NOW - timedelta(days=1)) for _ in range(3)]
    live = await _grant(db, client.client_id, NOW + timedelta(days=1))
    await db.execute(
        "INSERT INTO revocations (kind, id, expires_at) VALUES ('token', $1, $2), ('token', $3, $4)",
        f"old-{uuid.uuid4()}",
        NOW - timedelta(minutes=1),
        f"new-{uuid.uuid4()}",
        NOW + timedelta(minutes=10),
    )
    await db.execute(
        "INSERT INTO audit_events (event, occurred_at) VALUES ('old', $1), ('recent', $2)",
        NOW - timedelta(days=91),
        NOW - timedelta(days=89),
    )

    deleted = await prune(db, audit_retention=timedelta(days=90), batch=1)
    assert deleted["grants"] >= 3 and deleted["refresh_tokens"] >= 3
    assert deleted["revocations"] >= 1 and deleted["audit_events"] >= 1
    assert await db.fetchval("SELECT count(*) FROM grants WHERE grant_id = ANY($1::uuid[])", dead) == 0
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE grant_id = ANY($1::uuid[])", dead) == 0
    assert await db.fetchval("SELECT count(*) FROM grants WHERE grant_id = $1", live) == 1
    assert await db.fetchval("SELECT count(*) FROM refresh_tokens WHERE grant_id = $1", live) == 1
    assert await db.fetchval("SELECT count(*) FROM revocations WHERE expires_at < now()") == 0
    assert await db.fetchval("SELECT count(*) FROM revocations WHERE expires_at > now()") >= 1
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE event = 'recent'") >= 1
    assert await db.fetchval("SELECT count(*) FROM audit_events WHERE event = 'old'") == 0

    # Nothing left to do the second time; the command says the same.
    assert set((await prune(db, audit_retention=timedelta(days=90))).values()) == {0}
    result = await asyncio.to_thread(authorium, "prune", env=environ)
    assert result.returncode == 0, result.stderr
    assert "grants: 0 deleted" in result.stdout
