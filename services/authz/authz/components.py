"""Everything a request handler of the authorization server works with, built once per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.revocations import RevocationCache, RevocationList
from authorium_shared.verified_tokens import VerifiedTokens
from authz.client_cache import ClientCache
from authz.keys import KeyRing
from authz.ratelimit import Counter
from authz.repositories.clients import ClientRepository
from authz.repositories.codes import CodeStore
from authz.repositories.consents import ConsentRepository
from authz.repositories.grants import GrantRepository
from authz.repositories.sessions import PendingRequests, SessionStore
from authz.repositories.users import UserRepository
from authz.revocation import Revoker
from authz.settings import AuthzSettings
from authz.tokens import TokenMinter

LOGIN_WINDOW = 900
LOGIN_FAILURES_PER_USERNAME = 5
LOGIN_FAILURES_PER_ADDRESS = 30


@dataclass(frozen=True)
class Components:
    settings: AuthzSettings
    pool: asyncpg.Pool
    redis: Redis
    ring: KeyRing
    clients: ClientCache
    users: UserRepository
    grants: GrantRepository
    consents: ConsentRepository
    codes: CodeStore
    sessions: SessionStore
    pending: PendingRequests
    revocations: RevocationCache
    revoker: Revoker
    minter: TokenMinter
    token_requests: Counter
    failed_logins_by_username: Counter
    failed_logins_by_address: Counter
    verified_tokens: VerifiedTokens[dict[str, Any]]

    @classmethod
    def build(
        cls, settings: AuthzSettings, pool: asyncpg.Pool, redis: Redis, keys: RedisKeys, ring: KeyRing
    ) -> Components:
        grants = GrantRepository(pool)
        listed = RevocationList(redis, keys)
        cache = RevocationCache(listed, max_staleness=settings.revocation_max_staleness)
        return cls(
            settings=settings,
            pool=pool,
            redis=redis,
            ring=ring,
            clients=ClientCache(ClientRepository(pool)),
            users=UserRepository(pool),
            grants=grants,
            consents=ConsentRepository(pool),
            # A replayed code is recognised for as long as the access tokens it produced can live.
            codes=CodeStore(redis, keys, ttl=settings.code_ttl, replay_memory=settings.access_token_ttl),
            sessions=SessionStore(redis, keys, ttl=settings.session_ttl),
            pending=PendingRequests(redis, keys),
            revocations=cache,
            revoker=Revoker(pool, grants, listed, settings, cache),
            minter=TokenMinter(settings, ring),
            token_requests=Counter(redis, keys, "token", limit=settings.token_rate_limit, window=60),
            failed_logins_by_username=Counter(
                redis, keys, "login-user", limit=LOGIN_FAILURES_PER_USERNAME, window=LOGIN_WINDOW
            ),
            failed_logins_by_address=Counter(
                redis, keys, "login-addr", limit=LOGIN_FAILURES_PER_ADDRESS, window=LOGIN_WINDOW
            ),
            verified_tokens=VerifiedTokens(leeway=0),
        )
