"""Cleanup contexts owned by the resource server, one per resource: the revocation copy (the event feed, a shared
context, keeps it current), the JWKS cache with its HTTP session (and the DPoP proof checks of the verifier that
uses it), and the notes repository."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from authorium_shared.appkeys import METRICS, PG_POOL, REDIS, REDIS_KEYS, REVOCATIONS
from authorium_shared.dpop import Nonces, ProofChecker, ProofReplay
from authorium_shared.jwks_cache import JWKSCache
from authorium_shared.resources import revocation_copy
from authorium_shared.revocation_lists import RevocationCache, RevocationList
from resource_server.access import Verifier
from resource_server.appkeys import NOTES, SETTINGS, VERIFIER
from resource_server.discovery import discover_jwks_uri
from resource_server.repository import NoteRepository


async def revocations(app: web.Application) -> AsyncIterator[None]:
    cache = RevocationCache(
        RevocationList(app[REDIS], app[REDIS_KEYS]),
        max_staleness=app[SETTINGS].revocation_max_staleness,
        lag=app[METRICS].revocation_lag,
    )
    async with revocation_copy(app, cache):
        yield


async def verifier(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        # AUTHORIUM_JWKS_URL, else the jwks_uri of the issuer's metadata, found when keys are first fetched.
        keys = JWKSCache(
            session,
            settings.jwks_url or functools.partial(discover_jwks_uri, session, settings.issuer),
            metrics=app[METRICS],
        )
        # Best effort: a key set fetched now saves the first request the wait. If the authorization server
        # is not up yet, the first token with an unknown kid discovers and fetches it.
        await keys.refresh()
        secret = settings.dpop_nonce_secret
        proofs = ProofChecker(
            ProofReplay(app[REDIS], app[REDIS_KEYS]), nonces=Nonces(secret) if secret is not None else None
        )
        app[VERIFIER] = Verifier(settings, keys, app[REVOCATIONS], app[METRICS], proofs)
        yield


async def notes(app: web.Application) -> AsyncIterator[None]:
    """The notes repository, over the Postgres pool that `base_app`'s context opened before this one."""
    app[NOTES] = NoteRepository(app[PG_POOL])
    yield
