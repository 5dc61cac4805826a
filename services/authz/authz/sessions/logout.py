"""Ending sign-ins, whoever asks (the person at the end-session endpoint or the account page, or an operator signing
them out everywhere): the grants made in the sessions are revoked unless issued for offline_access (OpenID Connect
Core section 11), a logout token is queued for every client the sessions reached that registered a
`backchannel_logout_uri` (Back-Channel Logout 1.0 section 2.5), the audit log records it, all in one transaction;
then the sessions are forgotten and the revocations announced. The person's sign-out never waits on a client."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from authz.audit import AuditLog, audited_transaction
from authz.revocation.revoker import Revoker
from authz.sessions import backchannel
from authz.sessions.store import Session, SessionStore


@dataclass(frozen=True)
class SignOut:
    pool: asyncpg.Pool
    sessions: SessionStore
    revoker: Revoker
    audit: AuditLog
    # The back-channel sender of this process, woken so the tokens go out at once (others poll the outbox).
    wake: Callable[[], None] | None = None

    async def end(
        self, ended: Sequence[Session], *, reason: str, remote_addr: str | None, actor: str | None = None
    ) -> list[str]:
        """End `ended`, sessions of one user. Returns the clients a logout token was queued for."""
        signed_in = [s for s in ended if s.user_id is not None]
        queued: list[str] = []
        revoked: list[uuid.UUID] = []
        expires_at = self.revoker.grant_revocation_expiry()
        if signed_in:
            reached = {s.sid: await self.sessions.clients_of(s) for s in signed_in}
            sids = [s.oidc_sid for s in signed_in if s.oidc_sid is not None]
            async with audited_transaction(self.pool) as conn:
                revoked = await self.revoker.grants.revoke_sessions(conn, sids, reason, expires_at)
                for s in signed_in:
                    queued += await backchannel.enqueue(conn, reached[s.sid], sid=s.oidc_sid, subject=s.user_id)
                details: dict[str, Any] = {
                    "reason": reason,
                    "sessions": len(signed_in),
                    "grants_revoked": len(revoked),
                    "backchannel_logouts": queued,
                }
                if actor is not None:
                    details["actor"] = actor
                user_id = signed_in[0].user_id
                assert user_id is not None
                await self.audit.record(
                    "signed_out", user_id=uuid.UUID(user_id), remote_addr=remote_addr, details=details, conn=conn
                )
        for session in ended:
            await self.sessions.end(session)
        if revoked:
            await self.revoker.announce_grants(revoked, expires_at)
        if queued and self.wake is not None:
            self.wake()
        return queued

    async def everywhere(
        self, user_id: str, *, reason: str, remote_addr: str | None, actor: str | None = None
    ) -> list[str]:
        """End every session of `user_id`."""
        queued = await self.end(
            await self.sessions.of_user(user_id), reason=reason, remote_addr=remote_addr, actor=actor
        )
        # Whatever raced in meanwhile ends too (with no back-channel call: it reached no client yet).
        await self.sessions.end_all(user_id)
        return queued
