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
    """The grant's client or user was deleted, or its user disabled, before the grant could be stored."""


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


# A new grant for a user who exists and is not disabled (no row otherwise), stored revoked if a code replay revoked
# its id first, and its first refresh token if $9. $15: the session's `sid`; $16: the DPoP key it is bound to.
_CREATE = f"""
    WITH stored AS (
        INSERT INTO grants AS g (grant_id, client_id, user_id, scopes, audience, nonce, auth_time, expires_at,
            last_used_at, revoked_at, revoked_reason, sid, dpop_jkt)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, now(), r.revoked_at,
            CASE WHEN r.id IS NULL THEN NULL ELSE 'code replay' END, $15, $16
        FROM users u
        LEFT JOIN revocations r ON r.kind = 'grant' AND r.id = $1::uuid::text
        WHERE u.user_id = $3 AND NOT u.disabled
        RETURNING {_GRANT_COLUMNS}
    ), first_refresh AS (
        INSERT INTO refresh_tokens (token_hash, grant_id, scopes, issued_at, expires_at, access_jti, access_scopes)
        SELECT $10, grant_id, scopes, $11, $12, $13, $14 FROM stored WHERE $9
    )
    SELECT * FROM stored"""

# One refresh rotation, one round trip (RFC 6749 section 6, RFC 9700 section 4.14.2). `presented` locks the token
# row (READ COMMITTED re-reads a row it waited for, so a racing second use sees it used); `fresh` keeps it only if it
# may rotate now; the three data-modifying parts run once each, on that row or not at all, and commit together.
# $1 presented hash, $2 client, $3 successor hash, $4 now, $5 requested scopes (empty: all), $6 new expiry, $7 jti,
# $8 the DPoP proof's key thumbprint (a bound family rotates only with it; Python then re-checks it in constant time).
_ROTATE = f"""
    WITH presented AS (
        SELECT t.token_hash, t.used_at, t.successor_hash, t.expires_at AS token_expires_at, {_GRANT_COLUMNS}
        FROM refresh_tokens t JOIN grants g USING (grant_id)
        WHERE t.token_hash = $1
        FOR UPDATE OF t
    ), fresh AS (
        SELECT * FROM presented
        WHERE used_at IS NULL AND client_id = $2 AND revoked_at IS NULL AND token_expires_at > $4
            AND $5::text[] <@ scopes AND (dpop_jkt IS NULL OR dpop_jkt = $8)
    ), used AS (
        UPDATE refresh_tokens t SET used_at = $4, successor_hash = $3
        FROM fresh WHERE t.token_hash = fresh.token_hash
        RETURNING t.token_hash
    ), successor AS (
        INSERT INTO refresh_tokens (token_hash, grant_id, scopes, issued_at, expires_at, access_jti, access_scopes)
        SELECT $3, grant_id, scopes, $4, $6, $7, CASE WHEN cardinality($5::text[]) = 0 THEN scopes ELSE $5 END
        FROM fresh
        RETURNING token_hash
    ), extended AS (
        UPDATE grants g SET expires_at = $6, last_used_at = $4
        FROM fresh WHERE g.grant_id = fresh.grant_id
        RETURNING g.grant_id
    )
    SELECT presented.*, EXISTS (SELECT 1 FROM used) AND EXISTS (SELECT 1 FROM successor) AS rotated
    FROM presented"""


async def _lock_grant(conn: asyncpg.Connection, grant_id: uuid.UUID) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", str(grant_id))


class GrantRepository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, grant: Grant, refresh: IssuedRefresh | None, refresh_expires_at: datetime) -> Grant:
        """Store a new grant (and its first refresh token) for a user who exists and is not disabled, else Orphaned.
        If a code replay revoked the grant id before this ran, the grant is stored revoked: the tokens the caller
        then returns are dead on arrival."""
        try:
            return await self._create(grant, refresh, refresh_expires_at)
        except asyncpg.ForeignKeyViolationError:
            raise Orphaned(grant.client_id) from None
        except asyncpg.UniqueViolationError:
            raise AlreadyStored(grant.grant_id) from None

    async def _create(self, grant: Grant, refresh: IssuedRefresh | None, refresh_expires_at: datetime) -> Grant:
        # The grant and its first refresh token in one statement, after the lock: three round trips (BEGIN and the
        # lock, the insert, COMMIT) whatever is stored. The lock must come in a statement of its own: the insert's
        # snapshot has to be taken after it, to see a revocation that committed while this waited.
        token = refresh or IssuedRefresh(b"", "", (), grant.expires_at)
        async with self.pool.acquire() as conn, conn.transaction():
            await _lock_grant(conn, grant.grant_id)
            row = await conn.fetchrow(
                _CREATE,
                grant.grant_id,
                grant.client_id,
                grant.user_id,
                list(grant.scopes),
                list(grant.audience),
                grant.nonce,
                grant.auth_time,
                grant.expires_at,
                refresh is not None,
                token.token_hash,
                token.issued_at,
                refresh_expires_at,
                token.access_jti,
                list(token.access_scopes),
                grant.sid,
                grant.dpop_jkt,
            )
            if row is None:
                raise Orphaned(grant.client_id)
            return Grant.from_row(row)

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
        """Exchange a refresh token for its successor, atomically, in one statement (`_ROTATE`): the token row is
        locked, marked used, its successor inserted and the grant's expiry extended, or nothing at all. Concurrent
        uses of one token serialise on the row lock, so exactly one rotates and the rest see it used. Only the
        rare outcomes (a rejection, a grace-window repeat, a reuse) cost another round trip. `dpop_jkt` is the key
        of the request's DPoP proof: a token bound to a key is refused without it, and left as it was."""
        row = await self.pool.fetchrow(
            _ROTATE,
            token_hash,
            client_id,
            successor_hash,
            now,
            list(requested_scopes),
            now + ttl,
            access_jti,
            dpop_jkt,
        )
        if row is None:
            return Rejected("the refresh token is invalid")
        grant = Grant.from_row(row)
        if row["rotated"]:
            successor = IssuedRefresh(
                token_hash=successor_hash,
                access_jti=access_jti,
                access_scopes=requested_scopes or grant.scopes,
                issued_at=now,
            )
            return Rotated(grant=grant, successor=successor)
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
        # `now` has whole seconds, so without a grace window a reuse in the same second would look like
        # `now - used_at == 0 <= grace`: strict mode must never repeat.
        if grace > timedelta(0) and now - row["used_at"] <= grace and row["successor_hash"] == successor_hash:
            earlier = await self.pool.fetchrow(
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
        # Reuse (RFC 9700 section 4.14.2): the token was rotated before; the whole family goes.
        await self.revoke_grant(grant.grant_id, "refresh token reuse", revocation_expires_at)
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
