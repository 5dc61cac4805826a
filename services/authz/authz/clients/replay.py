"""Client assertions seen (RFC 7523 section 3 item 7): each `jti` is accepted once per client, remembered in Redis
until the assertion it came in has expired, so no replay can outlive the record of it."""

from __future__ import annotations

import hashlib
import math
import time

from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys


class SeenAssertions:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def first_use(self, client_id: str, jti: str, expires_at: float, *, leeway: float) -> bool:
        """Whether this is the first time `client_id` presents `jti`; records it atomically (SET NX) either way."""
        ttl = max(1, math.ceil(expires_at + leeway - time.time()))
        # Hashed: a jti is the client's free text, and the key name must stay short and printable.
        digest = hashlib.sha256(f"{client_id}\x00{jti}".encode("utf-8", "surrogatepass")).hexdigest()
        return bool(await self.redis.set(self.keys("assertion", digest), b"1", nx=True, ex=ttl))
