"""Running the real services on loopback sockets for tests, the way clients reach them: each on a public listener
and a private one (`authorium_shared.listeners`), as `authorium serve` runs them."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from authorium_shared.appkeys import PRIVATE_PORTS
from authorium_shared.listeners import declare_private


def bound_socket() -> socket.socket:
    """A listening socket on a free loopback port, bound now so nobody else can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


# The private listener of each service `run_service` runs, by its public URL, for callers that hold only that.
_PRIVATE_BY_PUBLIC: dict[str, str] = {}


def private_url(served: web.Application | str) -> str:
    """The private listener's URL (`/readyz`, `/metrics`, authz's admin API) of an app served with one, or of the
    service `run_service` serves at a public URL."""
    if isinstance(served, str):
        return _PRIVATE_BY_PUBLIC[served]
    (port,) = served[PRIVATE_PORTS]
    return f"http://127.0.0.1:{port}"


@asynccontextmanager
async def serve(
    app: web.Application, sock: socket.socket, private: socket.socket | None = None
) -> AsyncIterator[web.Application]:
    """Serve `app` on `sock`, and on `private` as its private listener if given (else it has only a public one)."""
    if private is not None:
        declare_private(app, [private], [sock])
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    for listening in (sock, private):
        if listening is not None:
            await web.SockSite(runner, listening).start()
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
    """Start a service on fresh ports; `url_variable` (e.g. AUTHORIUM_ISSUER) is set to its own URL. Yields the
    public URL and the application; `private_url(app)`, or `private_url(public URL)`, is its private listener's."""
    sock, private = bound_socket(), bound_socket()
    url = url_of(sock)
    env = dict(environ)
    if url_variable:
        env[url_variable] = url
    try:
        app = create_app(settings_from_env(env))
        async with serve(app, sock, private):
            _PRIVATE_BY_PUBLIC[url] = url_of(private)
            try:
                yield url, app
            finally:
                del _PRIVATE_BY_PUBLIC[url]
    finally:
        sock.close()
        private.close()
