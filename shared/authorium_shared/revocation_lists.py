"""The revocation lists in Redis: denied access-token ids and grant ids, each kept until nothing it revoked
can still be valid. The authorization server adds to them and announces each addition on the event channel;
every replica of either server keeps a copy in memory (RevocationCache), loaded whole whenever its event feed
(re)connects and then kept current by the announcements. A generation marker written with the lists by every refill
tells a copy whether what it loads is whole: Redis can lose its data without dropping a connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from authorium_shared import events
from authorium_shared.events import Subscriber
from authorium_shared.redis_keys import RedisKeys

Kind = Literal["token", "grant"]
KINDS: tuple[Kind, ...] = ("token", "grant")
EVENT_TYPE = "revoked"
# Sent after the authorization server has put Postgres's revocations back into Redis (which may have lost
# them): every copy reloads, including those that reloaded from the emptied Redis a moment before.
RESYNC_EVENT_TYPE = "revocations-resynced"
# How often a copy that found no marker looks again, in case it missed the refill's announcement.
MARKER_RECHECK_SECONDS = 1.0
# What a copy that finds no generation marker reports until a refill is announced.
MARKER_MISSING = "the revocation lists in Redis lost their generation marker (data lost); waiting for the refill"


@dataclass(frozen=True)
class Revocation:
    kind: Kind
    id: str
    # Unix time after which whatever it revoked has expired anyway.
    expires_at: int

    def event(self) -> dict[str, Any]:
        # `announced_at` (Unix time) lets every copy measure how long the announcement took to reach it.
        return {
            "type": EVENT_TYPE,
            "kind": self.kind,
            "id": self.id,
            "expires_at": self.expires_at,
            "announced_at": time.time(),
        }

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

    def key(self, kind: Kind) -> str:
        # The lists and their marker in one slot of a Redis Cluster: the marker vouches for the lists only if a
        # failure that loses them loses it too.
        return self.keys.grouped("revoked", kind)

    async def add(self, *revocations: Revocation, announce: bool = True) -> None:
        if not revocations:
            return
        now = int(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for r in revocations:
                # GT adds a new id, and never shortens the expiry of one already listed.
                pipe.zadd(self.key(r.kind), {r.id: r.expires_at}, gt=True)
            for kind in KINDS:
                pipe.zremrangebyscore(self.key(kind), "-inf", now)
            await pipe.execute()
        if announce:
            for r in revocations:
                await events.publish(self.redis, self.keys, r.event())

    def marker_key(self) -> str:
        return self.keys.grouped("revoked", "generation")

    async def generation(self) -> str | None:
        """The marker the last refill wrote with the lists; None when Redis lost it (and so, maybe, the lists)."""
        value = await self.redis.get(self.marker_key())
        return value.decode() if isinstance(value, bytes) else value

    async def refill(self, revocations: list[Revocation], generation: str, *, batch: int = 1000) -> None:
        """Put `revocations` (all there are) back, then the marker naming this refill: a copy that reads the marker
        finds the lists whole. No announcement: the caller announces the resync once this is done."""
        for start in range(0, len(revocations), batch):
            await self.add(*revocations[start : start + batch], announce=False)
        await self.redis.set(self.marker_key(), generation)

    async def is_revoked(self, *, jti: str | None, grant_id: str | None) -> bool:
        now = int(time.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zscore(self.key("token"), jti or "")
            pipe.zscore(self.key("grant"), grant_id or "")
            token_exp, grant_exp = await pipe.execute()
        return any(exp is not None and exp >= now for exp in (token_exp, grant_exp))

    async def load(self) -> dict[Kind, dict[str, int]]:
        """Every unexpired entry, by kind: what a resource server holds in memory. Read a page at a time (ZSCAN
        returns every entry present throughout): one reply holding a busy deployment's whole lists takes longer to
        read than the client's socket timeout, and would fail every time."""
        now = int(time.time())
        loaded: dict[Kind, dict[str, int]] = {}
        for kind in KINDS:
            entries = loaded[kind] = {}
            async for member, score in self.redis.zscan_iter(self.key(kind), count=1000):
                if score >= now:
                    entries[member.decode() if isinstance(member, bytes) else member] = int(score)
        return loaded


async def announce_resync(redis: Redis, keys: RedisKeys) -> None:
    await events.publish(redis, keys, {"type": RESYNC_EVENT_TYPE})


class RevocationsUnknown(Exception):
    """The feed has been down too long to vouch for any token."""


class RevocationCache(Subscriber):
    """This replica's copy of the lists, so checking a token costs no Redis round trip. It follows the event feed;
    when the feed has been down longer than `max_staleness`, nobody can say a token is not revoked: callers refuse
    (fail closed)."""

    def __init__(
        self,
        source: RevocationList,
        *,
        max_staleness: float,
        clock: Callable[[], float] = time.monotonic,
        lag: Histogram | None = None,
    ) -> None:
        self.source = source
        # Observes, for each announced revocation, the seconds from its announcement to this copy applying it.
        self.lag = lag
        self.max_staleness = max_staleness
        self.clock = clock
        self.revoked: dict[Kind, dict[str, int]] = {"token": {}, "grant": {}}
        self.loaded = False
        # Set when the last load found no generation marker: Redis lost the lists, which may be partial or empty
        # until the authorization server refills them and announces it.
        self.marker_missing = False
        # Since when the feed has been down (from the start, until it first connects); None while it is up.
        self.down_since: float | None = clock()

    async def reload(self) -> None:
        """What this copy knew is kept (revocations are never undone, and `prune` drops them once expired): a Redis
        that lost its data may be reconnected to before the authorization server has put the revocations back."""
        # The marker before and after: a loss between the two reads is seen (no marker, or another one), and one
        # after them is a loss like any other while running, refilled and announced.
        before = await self.source.generation()
        loaded = await self.source.load()
        after = await self.source.generation()
        self.marker_missing = before is None or before != after
        for kind, entries in self.revoked.items():
            for rid, expires_at in entries.items():
                loaded[kind][rid] = max(loaded[kind].get(rid, 0), expires_at)
        self.revoked = loaded
        self.loaded = True

    async def on_connect(self) -> None:
        """The feed subscribed (first or again): nothing announced from now on is missed, so load the lists."""
        await self.reload()
        self.down_since = None

    def on_disconnect(self) -> None:
        if self.down_since is None:
            self.down_since = self.clock()

    def note(self, revocation: Revocation) -> None:
        entries = self.revoked[revocation.kind]
        entries[revocation.id] = max(entries.get(revocation.id, 0), revocation.expires_at)

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == RESYNC_EVENT_TYPE:
            await self.reload()
        elif event.get("type") == EVENT_TYPE:
            revocation = Revocation.from_event(event)
            if revocation is not None:
                self.note(revocation)
                announced_at = event.get("announced_at")
                if self.lag is not None and isinstance(announced_at, float):
                    # Clocks of different hosts may disagree by a little: a negative lag is no lag.
                    self.lag.observe(max(0.0, time.time() - announced_at))

    def problem(self) -> str | None:
        """Why revocation cannot be checked right now, or None when it can."""
        if not self.loaded:
            return "revocations are not loaded yet"
        if self.marker_missing:
            return MARKER_MISSING
        down = 0.0 if self.down_since is None else self.clock() - self.down_since
        if down > self.max_staleness:
            return f"the revocation feed has been down for {down:.0f}s"
        return None

    def is_revoked(self, jti: str, grant_id: str | None) -> bool:
        """True when the token or its grant is listed; RevocationsUnknown when the list cannot be trusted."""
        problem = self.problem()
        if problem is not None:
            raise RevocationsUnknown(problem)
        now = time.time()
        token_exp = self.revoked["token"].get(jti)
        grant_exp = self.revoked["grant"].get(grant_id) if grant_id else None
        return any(exp is not None and exp >= now for exp in (token_exp, grant_exp))

    def prune(self) -> None:
        now = time.time()
        for kind, entries in self.revoked.items():
            self.revoked[kind] = {k: exp for k, exp in entries.items() if exp >= now}

    async def prune_periodically(self, interval: float = 60.0) -> None:
        while True:
            await asyncio.sleep(interval)
            self.prune()

    async def recheck_marker_periodically(self, interval: float = MARKER_RECHECK_SECONDS) -> None:
        """While the last load found no marker, look again every `interval` seconds: the refill's announcement goes
        over pub/sub, which delivers at most once, and a copy that missed it would otherwise stay fail-closed until
        the next reconnect. A marker back in place means the lists are whole again, so the copy reloads."""
        while True:
            await asyncio.sleep(interval)
            if not self.marker_missing or self.down_since is not None:
                continue
            try:
                if await self.source.generation() is not None:
                    await self.reload()
            except RedisError:
                pass  # the feed notices a lost Redis too, and reloads when it is back
