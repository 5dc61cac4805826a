"""Grants and their refresh-token families in Postgres (RFC 6749 section 6, RFC 9700 section 4.14.2).

A grant is one authorization: everything issued from one code. Its refresh tokens form a chain; each use
rotates the token, and presenting a rotated token again revokes the grant (unless the grace window says the
client merely raced itself). Revocations are recorded in the `revocations` table too, under a per-grant
lock, so a revocation that races the grant's creation is never lost."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from authorium_shared.dpop import same_key
from authz.revocation import repository as revocations


@dataclass(frozen=True)
class Grant:
    grant_id: uuid.UUID
    client_id: str
    user_id: uuid.UUID | None
    scopes: tuple[str, ...]
    audience: tuple[str, ...]
    nonce: str | None
    auth_time: datetime | None
    expires_at: datetime
    revoked_at: datetime | None
    # The OpenID Connect `sid` of the session the grant was made in (authz.sessions.store), if any.
    sid: str | None = None
    # The DPoP key a public client's refresh tokens are bound to (RFC 9449 section 5): each refresh needs its proof.
    dpop_jkt: str | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Grant:
        return cls(
            grant_id=row["grant_id"],
            client_id=row["client_id"],
            user_id=row["user_id"],
            scopes=tuple(row["scopes"]),
            audience=tuple(row["audience"]),
            nonce=row["nonce"],
            auth_time=row["auth_time"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            sid=row.get("sid"),
            dpop_jkt=row.get("dpop_jkt"),
        )


class Orphaned(Exception):
    """The grant's client or user was deleted before the grant could be stored."""


class AlreadyStored(Exception):
    """A grant with this id exists: the code that names it was redeemed before, and Redis forgot (a failover that
    lost the consumption before it reached the replica). Postgres, not Redis, is what keeps a code single-use."""


@dataclass(frozen=True)
class IssuedRefresh:
    """What a refresh token was issued with: the access token minted beside it, for grace-window replays."""

    token_hash: bytes
    access_jti: str
    access_scopes: tuple[str, ...]
    issued_at: datetime


@dataclass(frozen=True)
class Rotated:
    grant: Grant
    # A new refresh token, or within the grace window the one an earlier rotation of the same token handed out.
    successor: IssuedRefresh


@dataclass(frozen=True)
class Reused:
    """A rotated refresh token came back: the grant is now revoked."""

    grant: Grant


@dataclass(frozen=True)
class Rejected:
    reason: str
    invalid_scope: bool = False


_GRANT_COLUMNS = "g.grant_id, g.client_id, g.user_id, g.scopes, g.audience, g.nonce, g.auth_time, g.expires_at,"
_GRANT_COLUMNS += " g.revoked_at, g.sid, g.dpop_jkt"


async def _lock_grant(conn: asyncpg.Connection, grant_id: uuid.UUID) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", str(grant_id))


class GrantRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, grant: Grant, refresh: IssuedRefresh | None, refresh_expires_at: datetime) -> Grant:
        """Store a new grant (and its first refresh token). If a code replay revoked the grant id before this
        ran, the grant is stored revoked: the tokens the caller then returns are dead on arrival."""
        try:
            return await self._create(grant, refresh, refresh_expires_at)
        except asyncpg.ForeignKeyViolationError:
            raise Orphaned(grant.client_id) from None
        except asyncpg.UniqueViolationError:
            raise AlreadyStored(grant.grant_id) from None

    async def _create(self, grant: Grant, refresh: IssuedRefresh | None, refresh_expires_at: datetime) -> Grant:
        async with self.pool.acquire() as conn, conn.transaction():
            await _lock_grant(conn, grant.grant_id)
            row = await conn.fetchrow(
                f"""INSERT INTO grants AS g (grant_id, client_id, user_id, scopes, audience, nonce, auth_time,
                        expires_at, last_used_at, revoked_at, revoked_reason, sid, dpop_jkt)
                    SELECT $1, $2, $3, $4, $5, $6, $7, $8, now(), r.revoked_at, CASE WHEN r.id IS NULL THEN NULL
                        ELSE 'code replay' END, $9, $10
                    FROM (SELECT 1) AS one
                    LEFT JOIN revocations r ON r.kind = 'grant' AND r.id = $1::uuid::text
                    RETURNING {_GRANT_COLUMNS}""",
                grant.grant_id,
                grant.client_id,
                grant.user_id,
                list(grant.scopes),
                list(grant.audience),
                grant.nonce,
                grant.auth_time,
                grant.expires_at,
                grant.sid,
                grant.dpop_jkt,
            )
            assert row is not None
            if refresh is not None:
                await self._insert_refresh(conn, grant.grant_id, grant.scopes, refresh, refresh_expires_at)
            return Grant.from_row(row)

    @staticmethod
    async def _insert_refresh(
        conn: asyncpg.Connection,
        grant_id: uuid.UUID,
        scopes: tuple[str, ...],
        refresh: IssuedRefresh,
        expires_at: datetime,
    ) -> None:
        await conn.execute(
            """INSERT INTO refresh_tokens (token_hash, grant_id, scopes, issued_at, expires_at, access_jti,
                   access_scopes)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            refresh.token_hash,
            grant_id,
            list(scopes),
            refresh.issued_at,
            expires_at,
            refresh.access_jti,
            list(refresh.access_scopes),
        )

    async def rotate(
        self,
        *,
        token_hash: bytes,
        client_id: str,
        successor_hash: bytes,
        access_jti: str,
        requested_scopes: tuple[str, ...],
        now: datetime,
        ttl: timedelta,
        grace: timedelta,
        revocation_expires_at: datetime,
        dpop_jkt: str | None = None,
    ) -> Rotated | Reused | Rejected:
        """Exchange a refresh token for its successor, atomically; concurrent uses of one token serialise on
        the row lock, so exactly one rotates and the rest see it used. `dpop_jkt` is the key of the request's DPoP
        proof: a token bound to a key is refused without it, and left as it was."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""SELECT t.used_at, t.successor_hash, t.expires_at AS token_expires_at, {_GRANT_COLUMNS}
                    FROM refresh_tokens t JOIN grants g USING (grant_id)
                    WHERE t.token_hash = $1
                    FOR UPDATE OF t""",
                token_hash,
            )
            if row is None:
                return Rejected("the refresh token is invalid")
            grant = Grant.from_row(row)
            if grant.client_id != client_id:
                return Rejected("the refresh token was issued to another client")
            if grant.dpop_jkt is not None and not same_key(grant.dpop_jkt, dpop_jkt):
                return Rejected("the refresh token is bound to a DPoP key: send a proof signed with that key")
            if grant.revoked_at is not None:
                return Rejected("the refresh token was revoked")
            if row["token_expires_at"] <= now:
                return Rejected("the refresh token has expired")
            if not set(requested_scopes) <= set(grant.scopes):
                return Rejected("a refresh may narrow the scope, never widen it", invalid_scope=True)
            if row["used_at"] is None:
                successor = IssuedRefresh(
                    token_hash=successor_hash,
                    access_jti=access_jti,
                    access_scopes=requested_scopes or grant.scopes,
                    issued_at=now,
                )
                await conn.execute(
                    "UPDATE refresh_tokens SET used_at = $2, successor_hash = $3 WHERE token_hash = $1",
                    token_hash,
                    now,
                    successor_hash,
                )
                expires_at = now + ttl
                await self._insert_refresh(conn, grant.grant_id, grant.scopes, successor, expires_at)
                await conn.execute(
                    "UPDATE grants SET expires_at = $2, last_used_at = $3 WHERE grant_id = $1",
                    grant.grant_id,
                    expires_at,
                    now,
                )
                return Rotated(grant=grant, successor=successor)
            # `now` has whole seconds, so without a grace window a reuse in the same second would look like
            # `now - used_at == 0 <= grace`: strict mode must never repeat.
            if grace > timedelta(0) and now - row["used_at"] <= grace and row["successor_hash"] == successor_hash:
                earlier = await conn.fetchrow(
                    """SELECT access_jti, access_scopes, issued_at, used_at FROM refresh_tokens
                       WHERE token_hash = $1""",
                    successor_hash,
                )
                if earlier is not None and earlier["used_at"] is None:
                    repeat = IssuedRefresh(
                        token_hash=successor_hash,
                        access_jti=earlier["access_jti"],
                        access_scopes=tuple(earlier["access_scopes"]),
                        issued_at=earlier["issued_at"],
                    )
                    return Rotated(grant=grant, successor=repeat)
            await self.revoke(conn, grant.grant_id, "refresh token reuse", revocation_expires_at)
            return Reused(grant=grant)

    async def revoke(
        self, conn: asyncpg.Connection, grant_id: uuid.UUID, reason: str, revocation_expires_at: datetime
    ) -> None:
        """Revoke a grant inside the caller's transaction; recorded even if the grant is not written yet."""
        await _lock_grant(conn, grant_id)
        await revocations.record(conn, "grant", str(grant_id), revocation_expires_at)
        await conn.execute(
            "UPDATE grants SET revoked_at = now(), revoked_reason = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
            grant_id,
            reason,
        )

    async def revoke_client(
        self, conn: asyncpg.Connection, client_id: str, reason: str, revocation_expires_at: datetime
    ) -> list[uuid.UUID]:
        """Revoke every grant of `client_id` not revoked yet, inside the caller's transaction; returns their ids.
        The caller holds the client's row lock (`ClientRepository.locked`), so no grant of it is being created
        meanwhile, and the per-grant lock `revoke` takes for that race is not needed."""
        rows = await conn.fetch(
            """UPDATE grants SET revoked_at = now(), revoked_reason = $2
               WHERE client_id = $1 AND revoked_at IS NULL
               RETURNING grant_id""",
            client_id,
            reason,
        )
        grant_ids = [row["grant_id"] for row in rows]
        await revocations.record_many(conn, "grant", [str(g) for g in grant_ids], revocation_expires_at)
        return grant_ids

    async def revoke_user(
        self,
        conn: asyncpg.Connection,
        user_id: uuid.UUID,
        reason: str,
        revocation_expires_at: datetime,
        *,
        client_id: str | None = None,
    ) -> list[uuid.UUID]:
        """`revoke_client` for a user's grants (only those with `client_id`, if given); the caller holds the user's row
        lock (`UserRepository.locked`), which a grant being created for the user waits on."""
        rows = await conn.fetch(
            """UPDATE grants SET revoked_at = now(), revoked_reason = $2
               WHERE user_id = $1 AND revoked_at IS NULL AND ($3::text IS NULL OR client_id = $3)
               RETURNING grant_id""",
            user_id,
            reason,
            client_id,
        )
        grant_ids = [row["grant_id"] for row in rows]
        await revocations.record_many(conn, "grant", [str(g) for g in grant_ids], revocation_expires_at)
        return grant_ids

    async def revoke_sessions(
        self, conn: asyncpg.Connection, sids: list[str], reason: str, revocation_expires_at: datetime
    ) -> list[uuid.UUID]:
        """`revoke_client` for the grants made in the sessions `sids` that were not issued for offline_access (those
        outlive the sign-in on purpose: OpenID Connect Core section 11), inside the caller's transaction."""
        rows = await conn.fetch(
            """UPDATE grants SET revoked_at = now(), revoked_reason = $2
               WHERE sid = ANY($1::text[]) AND revoked_at IS NULL AND NOT ('offline_access' = ANY(scopes))
               RETURNING grant_id""",
            sids,
            reason,
        )
        grant_ids = [row["grant_id"] for row in rows]
        await revocations.record_many(conn, "grant", [str(g) for g in grant_ids], revocation_expires_at)
        return grant_ids

    async def active_of_user(
        self, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[asyncpg.Record]:
        """The user's grants still in force, newest first after `after` (created_at, grant_id), with client names."""
        rows: list[asyncpg.Record] = await self.pool.fetch(
            """SELECT g.grant_id, g.client_id, c.name AS client_name, g.scopes, g.created_at, g.last_used_at,
                      g.expires_at
               FROM grants g JOIN clients c USING (client_id)
               WHERE g.user_id = $1 AND g.revoked_at IS NULL AND g.expires_at > now()
                 AND ($2::timestamptz IS NULL OR (g.created_at, g.grant_id) < ($2, $3::uuid))
               ORDER BY g.created_at DESC, g.grant_id DESC LIMIT $4""",
            user_id,
            after[0] if after else None,
            after[1] if after else None,
            limit,
        )
        return rows

    @staticmethod
    async def locked_active(conn: asyncpg.Connection, grant_id: uuid.UUID) -> Grant | None:
        """The grant if it is not revoked yet, its row locked until the caller's transaction ends."""
        row = await conn.fetchrow(
            f"SELECT {_GRANT_COLUMNS} FROM grants g WHERE g.grant_id = $1 AND g.revoked_at IS NULL FOR UPDATE",
            grant_id,
        )
        return Grant.from_row(row) if row else None

    async def revoke_grant(self, grant_id: uuid.UUID, reason: str, revocation_expires_at: datetime) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.revoke(conn, grant_id, reason, revocation_expires_at)

    async def find_refresh(self, token_hash: bytes) -> tuple[Grant, RefreshState] | None:
        row = await self.pool.fetchrow(
            f"""SELECT t.used_at, t.issued_at AS token_issued_at, t.expires_at AS token_expires_at, {_GRANT_COLUMNS}
                FROM refresh_tokens t JOIN grants g USING (grant_id) WHERE t.token_hash = $1""",
            token_hash,
        )
        if row is None:
            return None
        state = RefreshState(
            issued_at=row["token_issued_at"], expires_at=row["token_expires_at"], used_at=row["used_at"]
        )
        return Grant.from_row(row), state


@dataclass(frozen=True)
class RefreshState:
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.used_at is None and self.expires_at > now
