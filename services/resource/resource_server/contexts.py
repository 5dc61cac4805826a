"""Cleanup contexts owned by the resource server: the JWKS cache with its HTTP session, and the revocation
cache with the event feed that keeps it current."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from authorium_shared.appkeys import PG_POOL, REDIS, REDIS_KEYS, REVOCATIONS
from authorium_shared.jwks_cache import JWKSCache
from authorium_shared.resources import revocation_copy
from authorium_shared.revocations import RevocationCache, RevocationList
from resource_server.appkeys import NOTES, SETTINGS, VERIFIER
from resource_server.repositories.notes import NoteRepository
from resource_server.tokens import Verifier


async def revocations(app: web.Application) -> AsyncIterator[None]:
    cache = RevocationCache(
        RevocationList(app[REDIS], app[REDIS_KEYS]), max_staleness=app[SETTINGS].revocation_max_staleness
    )
    async with revocation_copy(app, cache):
        yield


async def verifier(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        keys = JWKSCache(session, settings.jwks_url)
        # Best effort: a key set fetched now saves the first request the wait. If the authorization server
        # is not up yet, the first token with an unknown kid fetches it.
        await keys.refresh()
        app[VERIFIER] = Verifier(settings, keys, app[REVOCATIONS])
        app[NOTES] = NoteRepository(app[PG_POOL])
        yield
