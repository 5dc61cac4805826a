"""Cleanup contexts owned by the resource server: the JWKS cache with its HTTP session, the revocation
cache with the event feed that keeps it current, and the notes repository."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from authorium_shared.appkeys import PG_POOL, READINESS_CHECKS, REDIS, REDIS_KEYS
from authorium_shared.events import EventFeed
from authorium_shared.jwks_cache import JWKSCache
from authorium_shared.revocations import RevocationCache, RevocationList
from resource_server.appkeys import NOTES, REVOCATIONS, SETTINGS, VERIFIER
from resource_server.discovery import discover_jwks_uri
from resource_server.repositories.notes import NoteRepository
from resource_server.tokens import Verifier


async def check_revocation_feed(app: web.Application) -> str | None:
    return app[REVOCATIONS].problem()


async def revocations(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    cache = RevocationCache(
        RevocationList(app[REDIS], app[REDIS_KEYS]), max_staleness=settings.revocation_max_staleness
    )
    feed = EventFeed(app[REDIS], app[REDIS_KEYS], cache.on_event, on_connect=cache.reload)
    cache.feed = feed
    app[REVOCATIONS] = cache
    app[READINESS_CHECKS].append(check_revocation_feed)

    tasks = [asyncio.create_task(feed.run()), asyncio.create_task(cache.prune_periodically())]
    # Serve only once the list is loaded, or after a short wait (then requests fail closed until it is).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(feed.connected_event.wait(), timeout=settings.revocation_max_staleness)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def verifier(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        # AUTHORIUM_JWKS_URL, else the jwks_uri of the issuer's metadata, found when keys are first fetched.
        keys = JWKSCache(session, settings.jwks_url or functools.partial(discover_jwks_uri, session, settings.issuer))
        # Best effort: a key set fetched now saves the first request the wait. If the authorization server
        # is not up yet, the first token with an unknown kid discovers and fetches it.
        await keys.refresh()
        app[VERIFIER] = Verifier(settings, keys, app[REVOCATIONS])
        yield


async def notes(app: web.Application) -> AsyncIterator[None]:
    """The notes repository, over the Postgres pool that `base_app`'s context opened before this one."""
    app[NOTES] = NoteRepository(app[PG_POOL])
    yield
