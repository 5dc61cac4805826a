"""The event channel: delivery to every listener, resync on (re)connect, and a prompt stop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from redis.exceptions import RedisClusterException, RedisError

from authorium_shared import events
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from tests.conftest import REDIS_URL
from tests.processes import redis_cluster, redis_server
from tests.waiting import eventually


async def test_every_listener_gets_each_event(redis_prefix: str) -> None:
    keys = RedisKeys(redis_prefix + "events-a:")
    redis = create_redis(REDIS_URL)
    received: list[list[dict[str, Any]]] = [[], []]
    feeds = [events.EventFeed(redis, keys, lambda e, box=box: _append(box, e)) for box in received]
    tasks = [asyncio.create_task(f.run()) for f in feeds]
    try:
        await asyncio.wait_for(asyncio.gather(*(f.connected_event.wait() for f in feeds)), 5)
        await events.publish(redis, keys, {"type": "keys"})
        await eventually(lambda: all(received), timeout=1, interval=0.01, message="the event at every listener")
        assert received == [[{"type": "keys"}], [{"type": "keys"}]]
    finally:
        await _stop(tasks)
        await redis.aclose()


async def _append(box: list[dict[str, Any]], event: dict[str, Any]) -> None:
    box.append(event)


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    # A service's shutdown waits on this: it must not hang, whatever the feed was doing.
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 3)


async def test_cancelling_a_connected_feed_stops_it_promptly(redis_prefix: str) -> None:
    redis = create_redis(REDIS_URL)
    try:
        for attempt in range(5):  # the cancellation lands at a different point of the read each time
            feed = events.EventFeed(redis, RedisKeys(redis_prefix + "events-b:"), _ignore)
            task = asyncio.create_task(feed.run())
            await asyncio.wait_for(feed.connected_event.wait(), 5)
            await asyncio.sleep(0.2 * attempt)
            await _stop([task])
            assert task.cancelled()
    finally:
        await redis.aclose()


async def _ignore(event: dict[str, Any]) -> None:
    return None


async def test_feed_reports_down_then_reconnects_and_resyncs_when_redis_returns() -> None:
    keys = RedisKeys("events-c:")
    resyncs = 0

    async def on_connect() -> None:
        nonlocal resyncs
        resyncs += 1

    with redis_server() as (port, proc):
        redis = create_redis(f"redis://127.0.0.1:{port}/0")
        feed = events.EventFeed(redis, keys, _ignore, on_connect=on_connect)
        task = asyncio.create_task(feed.run())
        try:
            await asyncio.wait_for(feed.connected_event.wait(), 5)
            assert resyncs == 1 and feed.down_for() == 0.0
            proc.kill()
            proc.wait()
            await eventually(lambda: not feed.connected, timeout=5, message="the dead connection to be noticed")
            with redis_server(port):
                await asyncio.wait_for(feed.connected_event.wait(), 10)
                assert resyncs == 2, "every reconnect resyncs from the source of truth"
        finally:
            await _stop([task])
            await redis.aclose()


@pytest.mark.slow
async def test_the_feed_follows_a_cluster_failover(redis_prefix: str) -> None:
    """On a Redis Cluster the channel is a shard channel, carried by the master of its slot. That master killed, the
    cluster promotes its replica; the feed finds it, subscribes there and resyncs, and events flow again."""
    keys = RedisKeys(redis_prefix + "events-cluster:")
    with redis_cluster(masters=3, replicas=True) as cluster:
        redis = create_redis(cluster.url())
        # A publish as a client's first command (`authorium keys rotate` announcing) finds the channel's node too.
        await events.publish(redis, keys, {"type": "first"})
        received: list[dict[str, Any]] = []
        connects = 0

        async def on_connect() -> None:
            nonlocal connects
            connects += 1

        feed = events.EventFeed(redis, keys, lambda e: _append(received, e), on_connect=on_connect, max_backoff=0.5)
        task = asyncio.create_task(feed.run())
        try:
            await asyncio.wait_for(feed.connected_event.wait(), 5)
            await events.publish(redis, keys, {"type": "before"})
            await eventually(lambda: received, timeout=2, interval=0.01, message="the event before the failover")

            owner = redis.get_node_from_key(events.channel(keys))
            assert owner is not None and owner.port in cluster.replicas
            cluster.processes[owner.port].kill()
            cluster.processes[owner.port].wait()

            async def announced_after() -> bool:
                with contextlib.suppress(RedisError, RedisClusterException):
                    await events.publish(redis, keys, {"type": "after"})
                return {"type": "after"} in received

            await eventually(announced_after, timeout=20, interval=0.5, message="events after the failover")
            assert connects >= 2, "the feed resynced on the new master"
            new_owner = redis.get_node_from_key(events.channel(keys))
            assert new_owner is not None and new_owner.port == cluster.replicas[owner.port]
        finally:
            await _stop([task])
            await redis.aclose()
