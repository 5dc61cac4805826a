"""Users in Postgres; usernames are unique without regard to case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class User:
    user_id: uuid.UUID
    username: str
    password_hash: str
    name: str | None
    email: str | None
    disabled: bool = False
    created_at: datetime | None = None


class UsernameTaken(Exception):
    pass


_COLUMNS = "user_id, username, password_hash, name, email, disabled, created_at"


class UserRepository:
    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self.pool = pool

    async def create(
        self, username: str, password_hash: str, *, name: str | None = None, email: str | None = None
    ) -> User:
        try:
            row = await self.pool.fetchrow(
                f"""INSERT INTO users (user_id, username, password_hash, name, email)
                    VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
                uuid.uuid4(),
                username,
                password_hash,
                name,
                email,
            )
        except asyncpg.UniqueViolationError:
            raise UsernameTaken(username) from None
        assert row is not None
        return User(**dict(row))

    async def find_by_username(self, username: str) -> User | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE lower(username) = lower($1)", username)
        return User(**dict(row)) if row else None

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE user_id = $1", user_id)
        return User(**dict(row)) if row else None

    async def get_by_subject(self, subject: str) -> User | None:
        """The user a token's `sub` names, or None when it names no user (a client, or garbage)."""
        try:
            user_id = uuid.UUID(subject)
        except ValueError:
            return None
        return await self.get(user_id)

    async def set_password(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self.pool.execute(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE user_id = $1",
            user_id,
            password_hash,
        )

    async def page(self, *, after: str | None, limit: int, username: str | None = None) -> list[User]:
        """Users in username order (without regard to case) after `after`, optionally those whose username contains
        `username`."""
        rows = await self.pool.fetch(
            f"""SELECT {_COLUMNS} FROM users
                WHERE ($1::text IS NULL OR lower(username) > $1)
                  AND ($2::text IS NULL OR strpos(lower(username), lower($2)) > 0)
                ORDER BY lower(username) LIMIT $3""",
            after,
            username,
            limit,
        )
        return [User(**dict(r)) for r in rows]

    @staticmethod
    async def locked(conn: asyncpg.Connection, user_id: uuid.UUID) -> User | None:
        """The user, the row locked until the caller's transaction ends; a grant being created for the user holds a
        key-share lock on it, so none is created meanwhile."""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE user_id = $1 FOR UPDATE", user_id)
        return User(**dict(row)) if row else None

    @staticmethod
    async def update(
        conn: asyncpg.Connection,
        user_id: uuid.UUID,
        *,
        name: str | None,
        email: str | None,
        disabled: bool,
        password_hash: str,
    ) -> User:
        row = await conn.fetchrow(
            f"""UPDATE users SET name = $2, email = $3, disabled = $4, password_hash = $5, updated_at = now()
                WHERE user_id = $1 RETURNING {_COLUMNS}""",
            user_id,
            name,
            email,
            disabled,
            password_hash,
        )
        assert row is not None
        return User(**dict(row))

    @staticmethod
    async def delete(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
        """Delete the user, and with them (ON DELETE CASCADE) their consents, grants and refresh tokens."""
        await conn.execute("DELETE FROM users WHERE user_id = $1", user_id)
