"""The pub/sub channel that tells every replica at once about revocations, key changes and client changes.

Messages are hints to act now; each listener also resyncs from the source of truth whenever it (re)connects,
so a message missed while disconnected is never a change missed. On a Redis Cluster the channel is a shard channel
(SPUBLISH / SSUBSCRIBE, Redis 7): one node (the one holding its slot) carries it, rather than every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from authorium_shared.redis_keys import RedisKeys

log = logging.getLogger("authorium.events")

Handler = Callable[[dict[str, Any]], Awaitable[None]]
OnConnect = Callable[[], Awaitable[None]]
OnDisconnect = Callable[[], None]


class Subscriber:
    """What follows the event channel: a cache or copy that acts on events, and resyncs from the source of truth
    on every (re)connect. Subscribers are called in the order they were added to `EVENT_SUBSCRIBERS`."""

    async def on_event(self, event: dict[str, Any]) -> None:
        """An event arrived."""

    async def on_connect(self) -> None:
        """The feed (re)connected: events may have been missed, so reload."""

    def on_disconnect(self) -> None:
        """The feed was lost; events are being missed until the next `on_connect`."""


def channel(keys: RedisKeys) -> str:
    return keys("events")


def _is_cluster(redis: Redis) -> bool:
    return isinstance(redis, RedisCluster)


async def publish(redis: Redis, keys: RedisKeys, event: dict[str, Any]) -> None:
    if _is_cluster(redis):
        # redis-py routes SPUBLISH without first reading the cluster's layout: read it (once per client).
        await cast(RedisCluster, redis).initialize()
        await redis.spublish(channel(keys), orjson.dumps(event))
    else:
        await redis.publish(channel(keys), orjson.dumps(event))


async def subscribe(redis: Redis, pubsub: Any, name: str) -> Any:
    """Subscribe `pubsub` (from `redis.pubsub()`) to channel `name`. Returns what to read its messages from: `pubsub`
    itself, or on a Redis Cluster the connection to the node that carries the shard channel, read and pinged like
    any other (closing `pubsub` closes it)."""
    if not _is_cluster(redis):
        await pubsub.subscribe(name)
        return pubsub
    cluster = cast(RedisCluster, redis)
    await cluster.initialize()  # as in `publish`
    # The node that held the channel's slot may have failed over since the last subscribe: ask the cluster again.
    await cluster.nodes_manager.initialize()
    await pubsub.ssubscribe(name)
    (node_pubsub,) = pubsub.node_pubsub_mapping.values()
    return node_pubsub


# The type of a message on the channel: "smessage" on a shard channel.
MESSAGE_TYPES = ("message", "smessage")


class EventFeed:
    """Listens on the channel for as long as it runs, reconnecting with backoff after any Redis failure."""

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        handler: Handler,
        *,
        on_connect: OnConnect | None = None,
        on_disconnect: OnDisconnect | None = None,
        max_backoff: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.channel = channel(keys)
        self.handler = handler
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.max_backoff = max_backoff
        self.clock = clock
        self.connected = False
        self.down_since: float | None = clock()
        self.connected_event = asyncio.Event()

    def down_for(self) -> float:
        """Seconds since the feed was last known good; 0 while connected."""
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    def _mark_down(self) -> None:
        if self.connected or self.down_since is None:
            self.down_since = self.clock()
        self.connected = False
        self.connected_event.clear()
        if self.on_disconnect is not None:
            self.on_disconnect()

    async def run(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                reader = await subscribe(self.redis, pubsub, self.channel)
                # Subscribe first, then resync: a change made between the two is seen by one or the other.
                if self.on_connect is not None:
                    await self.on_connect()
                self.connected = True
                self.down_since = None
                self.connected_event.set()
                backoff = 0.1
                await self._read(reader)
            except asyncio.CancelledError:
                raise
            except (RedisError, RedisClusterException, OSError) as exc:
                if self.connected:
                    log.warning("event feed lost", extra={"error": str(exc)})
                self._mark_down()
            except Exception:
                log.exception("event feed failed")
                self._mark_down()
            finally:
                with contextlib.suppress(RedisError, RedisClusterException, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _read(self, pubsub: Any) -> None:
        idle = 0.0
        task = asyncio.current_task()
        while True:
            message = await pubsub.get_message(timeout=1.0)
            # redis-py can absorb a cancellation that lands inside its read timeout; honour it here,
            # or a service waits forever to shut down.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            if message is None:
                idle += 1.0
                # A silent channel and a dead connection look alike; a ping tells them apart. On a subscribed
                # connection its answer comes back as a message (which resets `idle`), so a second without one
                # means Redis is not answering (stopped, stalled, or the network drops everything).
                if idle == 3.0:
                    await pubsub.ping()
                elif idle > 3.0:
                    raise RedisTimeoutError("the event channel did not answer a ping")
                continue
            idle = 0.0
            if message.get("type") not in MESSAGE_TYPES:
                continue
            try:
                event = orjson.loads(message["data"])
            except orjson.JSONDecodeError:
                log.warning("ignored a malformed event")
                continue
            if isinstance(event, dict):
                await self.handler(event)
