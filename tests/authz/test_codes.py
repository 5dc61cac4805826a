"""Authorization codes in Redis across a rolling upgrade: what the release before resource indicators (RFC 8707)
reads of a code this release stores, and the other way round."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import orjson
import pytest
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_redis
from authz.authorization.codes import AuthorizationCode, CodeStore
from tests.conftest import REDIS_URL

# The fields of a code's `data` in the release before resource indicators, which builds its code from exactly these.
PREVIOUS_FIELDS = {"client_id", "redirect_uri", "scopes", "user_id", "auth_time", "grant_id", "code_challenge", "nonce"}


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = create_redis(REDIS_URL)
    yield client
    await client.aclose()


def _code(resources: tuple[str, ...]) -> AuthorizationCode:
    return AuthorizationCode(
        client_id="c",
        redirect_uri=None,
        scopes=("notes:read",),
        user_id=str(uuid.uuid4()),
        auth_time=0,
        grant_id=str(uuid.uuid4()),
        code_challenge=None,
        nonce=None,
        resources=resources,
    )


async def test_a_code_keeps_its_resources_apart_from_what_the_previous_release_reads(
    redis: Redis, redis_prefix: str
) -> None:
    """RFC 8707 section 2.1: the resources of the authorization request go with the code; they are stored beside the
    code's data, so a replica of the previous release redeeming it mid-upgrade finds only fields it knows."""
    keys = RedisKeys(redis_prefix)
    store = CodeStore(redis, keys, ttl=60, replay_memory=60)
    issued = _code(("https://api.example", "https://other.example"))
    value = await store.issue(issued)
    key = store._key(value)
    assert set(orjson.loads(await redis.hget(key, "data"))) == PREVIOUS_FIELDS
    assert await store.consume(value, "c") == issued


async def test_a_code_of_the_previous_release_has_no_resources(redis: Redis, redis_prefix: str) -> None:
    """A code stored by the previous release (no resources) is read with none, so the token endpoint lets its scopes
    choose the audience, as that release did."""
    keys = RedisKeys(redis_prefix)
    store = CodeStore(redis, keys, ttl=60, replay_memory=60)
    value = await store.issue(_code(("https://api.example",)))
    await redis.hdel(store._key(value), "resources")
    consumed = await store.consume(value, "c")
    assert isinstance(consumed, AuthorizationCode)
    assert consumed.resources == ()
