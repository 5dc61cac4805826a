"""A service's two listeners and which routes answer on each: the public one (what an ingress routes) and the
private one (`AUTHORIUM_ADMIN_PORT`): `/readyz`, `/metrics` and, on authz, the admin API under `/admin/`. `/healthz`
answers on both. A route asked for on the wrong listener is 404, as if it did not exist.

One application serves both listeners' sockets, and `split_listeners` decides by the socket a request came in on
which routes it may reach. A second application for the private port would need every object its handlers reach
through `request.app[KEY]` shared with, or built a second time beside, the public one (the admin API's handlers reach
the same client cache, key ring and revoker as the public endpoints), and its start-up and clean-up kept in step; one
application has one set of objects, one start-up and one metrics registry, and private routes are plain routes."""

from __future__ import annotations

import socket
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from authorium_shared.appkeys import PRIVATE_PORTS

HEALTH_PATH = "/healthz"
PRIVATE_PATHS = frozenset({"/readyz", "/metrics"})
# Everything under it (authz's admin API, `authz.admin.add_admin_routes`) is private.
PRIVATE_PREFIX = "/admin/"


def is_private_path(path: str) -> bool:
    return path in PRIVATE_PATHS or path.startswith(PRIVATE_PREFIX)


def declare_private(app: web.Application, private: Iterable[socket.socket], public: Iterable[socket.socket]) -> None:
    """Tell `app`, before it starts, which of the bound sockets it serves are the private listener's. The two
    listeners must be on different ports: a request is told apart by the local port it arrived on."""
    private_ports = frozenset(_port(sock) for sock in private)
    public_ports = frozenset(_port(sock) for sock in public)
    if private_ports & public_ports:
        raise ValueError(f"the private listener must not share a port with the public one ({sorted(private_ports)})")
    app[PRIVATE_PORTS] = private_ports


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def on_private_listener(request: web.Request) -> bool:
    """Whether the request came in on the private listener; an application told of none has only a public one."""
    ports = request.app.get(PRIVATE_PORTS)
    transport = request.transport
    if not ports or transport is None:
        return False
    local = transport.get_extra_info("sockname")
    return isinstance(local, tuple) and len(local) >= 2 and local[1] in ports


def _asks_for_private(request: web.Request) -> bool:
    # The path as routed, and as sent: a catch-all route (the schema hold's) is private where the path is.
    resource = request.match_info.route.resource
    return is_private_path(request.path) or (resource is not None and is_private_path(resource.canonical))


@web.middleware
async def split_listeners(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path != HEALTH_PATH and _asks_for_private(request) != on_private_listener(request):
        raise web.HTTPNotFound()
    return await handler(request)
