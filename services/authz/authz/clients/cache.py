"""Client records held in memory, so authenticating a client (every token, revocation and introspection
request) costs no Postgres round trip. A record is kept at most `ttl` seconds; a change is announced on the
event channel (`client` events), and every replica drops its copy at once; a replica that was disconnected
drops them all when it reconnects."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from authorium_shared import events
from authorium_shared.events import Subscriber
from authorium_shared.redis_keys import RedisKeys
from authz.clients.records import Client
from authz.clients.repository import ClientRepository

EVENT_TYPE = "client"


async def announce_change(redis: Redis, keys: RedisKeys, client_id: str) -> None:
    """Tell every replica that `client_id` changed (its secret, redirect URIs, grants or scopes)."""
    await events.publish(redis, keys, {"type": EVENT_TYPE, "client_id": client_id})


class ClientCache(Subscriber):
    def __init__(
        self,
        repository: ClientRepository,
        *,
        ttl: float = 60.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository = repository
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, Client]] = {}

    async def get(self, client_id: str) -> Client | None:
        """The client, if it exists and is not disabled (a disabled client is kept, so it costs no lookup)."""
        client = await self._get(client_id)
        return None if client is None or client.disabled else client

    async def _get(self, client_id: str) -> Client | None:
        entry = self._entries.get(client_id)
        now = self.clock()
        if entry is not None and entry[0] > now:
            return entry[1]
        client = await self.repository.get(client_id)
        # Unknown ids are not remembered: anyone can send those, and they must not fill memory.
        if client is None:
            self._entries.pop(client_id, None)
            return None
        if client_id not in self._entries and len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest insertion
        self._entries[client_id] = (now + self.ttl, client)
        return client

    def invalidate(self, client_id: str) -> None:
        self._entries.pop(client_id, None)

    def clear(self) -> None:
        self._entries.clear()

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == EVENT_TYPE and isinstance(event.get("client_id"), str):
            self.invalidate(event["client_id"])

    async def on_connect(self) -> None:
        """Changes announced while the feed was down were missed: forget every copy."""
        self.clear()
