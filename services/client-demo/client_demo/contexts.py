"""The demo client's cleanup context: one HTTP client session for every call to the authorization server and
the notes API, and the Redis-backed session stores."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from authorium_shared.appkeys import REDIS, REDIS_KEYS
from client_demo.api import NotesApi
from client_demo.appkeys import LOGINS, LOGOUTS, NOTES_API, PROVIDER, SESSIONS, SETTINGS
from client_demo.provider import Provider, ProviderError
from client_demo.sessions import PendingLogins, PendingLogouts, SessionStore


async def components(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession(raise_for_status=False) as http:
        provider = Provider(settings, http)
        app[PROVIDER] = provider
        app[SESSIONS] = SessionStore(app[REDIS], app[REDIS_KEYS], ttl=settings.session_ttl)
        app[LOGINS] = PendingLogins(app[REDIS], app[REDIS_KEYS])
        app[LOGOUTS] = PendingLogouts(app[REDIS], app[REDIS_KEYS])
        app[NOTES_API] = NotesApi(http, settings.resource_url)
        # Best effort: if the authorization server is not up yet, the first sign-in fetches its metadata.
        with contextlib.suppress(ProviderError):
            await provider.metadata()
        yield
