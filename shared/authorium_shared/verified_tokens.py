"""Tokens whose signature and claims were checked already, so presenting the same token again costs a
dictionary lookup instead of a signature verification (the resource server on every API call; the
authorization server at introspection, revocation and userinfo).

Validity in time is re-checked on every hit, and an entry is kept at most `max_age` seconds, so a key withdrawn
from the key set stops vouching for its tokens within that time. Revocation is not this cache's business: its
callers check it on every request."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from authorium_shared.metrics import Metrics

T = TypeVar("T")


class VerifiedTokens(Generic[T]):
    def __init__(
        self,
        *,
        leeway: float,
        max_entries: int = 10_000,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.leeway = leeway
        self.metrics = metrics
        self.max_entries = max_entries
        self.max_age = max_age
        self.clock = clock
        self._entries: dict[Hashable, tuple[T, float, float, float]] = {}

    def get(self, key: Hashable) -> T | None:
        found = self._get(key)
        if self.metrics is not None:
            (self.metrics.token_cache_miss if found is None else self.metrics.token_cache_hit).inc()
        return found

    def _get(self, key: Hashable) -> T | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, not_before, expires, forget_at = entry
        now = self.clock()
        if now >= forget_at or now >= expires + self.leeway:
            del self._entries[key]
            return None
        return value if now >= not_before - self.leeway else None

    def put(self, key: Hashable, value: T, claims: Mapping[str, Any]) -> None:
        """Remember `value` for a token whose verified claims are `claims` (they carry exp, maybe nbf)."""
        if key not in self._entries and len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest insertion
        now = self.clock()
        self._entries[key] = (value, float(claims.get("nbf", now)), float(claims["exp"]), now + self.max_age)
