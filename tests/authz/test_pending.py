"""Authorization requests parked in Redis while the person signs in (authorization/pending.py), against the real
Redis: what one release parks, another reads whole or not at all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authz.authorization.pending import DEVICE, PendingRequest, PendingRequests
from tests.conftest import REDIS_URL


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = create_redis(REDIS_URL)
    yield client
    await client.aclose()


def parked() -> PendingRequest:
    return PendingRequest(
        client_id="c",
        redirect_uri="https://client.example/cb",
        redirect_uri_given=True,
        scopes=("openid",),
        state="s",
        nonce=None,
        code_challenge=None,
        prompt=(),
        max_age=None,
        sid="x" * 43,
        hint_subject="someone",
    )


async def test_a_parked_request_reads_back_whole(redis: Redis, redis_prefix: str) -> None:
    store = PendingRequests(redis, RedisKeys(f"{redis_prefix}pending-{uuid.uuid4().hex[:8]}:"))
    rid = await store.save(parked())
    assert await store.get(rid) == parked()


async def test_a_request_parked_with_fields_this_release_does_not_know_is_expired(
    redis: Redis, redis_prefix: str
) -> None:
    """During a rolling deploy a newer replica may park a request with a rule this one does not know (a field it
    would silently drop, such as the subject an id_token_hint names): it is not finished here, it is expired."""
    keys = RedisKeys(f"{redis_prefix}pending-{uuid.uuid4().hex[:8]}:")
    store = PendingRequests(redis, keys)
    rid = await store.save(parked())
    data = orjson.loads(await redis.get(keys("authreq", rid)))
    await redis.set(keys("authreq", rid), orjson.dumps({**data, "acr_required": "mfa"}))
    assert await store.get(rid) is None


async def test_a_device_request_reads_back_whole_and_a_code_request_parks_as_before(
    redis: Redis, redis_prefix: str
) -> None:
    """A device's request (RFC 8628 section 3.3) keeps its kind and device; an ordinary one is parked without them,
    so that the release before devices can still finish it during a rolling deploy."""
    keys = RedisKeys(f"{redis_prefix}pending-{uuid.uuid4().hex[:8]}:")
    store = PendingRequests(redis, keys)
    device = replace(parked(), redirect_uri="", redirect_uri_given=False, kind=DEVICE, device="d" * 64)
    assert await store.get(await store.save(device)) == device
    rid = await store.save(parked())
    assert not {"kind", "device"} & set(orjson.loads(await redis.get(keys("authreq", rid))))
    assert (await store.get(rid)) == parked()
