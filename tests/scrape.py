"""Reading a service's `/metrics` the way Prometheus does: over HTTP, on its private listener."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import private_url


class Scrape:
    """One scrape's samples."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples `name` whose labels include `labels` (0 if none)."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


async def scrape(http: aiohttp.ClientSession, service: str) -> Scrape:
    """`/metrics` of the service that `tests.servers.run_service` serves at public URL `service`."""
    async with http.get(private_url(service) + "/metrics") as resp:
        assert resp.status == 200
        return Scrape(await resp.text())
