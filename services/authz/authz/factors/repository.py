"""Users' second factors in Postgres: authenticator apps (TOTP secrets sealed under the KEK) and recovery codes
(digests only). `second_factors` tells which factors a user has; every kind of factor adds its own to it."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from authorium_shared.keys import KeyDecryptionError, KeyEncryptionKeys
from authz.factors import recovery
from authz.factors.passkeys import PasskeyRepository

Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"

TOTP = "totp"
WEBAUTHN = "webauthn"  # passkeys and security keys (`authz.factors.passkeys`)
log = logging.getLogger("authorium.authz")


@dataclass(frozen=True)
class Factor:
    """A second factor a user has: its kind (`totp`, ...) and what an operator or the person may see of it."""

    factor_id: uuid.UUID
    kind: str
    created_at: datetime
    last_used_at: datetime | None = None
    label: str | None = None
    # Kind-specific facts worth showing (never a secret): for `totp`, the recovery codes left.
    details: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """As the admin API and `authorium user factors --json` show it."""
        return {
            "factor_id": str(self.factor_id),
            "type": self.kind,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            **self.details,
        }


@dataclass(frozen=True)
class Enrolment:
    """An authenticator app waiting for its first code (not yet a factor), and its secret."""

    factor_id: uuid.UUID
    secret: str


def _bound_to(factor_id: uuid.UUID) -> str:
    return f"totp:{factor_id}"


async def second_factors(db: Db, user_id: uuid.UUID) -> list[Factor]:
    """The second factors `user_id` can sign in with, oldest first. A factor kind adds its rows here."""
    rows = await db.fetch(
        """SELECT t.factor_id, t.created_at, t.last_used_at,
                  (SELECT count(*) FROM recovery_codes r WHERE r.user_id = t.user_id) AS recovery_codes_left
           FROM totp_factors t WHERE t.user_id = $1 AND t.confirmed_at IS NOT NULL""",
        user_id,
    )
    factors = [
        Factor(
            r["factor_id"],
            TOTP,
            r["created_at"],
            r["last_used_at"],
            "Authenticator app",
            {"recovery_codes_left": r["recovery_codes_left"]},
        )
        for r in rows
    ]
    factors += [
        Factor(
            k.passkey_id,
            WEBAUTHN,
            k.created_at,
            k.last_used_at,
            k.name,
            {"transports": list(k.transports), "synced": k.backup_eligible},
        )
        for k in await PasskeyRepository(db).for_user(user_id)
    ]
    return sorted(factors, key=lambda f: f.created_at)


async def has_second_factor(db: Db, user_id: uuid.UUID) -> bool:
    return bool(await second_factors(db, user_id))


async def remove_factor(conn: asyncpg.Connection, user_id: uuid.UUID, factor_id: uuid.UUID) -> str | None:
    """Remove one of the user's factors (in the caller's transaction); its kind, or None if they have no such factor.
    Removing the authenticator app removes the recovery codes with it: they stand in for it."""
    removed = await conn.fetchval(
        "DELETE FROM totp_factors WHERE user_id = $1 AND factor_id = $2 RETURNING factor_id", user_id, factor_id
    )
    if removed is None:
        return WEBAUTHN if await PasskeyRepository(conn).remove(user_id, factor_id) is not None else None
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
    return TOTP


async def reset_factors(conn: asyncpg.Connection, user_id: uuid.UUID) -> int:
    """Remove every second factor of the user, with their recovery codes (and any enrolment under way); how many
    factors there were. A factor kind adds its deletion here."""
    removed = await conn.fetch(
        "DELETE FROM totp_factors WHERE user_id = $1 RETURNING confirmed_at IS NOT NULL AS confirmed", user_id
    )
    await conn.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
    keys = await PasskeyRepository(conn).remove_all(user_id)
    return sum(1 for r in removed if r["confirmed"]) + keys


class TotpRepository:
    """Authenticator apps: enrolment, confirmation, the last time step used, removal."""

    def __init__(self, db: Db, kek: KeyEncryptionKeys) -> None:
        self.db = db
        self.kek = kek

    async def start(self, user_id: uuid.UUID, secret: str) -> Enrolment | None:
        """Begin enrolling an app with `secret`, replacing an enrolment under way; None if the user has a confirmed
        app already (it must be removed first)."""
        factor_id = uuid.uuid4()
        sealed = self.kek.seal(secret.encode(), bound_to=_bound_to(factor_id))
        row = await self.db.fetchrow(
            """INSERT INTO totp_factors (factor_id, user_id, secret) VALUES ($1, $2, $3)
               ON CONFLICT (user_id) DO UPDATE SET factor_id = $1, secret = $3, created_at = now()
                   WHERE totp_factors.confirmed_at IS NULL
               RETURNING factor_id""",
            factor_id,
            user_id,
            sealed,
        )
        return Enrolment(factor_id, secret) if row is not None else None

    async def enrolment(self, user_id: uuid.UUID) -> Enrolment | None:
        """The enrolment under way, if any."""
        row = await self.db.fetchrow(
            "SELECT factor_id, secret FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL", user_id
        )
        return self._unsealed(row)

    async def confirmed_secret(self, user_id: uuid.UUID) -> Enrolment | None:
        """The user's app and its secret, once confirmed."""
        row = await self.db.fetchrow(
            "SELECT factor_id, secret FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL", user_id
        )
        return self._unsealed(row)

    def _unsealed(self, row: asyncpg.Record | None) -> Enrolment | None:
        if row is None:
            return None
        try:
            secret, _ = self.kek.open(row["secret"], bound_to=_bound_to(row["factor_id"]))
        except KeyDecryptionError:
            # Fail closed: its codes are refused (recovery codes still work) until the KEK is put right.
            log.error(
                "an authenticator secret cannot be decrypted with this AUTHORIUM_KEK",
                extra={"factor_id": str(row["factor_id"])},
            )
            return None
        return Enrolment(row["factor_id"], secret.decode())

    async def confirm(self, user_id: uuid.UUID, factor_id: uuid.UUID, step: int) -> bool:
        """Make the enrolment `factor_id` the user's factor, its first code (of time step `step`) counting as used;
        False if that enrolment is no longer the one under way."""
        row = await self.db.fetchval(
            """UPDATE totp_factors SET confirmed_at = now(), last_used_step = $3, last_used_at = now()
               WHERE user_id = $1 AND factor_id = $2 AND confirmed_at IS NULL RETURNING factor_id""",
            user_id,
            factor_id,
            step,
        )
        return row is not None

    async def use_step(self, user_id: uuid.UUID, factor_id: uuid.UUID, step: int) -> bool:
        """Record that a code of time step `step` was used, atomically: False when a code of this step or a later one
        was used already (a replay, RFC 6238 section 5.2), or the factor is gone."""
        row = await self.db.fetchval(
            """UPDATE totp_factors SET last_used_step = $3, last_used_at = now()
               WHERE user_id = $1 AND factor_id = $2 AND confirmed_at IS NOT NULL
                 AND (last_used_step IS NULL OR last_used_step < $3)
               RETURNING factor_id""",
            user_id,
            factor_id,
            step,
        )
        return row is not None


async def reseal_secrets(conn: asyncpg.Connection, kek: KeyEncryptionKeys) -> int:
    """Re-encrypt under the current KEK every authenticator secret still under the previous one (inside the caller's
    transaction, with `authorium keys reencrypt`); how many. Nothing is written unless every secret opens."""
    rows = await conn.fetch("SELECT factor_id, secret FROM totp_factors ORDER BY factor_id FOR UPDATE")
    stale = []
    for row in rows:
        secret, under_current = kek.open(row["secret"], bound_to=_bound_to(row["factor_id"]))
        if not under_current:
            stale.append((row["factor_id"], kek.seal(secret, bound_to=_bound_to(row["factor_id"]))))
    await conn.executemany("UPDATE totp_factors SET secret = $2 WHERE factor_id = $1", stale)
    return len(stale)


class RecoveryCodes:
    """A user's recovery codes: replaced as a set, each used once."""

    def __init__(self, db: Db) -> None:
        self.db = db

    @staticmethod
    async def replace(conn: asyncpg.Connection, user_id: uuid.UUID, codes: list[str]) -> None:
        """Make `codes` the user's recovery codes, dropping any earlier ones (in the caller's transaction)."""
        await conn.execute("DELETE FROM recovery_codes WHERE user_id = $1", user_id)
        await conn.executemany(
            "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            [(user_id, recovery.digest(code)) for code in (recovery.normalized(c) for c in codes) if code],
        )

    async def use(self, user_id: uuid.UUID, typed: str) -> bool:
        """Spend the code `typed`, atomically: True once, False ever after or for any code that is not theirs."""
        code = recovery.normalized(typed)
        if code is None:
            return False
        used = await self.db.fetchval(
            "DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2 RETURNING true",
            user_id,
            recovery.digest(code),
        )
        return bool(used)

    async def left(self, user_id: uuid.UUID) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM recovery_codes WHERE user_id = $1", user_id))
