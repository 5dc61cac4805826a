"""What one request costs the stores: Postgres statements and Redis commands (a pipeline or script counts as one,
as on the wire), read from the service's own counters (`authorium_postgres_query_seconds`,
`authorium_redis_command_seconds{command}` on its private listener's /metrics, all workers) before and after a
scenario. The capacity model (docs/capacity.md) is built from these."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

POSTGRES = "authorium_postgres_query_seconds_count"
POSTGRES_SECONDS = "authorium_postgres_query_seconds_sum"
REDIS = "authorium_redis_command_seconds_count"


@dataclass(frozen=True)
class StoreCounts:
    postgres: float
    postgres_seconds: float
    redis: Counter[str]

    def __sub__(self, earlier: StoreCounts) -> StoreCounts:
        redis = Counter(self.redis)
        redis.subtract(earlier.redis)
        return StoreCounts(self.postgres - earlier.postgres, self.postgres_seconds - earlier.postgres_seconds, +redis)


async def read(admin_urls: list[str]) -> StoreCounts:
    """The counters of every replica, summed."""
    texts: list[str] = []
    async with aiohttp.ClientSession() as http:
        for url in admin_urls:
            async with http.get(url + "/metrics") as resp:
                resp.raise_for_status()
                texts.append(await resp.text())
    postgres = postgres_seconds = 0.0
    redis: Counter[str] = Counter()
    for family in (f for text in texts for f in text_string_to_metric_families(text)):
        for sample in family.samples:
            if sample.name == POSTGRES:
                postgres += sample.value
            elif sample.name == POSTGRES_SECONDS:
                postgres_seconds += sample.value
            elif sample.name == REDIS:
                redis[sample.labels.get("command", "?")] += int(sample.value)
    return StoreCounts(postgres, postgres_seconds, redis)


def per_request(used: StoreCounts, requests: int) -> dict[str, object]:
    """Statements and commands per request, to two decimals (background work, such as the revocation feed's
    heartbeat, is spread over the run's requests and shows as a small fraction)."""
    if not requests:
        return {
            "postgres_statements": None,
            "postgres_ms_per_statement": None,
            "redis_commands": None,
            "redis_by_command": {},
        }
    by_command = {name: round(n / requests, 2) for name, n in sorted(used.redis.items()) if n / requests >= 0.005}
    return {
        "postgres_statements": round(used.postgres / requests, 2),
        # Mean time from sending a statement to its result, as the service saw it (queueing in Postgres included).
        "postgres_ms_per_statement": round(1000 * used.postgres_seconds / used.postgres, 2) if used.postgres else None,
        "redis_commands": round(sum(used.redis.values()) / requests, 2),
        "redis_by_command": by_command,
    }
