"""Running the real services on loopback sockets for tests, the way clients reach them."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


def bound_socket() -> socket.socket:
    """A listening socket on a free loopback port, bound now so nobody else can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def serve(app: web.Application, sock: socket.socket) -> AsyncIterator[web.Application]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield app
    finally:
        await runner.cleanup()


@asynccontextmanager
async def run_service(
    settings_from_env: Callable[[Mapping[str, str]], Any],
    create_app: Callable[[Any], web.Application],
    environ: Mapping[str, str],
    url_variable: str | None = None,
) -> AsyncIterator[tuple[str, web.Application]]:
    """Start a service on a fresh port; `url_variable` (e.g. AUTHORIUM_ISSUER) is set to its own URL."""
    sock = bound_socket()
    url = url_of(sock)
    env = dict(environ)
    if url_variable:
        env[url_variable] = url
    try:
        app = create_app(settings_from_env(env))
        async with serve(app, sock):
            yield url, app
    finally:
        sock.close()
