"""JWKS cache for token verifiers: honours Cache-Control, refetches on unknown kids (rate-limited),
shares one in-flight fetch between callers and keeps serving the last good keys when a fetch fails.
The key set's URL is given, or found on first fetch by a resolver (e.g. from the issuer's metadata).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Final

import aiohttp
import jwt

from authorium_shared import jwt as authorium_jwt
from authorium_shared.keys import ALGORITHMS, VERIFIABLE_ALGORITHMS
from authorium_shared.metrics import Metrics

log = logging.getLogger(__name__)

MAX_JWKS_BYTES: Final = 512 * 1024
_ASYMMETRIC_KTY: Final = frozenset({"RSA", "EC", "OKP"})


class JWKSFetchError(Exception):
    """A JWKS response could not be used; the previous keys stay in service."""


# Finds the key set's URL, raising JWKSFetchError (or an aiohttp.ClientError, TimeoutError or ValueError)
# when it cannot yet.
JWKSURLResolver = Callable[[], Awaitable[str]]


def _directive_seconds(value: str) -> float | None:
    try:
        seconds = int(value.strip().strip('"'))
    except ValueError:
        return None
    return float(seconds) if seconds >= 0 else None


def max_age_from_headers(headers: Mapping[str, str], *, default: float, cap: float) -> float:
    """Seconds the response may be reused: RFC 9111 max-age minus Age, 0 for no-store/no-cache."""
    max_age: float | None = None
    for directive in headers.get("Cache-Control", "").split(","):
        name, _, value = directive.strip().partition("=")
        name = name.lower()
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age" and max_age is None:
            max_age = _directive_seconds(value)
    lifetime = min(default if max_age is None else max_age, cap)
    # A shared cache in front of the JWKS may already have held the response for a while.
    age = _directive_seconds(headers.get("Age", "")) or 0.0
    return max(lifetime - age, 0.0)


def _usable_key(entry: object) -> jwt.PyJWK | None:
    if not isinstance(entry, dict):
        return None
    if not isinstance(entry.get("kid"), str) or entry.get("kty") not in _ASYMMETRIC_KTY:
        return None
    if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHMS[0]) not in VERIFIABLE_ALGORITHMS:
        return None
    try:
        return jwt.PyJWK(entry)
    except Exception:
        # Published keys are outside input to a third-party parser: one bad entry must not cost the rest.
        return None


def parse_jwks(document: object) -> dict[str, jwt.PyJWK]:
    """Map kid -> key for every usable signing key; unusable entries are skipped, not fatal."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSFetchError("response is not a JWK Set")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        key = _usable_key(entry)
        # First one wins on a duplicate kid so an appended entry cannot shadow a known key.
        if key is not None and key.key_id is not None and key.key_id not in keys:
            keys[key.key_id] = key
    if not keys:
        raise JWKSFetchError("JWK Set holds no usable signing key")
    return keys


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The response's body, or None once it runs past `limit` bytes (nothing more is read)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


class JWKSCache:
    """Verification keys of one issuer, fetched from its `jwks_uri`.

    `url` is that URL, or a resolver called when keys are first needed. A resolver that fails counts as a
    failed fetch (same rate limit, same fail-closed answer); once it has answered, its URL is kept."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str | JWKSURLResolver,
        *,
        min_refetch_interval: float = 5.0,
        default_max_age: float = 300.0,
        max_age_cap: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._session = session
        self._metrics = metrics
        self._url: str | None = url if isinstance(url, str) else None
        self._resolve: JWKSURLResolver | None = None if isinstance(url, str) else url
        self._min_refetch_interval = min_refetch_interval
        self._default_max_age = default_max_age
        self._max_age_cap = max_age_cap
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._lock = asyncio.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._expires_at = 0.0
        self._last_attempt: float | None = None

    @property
    def ready(self) -> bool:
        """True once keys have been loaded at least once (for a readiness probe)."""
        return self._fetched_at is not None

    @property
    def keys_fetched_at(self) -> float | None:
        """Clock time of the last successful fetch."""
        return self._fetched_at

    def _may_fetch(self, now: float) -> bool:
        return self._last_attempt is None or now - self._last_attempt >= self._min_refetch_interval

    def _wants_fetch(self, kid: str) -> bool:
        now = self._clock()
        return now >= self._expires_at or kid not in self._keys

    def _unexpired_without(self, kid: str) -> bool:
        return kid not in self._keys and self._clock() < self._expires_at

    async def get(self, kid: str) -> jwt.PyJWK | None:
        # A caller arriving while a fetch is in flight waits for it instead of being turned away by
        # the rate limit: that fetch may well bring the kid it is looking for.
        if self._wants_fetch(kid) and (self._lock.locked() or self._may_fetch(self._clock())):
            async with self._lock:
                # Callers that queued behind a fetch find it done here and do not fetch again.
                if self._wants_fetch(kid) and self._may_fetch(self._clock()):
                    if self._metrics is not None and self._fetched_at is not None and self._unexpired_without(kid):
                        self._metrics.jwks_unknown_kid.inc()
                    await self._fetch()
        return self._keys.get(kid)

    async def refresh(self) -> bool:
        """Fetch now unless a fetch was attempted within `min_refetch_interval`; return `ready`."""
        async with self._lock:
            if self._may_fetch(self._clock()):
                await self._fetch()
        return self.ready

    async def _jwks_url(self) -> str:
        if self._url is None:
            assert self._resolve is not None
            self._url = await self._resolve()
        return self._url

    async def _download(self) -> tuple[bytes, float]:
        async with self._session.get(
            await self._jwks_url(), timeout=self._timeout, headers={"Accept": "application/json"}, allow_redirects=False
        ) as response:
            if response.status != 200:
                raise JWKSFetchError(f"HTTP {response.status}")
            body = await read_bounded(response, MAX_JWKS_BYTES)
            if body is None:
                raise JWKSFetchError("response too large")
            max_age = max_age_from_headers(response.headers, default=self._default_max_age, cap=self._max_age_cap)
        return body, max_age

    async def _fetch(self) -> None:
        previous_attempt, self._last_attempt = self._last_attempt, self._clock()
        try:
            body, max_age = await self._download()
            keys = parse_jwks(json.loads(body))
        except asyncio.CancelledError:
            # The caller gave up, the issuer did not fail: let the next caller try at once.
            self._last_attempt = previous_attempt
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError, RecursionError, JWKSFetchError) as exc:
            log.warning(
                "JWKS fetch from %s failed (%s); keeping %d cached key(s), retrying in %gs",
                self._url or "a URL not yet resolved",
                str(exc) or type(exc).__name__,
                len(self._keys),
                self._min_refetch_interval,
            )
            if self._metrics is not None:
                self._metrics.jwks_fetches.labels("failure").inc()
            return
        if self._metrics is not None:
            self._metrics.jwks_fetches.labels("success").inc()
        now = self._clock()
        self._keys = keys
        self._fetched_at = now
        self._expires_at = now + max_age

    async def verify(
        self,
        token: str,
        *,
        algorithms: Collection[str],
        issuer: str,
        audience: str | None,
        typ: str | None,
        leeway: float = 0,
        required: Collection[str] = authorium_jwt.DEFAULT_REQUIRED,
    ) -> dict[str, Any]:
        header = authorium_jwt.peek_header(token, algorithms=algorithms)
        key = await self.get(header.kid)
        if key is None:
            raise authorium_jwt.TokenInvalid("unknown kid")
        return authorium_jwt.verify(
            token,
            key,
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            typ=typ,
            leeway=leeway,
            required=required,
        )
