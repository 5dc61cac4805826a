"""OpenID Connect Back-Channel Logout 1.0 sections 2.4-2.5 from the server's side: a durable outbox of logout tokens
to deliver (the `backchannel_logouts` table, written in the transaction that signs a person out), and the sender that
drains it. Each delivery is a form POST of `logout_token` to the client's registered `backchannel_logout_uri`; a
client that does not answer 200 is tried again with backoff, and after MAX_ATTEMPTS the delivery is abandoned. Every
outcome is in the audit log. Any authz replica may deliver any row: a row is taken by pushing its next attempt past a
lease, so a replica that stops mid-delivery leaves it for another to retry."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import asyncpg
from prometheus_client import Counter

from authz.audit import AuditLog
from authz.clients.cache import ClientCache
from authz.outbox_loop import Messages, drain_forever
from authz.tokens.minter import TokenMinter

log = logging.getLogger("authorium.authz")

# How often the outbox is looked at when nothing wakes the sender earlier, seconds.
INTERVAL = 1.0
# Rows taken per pass, and how long a taken row is left to its sender before another may retry it.
BATCH = 20
LEASE = 60.0
TIMEOUT = aiohttp.ClientTimeout(total=5)
# Retries wait FIRST_RETRY, then twice as long each time, at most LONGEST_WAIT: 10 attempts span about 40 minutes.
FIRST_RETRY = 5.0
LONGEST_WAIT = 1800.0
MAX_ATTEMPTS = 10
MAX_BACKOFF = 10.0
RETRIED = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def enqueue(
    conn: asyncpg.Connection, client_ids: Sequence[str], *, sid: str | None, subject: str | None
) -> list[str]:
    """Queue a logout token for each of `client_ids` that registered a `backchannel_logout_uri` (and is enabled),
    inside the caller's transaction; returns the ids of the clients queued."""
    if not client_ids or (sid is None and subject is None):
        return []
    rows = await conn.fetch(
        """INSERT INTO backchannel_logouts (client_id, sid, subject)
           SELECT client_id, $2, $3 FROM clients
           WHERE client_id = ANY($1::text[]) AND backchannel_logout_uri IS NOT NULL AND NOT disabled
           RETURNING client_id""",
        list(client_ids),
        sid,
        subject,
    )
    return sorted(row["client_id"] for row in rows)


@dataclass(frozen=True)
class Delivery:
    id: int
    client_id: str
    sid: str | None
    subject: str | None
    attempts: int


def backoff(attempts: int) -> float:
    """Seconds until the next attempt, after `attempts` failed ones."""
    return float(min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT))


class BackchannelSender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        http: aiohttp.ClientSession,
        minter: TokenMinter,
        clients: ClientCache,
        audit: AuditLog,
        *,
        outcomes: Counter | None = None,
        interval: float = INTERVAL,
    ) -> None:
        self.pool = pool
        self.http = http
        self.minter = minter
        self.clients = clients
        self.audit = audit
        self.outcomes = outcomes
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Logout tokens were queued: deliver them now rather than at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        await drain_forever(
            self.deliver_due,
            wake=self._wake,
            interval=self.interval,
            max_backoff=MAX_BACKOFF,
            retried=RETRIED,
            messages=Messages(
                failed="back-channel logout sender failed; retrying",
                pending="back-channel logouts not delivered yet; retrying",
            ),
        )

    async def deliver_due(self) -> int:
        """One pass: take the rows that are due and deliver them concurrently. Returns how many were tried."""
        rows = await self.pool.fetch(
            """UPDATE backchannel_logouts b
               SET next_attempt_at = now() + make_interval(secs => $1), attempts = b.attempts + 1
               FROM (SELECT id FROM backchannel_logouts WHERE next_attempt_at <= now()
                     ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) due
               WHERE b.id = due.id
               RETURNING b.id, b.client_id, b.sid, b.subject, b.attempts""",
            LEASE,
            BATCH,
        )
        taken = [Delivery(r["id"], r["client_id"], r["sid"], r["subject"], r["attempts"]) for r in rows]
        await asyncio.gather(*(self._deliver(delivery) for delivery in taken))
        return len(taken)

    async def _deliver(self, delivery: Delivery) -> None:
        client = await self.clients.get(delivery.client_id)
        uri = client.backchannel_logout_uri if client is not None else None
        if client is None or uri is None:
            await self._done(
                delivery, "backchannel_logout_abandoned", "the client is gone, disabled or unregistered it"
            )
            return
        token = self.minter.logout_token(client, sid=delivery.sid, subject=delivery.subject)
        try:
            async with self.http.post(
                uri, data={"logout_token": token}, timeout=TIMEOUT, allow_redirects=False
            ) as response:
                await response.content.read(4096)
                error = None if 200 <= response.status < 300 else f"answered HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = f"unreachable ({type(exc).__name__})"
        if error is None:
            await self._done(delivery, "backchannel_logout_delivered", None)
        elif delivery.attempts >= MAX_ATTEMPTS:
            await self._done(delivery, "backchannel_logout_abandoned", error)
        else:
            if self.outcomes is not None:
                self.outcomes.labels("retried").inc()
            await self.pool.execute(
                """UPDATE backchannel_logouts SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
                   WHERE id = $1""",
                delivery.id,
                backoff(delivery.attempts),
                error,
            )

    async def _done(self, delivery: Delivery, event: str, error: str | None) -> None:
        """The row leaves the outbox, and the audit log says how."""
        if self.outcomes is not None:
            self.outcomes.labels("delivered" if error is None else "abandoned").inc()
        await self.pool.execute("DELETE FROM backchannel_logouts WHERE id = $1", delivery.id)
        details: dict[str, object] = {"attempts": delivery.attempts}
        if delivery.sid is not None:
            details["sid"] = delivery.sid
        if error is not None:
            details["error"] = error
        user_id = _user_id(delivery.subject)
        await self.audit.record(event, client_id=delivery.client_id, user_id=user_id, details=details)


def _user_id(subject: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(subject) if subject else None
    except ValueError:
        return None
