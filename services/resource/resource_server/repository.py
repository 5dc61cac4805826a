"""Notes in Postgres, each owned by a token subject; listed newest first with keyset pagination."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_COLUMNS = "note_id, owner, title, body, created_at, updated_at"


@dataclass(frozen=True)
class Note:
    note_id: uuid.UUID
    owner: str
    title: str
    body: str
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.note_id),
            "owner": self.owner,
            "title": self.title,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    note_id: uuid.UUID


class NoteRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, owner: str, title: str, body: str) -> Note:
        row = await self.pool.fetchrow(
            f"INSERT INTO notes (note_id, owner, title, body) VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
            uuid.uuid4(),
            owner,
            title,
            body,
        )
        assert row is not None
        return Note(**dict(row))

    async def get(self, note_id: uuid.UUID) -> Note | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM notes WHERE note_id = $1", note_id)
        return Note(**dict(row)) if row else None

    async def page(self, owner: str, limit: int, after: Cursor | None) -> list[Note]:
        if after is None:
            rows = await self.pool.fetch(
                f"""SELECT {_COLUMNS} FROM notes WHERE owner = $1
                    ORDER BY created_at DESC, note_id DESC LIMIT $2""",
                owner,
                limit,
            )
        else:
            rows = await self.pool.fetch(
                f"""SELECT {_COLUMNS} FROM notes WHERE owner = $1 AND (created_at, note_id) < ($3, $4)
                    ORDER BY created_at DESC, note_id DESC LIMIT $2""",
                owner,
                limit,
                after.created_at,
                after.note_id,
            )
        return [Note(**dict(r)) for r in rows]

    async def update(self, note_id: uuid.UUID, owner: str, changes: dict[str, str]) -> Note | None:
        row = await self.pool.fetchrow(
            f"""UPDATE notes SET title = coalesce($3, title), body = coalesce($4, body), updated_at = now()
                WHERE note_id = $1 AND owner = $2 RETURNING {_COLUMNS}""",
            note_id,
            owner,
            changes.get("title"),
            changes.get("body"),
        )
        return Note(**dict(row)) if row else None

    async def delete(self, note_id: uuid.UUID, owner: str) -> bool:
        status = await self.pool.execute("DELETE FROM notes WHERE note_id = $1 AND owner = $2", note_id, owner)
        return bool(status == "DELETE 1")
