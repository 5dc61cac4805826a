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


@dataclass(frozen=True)
class Page:
    """A page of notes as JSON made by Postgres (the objects `Note.as_json` makes, in order), and where the next
    page starts, if there is one."""

    notes_json: bytes
    next: Cursor | None


def _iso(column: str) -> str:
    """SQL for `column` (timestamptz) as Python's `datetime.isoformat()` writes it in UTC: microseconds only when
    there are some, then +00:00; so a note reads the same listed as fetched alone."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_part('microseconds', {column})::bigint"
        f" % 1000000 = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00'"
    )


# One round trip for a page: limit + 1 rows on notes_owner_created_idx (owner, created_at DESC, note_id DESC), the
# first `limit` ($2) turned into JSON by Postgres, and the last of them as the next cursor when there is more. Two
# statements, with and without a cursor, so that the cursor is an index condition, not a filter over every newer row.
_PAGE = """
    WITH page AS (
        SELECT {columns} FROM notes
        WHERE owner = $1 {after}
        ORDER BY created_at DESC, note_id DESC LIMIT $2 + 1
    ), numbered AS (
        SELECT *, row_number() OVER (ORDER BY created_at DESC, note_id DESC) AS n FROM page
    )
    SELECT coalesce(
            json_agg(json_build_object('id', note_id, 'owner', owner, 'title', title, 'body', body,
                'created_at', {created_at}, 'updated_at', {updated_at}) ORDER BY n)
            FILTER (WHERE n <= $2),
            '[]')::text AS notes,
        count(*) > $2 AS more,
        max(created_at) FILTER (WHERE n = $2) AS last_created_at,
        (array_agg(note_id) FILTER (WHERE n = $2))[1] AS last_note_id
    FROM numbered"""
_PAGE_FIRST, _PAGE_AFTER = (
    _PAGE.format(columns=_COLUMNS, after=after, created_at=_iso("created_at"), updated_at=_iso("updated_at"))
    for after in ("", "AND (created_at, note_id) < ($3, $4)")
)


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

    async def page(self, owner: str, limit: int, after: Cursor | None) -> Page:
        """Up to `limit` of `owner`'s notes, newest first, after `after`."""
        if after is None:
            row = await self.pool.fetchrow(_PAGE_FIRST, owner, limit)
        else:
            row = await self.pool.fetchrow(_PAGE_AFTER, owner, limit, after.created_at, after.note_id)
        assert row is not None
        more = row["more"]
        return Page(row["notes"].encode(), Cursor(row["last_created_at"], row["last_note_id"]) if more else None)

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
