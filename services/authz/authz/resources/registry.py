"""This replica's copy of the resource registry, for the authorization and token endpoints, which need it on every
request. Small (one row per API), so it is held whole and reloaded whenever a change is announced on the event
channel (`resources` events), on every reconnect of the feed, and every RELOAD_INTERVAL seconds in case an
announcement was never sent (the CLI could not reach Redis)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from authorium_shared import events
from authorium_shared.events import Subscriber
from authorium_shared.redis_keys import RedisKeys
from authz.resources.records import Resource
from authz.resources.repository import ResourceRepository
from authz.scopes import USER_SCOPES

log = logging.getLogger("authorium.authz.resources")
EVENT_TYPE = "resources"
RELOAD_INTERVAL = 30.0


async def announce_change(redis: Redis, keys: RedisKeys) -> None:
    """Tell every replica the registry changed, so each reloads it at once."""
    await events.publish(redis, keys, {"type": EVENT_TYPE})


class Registry:
    """A snapshot of every resource, by identifier and by scope."""

    def __init__(self, resources: Sequence[Resource], *, default_identifier: str) -> None:
        self.resources = tuple(resources)
        self._by_identifier = {r.identifier: r for r in self.resources}
        self._owners = {scope: r for r in self.resources for scope in r.scopes}
        self.default = self._by_identifier[default_identifier]

    def find(self, identifier: str) -> Resource | None:
        return self._by_identifier.get(identifier)

    def owner(self, scope: str) -> Resource | None:
        """The resource that declares `scope`, if any does."""
        return self._owners.get(scope)

    @property
    def known_scopes(self) -> tuple[str, ...]:
        """Every scope this server knows: OpenID Connect's, then each resource's."""
        return (*USER_SCOPES, *self._owners)

    def lifetime(self, identifiers: Iterable[str], default: int) -> int:
        """An access token's lifetime for these audiences: the shortest of their resources' `access_token_ttl`s,
        each at most `default` (AUTHORIUM_ACCESS_TOKEN_TTL, which bounds how long revocations and keys are kept)."""
        ttls = [r.access_token_ttl for i in identifiers if (r := self.find(i)) and r.access_token_ttl is not None]
        return min([default, *ttls])


class ResourceCache(Subscriber):
    def __init__(self, repository: ResourceRepository) -> None:
        self.repository = repository
        self._current: Registry | None = None

    @property
    def current(self) -> Registry:
        assert self._current is not None, "the registry is loaded when the server starts"
        return self._current

    async def reload(self) -> None:
        self._current = Registry(await self.repository.list(), default_identifier=self.repository.settings.resource_url)

    async def _reload_or_keep(self) -> None:
        try:
            await self.reload()
        except (OSError, asyncpg.PostgresError, RedisError) as exc:
            # The copy in hand stays in use; the next announcement or reconnect tries again.
            log.warning("could not reload the resource registry", extra={"error": str(exc)})

    async def reload_periodically(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_INTERVAL)
            await self._reload_or_keep()

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == EVENT_TYPE:
            await self._reload_or_keep()

    async def on_connect(self) -> None:
        await self._reload_or_keep()
