"""Cleanup contexts owned by the authorization server (the shared ones open Postgres and Redis)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from authorium_shared import events
from authorium_shared.appkeys import PG_POOL, REDIS, REDIS_KEYS
from authz.appkeys import COMPONENTS, KEY_RING, SETTINGS
from authz.components import Components
from authz.keys import KeyRing
from authz.keys import ensure as ensure_keys

log = logging.getLogger("authorium.authz")


async def key_ring(app: web.Application) -> AsyncIterator[None]:
    """Make sure signing keys exist and load them; reload them on a timer too (events come in `components`).
    Every replica may run the start-up maintenance; a lock serialises it."""
    await ensure_keys(app[PG_POOL], app[SETTINGS])
    ring = KeyRing(app[PG_POOL], app[SETTINGS].kek)
    await ring.reload()
    app[KEY_RING] = ring
    task = asyncio.create_task(ring.reload_periodically())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def components(app: web.Application) -> AsyncIterator[None]:
    """Build the request handlers' components; put revocations back into Redis from Postgres, in case Redis
    lost them (a no-op when it did not); and follow the event channel: `keys` events reload the key ring,
    `client` events drop a cached client, and a reconnect (events may have been missed) does both."""
    built = Components.build(app[SETTINGS], app[PG_POOL], app[REDIS], app[REDIS_KEYS], app[KEY_RING])
    app[COMPONENTS] = built
    try:
        restored = await built.revoker.rebuild()
    except (RedisError, OSError) as exc:
        log.warning("could not restore revocations into Redis", extra={"error": str(exc)})
    else:
        if restored:
            log.info("restored revocations into Redis", extra={"count": restored})

    async def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "keys":
            await built.ring.reload()
        await built.clients.on_event(event)

    async def on_connect() -> None:
        built.clients.clear()
        await built.ring.reload()

    feed = asyncio.create_task(events.EventFeed(app[REDIS], app[REDIS_KEYS], on_event, on_connect=on_connect).run())
    try:
        yield
    finally:
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)
