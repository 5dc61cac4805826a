"""Application keys every service shares: the Postgres pool, Redis, the metrics registry, what follows the event
feed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from authorium_shared.events import Subscriber
from authorium_shared.metrics import Metrics
from authorium_shared.migrations import SchemaRequirement
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.revocation_lists import RevocationCache

ReadinessCheck = Callable[[web.Application], Awaitable[str | None]]

PG_POOL = web.AppKey("pg_pool", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
REDIS_KEYS = web.AppKey("redis_keys", RedisKeys)
METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
# The service's metrics (`metrics.Metrics`), registered on METRICS_REGISTRY.
METRICS = web.AppKey("metrics", Metrics)
READINESS_CHECKS = web.AppKey("readiness_checks", list[ReadinessCheck])
SERVICE_NAME = web.AppKey("service_name", str)
# The local ports of the private listener's sockets (`listeners`): requests arriving on them may reach private routes.
PRIVATE_PORTS = web.AppKey("private_ports", frozenset[int])
# The schema the service needs before it serves (services that keep data in Postgres; see `schema`).
SCHEMA = web.AppKey("schema", SchemaRequirement)
# What follows the service's event feed (`resources.event_feed`), in the order it is told of events.
EVENT_SUBSCRIBERS = web.AppKey("event_subscribers", list[Subscriber])
# This replica's copy of the revocation lists (`resources.revocation_copy`).
REVOCATIONS = web.AppKey("revocations", RevocationCache)
