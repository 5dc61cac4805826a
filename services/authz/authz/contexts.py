"""Cleanup contexts owned by the authorization server (the shared ones open Postgres and Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web

from authorium_shared import events
from authorium_shared.appkeys import PG_POOL, READINESS_CHECKS, REDIS, REDIS_KEYS
from authz.appkeys import COMPONENTS, KEY_RING, SETTINGS
from authz.components import Components
from authz.keys import KeyRing
from authz.keys import ensure as ensure_keys
from authz.maintenance import prune_periodically

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


async def check_revocation_feed(app: web.Application) -> str | None:
    return app[COMPONENTS].revocations.problem()


async def components(app: web.Application) -> AsyncIterator[None]:
    """Build the request handlers' components and follow the event channel: `keys` events reload the key
    ring, `client` events drop a cached client, revocations update this replica's copy of the lists. On every
    (re)connect, events may have been missed, and Redis may have lost its data: revocations are put back into
    Redis from Postgres (and every replica told to reload them), then the copy, the key ring and the client
    cache are all refreshed."""
    settings = app[SETTINGS]
    built = Components.build(settings, app[PG_POOL], app[REDIS], app[REDIS_KEYS], app[KEY_RING])
    app[COMPONENTS] = built
    app[READINESS_CHECKS].append(check_revocation_feed)

    async def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "keys":
            await built.ring.reload()
        await built.clients.on_event(event)
        await built.revocations.on_event(event)

    async def on_connect() -> None:
        restored = await built.revoker.rebuild()
        if restored:
            log.info("revocations put back into Redis", extra={"count": restored})
        await built.revocations.reload()
        built.clients.clear()
        await built.ring.reload()

    feed = events.EventFeed(app[REDIS], app[REDIS_KEYS], on_event, on_connect=on_connect)
    built.revocations.feed = feed
    retention = timedelta(days=settings.audit_retention_days)
    tasks = [
        asyncio.create_task(feed.run()),
        asyncio.create_task(built.revocations.prune_periodically()),
        asyncio.create_task(prune_periodically(app[PG_POOL], app[REDIS], app[REDIS_KEYS], audit_retention=retention)),
    ]
    # Serve once the revocations are loaded, or after a short wait (then introspection fails closed until then).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(feed.connected_event.wait(), timeout=settings.revocation_max_staleness)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
