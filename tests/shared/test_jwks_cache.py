"""JWKS cache against a real aiohttp server on 127.0.0.1: caching, rate limits, single flight, stale on error."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from authorium_shared.jwks_cache import JWKSCache, JWKSFetchError, max_age_from_headers, parse_jwks
from authorium_shared.jwt import TokenInvalid, encode
from authorium_shared.keys import SigningKey
from authorium_shared.metrics import Metrics

ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"
INTERVAL = 5.0


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class JWKSEndpoint:
    """What the fake authorization server answers, and how many times it was asked."""

    keys: list[dict[str, Any]]
    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.arrived.set()
        if self.release is not None:
            await self.release.wait()
        body = self.body if self.body is not None else json.dumps({"keys": self.keys}).encode()
        return web.Response(status=self.status, body=body, headers=self.headers, content_type="application/json")


@pytest.fixture
def endpoint(rsa_key: SigningKey) -> JWKSEndpoint:
    return JWKSEndpoint(keys=[rsa_key.public_jwk()])


@pytest.fixture
async def server(endpoint: JWKSEndpoint) -> AsyncIterator[TestServer]:
    app = web.Application()
    app.router.add_get("/jwks", endpoint.handle)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(session: aiohttp.ClientSession, server: TestServer, clock: Clock) -> JWKSCache:
    return JWKSCache(session, str(server.make_url("/jwks")), min_refetch_interval=INTERVAL, clock=clock)


def random_kid() -> str:
    return secrets.token_urlsafe(16)


def access_token(key: SigningKey) -> str:
    now = int(time.time())
    return encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "iat": now, "exp": now + 60}, key, typ="at+jwt")


async def verify(cache: JWKSCache, token: str) -> dict[str, Any]:
    return await cache.verify(token, algorithms=("RS256", "ES256"), issuer=ISSUER, audience=AUDIENCE, typ="at+jwt")


# --- basic fetching ---------------------------------------------------------------------------


async def test_fetches_on_first_use_then_serves_from_cache(
    cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    assert not cache.ready and cache.keys_fetched_at is None
    key = await cache.get(rsa_key.kid)
    assert key is not None and key.algorithm_name == "RS256"
    assert cache.ready and cache.keys_fetched_at == clock.now
    for _ in range(10):
        assert await cache.get(rsa_key.kid) is key
    assert endpoint.requests == 1


async def test_verify_uses_the_fetched_key(cache: JWKSCache, rsa_key: SigningKey) -> None:
    assert (await verify(cache, access_token(rsa_key)))["sub"] == "u"


async def test_verify_rejects_an_unknown_kid(cache: JWKSCache, endpoint: JWKSEndpoint) -> None:
    with pytest.raises(TokenInvalid) as excinfo:
        await verify(cache, access_token(SigningKey.generate("ES256")))
    assert excinfo.value.reason == "unknown kid"
    assert endpoint.requests == 1


async def test_verify_rejects_garbage_without_fetching(cache: JWKSCache, endpoint: JWKSEndpoint) -> None:
    for token in ("", "garbage", "a.b.c", "x" * 10_000):
        with pytest.raises(TokenInvalid):
            await verify(cache, token)
    assert endpoint.requests == 0


async def test_verify_rejects_a_token_signed_by_a_foreign_key_with_our_kid(
    cache: JWKSCache, rsa_key: SigningKey
) -> None:
    forger = SigningKey.generate("RS256")
    token = encode(
        {"iss": ISSUER, "aud": AUDIENCE, "iat": int(time.time()), "exp": int(time.time()) + 60},
        SigningKey(kid=rsa_key.kid, alg="RS256", private_key=forger.private_key),
        typ="at+jwt",
    )
    with pytest.raises(TokenInvalid, match="bad signature"):
        await verify(cache, token)


# --- Cache-Control ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "lifetime"),
    [
        ({"Cache-Control": "public, max-age=60"}, 60.0),
        ({}, 300.0),
        ({"Cache-Control": "max-age=100000"}, 3600.0),
        ({"Cache-Control": "max-age=60", "Age": "50"}, 10.0),
    ],
)
async def test_refetches_when_max_age_has_passed(
    headers: dict[str, str],
    lifetime: float,
    cache: JWKSCache,
    endpoint: JWKSEndpoint,
    rsa_key: SigningKey,
    clock: Clock,
) -> None:
    endpoint.headers = headers
    await cache.get(rsa_key.kid)
    clock.advance(lifetime - 0.001)
    await cache.get(rsa_key.kid)
    assert endpoint.requests == 1
    clock.advance(0.001)
    await cache.get(rsa_key.kid)
    assert endpoint.requests == 2


@pytest.mark.parametrize("directive", ["no-store", "no-cache", "private, no-store"])
async def test_no_store_expires_at_once_but_keeps_the_rate_limit(
    directive: str, cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    endpoint.headers = {"Cache-Control": directive}
    await cache.get(rsa_key.kid)
    clock.advance(INTERVAL - 0.001)
    for _ in range(5):
        assert await cache.get(rsa_key.kid) is not None
    assert endpoint.requests == 1
    clock.advance(0.001)
    await cache.get(rsa_key.kid)
    assert endpoint.requests == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 300.0),
        ({"Cache-Control": "max-age=120"}, 120.0),
        ({"Cache-Control": "Public, MAX-AGE=120, must-revalidate"}, 120.0),
        ({"Cache-Control": 'max-age="30"'}, 30.0),
        ({"Cache-Control": "max-age=abc"}, 300.0),
        ({"Cache-Control": "max-age=-5"}, 300.0),
        ({"Cache-Control": "max-age=0"}, 0.0),
        ({"Cache-Control": "max-age=999999"}, 3600.0),
        ({"Cache-Control": "no-cache, max-age=120"}, 0.0),
        ({"Cache-Control": "NO-STORE"}, 0.0),
        ({"Cache-Control": "max-age=120", "Age": "200"}, 0.0),
        ({"Cache-Control": "max-age=120", "Age": "junk"}, 120.0),
    ],
)
def test_max_age_from_headers(headers: dict[str, str], expected: float) -> None:
    assert max_age_from_headers(headers, default=300.0, cap=3600.0) == expected


# --- unknown kids -----------------------------------------------------------------------------


async def test_unknown_kid_flood_makes_at_most_one_request_per_interval(
    cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    await cache.get(rsa_key.kid)
    assert endpoint.requests == 1
    # Within the interval of the first fetch nothing is refetched at all.
    assert await asyncio.gather(*(cache.get(random_kid()) for _ in range(50))) == [None] * 50
    assert endpoint.requests == 1
    clock.advance(INTERVAL)
    assert await asyncio.gather(*(cache.get(random_kid()) for _ in range(50))) == [None] * 50
    for _ in range(50):
        assert await cache.get(random_kid()) is None
    assert endpoint.requests == 2
    clock.advance(INTERVAL)
    await cache.get(random_kid())
    assert endpoint.requests == 3
    assert await cache.get(rsa_key.kid) is not None


async def test_a_newly_published_key_is_picked_up(
    cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    await cache.get(rsa_key.kid)
    new_key = SigningKey.generate("ES256")
    endpoint.keys = [rsa_key.public_jwk(), new_key.public_jwk()]
    clock.advance(INTERVAL)
    assert (await verify(cache, access_token(new_key)))["sub"] == "u"
    assert endpoint.requests == 2


async def test_a_removed_key_disappears_on_refetch(
    cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    other = SigningKey.generate("EdDSA")
    endpoint.keys = [rsa_key.public_jwk(), other.public_jwk()]
    assert await cache.get(other.kid) is not None
    endpoint.keys = [rsa_key.public_jwk()]
    clock.advance(300)
    assert await cache.get(other.kid) is None
    assert await cache.get(rsa_key.kid) is not None


# --- single flight ----------------------------------------------------------------------------


@pytest.mark.parametrize("random_kids", [False, True])
async def test_concurrent_callers_share_one_fetch(
    random_kids: bool, cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey
) -> None:
    endpoint.release = asyncio.Event()
    kids = [random_kid() if random_kids and i else rsa_key.kid for i in range(20)]
    callers = [asyncio.create_task(cache.get(kid)) for kid in kids]
    await asyncio.wait_for(endpoint.arrived.wait(), 5)
    # Time for any other caller to start a second fetch, which must not happen: the sleep is the test.
    await asyncio.sleep(0.05)
    assert endpoint.requests == 1
    endpoint.release.set()
    results = await asyncio.gather(*callers)
    assert results[0] is not None and results[0].key_id == rsa_key.kid
    expected_rest = None if random_kids else results[0]
    assert all(r is expected_rest for r in results[1:])
    assert endpoint.requests == 1


async def test_a_cancelled_caller_does_not_block_the_next_fetch(
    cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey
) -> None:
    endpoint.release = asyncio.Event()
    first = asyncio.create_task(cache.get(rsa_key.kid))
    await asyncio.wait_for(endpoint.arrived.wait(), 5)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    endpoint.release.set()
    assert await cache.get(rsa_key.kid) is not None
    assert endpoint.requests == 2


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, None),
        (404, None),
        (200, b"{not json"),
        (200, b'"a string"'),
        (200, b'{"keys": "nope"}'),
        (200, b'{"keys": []}'),
        (200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]}'),
        (200, b"\xff\xfe"),
    ],
)
async def test_failed_refetch_keeps_the_previous_keys(
    status: int,
    body: bytes | None,
    cache: JWKSCache,
    endpoint: JWKSEndpoint,
    rsa_key: SigningKey,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await cache.get(rsa_key.kid)
    fetched_at = cache.keys_fetched_at
    endpoint.status, endpoint.body = status, body
    clock.advance(300)
    with caplog.at_level(logging.WARNING, logger="authorium_shared.jwks_cache"):
        assert await cache.get(rsa_key.kid) is not None
    assert endpoint.requests == 2
    assert "keeping 1 cached key" in caplog.text
    assert cache.ready and cache.keys_fetched_at == fetched_at
    # The next attempt waits for the interval, then succeeds once the server recovers.
    clock.advance(INTERVAL - 0.001)
    await cache.get(rsa_key.kid)
    await cache.get(random_kid())
    assert endpoint.requests == 2
    endpoint.status, endpoint.body = 200, None
    clock.advance(0.001)
    await cache.get(rsa_key.kid)
    assert endpoint.requests == 3
    assert cache.keys_fetched_at == clock.now


async def test_network_error_keeps_the_previous_keys(
    session: aiohttp.ClientSession, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    app = web.Application()
    app.router.add_get("/jwks", endpoint.handle)
    own_server = TestServer(app, host="127.0.0.1", port=0)
    await own_server.start_server()
    cache = JWKSCache(session, str(own_server.make_url("/jwks")), min_refetch_interval=INTERVAL, clock=clock)
    try:
        assert await cache.get(rsa_key.kid) is not None
    finally:
        await own_server.close()
    clock.advance(300)
    assert await cache.get(rsa_key.kid) is not None
    assert await cache.get(random_kid()) is None
    assert endpoint.requests == 1


async def test_unreachable_issuer_is_not_ready_and_rejects_tokens(
    session: aiohttp.ClientSession, clock: Clock, rsa_key: SigningKey
) -> None:
    app = web.Application()
    closed = TestServer(app, host="127.0.0.1", port=0)
    await closed.start_server()
    url = str(closed.make_url("/jwks"))
    await closed.close()
    cache = JWKSCache(session, url, min_refetch_interval=INTERVAL, clock=clock)
    with pytest.raises(TokenInvalid, match="unknown kid"):
        await verify(cache, access_token(rsa_key))
    assert not cache.ready
    assert not await cache.refresh()


async def test_oversized_response_is_rejected(cache: JWKSCache, endpoint: JWKSEndpoint, rsa_key: SigningKey) -> None:
    endpoint.keys = [rsa_key.public_jwk(), *({"kid": str(i), "pad": "x" * 1000} for i in range(600))]
    assert await cache.get(rsa_key.kid) is None
    assert not cache.ready


async def test_refresh_loads_keys_and_respects_the_interval(
    cache: JWKSCache, endpoint: JWKSEndpoint, clock: Clock
) -> None:
    assert await cache.refresh()
    assert await cache.refresh()
    assert endpoint.requests == 1
    clock.advance(INTERVAL)
    assert await cache.refresh()
    assert endpoint.requests == 2


# --- a URL found by a resolver -----------------------------------------------------------------


@dataclass
class Resolver:
    """Stands in for discovery: answers `url`, or fails while `failing`; counts its calls."""

    url: str
    failing: bool = False
    calls: int = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failing:
            raise JWKSFetchError("no metadata yet")
        return self.url


async def test_a_resolver_is_asked_when_keys_are_first_needed_and_only_then(
    session: aiohttp.ClientSession, server: TestServer, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    resolver = Resolver(str(server.make_url("/jwks")))
    cache = JWKSCache(session, resolver, min_refetch_interval=INTERVAL, clock=clock)
    assert resolver.calls == 0
    assert (await verify(cache, access_token(rsa_key)))["sub"] == "u"
    clock.advance(300)
    assert await cache.get(rsa_key.kid) is not None
    assert (resolver.calls, endpoint.requests) == (1, 2), "the resolved URL is kept for every later fetch"


async def test_a_failing_resolver_fails_closed_and_is_retried_at_the_refetch_rate(
    session: aiohttp.ClientSession,
    server: TestServer,
    endpoint: JWKSEndpoint,
    rsa_key: SigningKey,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolver = Resolver(str(server.make_url("/jwks")), failing=True)
    cache = JWKSCache(session, resolver, min_refetch_interval=INTERVAL, clock=clock)
    with caplog.at_level(logging.WARNING, logger="authorium_shared.jwks_cache"):
        assert not await cache.refresh()
    assert "no metadata yet" in caplog.text
    with pytest.raises(TokenInvalid, match="unknown kid"):
        await verify(cache, access_token(rsa_key))
    assert (resolver.calls, endpoint.requests) == (1, 0)
    resolver.failing = False
    clock.advance(INTERVAL - 0.001)
    assert await asyncio.gather(*(cache.get(rsa_key.kid) for _ in range(10))) == [None] * 10
    assert resolver.calls == 1, "a resolver that failed is not asked again within the interval"
    clock.advance(0.001)
    assert (await verify(cache, access_token(rsa_key)))["sub"] == "u"
    assert (resolver.calls, endpoint.requests) == (2, 1)
    assert cache.ready


async def test_concurrent_callers_share_one_resolution(
    session: aiohttp.ClientSession, server: TestServer, endpoint: JWKSEndpoint, rsa_key: SigningKey
) -> None:
    resolver = Resolver(str(server.make_url("/jwks")))
    cache = JWKSCache(session, resolver, min_refetch_interval=INTERVAL)
    results = await asyncio.gather(*(cache.get(rsa_key.kid) for _ in range(20)))
    assert all(r is not None for r in results)
    assert (resolver.calls, endpoint.requests) == (1, 1)


# --- parsing ----------------------------------------------------------------------------------


def test_unusable_keys_are_skipped(signing_keys: dict[str, SigningKey]) -> None:
    rsa_jwk, es_jwk, ed_jwk = (signing_keys[alg].public_jwk() for alg in ("RS256", "ES256", "EdDSA"))
    no_alg = {k: v for k, v in es_jwk.items() if k not in ("alg", "use")}
    document = {
        "keys": [
            "not an object",
            {**rsa_jwk, "kid": "enc", "use": "enc"},
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {**rsa_jwk, "kid": "none", "alg": "none"},
            {**rsa_jwk, "kid": "hs", "alg": "HS256"},
            {**rsa_jwk, "kid": "bad-n", "n": "!!"},
            {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
            {"kty": "EC", "kid": "bad-crv", "crv": "P-999", "x": "AA", "y": "AA"},
            {k: v for k, v in rsa_jwk.items() if k != "kid"},
            {**rsa_jwk, "kid": 5},
            rsa_jwk,
            no_alg,
            ed_jwk,
            {**es_jwk, "kid": rsa_jwk["kid"]},
        ]
    }
    keys = parse_jwks(document)
    assert set(keys) == {rsa_jwk["kid"], es_jwk["kid"], ed_jwk["kid"]}
    assert keys[rsa_jwk["kid"]].algorithm_name == "RS256"
    assert keys[es_jwk["kid"]].algorithm_name == "ES256"


@pytest.mark.parametrize("document", [None, [], {"keys": {}}, {"keys": []}, {"keys": [{"kty": "oct"}]}])
def test_documents_without_usable_keys_are_errors(document: object) -> None:
    with pytest.raises(JWKSFetchError):
        parse_jwks(document)


async def test_fetches_and_unknown_kid_refetches_are_counted(
    session: aiohttp.ClientSession, server: TestServer, endpoint: JWKSEndpoint, rsa_key: SigningKey, clock: Clock
) -> None:
    registry = CollectorRegistry()
    url = str(server.make_url("/jwks"))
    cache = JWKSCache(session, url, min_refetch_interval=INTERVAL, clock=clock, metrics=Metrics(registry))

    def counted() -> tuple[float | None, ...]:
        return (
            registry.get_sample_value("authorium_jwks_fetches_total", {"outcome": "success"}),
            registry.get_sample_value("authorium_jwks_fetches_total", {"outcome": "failure"}),
            registry.get_sample_value("authorium_jwks_unknown_kid_refetches_total"),
        )

    await cache.get(rsa_key.kid)  # the first fetch: not a refetch
    assert counted() == (1, None, 0)
    new_key = SigningKey.generate("ES256")
    endpoint.keys = [rsa_key.public_jwk(), new_key.public_jwk()]
    clock.advance(INTERVAL)
    await verify(cache, access_token(new_key))  # a kid the cached set lacks, well before its max-age
    assert counted() == (2, None, 1)
    endpoint.status = 500
    clock.advance(INTERVAL)
    await cache.get(random_kid())
    assert counted() == (2, 1, 2)
