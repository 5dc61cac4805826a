"""The authorization server's cleanup contexts, one per resource, in the order `create_app` adds them (the shared
ones open Postgres and Redis first, and run the event feed for every subscriber added here)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
from aiohttp import web

from authorium_shared.appkeys import EVENT_SUBSCRIBERS, METRICS, PG_POOL, REDIS, REDIS_KEYS
from authorium_shared.dpop import Nonces, ProofChecker, ProofReplay
from authorium_shared.resources import background, revocation_copy
from authorium_shared.revocation_lists import RevocationCache, RevocationList
from authz.appkeys import (
    ACCESS_TOKENS,
    AUDIT,
    BACKCHANNEL,
    CLIENT_ASSERTIONS,
    CLIENTS,
    CODES,
    CONSENTS,
    DEVICE_CODES,
    DPOP,
    FACTOR_THROTTLE,
    GRANT_STORE,
    KEY_RING,
    LOGIN_THROTTLE,
    MINTER,
    PASSKEYS,
    PASSWORDS,
    PENDING,
    PUSHED,
    RECOVERY_CODES,
    RESOURCES,
    REVOKER,
    SESSIONS,
    SETTINGS,
    TOKEN_RATE_LIMIT,
    TOTP_FACTORS,
    USER_CODE_THROTTLE,
    USERS,
    WEBAUTHN_CHALLENGES,
)
from authz.audit import AuditLog
from authz.authorization.codes import CodeStore
from authz.authorization.consents import ConsentRepository
from authz.authorization.pending import PendingRequests
from authz.authorization.pushed import PushedRequests
from authz.clients.assertions import ClientAssertions
from authz.clients.cache import ClientCache
from authz.clients.keysets import ClientKeySets
from authz.clients.replay import SeenAssertions
from authz.clients.repository import ClientRepository
from authz.device.store import DeviceCodeStore
from authz.endpoints import paths
from authz.factors.passkeys import PasskeyRepository
from authz.factors.repository import RecoveryCodes, TotpRepository
from authz.factors.webauthn import Challenges
from authz.pruning import prune_periodically
from authz.ratelimit import (
    USER_CODE_FAILURES_PER_ADDRESS,
    USER_CODE_WINDOW,
    Counter,
    LoginThrottle,
    SecondFactorThrottle,
)
from authz.resources.registry import ResourceCache
from authz.resources.repository import ResourceRepository
from authz.revocation.publisher import Publisher
from authz.revocation.revoker import Revoker
from authz.sessions.backchannel import BackchannelSender
from authz.sessions.store import SessionStore
from authz.signing.lifecycle import ensure as ensure_keys
from authz.signing.ring import KeyRing
from authz.tokens.families import GrantRepository
from authz.tokens.minter import TokenMinter
from authz.tokens.reader import AccessTokenReader
from authz.users.passwords import Passwords
from authz.users.repository import UserRepository


async def stores(app: web.Application) -> AsyncIterator[None]:
    """The repositories and Redis stores handlers work with: views over the shared Postgres pool and Redis
    client, with nothing of their own to close. The client cache follows the event feed."""
    settings, pool, redis, keys = app[SETTINGS], app[PG_POOL], app[REDIS], app[REDIS_KEYS]
    app[AUDIT] = AuditLog(pool)
    app[CLIENTS] = ClientCache(ClientRepository(pool))
    app[EVENT_SUBSCRIBERS].append(app[CLIENTS])
    app[TOKEN_RATE_LIMIT] = Counter(redis, keys, "token", limit=settings.token_rate_limit, window=60)
    app[USERS] = UserRepository(pool)
    app[LOGIN_THROTTLE] = LoginThrottle(redis, keys)
    app[TOTP_FACTORS] = TotpRepository(pool, settings.kek)
    app[RECOVERY_CODES] = RecoveryCodes(pool)
    app[FACTOR_THROTTLE] = SecondFactorThrottle(redis, keys)
    app[SESSIONS] = SessionStore(
        redis, keys, ttl=settings.session_max_ttl, idle_ttl=settings.session_idle_ttl, secure=settings.secure_cookies
    )
    app[PASSKEYS] = PasskeyRepository(pool)
    app[WEBAUTHN_CHALLENGES] = Challenges(redis, keys)
    app[PENDING] = PendingRequests(redis, keys)
    app[PUSHED] = PushedRequests(redis, keys, ttl=settings.par_ttl)
    app[CONSENTS] = ConsentRepository(pool)
    # A replayed code is recognised for as long as the access tokens it produced can live.
    app[CODES] = CodeStore(redis, keys, ttl=settings.code_ttl, replay_memory=settings.access_token_ttl)
    app[GRANT_STORE] = GrantRepository(pool)
    app[DEVICE_CODES] = DeviceCodeStore(
        redis, keys, ttl=settings.device_code_ttl, interval=settings.device_poll_interval
    )
    app[USER_CODE_THROTTLE] = Counter(
        redis, keys, "user-code-addr", limit=USER_CODE_FAILURES_PER_ADDRESS, window=USER_CODE_WINDOW
    )
    # The nonce secret is derived from the KEK every replica holds, so a nonce one hands out is good at all of them.
    nonces = Nonces(hmac.new(settings.kek.current, b"dpop nonce", hashlib.sha256).digest())
    app[DPOP] = ProofChecker(ProofReplay(redis, keys), nonces=nonces if settings.dpop_nonce_required else None)
    yield


async def client_keys(app: web.Application) -> AsyncIterator[None]:
    """private_key_jwt (RFC 7523): the HTTP session that fetches clients' `jwks_uri`, and the assertions' checks."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        keysets = ClientKeySets(session)
        app[EVENT_SUBSCRIBERS].append(keysets)
        app[CLIENT_ASSERTIONS] = ClientAssertions(
            keysets,
            SeenAssertions(app[REDIS], app[REDIS_KEYS]),
            issuer=settings.issuer,
            token_endpoint=settings.issuer + paths.TOKEN,
        )
        yield


async def resources(app: web.Application) -> AsyncIterator[None]:
    """The resource registry (RFC 8707), loaded now and kept current: on `resources` events and feed reconnects,
    and on a timer."""
    registry = ResourceCache(ResourceRepository(app[PG_POOL], app[SETTINGS]))
    await registry.reload()
    app[RESOURCES] = registry
    app[EVENT_SUBSCRIBERS].append(registry)
    async with background(registry.reload_periodically()):
        yield


async def passwords(app: web.Application) -> AsyncIterator[None]:
    """Argon2id's thread pool; the dummy hash that makes an unknown user cost what a known one does is made now,
    so no sign-in pays for it."""
    with Passwords() as hasher:
        await asyncio.to_thread(lambda: hasher.dummy_hash)
        app[PASSWORDS] = hasher
        yield


async def signing_keys(app: web.Application) -> AsyncIterator[None]:
    """Make sure signing keys exist (every replica may; a lock serialises it), load them, and keep them current:
    on `keys` events and feed reconnects (the ring follows the feed), and on a timer."""
    settings = app[SETTINGS]
    await ensure_keys(app[PG_POOL], settings)
    ring = KeyRing(app[PG_POOL], settings.kek)
    await ring.reload()
    app[KEY_RING] = ring
    app[MINTER] = TokenMinter(settings, ring)
    app[EVENT_SUBSCRIBERS].append(ring)
    metrics = app[METRICS]
    metrics.samplers.append(lambda: ring.record_ages(metrics.signing_key_age))
    async with background(ring.reload_periodically()):
        yield


async def revocations(app: web.Application) -> AsyncIterator[None]:
    """Revoking, this replica's copy of the revocation lists, and the outbox's publisher, which every second or so
    publishes what Redis lacks and refills the lists when their generation marker is gone (and has every replica
    reload). On every feed (re)connect it makes a pass before the copy reloads."""
    settings = app[SETTINGS]
    listed = RevocationList(app[REDIS], app[REDIS_KEYS])
    copy = RevocationCache(listed, max_staleness=settings.revocation_max_staleness, lag=app[METRICS].revocation_lag)
    publisher = Publisher(app[PG_POOL], listed)
    app[REVOKER] = Revoker(
        app[PG_POOL], app[GRANT_STORE], listed, settings, copy, publisher, revocations=app[METRICS].revocations
    )
    app[EVENT_SUBSCRIBERS].append(app[REVOKER])
    app[ACCESS_TOKENS] = AccessTokenReader(settings, app[KEY_RING], copy, app[METRICS])
    async with revocation_copy(app, copy), background(publisher.run()):
        yield


async def backchannel_logout(app: web.Application) -> AsyncIterator[None]:
    """The HTTP client that delivers logout tokens to clients, and the sender that drains the back-channel logout
    outbox (`authz.sessions.backchannel`) on every replica."""
    # No cookies: a client's answer must not change what is sent to another.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), raise_for_status=False) as http:
        sender = BackchannelSender(
            app[PG_POOL], http, app[MINTER], app[CLIENTS], app[AUDIT], outcomes=app[METRICS].backchannel_logouts
        )
        app[BACKCHANNEL] = sender
        async with background(sender.run()):
            yield


async def pruning(app: web.Application) -> AsyncIterator[None]:
    """Deleting expired rows every few minutes, by one replica at a time."""
    retention = timedelta(days=app[SETTINGS].audit_retention_days)
    async with background(prune_periodically(app[PG_POOL], app[REDIS], app[REDIS_KEYS], audit_retention=retention)):
        yield
