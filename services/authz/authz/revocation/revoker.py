"""Revoking access tokens and grants: first the durable record in Postgres, then Redis's lists, then an
announcement on the event channel so every resource server refuses the token within a second."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from authorium_shared.events import Subscriber
from authorium_shared.revocation_lists import Revocation, RevocationCache, RevocationList, announce_resync
from authz.revocation import repository as revocations
from authz.settings import AuthzSettings
from authz.tokens.families import GrantRepository

log = logging.getLogger("authorium.authz")

# An access token may be honoured a little past `exp` (verifier leeway); its revocation outlives that too.
LEEWAY_MARGIN = timedelta(seconds=60)


class Revoker(Subscriber):
    def __init__(
        self,
        pool: asyncpg.Pool,
        grants: GrantRepository,
        listed: RevocationList,
        settings: AuthzSettings,
        local: RevocationCache,
    ) -> None:
        self.pool = pool
        self.grants = grants
        self.listed = listed
        self.settings = settings
        # This replica's copy learns of its own revocations at once, not only when the announcement comes back.
        self.local = local

    def grant_revocation_expiry(self, now: datetime | None = None) -> datetime:
        """After this, no access token from a grant revoked now can still be valid."""
        return (now or datetime.now(UTC)) + timedelta(seconds=self.settings.access_token_ttl) + LEEWAY_MARGIN

    async def access_token(self, jti: str, exp: int) -> None:
        expires_at = datetime.fromtimestamp(exp, UTC) + LEEWAY_MARGIN
        await revocations.record(self.pool, "token", jti, expires_at)
        await self._add(Revocation("token", jti, int(expires_at.timestamp())))

    async def grant(self, grant_id: uuid.UUID, reason: str) -> None:
        expires_at = self.grant_revocation_expiry()
        await self.grants.revoke_grant(grant_id, reason, expires_at)
        await self.announce_grant(grant_id, expires_at)

    async def announce_grant(self, grant_id: uuid.UUID, expires_at: datetime | None = None) -> None:
        """The Redis half of a grant revocation already committed to Postgres."""
        expires_at = expires_at or self.grant_revocation_expiry()
        await self._add(Revocation("grant", str(grant_id), int(expires_at.timestamp())))

    async def announce_grants(self, grant_ids: Sequence[uuid.UUID], expires_at: datetime) -> None:
        """`announce_grant` for many grants at once (a deleted client's)."""
        found = [Revocation("grant", str(g), int(expires_at.timestamp())) for g in grant_ids]
        for revocation in found:
            self.local.note(revocation)
        await self.listed.add(*found)

    async def _add(self, revocation: Revocation) -> None:
        self.local.note(revocation)
        await self.listed.add(revocation)

    async def rebuild(self) -> int:
        """Put every unexpired revocation from Postgres back into Redis (which may have lost its data), then
        tell every replica to reload its copy. Run whenever this server's event feed (re)connects."""
        found = await revocations.unexpired(self.pool)
        await self.listed.add(*found, announce=False)
        await announce_resync(self.listed.redis, self.listed.keys)
        return len(found)

    async def on_connect(self) -> None:
        """Redis may have lost its data while the feed was down; put the revocations back before any copy of
        the lists reloads (this replica's copy follows the feed after this)."""
        restored = await self.rebuild()
        if restored:
            log.info("revocations put back into Redis", extra={"count": restored})
