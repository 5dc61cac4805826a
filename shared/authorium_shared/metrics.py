"""The metrics every service exposes on `/metrics` (the reference is docs/operations.md, "Metrics"), and how the
workers of one `authorium serve --workers N` report as one.

Workers share one directory of prometheus_client's multiprocess mode: each writes its values to memory-mapped files
there, and whichever worker a scrape reaches reads them all, so a scrape sees the sum of every worker. The
supervisor aggregating instead would need a way to reach each worker (a port or socket per worker) and a merge of
every metric type; multiprocess mode does both already and costs nothing per request beyond the counter increment.
What is read from a worker's state rather than counted (its process, its Postgres pool) is sampled into gauges by
each worker every `SAMPLE_SECONDS`, and by the scraped worker just before it answers.

Labels are bounded: a grant type, an outcome, a state; never a client, a user or a token."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

SAMPLE_SECONDS = 5.0
# A store's round trip on loopback is well under a millisecond; a second is an outage.
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# prometheus_client reads it at import; `share_between_workers` sets it for the workers it forks.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_shared_directory: Path | None = None

# No `<name>_created` series beside each counter and histogram: the multiprocess mode cannot serve them, and a scrape
# of one worker and of several must show the same series.
disable_created_metrics()  # type: ignore[no-untyped-call]


@contextmanager
def directory_for_workers() -> Iterator[Path]:
    """The supervisor's side: a fresh directory for this run's workers, removed when they have all ended."""
    directory = Path(tempfile.mkdtemp(prefix="authorium-metrics-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def share_between_workers(directory: Path) -> None:
    """A worker's side, right after the fork and before it builds its application: every metric it creates from
    now on keeps its values in `directory`, and `/metrics` answers for all the workers writing there."""
    global _shared_directory
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _shared_directory = directory


def worker_ended(directory: Path, pid: int) -> None:
    """The supervisor's side, once worker `pid` has ended: its live gauges (pool, memory, feed state) stop counting;
    its counters stay in the sums, as a counter's total must not go down."""
    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def exposition(registry: CollectorRegistry) -> bytes:
    """What `/metrics` answers: `registry`'s metrics, or, in a worker, every worker's summed."""
    if _shared_directory is None:
        return generate_latest(registry)
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=str(_shared_directory))  # type: ignore[no-untyped-call]
    return generate_latest(merged)


class Metrics:
    """Every metric of a service, registered on its application's registry (a service leaves the others' at
    zero). Created once per application: in a test process, each application has its own."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        # Authorization server: what it hands out and what it catches.
        self.tokens_issued = Counter(
            "authorium_tokens_issued",
            "Access tokens issued, by grant type and kind of client (confidential or public)",
            ["grant_type", "client_kind"],
            registry=r,
        )
        self.sign_ins = Counter(
            "authorium_sign_ins", "Sign-in attempts, by outcome and factor", ["outcome", "factor"], registry=r
        )
        self.refresh_reuse = Counter(
            "authorium_refresh_token_reuse",
            "Rotated-out refresh tokens presented again (the family is revoked)",
            registry=r,
        )
        self.code_replays = Counter(
            "authorium_code_replays", "Authorization codes presented a second time (the grant is revoked)", registry=r
        )
        self.revocations = Counter(
            "authorium_revocations", "Revocations made (RFC 7009, admin API, reuse and replay)", registry=r
        )
        self.rate_limited = Counter(
            "authorium_rate_limited", "Requests refused by a rate limit (429)", ["limit"], registry=r
        )
        self.backchannel_logouts = Counter(
            "authorium_backchannel_logouts",
            "Back-channel logout deliveries to clients, by outcome (delivered, retried, abandoned)",
            ["outcome"],
            registry=r,
        )
        # Every service that verifies tokens or follows the revocation lists.
        self.revocation_lag = Histogram(
            "authorium_revocation_lag_seconds",
            "From a revocation's announcement to this replica's copy applying it",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.jwks_fetches = Counter(
            "authorium_jwks_fetches", "Fetches of the authorization server's JWKS, by outcome", ["outcome"], registry=r
        )
        self.jwks_unknown_kid = Counter(
            "authorium_jwks_unknown_kid_refetches",
            "JWKS fetched again because a token named a key not in the cached set",
            registry=r,
        )
        self.token_cache = Counter(
            "authorium_token_cache_lookups",
            "Lookups in the verified-token cache, by result (hit or miss)",
            ["result"],
            registry=r,
        )
        self.token_cache_hit = self.token_cache.labels("hit")
        self.token_cache_miss = self.token_cache.labels("miss")
        # Backing stores.
        self.pg_pool = Gauge(
            "authorium_postgres_pool_connections",
            "Postgres connections of the pools, by state (in_use, idle, max)",
            ["state"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.postgres_query_seconds = Histogram(
            "authorium_postgres_query_seconds",
            "Time of each Postgres statement, from sending it to its result",
            registry=r,
            buckets=_STORE_BUCKETS,
        )
        self.redis_command_seconds = Histogram(
            "authorium_redis_command_seconds",
            "Time of each Redis command (a pipeline counts as one), by command",
            ["command"],
            registry=r,
            buckets=_STORE_BUCKETS,
        )
        self.signing_key_age = Gauge(
            "authorium_signing_key_age_seconds",
            "Age of the oldest signing key in each state",
            ["state"],
            registry=r,
            multiprocess_mode="livemax",
        )
        # The process, summed over workers.
        self.workers = Gauge("authorium_workers", "Worker processes serving", registry=r, multiprocess_mode="livesum")
        self.cpu = Counter("process_cpu_seconds", "CPU time used (user and system), in seconds", registry=r)
        self.memory = Gauge(
            "process_resident_memory_bytes", "Resident memory, in bytes", registry=r, multiprocess_mode="livesum"
        )
        self.open_fds = Gauge("process_open_fds", "Open file descriptors", registry=r, multiprocess_mode="livesum")
        # What a service adds to read into its gauges at each sample (authz: its signing keys' ages).
        self.samplers: list[Callable[[], None]] = []
        self._registry = registry
        self._process = ProcessCollector(registry=None)
        self._cpu_seen = 0.0
        self.workers.set(1)

    def event_feed(self) -> tuple[Gauge, Counter]:
        """The event feed's state and reconnects, made by the one feed of a service that runs one: a service without
        (client-demo) must not report a feed that is down."""
        up = Gauge(
            "authorium_event_feed_up",
            "1 while every worker is subscribed to the event feed, else 0",
            registry=self._registry,
            multiprocess_mode="livemin",
        )
        reconnects = Counter(
            "authorium_event_feed_reconnects",
            "Times the event feed subscribed again after losing Redis",
            registry=self._registry,
        )
        return up, reconnects

    def sample(self, pool: asyncpg.Pool | None) -> None:
        """Read this worker's process and pool into their gauges."""
        for family in self._process.collect():
            value = family.samples[0].value if family.samples else 0.0
            if family.name == "process_cpu_seconds":
                self.cpu.inc(max(0.0, value - self._cpu_seen))
                self._cpu_seen = max(self._cpu_seen, value)
            elif family.name == "process_resident_memory_bytes":
                self.memory.set(value)
            elif family.name == "process_open_fds":
                self.open_fds.set(value)
        if pool is not None:
            size, idle = pool.get_size(), pool.get_idle_size()
            self.pg_pool.labels("in_use").set(size - idle)
            self.pg_pool.labels("idle").set(idle)
            self.pg_pool.labels("max").set(pool.get_max_size())
        for sampler in self.samplers:
            sampler()


async def sample_periodically(metrics: Metrics, pool: asyncpg.Pool | None) -> None:
    while True:
        metrics.sample(pool)
        await asyncio.sleep(SAMPLE_SECONDS)
