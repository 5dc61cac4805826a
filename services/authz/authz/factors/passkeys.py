"""Passkeys and security keys in Postgres (WebAuthn Level 2): each user's opaque user handle, and their
credentials with the public key, signature counter and transports a ceremony needs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# WebAuthn L2 section 5.4.3: a user handle is at most 64 bytes and should be random; 32 is plenty.
USER_HANDLE_BYTES = 32
MAX_NAME_LENGTH = 64
# How many a user may register: enough for a few devices and spares, few enough that a listing stays small.
MAX_PER_USER = 20


@dataclass(frozen=True)
class Passkey:
    passkey_id: uuid.UUID
    credential_id: bytes
    user_id: uuid.UUID
    user_handle: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    backup_eligible: bool
    name: str
    created_at: datetime
    last_used_at: datetime | None


class CredentialTaken(Exception):
    """The credential id is registered already (WebAuthn L2 section 7.1 step 22: registration must fail)."""


class TooMany(Exception):
    """The user has MAX_PER_USER passkeys already."""


_COLUMNS = (
    "passkey_id, credential_id, user_id, user_handle, public_key, sign_count, transports, backup_eligible, name,"
    " created_at, last_used_at"
)


def _passkey(row: asyncpg.Record) -> Passkey:
    return Passkey(**{**dict(row), "transports": tuple(row["transports"])})


class PasskeyRepository:
    """On the pool, or on a connection to take part in the caller's transaction (an administrator's removal)."""

    def __init__(self, pool: asyncpg.Pool | asyncpg.Connection) -> None:
        self.pool = pool

    async def user_handle(self, user_id: uuid.UUID) -> bytes:
        """The user's handle, made on first use and the same for every credential after."""
        handle: bytes | None = await self.pool.fetchval(
            """INSERT INTO passkey_users (user_id, user_handle) VALUES ($1, $2)
               ON CONFLICT (user_id) DO UPDATE SET user_handle = passkey_users.user_handle RETURNING user_handle""",
            user_id,
            secrets.token_bytes(USER_HANDLE_BYTES),
        )
        assert handle is not None
        return bytes(handle)

    async def for_user(self, user_id: uuid.UUID) -> list[Passkey]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, credential_id", user_id
        )
        return [_passkey(row) for row in rows]

    async def find(self, credential_id: bytes) -> Passkey | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM passkeys WHERE credential_id = $1", credential_id)
        return _passkey(row) if row else None

    async def add(
        self,
        *,
        user_id: uuid.UUID,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        transports: tuple[str, ...],
        backup_eligible: bool,
        name: str,
    ) -> Passkey:
        """Store a newly registered credential; CredentialTaken if its id is known, TooMany past the limit."""
        assert isinstance(self.pool, asyncpg.Pool), "registration runs its own transaction, on the pool"
        async with self.pool.acquire() as conn, conn.transaction():
            handle = await conn.fetchval("SELECT user_handle FROM passkey_users WHERE user_id = $1 FOR UPDATE", user_id)
            if handle is None:
                raise ValueError("the user has no user handle: registration options were never made for them")
            if await conn.fetchval("SELECT count(*) FROM passkeys WHERE user_id = $1", user_id) >= MAX_PER_USER:
                raise TooMany()
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO passkeys (passkey_id, credential_id, user_id, user_handle, public_key, sign_count,
                                              transports, backup_eligible, name)
                        VALUES ($9, $1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}""",
                    credential_id,
                    user_id,
                    handle,
                    public_key,
                    sign_count,
                    list(transports),
                    backup_eligible,
                    name,
                    uuid.uuid4(),
                )
            except asyncpg.UniqueViolationError:
                raise CredentialTaken() from None
        assert row is not None
        return _passkey(row)

    async def record_use(self, credential_id: bytes, sign_count: int) -> bool:
        """Store the counter of a verified assertion and when it was made, if it is still larger than the stored one
        (or both are 0: an authenticator without a counter), in one statement so that two assertions racing with the
        same counter cannot both pass (WebAuthn L2 section 6.1.1). False: refused."""
        status: str = await self.pool.execute(
            """UPDATE passkeys SET sign_count = $2, last_used_at = now()
               WHERE credential_id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))""",
            credential_id,
            sign_count,
        )
        return status == "UPDATE 1"

    async def remove(self, user_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey | None:
        """Remove one of the user's credentials; None if they have none with that id."""
        row = await self.pool.fetchrow(
            f"DELETE FROM passkeys WHERE user_id = $1 AND passkey_id = $2 RETURNING {_COLUMNS}", user_id, passkey_id
        )
        return _passkey(row) if row else None

    async def remove_all(self, user_id: uuid.UUID) -> int:
        """Remove every credential of the user (an administrator's factor reset); how many there were."""
        status: str = await self.pool.execute("DELETE FROM passkeys WHERE user_id = $1", user_id)
        return int(status.split()[-1])
