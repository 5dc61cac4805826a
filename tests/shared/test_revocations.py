"""The revocation lists in Redis (RevocationList) against the real Redis: listing, expiry, loading whole,
and the announcement on the event channel."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from authorium_shared import events
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authorium_shared.revocation_lists import (
    MARKER_MISSING,
    RESYNC_EVENT_TYPE,
    Revocation,
    RevocationCache,
    RevocationList,
    RevocationsUnknown,
)
from tests.conftest import REDIS_URL
from tests.waiting import eventually


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = create_redis(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def keys(redis_prefix: str) -> RedisKeys:
    # A prefix of the test's own, so the lists start empty.
    return RedisKeys(f"{redis_prefix}revocations-{uuid.uuid4().hex[:8]}:")


def later(seconds: int = 600) -> int:
    return int(time.time()) + seconds


async def test_an_added_token_is_revoked_and_others_are_not(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    await listed.add(Revocation("token", "jti-1", later()), announce=False)
    assert await listed.is_revoked(jti="jti-1", grant_id=None)
    assert not await listed.is_revoked(jti="jti-2", grant_id=None)
    assert not await listed.is_revoked(jti=None, grant_id=None)
    # The kinds are separate lists: a token id is not a grant id.
    assert not await listed.is_revoked(jti=None, grant_id="jti-1")


async def test_a_revoked_grant_revokes_whatever_token_names_it(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    await listed.add(Revocation("grant", "g-1", later()), announce=False)
    assert await listed.is_revoked(jti="any", grant_id="g-1")
    assert not await listed.is_revoked(jti="any", grant_id="g-2")


async def test_an_expired_entry_no_longer_counts_and_is_pruned(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    await listed.add(Revocation("token", "old", later(-10)), Revocation("token", "new", later()), announce=False)
    assert not await listed.is_revoked(jti="old", grant_id=None)
    assert await listed.is_revoked(jti="new", grant_id=None)
    assert set((await listed.load())["token"]) == {"new"}
    assert await redis.zscore(keys.grouped("revoked", "token"), "old") is None


async def test_load_returns_every_unexpired_entry_by_kind(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    t, g = later(300), later(900)
    await listed.add(Revocation("token", "t1", t), Revocation("grant", "g1", g), announce=False)
    assert await listed.load() == {"token": {"t1": t}, "grant": {"g1": g}}


async def test_a_later_add_never_shortens_an_expiry(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    long, short = later(900), later(60)
    await listed.add(Revocation("token", "t", long), announce=False)
    await listed.add(Revocation("token", "t", short), announce=False)
    assert (await listed.load())["token"] == {"t": long}
    longer = later(1800)
    await listed.add(Revocation("token", "t", longer), announce=False)
    assert (await listed.load())["token"] == {"t": longer}


async def test_adding_nothing_is_a_no_op(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    await listed.add()
    assert await listed.load() == {"token": {}, "grant": {}}


async def test_each_addition_is_announced_unless_told_not_to(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(events.channel(keys))
    try:
        quiet = Revocation("token", "quiet", later())
        await listed.add(quiet, announce=False)
        loud = [Revocation("token", "t-loud", later(120)), Revocation("grant", "g-loud", later(240))]
        await listed.add(*loud)
        received = await _messages(pubsub, 2)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    # Each says when it was announced, so that every copy can measure how long it took to arrive.
    announced = [event.pop("announced_at") for event in received]
    assert all(isinstance(t, float) and abs(time.time() - t) < 5 for t in announced), announced
    assert received[0] == {"type": "revoked", "kind": "token", "id": "t-loud", "expires_at": loud[0].expires_at}
    assert [Revocation.from_event(e) for e in received] == loud


async def _messages(pubsub: Any, count: int) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    async def all_received() -> bool:
        message = await pubsub.get_message(timeout=0.5)  # waits for the next message itself
        if message is not None and message["type"] == "message":
            received.append(orjson.loads(message["data"]))
        assert len(received) >= count, received
        return True

    await eventually(all_received, timeout=5, interval=0, message=f"{count} announcements")
    # Nothing more: anything extra (the unannounced one) would arrive right behind.
    extra = await pubsub.get_message(timeout=0.2)
    assert extra is None, extra
    return received


@pytest.mark.parametrize(
    "event",
    [
        {"type": "revoked", "kind": "session", "id": "x", "expires_at": 1},
        {"type": "revoked", "kind": "token", "id": 5, "expires_at": 1},
        {"type": "revoked", "kind": "token", "id": "x", "expires_at": "1"},
        {"type": "revoked", "kind": "token", "id": "x"},
        {},
    ],
)
def test_a_malformed_event_is_no_revocation(event: dict[str, Any]) -> None:
    assert Revocation.from_event(event) is None


async def test_concurrent_adds_all_land(redis: Redis, keys: RedisKeys) -> None:
    listed = RevocationList(redis, keys)
    exp = later()
    await asyncio.gather(*(listed.add(Revocation("token", f"c{i}", exp), announce=False) for i in range(20)))
    assert len((await listed.load())["token"]) == 20


def test_an_event_with_a_boolean_expiry_is_ignored() -> None:
    from authorium_shared.revocation_lists import Revocation

    assert Revocation.from_event({"type": "revoked", "kind": "token", "id": "x", "expires_at": True}) is None


async def test_a_copy_loaded_without_the_generation_marker_fails_closed_until_a_refill(
    redis: Redis, keys: RedisKeys
) -> None:
    listed = RevocationList(redis, keys)
    copy = RevocationCache(listed, max_staleness=5)
    await listed.add(Revocation("token", "t1", later()), announce=False)
    await copy.on_connect()
    # Lists nobody refilled: not known to be whole.
    assert copy.problem() == MARKER_MISSING
    with pytest.raises(RevocationsUnknown):
        copy.is_revoked("t1", None)

    await listed.refill([Revocation("token", "t2", later())], "generation-1")
    assert await listed.generation() == "generation-1"
    await copy.on_event({"type": RESYNC_EVENT_TYPE})
    assert copy.problem() is None
    assert copy.is_revoked("t1", None) and copy.is_revoked("t2", None)

    # Redis loses everything: the copy that loads again keeps what it knew, and refuses to vouch until the refill.
    await redis.delete(keys.grouped("revoked", "token"), listed.marker_key())
    await copy.reload()
    assert copy.problem() == MARKER_MISSING
    await listed.refill([], "generation-2")
    await copy.reload()
    assert copy.problem() is None
    assert copy.is_revoked("t2", None)
