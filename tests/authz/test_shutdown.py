"""Stopping the authorization server finishes promptly: its background listeners honour cancellation."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from authz.app import create_app
from authz.settings import AuthzSettings
from tests.servers import run_service


async def test_start_serve_and_stop_three_times_each_stop_within_seconds(environ: dict[str, str]) -> None:
    for _ in range(3):
        service = run_service(AuthzSettings.from_env, create_app, environ, "AUTHORIUM_ISSUER")
        url, _ = await service.__aenter__()
        async with aiohttp.ClientSession() as http, http.get(url + "/jwks.json") as resp:
            assert resp.status == 200
        started = time.monotonic()
        await asyncio.wait_for(service.__aexit__(None, None, None), 5)
        assert time.monotonic() - started < 3
