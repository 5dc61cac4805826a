"""The revocation lists in Redis: denied access-token ids and grant ids, each kept until nothing it revoked
can still be valid. The authorization server adds to them and announces each addition on the event channel;
resource servers load them whole and then follow the announcements."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from authorium_shared import events
from authorium_shared.redis_keys import RedisKeys

Kind = Literal["token", "grant"]
KINDS: tuple[Kind, ...] = ("token", "grant")
EVENT_TYPE = "revoked"


@dataclass(frozen=True)
class Revocation:
    kind: Kind
    id: str
    # Unix time after which whatever it revoked has expired anyway.
    expires_at: int

    def event(self) -> dict[str, Any]:
        return {"type": EVENT_TYPE, "kind": self.kind, "id": self.id, "expires_at": self.expires_at}

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Revocation | None:
        kind, rid, expires_at = event.get("kind"), event.get("id"), event.get("expires_at")
        if kind not in KINDS or not isinstance(rid, str) or type(expires_at) is not int:
            return None
        return cls(kind=kind, id=rid, expires_at=expires_at)


class RevocationList:
    """One sorted set per kind: member = id, score = expiry, so expired entries are pruned by score."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    def _key(self, kind: Kind) -> str:
        return self.keys("revoked", kind)

    async def add(self, *revocations: Revocation, announce: bool = True) -> None:
        if not revocations:
            return
        now = int(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for r in revocations:
                # GT adds a new id, and never shortens the expiry of one already listed.
                pipe.zadd(self._key(r.kind), {r.id: r.expires_at}, gt=True)
            for kind in KINDS:
                pipe.zremrangebyscore(self._key(kind), "-inf", now)
            await pipe.execute()
        if announce:
            for r in revocations:
                await events.publish(self.redis, self.keys, r.event())

    async def is_revoked(self, *, jti: str | None, grant_id: str | None) -> bool:
        now = int(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(self._key("token"), jti or "")
            pipe.zscore(self._key("grant"), grant_id or "")
            token_exp, grant_exp = await pipe.execute()
        return any(exp is not None and exp >= now for exp in (token_exp, grant_exp))

    async def load(self) -> dict[Kind, dict[str, int]]:
        """Every unexpired entry, by kind: what a resource server holds in memory."""
        now = int(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for kind in KINDS:
                pipe.zrangebyscore(self._key(kind), now, "+inf", withscores=True)
            results = await pipe.execute()
        return {
            kind: {(m.decode() if isinstance(m, bytes) else m): int(s) for m, s in rows}
            for kind, rows in zip(KINDS, results, strict=True)
        }
