"""The resource server's metrics, scraped from its private listener: verified-token cache hits and misses, JWKS
fetches, and how long each revocation took from its announcement to this server applying it."""

from __future__ import annotations

import re

import aiohttp
import asyncpg

from tests.deploy.test_monitoring import documented_metrics
from tests.resource.conftest import RESOURCE_URL, ResourceFactory, bearer, revoke, service_token
from tests.scrape import scrape
from tests.waiting import eventually


async def test_token_cache_jwks_and_revocation_lag(
    start_resource: ResourceFactory, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    caller = await service_token(http, authz, db, scope="notes:read")
    async with start_resource(AUTHORIUM_RESOURCE_URL=RESOURCE_URL) as api:
        before = await scrape(http, api)
        for _ in range(3):
            async with http.get(api + "/api/me", headers=bearer(caller.token)) as resp:
                assert resp.status == 200
        after = await scrape(http, api)
        lookups = "authorium_token_cache_lookups_total"
        assert after.value(lookups, result="miss") - before.value(lookups, result="miss") == 1
        assert after.value(lookups, result="hit") - before.value(lookups, result="hit") == 2
        assert after.value("authorium_jwks_fetches_total", outcome="success") >= 1
        assert after.value("authorium_event_feed_up") == 1

        await revoke(http, authz, caller)

        async def lag_observed() -> bool:
            seen = await scrape(http, api)
            return seen.value("authorium_revocation_lag_seconds_count") == 1

        await eventually(lag_observed, timeout=5, message="the revocation's lag to be observed")
        seen = await scrape(http, api)
        # Announced and applied on one host, within a second.
        assert seen.value("authorium_revocation_lag_seconds_bucket", le="1.0") == 1


async def test_every_metric_documented_is_served_and_every_one_served_is_documented(
    api: str, authz: str, http: aiohttp.ClientSession
) -> None:
    """The reference in docs/operations.md (which the alerts and the dashboard may name only from) against what the
    authorization and resource servers serve."""
    served = set()
    for service in (authz, api):
        served |= set(re.findall(r"^# TYPE (\S+) ", (await scrape(http, service)).text, re.MULTILINE))
    documented = documented_metrics()
    assert documented <= served, documented - served
    ours = {name for name in served if name.startswith(("authorium_", "http_", "process_"))}
    assert ours <= documented, ours - documented
