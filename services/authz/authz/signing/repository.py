"""Signing keys in Postgres, private parts encrypted under the key-encryption key."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from authorium_shared.keys import KeyEncryptionKeys, KeyState, SigningKey, StoredKey
from authorium_shared.rotation import RotationPlan

# Serialises every change to the key table, so two `keys rotate` runs cannot both promote.
KEYS_LOCK_ID = 0x41555448_4B455953  # "AUTHKEYS"


class KeyRepository:
    def __init__(self, kek: KeyEncryptionKeys) -> None:
        self.kek = kek
        # The keys the last load decrypted, by what was stored. Each worker reloads every 30 s; loading an RSA
        # private key (its consistency check) costs tens of milliseconds of CPU, in the middle of serving.
        self._decrypted: dict[tuple[str, str, bytes], SigningKey] = {}

    def _decrypt(self, kid: str, alg: str, blob: bytes) -> SigningKey:
        key = self._decrypted.get((kid, alg, blob))
        return key if key is not None else self.kek.decrypt(blob, kid=kid, alg=alg)[0]

    async def load(self, db: asyncpg.Pool | asyncpg.Connection) -> list[StoredKey]:
        rows = await db.fetch(
            """SELECT kid, alg, state, encrypted_private_key, created_at, activated_at, retired_at
               FROM signing_keys ORDER BY created_at, kid"""
        )
        keys = [self._decrypt(row["kid"], row["alg"], row["encrypted_private_key"]) for row in rows]
        self._decrypted = {
            (row["kid"], row["alg"], row["encrypted_private_key"]): k for row, k in zip(rows, keys, strict=True)
        }
        return [
            StoredKey(
                key=key,
                state=KeyState(row["state"]),
                created_at=row["created_at"],
                activated_at=row["activated_at"],
                retired_at=row["retired_at"],
            )
            for row, key in zip(rows, keys, strict=True)
        ]

    async def insert(self, conn: asyncpg.Connection, key: SigningKey, state: KeyState, now: datetime) -> None:
        await conn.execute(
            """INSERT INTO signing_keys (kid, alg, state, public_jwk, encrypted_private_key, created_at,
                   activated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            key.kid,
            key.alg,
            state.value,
            key.public_jwk(),
            self.kek.encrypt(key),
            now,
            now if state is KeyState.CURRENT else None,
        )

    async def reencrypt(self, conn: asyncpg.Connection) -> list[str]:
        """Re-encrypt under the current KEK every key still stored under the previous one (inside the caller's
        transaction); returns their kids. Nothing is written unless every key can be decrypted."""
        rows = await conn.fetch(
            "SELECT kid, alg, encrypted_private_key FROM signing_keys ORDER BY created_at, kid FOR UPDATE"
        )
        stale = []
        for row in rows:
            key, under_current = self.kek.decrypt(row["encrypted_private_key"], kid=row["kid"], alg=row["alg"])
            if not under_current:
                stale.append(key)
        for key in stale:
            await conn.execute(
                "UPDATE signing_keys SET encrypted_private_key = $2 WHERE kid = $1", key.kid, self.kek.encrypt(key)
            )
        return [key.kid for key in stale]

    async def apply(self, conn: asyncpg.Connection, plan: RotationPlan, now: datetime) -> list[SigningKey]:
        """Carry out `plan` on `conn` (inside the caller's transaction); returns the keys it created.

        The order keeps the one-current and one-next indexes satisfied at every statement."""
        if plan.remove:
            await conn.execute(
                "DELETE FROM signing_keys WHERE kid = ANY($1::text[]) AND state = 'retired'",
                list(plan.remove),
            )
        if plan.retire:
            await conn.execute(
                "UPDATE signing_keys SET state = 'retired', retired_at = $2 WHERE kid = $1 AND state = 'current'",
                plan.retire,
                now,
            )
        if plan.promote:
            await conn.execute(
                "UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE kid = $1 AND state = 'next'",
                plan.promote,
                now,
            )
        created = []
        if plan.create_current:
            key = SigningKey.generate(plan.alg)
            await self.insert(conn, key, KeyState.CURRENT, now)
            created.append(key)
        if plan.create_next:
            key = SigningKey.generate(plan.alg)
            await self.insert(conn, key, KeyState.NEXT, now)
            created.append(key)
        return created
