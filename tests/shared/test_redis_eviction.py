"""`/readyz` fails while Redis may evict Authorium's keys: its `maxmemory-policy` read from a real, private Redis, or
stated by `AUTHORIUM_REDIS_MAXMEMORY_POLICY` where that Redis refuses `CONFIG`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from authorium_shared import redis_eviction
from authorium_shared.redis_eviction import check_policy
from authorium_shared.resources import create_redis
from authorium_shared.settings import MAXMEMORY_POLICIES, CommonSettings, ConfigError
from authz.app import create_app as create_authz
from authz.settings import AuthzSettings
from client_demo.app import create_app as create_client_demo
from client_demo.settings import ClientDemoSettings
from resource_server.app import create_app as create_resource
from resource_server.settings import ResourceSettings
from tests.conftest import DEMO_CLIENT_ENV
from tests.processes import free_port, redis_cluster, redis_server
from tests.revocations import refilled
from tests.servers import private_url, run_service
from tests.waiting import eventually

SERVICES: list[tuple[str, Callable[..., Any], Callable[[Any], web.Application]]] = [
    ("authz", AuthzSettings.from_env, create_authz),
    ("resource", ResourceSettings.from_env, create_resource),
    ("client-demo", ClientDemoSettings.from_env, create_client_demo),
]
# A managed Redis that refuses CONFIG: renamed away, as providers do.
NO_CONFIG = {"rename-command": ("CONFIG", "")}


@pytest.mark.parametrize("policy", MAXMEMORY_POLICIES)
def test_only_noeviction_keeps_every_key(policy: str) -> None:
    reason = check_policy(policy)
    if policy == "noeviction":
        assert reason is None
    else:
        assert reason is not None
        assert f"maxmemory-policy is {policy}" in reason
        assert "noeviction" in reason


def test_the_stated_policy_is_checked_at_boot() -> None:
    assert CommonSettings.from_env({}).redis_maxmemory_policy is None
    stated = CommonSettings.from_env({"AUTHORIUM_REDIS_MAXMEMORY_POLICY": " NoEviction "})
    assert stated.redis_maxmemory_policy == "noeviction"
    with pytest.raises(ConfigError, match="AUTHORIUM_REDIS_MAXMEMORY_POLICY must be one of"):
        CommonSettings.from_env({"AUTHORIUM_REDIS_MAXMEMORY_POLICY": "evict-nothing"})


@asynccontextmanager
async def service_on_private_redis(
    environ: Mapping[str, str],
    config: Mapping[str, Sequence[str]],
    *,
    service: tuple[str, Callable[..., Any], Callable[[Any], web.Application]] = SERVICES[1],
    stated: str | None = None,
) -> AsyncIterator[tuple[str, aiohttp.ClientSession, int]]:
    _, settings, factory = service
    with redis_server(config=config) as (port, _):
        env = {**environ, **DEMO_CLIENT_ENV, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        if stated is not None:
            env["AUTHORIUM_REDIS_MAXMEMORY_POLICY"] = stated
        await refilled(env["REDIS_URL"], env["AUTHORIUM_REDIS_PREFIX"])  # the revocation lists, as an authz fills them
        async with run_service(settings, factory, env) as (_, app), aiohttp.ClientSession() as http:
            yield private_url(app), http, port


async def readiness(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url + "/readyz") as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("service", SERVICES, ids=[s[0] for s in SERVICES])
async def test_an_evicting_policy_makes_readyz_fail_naming_it(
    service: tuple[str, Callable[..., Any], Callable[[Any], web.Application]],
    private_redis_environ: dict[str, str],
) -> None:
    config = {"maxmemory-policy": ("allkeys-lru",)}
    async with service_on_private_redis(private_redis_environ, config, service=service) as (url, http, _):
        status, body = await readiness(http, url)
    assert status == 503
    assert set(body["reasons"]) == {"redis_eviction"}
    assert body["reasons"]["redis_eviction"].startswith("maxmemory-policy is allkeys-lru: Redis may evict")


async def test_a_volatile_policy_counts_as_evicting(environ: dict[str, str]) -> None:
    async with service_on_private_redis(environ, {"maxmemory-policy": ("volatile-ttl",)}) as (url, http, _):
        status, body = await readiness(http, url)
    assert status == 503
    assert "maxmemory-policy is volatile-ttl" in body["reasons"]["redis_eviction"]


async def test_noeviction_is_ready(environ: dict[str, str]) -> None:
    async with service_on_private_redis(environ, {"maxmemory-policy": ("noeviction",)}) as (url, http, _):
        assert await readiness(http, url) == (200, {"status": "ready"})


async def test_one_error_line_per_change_not_per_probe(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(redis_eviction, "REFRESH_SECONDS", 0.05)
    caplog.set_level(logging.INFO, logger="authorium.redis")
    async with service_on_private_redis(environ, {"maxmemory-policy": ("noeviction",)}) as (url, http, port):
        assert (await readiness(http, url))[0] == 200
        async with Redis(port=port) as admin:
            await admin.config_set("maxmemory-policy", "allkeys-lfu")

            async def status() -> int:
                return (await readiness(http, url))[0]

            await eventually(lambda: _is(status, 503), message="readiness failing on allkeys-lfu")
            for _ in range(3):
                assert await status() == 503
            await admin.config_set("maxmemory-policy", "noeviction")
            await eventually(lambda: _is(status, 200), message="readiness back on noeviction")
    errors = [r.getMessage() for r in caplog.records if r.name == "authorium.redis" and r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert "maxmemory-policy is allkeys-lfu" in errors[0]


async def _is(status: Callable[[], Any], expected: int) -> bool:
    return bool(await status() == expected)


async def test_config_refused_without_the_setting_is_not_ready_and_says_how(environ: dict[str, str]) -> None:
    async with service_on_private_redis(environ, NO_CONFIG) as (url, http, _):
        status, body = await readiness(http, url)
    assert status == 503
    reason = body["reasons"]["redis_eviction"]
    assert reason.startswith("maxmemory-policy unknown: CONFIG GET was refused")
    assert "AUTHORIUM_REDIS_MAXMEMORY_POLICY" in reason


async def test_config_refused_by_an_acl_without_the_setting_is_not_ready(environ: dict[str, str]) -> None:
    config = {"user": ("authorium", "on", ">secret", "~*", "&*", "+@all", "-@admin", "-config")}
    _, settings, factory = SERVICES[1]
    with redis_server(config=config) as (port, _):
        env = {**environ, "REDIS_URL": f"redis://authorium:secret@127.0.0.1:{port}/0"}
        await refilled(f"redis://127.0.0.1:{port}/0", env["AUTHORIUM_REDIS_PREFIX"])
        async with run_service(settings, factory, env) as (_, app), aiohttp.ClientSession() as http:
            status, body = await readiness(http, private_url(app))
    assert status == 503
    assert set(body["reasons"]) == {"redis_eviction"}
    assert "NOPERM" in body["reasons"]["redis_eviction"] or "permission" in body["reasons"]["redis_eviction"]


@pytest.mark.parametrize(("stated", "expected"), [("noeviction", 200), ("allkeys-lru", 503)])
async def test_where_config_is_refused_the_setting_decides(stated: str, expected: int, environ: dict[str, str]) -> None:
    async with service_on_private_redis(environ, NO_CONFIG, stated=stated) as (url, http, _):
        status, body = await readiness(http, url)
    assert status == expected, body
    if expected == 503:
        assert "maxmemory-policy is allkeys-lru" in body["reasons"]["redis_eviction"]


async def test_a_redis_that_answers_only_after_the_start_is_read_within_seconds(environ: dict[str, str]) -> None:
    _, settings, factory = SERVICES[2]
    port = free_port()
    env = {**environ, **DEMO_CLIENT_ENV, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    async with run_service(settings, factory, env) as (_, app), aiohttp.ClientSession() as http:
        url = private_url(app)
        status, body = await readiness(http, url)
        assert status == 503
        assert body["reasons"]["redis_eviction"].startswith("maxmemory-policy not read yet"), body
        with redis_server(port, config={"maxmemory-policy": ("allkeys-random",)}):

            async def reason() -> str | None:
                return (await readiness(http, url))[1].get("reasons", {}).get("redis_eviction")

            await eventually(
                lambda: _reads(reason, "allkeys-random"), timeout=5, message="the policy read on reconnect"
            )


async def _reads(reason: Callable[[], Any], policy: str) -> bool:
    return f"maxmemory-policy is {policy}" in (await reason() or "")


@pytest.mark.slow
async def test_every_node_of_a_cluster_is_asked() -> None:
    """A Redis Cluster holds the keys on every node: one node that may evict them is enough to be unsafe."""
    with redis_cluster(masters=3) as cluster:
        redis = create_redis(cluster.url())
        try:
            watch = redis_eviction.EvictionWatch(None)
            assert await watch.refresh(redis)
            assert watch.reason is None
            async with Redis(port=cluster.ports[2]) as node:
                await node.config_set("maxmemory-policy", "allkeys-lru")
            assert await watch.refresh(redis)
            assert watch.reason == check_policy("allkeys-lru")
        finally:
            await redis.aclose()
