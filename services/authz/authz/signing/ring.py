"""This replica's signing keys in memory: reloaded whole when a key change is announced, when the event feed
(re)connects, and on a timer in case an announcement was missed."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from prometheus_client import Gauge

from authorium_shared.events import Subscriber
from authorium_shared.keys import KeyDecryptionError, KeyEncryptionKeys, KeySet, KeyState
from authz.signing.repository import KeyRepository

log = logging.getLogger("authorium.keys")

# How often a replica reloads keys even without an event, in case it missed one while Redis was away.
RELOAD_INTERVAL = 30.0
KEYS_EVENT_TYPE = "keys"


class KeyRing(Subscriber):
    """This replica's view of the key set, replaced whole on reload so readers never see half a change."""

    def __init__(self, pool: asyncpg.Pool, kek: KeyEncryptionKeys) -> None:
        self.pool = pool
        self.repo = KeyRepository(kek)
        self.keyset = KeySet(())

    async def reload(self) -> None:
        self.keyset = KeySet(tuple(await self.repo.load(self.pool)))

    def record_ages(self, gauge: Gauge) -> None:
        """Set `gauge`, per state, to the seconds since the oldest key in that state entered it (0 with none)."""
        now = datetime.now(UTC)
        for state in KeyState:
            since = [
                (k.activated_at if state is KeyState.CURRENT else k.retired_at if state is KeyState.RETIRED else None)
                or k.created_at
                for k in self.keyset.keys
                if k.state is state
            ]
            gauge.labels(state.value).set((now - min(since)).total_seconds() if since else 0.0)

    async def _reload_keeping_keys(self) -> None:
        try:
            await self.reload()
        except KeyDecryptionError as exc:
            # The keys were re-encrypted under a KEK this replica was not given (`keys reencrypt` ran before every
            # replica had the new AUTHORIUM_KEK). The keys it holds are still the published ones: keep signing
            # with them, and keep the event feed, which other subscribers share, running.
            log.warning(
                "key reload failed: the signing keys cannot be decrypted with this AUTHORIUM_KEK",
                extra={"error": str(exc)},
            )

    async def reload_periodically(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            try:
                await self._reload_keeping_keys()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("key reload failed", extra={"error": str(exc)})

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == KEYS_EVENT_TYPE:
            await self._reload_keeping_keys()

    async def on_connect(self) -> None:
        await self._reload_keeping_keys()
