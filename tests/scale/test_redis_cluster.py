"""The core flows of both servers on a Redis Cluster of three masters: the authorization code with PKCE, refresh,
client credentials, revocation reaching the resource server over the feed's shard channel, and the notes API. The
suites' own tests do it, pointed at the cluster (`AUTHORIUM_TEST_REDIS=redis+cluster://...`, which any test run
accepts) in a pytest run of their own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from redis import Redis as SyncRedis

from tests.processes import REPO, redis_cluster

pytestmark = pytest.mark.slow

CORE_FLOWS = (
    "tests/authz/test_authorization_code.py",
    "tests/authz/test_refresh_token.py",
    "tests/authz/test_client_credentials.py",
    "tests/authz/test_revoke.py",
    "tests/resource/test_notes.py",
    "tests/resource/test_revocation.py",
)


def test_core_flows_on_a_redis_cluster() -> None:
    with redis_cluster(masters=3) as cluster:
        env = {**os.environ, "AUTHORIUM_TEST_REDIS": cluster.url()}
        try:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *CORE_FLOWS],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            pytest.fail(f"the core flows did not finish within 180 s on the cluster:\n{output[-8000:]}")
        processed = []
        for port in cluster.ports:
            with SyncRedis(port=port) as node:
                processed.append(node.info("stats")["total_commands_processed"])
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout, run.stdout[-2000:]
    # Every master had its share of the keys, not one node doing all the work.
    assert min(processed) > 100, processed
