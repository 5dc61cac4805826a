"""This replica's signing keys in memory: reloaded whole when a key change is announced, when the event feed
(re)connects, and on a timer in case an announcement was missed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from authorium_shared.events import Subscriber
from authorium_shared.keys import KeySet
from authz.signing.repository import KeyRepository

log = logging.getLogger("authorium.keys")

# How often a replica reloads keys even without an event, in case it missed one while Redis was away.
RELOAD_INTERVAL = 30.0
KEYS_EVENT_TYPE = "keys"


class KeyRing(Subscriber):
    """This replica's view of the key set, replaced whole on reload so readers never see half a change."""

    def __init__(self, pool: asyncpg.Pool, kek: bytes) -> None:
        self.pool = pool
        self.repo = KeyRepository(kek)
        self.keyset = KeySet(())

    async def reload(self) -> None:
        self.keyset = KeySet(tuple(await self.repo.load(self.pool)))

    async def reload_periodically(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            try:
                await self.reload()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("key reload failed", extra={"error": str(exc)})

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == KEYS_EVENT_TYPE:
            await self.reload()

    async def on_connect(self) -> None:
        await self.reload()
