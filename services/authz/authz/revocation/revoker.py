"""Revoking access tokens and grants: first the durable record in Postgres (the outbox), then Redis's lists, then an
announcement on the event channel so every resource server refuses the token within a second. When Redis does not
take it, the caller gets 503 and the outbox's publisher brings it into Redis as soon as Redis does."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter
from redis.exceptions import RedisError

from authorium_shared.events import Subscriber
from authorium_shared.revocation_lists import Revocation, RevocationCache, RevocationList
from authz.revocation import repository as revocations
from authz.revocation.publisher import Publisher
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
        publisher: Publisher | None = None,
        *,
        revocations: Counter | None = None,
    ) -> None:
        # Counts every revocation made here (RFC 7009, the admin API, reuse and replay).
        self.revocations = revocations
        self.pool = pool
        self.grants = grants
        self.listed = listed
        self.settings = settings
        # This replica's copy learns of its own revocations at once, not only when the announcement comes back.
        self.local = local
        self.publisher = publisher or Publisher(pool, listed)

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
        await self._add(*(Revocation("grant", str(g), int(expires_at.timestamp())) for g in grant_ids))

    async def _add(self, *found: Revocation) -> None:
        """The Redis half of revocations already committed to Postgres, done now so they are refused everywhere
        within a second. If Redis fails, the RedisError reaches the caller (503: RFC 7009 section 2.2.1 lets the
        client retry, and a retry publishes again), and the publisher, woken, retries until Redis takes them."""
        if self.revocations is not None:
            self.revocations.inc(len(found))
        for revocation in found:
            self.local.note(revocation)
        try:
            await self.listed.add(*found)
        except RedisError:
            self.publisher.wake()
            raise
        try:
            await revocations.mark_published(self.pool, found)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            # Published all the same; left marked unpublished, the publisher adds it again, harmlessly.
            log.warning("a published revocation could not be marked published")

    async def rebuild(self) -> int:
        """Put every unexpired revocation from Postgres back into Redis, with a new generation marker, and tell every
        replica to reload its copy."""
        return await self.publisher.refill()

    async def on_connect(self) -> None:
        """Redis may have lost its data while the feed was down: before any copy of the lists reloads (this
        replica's follows the feed after this), a publisher pass refills them if their marker is gone and
        publishes what is pending. It waits for the publisher's lock if another replica holds it, so this copy loads
        lists that were checked after the (re)connect."""
        await self.publisher.publish(wait=True)
