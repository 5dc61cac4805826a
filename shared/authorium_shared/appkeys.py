"""Application keys every service shares: the Postgres pool, Redis, the metrics registry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

ReadinessCheck = Callable[[web.Application], Awaitable[str | None]]

PG_POOL = web.AppKey("pg_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
REDIS_KEYS = web.AppKey("redis_keys", RedisKeys)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
READINESS_CHECKS = web.AppKey("readiness_checks", list[ReadinessCheck])
SERVICE_NAME = web.AppKey("service_name", str)
