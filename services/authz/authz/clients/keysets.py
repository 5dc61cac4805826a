"""The public keys a private_key_jwt client registered (RFC 7591 section 2: `jwks`, or `jwks_uri`), by `kid`.

A `jwks_uri` is fetched with the shared JWKS cache (`authorium_shared.jwks_cache`): its Cache-Control honoured, a
refetch on an unknown `kid` at most every few seconds, the last good keys kept when a fetch fails. One cache per
URI, and at most `max_uris` of them in memory, the least recently used dropped first. Any change to a client (a
`client` event: its keys, or an operator withdrawing a leaked key from the set its URI serves) drops them all, on
every replica, so the next assertion is checked against keys fetched afresh."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import aiohttp
import jwt

from authorium_shared.events import Subscriber
from authorium_shared.jwks_cache import JWKSCache, JWKSFetchError, parse_jwks
from authz.clients.cache import EVENT_TYPE

# A token request waits on this fetch: a slow client's key set must not hold it for long.
FETCH_TIMEOUT = 5.0


class ClientKeySets(Subscriber):
    def __init__(self, session: aiohttp.ClientSession, *, max_uris: int = 256) -> None:
        self.session = session
        self.max_uris = max_uris
        self._caches: OrderedDict[str, JWKSCache] = OrderedDict()

    async def key(self, jwks: Mapping[str, Any] | None, jwks_uri: str | None, kid: str) -> jwt.PyJWK | None:
        """The client's key named `kid`, or None (no such key, or none could be read)."""
        if jwks is not None:
            try:
                return parse_jwks(dict(jwks)).get(kid)
            except JWKSFetchError:
                return None
        if jwks_uri is None:
            return None
        return await self._cache(jwks_uri).get(kid)

    def _cache(self, uri: str) -> JWKSCache:
        cache = self._caches.get(uri)
        if cache is None:
            cache = JWKSCache(self.session, uri, timeout=FETCH_TIMEOUT)
            self._caches[uri] = cache
            if len(self._caches) > self.max_uris:
                self._caches.popitem(last=False)
        else:
            self._caches.move_to_end(uri)
        return cache

    def __len__(self) -> int:
        return len(self._caches)

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == EVENT_TYPE:
            self._caches.clear()

    async def on_connect(self) -> None:
        """Changes announced while the feed was down were missed."""
        self._caches.clear()
