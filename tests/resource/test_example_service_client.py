"""The README's example of an internal service: it runs as shown and reuses its token."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp
import asyncpg

from tests.authz.flows import make_client
from tests.resource.conftest import ResourceFactory
from tests.servers import private_url

EXAMPLE = Path(__file__).parents[2] / "examples" / "service_client.py"


async def _token_requests(http: aiohttp.ClientSession, authz: str) -> float:
    async with http.get(private_url(authz) + "/metrics") as resp:
        text = await resp.text()
    found = re.findall(r'http_requests_total\{method="POST",route="/token",status="200"\} ([0-9.]+)', text)
    return sum(float(v) for v in found)


async def test_the_example_reads_a_users_notes_with_one_cached_token(
    start_resource: ResourceFactory, authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(
        db, grant_types=("client_credentials",), scope="notes:read notes:admin", redirect_uris=()
    )
    assert client.secret is not None
    async with start_resource(AUTHORIUM_RESOURCE_URL="http://127.0.0.1:8001") as api:
        before = await _token_requests(http, authz)
        env = {
            **os.environ,
            "AUTHORIUM_ISSUER": authz,
            "NOTES_API_URL": api,
            "SERVICE_CLIENT_ID": client.client_id,
            "SERVICE_CLIENT_SECRET": client.secret,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            "some-user",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
        assert f"'sub': '{client.client_id}'" in out.decode()
        assert "0 note(s) of some-user" in out.decode()
        # Three API calls, one token request.
        assert await _token_requests(http, authz) - before == 1
