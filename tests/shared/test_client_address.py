"""Behind reverse proxies (AUTHORIUM_TRUSTED_PROXY_HOPS), a client's address is the one the nearest trusted
proxy saw: what sign-in throttling and audit events key on. Without trusted proxies, X-Forwarded-For is ignored,
so a client cannot pick an address to dodge the throttle or to lock someone else out."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from authorium_shared.service import base_app
from authorium_shared.settings import CommonSettings
from tests.servers import bound_socket, serve, url_of


async def _remote(request: web.Request) -> web.Response:
    return web.Response(text=request.remote or "")


@pytest.mark.parametrize(
    ("hops", "forwarded", "seen"),
    [
        ("0", ["203.0.113.9"], "127.0.0.1"),
        ("1", ["198.51.100.1, 203.0.113.9"], "203.0.113.9"),
        ("1", ["198.51.100.1", "203.0.113.9"], "203.0.113.9"),
        ("2", ["198.51.100.1, 203.0.113.9"], "198.51.100.1"),
        ("2", ["203.0.113.9"], "127.0.0.1"),  # shorter than the proxy chain: not from the proxies
        ("1", [], "127.0.0.1"),
    ],
)
async def test_the_client_address_comes_from_trusted_proxies_only(
    environ: dict[str, str], hops: str, forwarded: list[str], seen: str
) -> None:
    app = base_app("test", CommonSettings.from_env({**environ, "AUTHORIUM_TRUSTED_PROXY_HOPS": hops}))
    app.router.add_get("/remote", _remote)
    sock = bound_socket()
    async with serve(app, sock), aiohttp.ClientSession() as http:
        headers = [("X-Forwarded-For", value) for value in forwarded]
        async with http.get(url_of(sock) + "/remote", headers=headers) as resp:
            assert await resp.text() == seen
