"""The whole stack on loopback for the demo client's tests: an authorization server, a resource server and the
demo client, each on its own port, with the demo registered at the first exactly as `authorium run` does."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg

from authz.app import create_app as create_authz
from authz.settings import AuthzSettings
from client_demo.app import create_app as create_demo
from client_demo.settings import DEFAULT_SCOPE, ClientDemoSettings
from resource_server.app import create_app as create_resource
from resource_server.settings import ResourceSettings
from tests.authz.conftest import server_errors
from tests.authz.flows import RegisteredClient, make_client
from tests.servers import bound_socket, serve, url_of


@dataclass(frozen=True)
class Stack:
    authz: str
    resource: str
    demo: str
    client: RegisteredClient
    environ: dict[str, str]


def _with_ports(values: Mapping[str, str], sockets: Mapping[str, socket.socket]) -> dict[str, str]:
    authz_port = str(sockets["authz"].getsockname()[1])
    return {name: value.replace("{authz_port}", authz_port) for name, value in values.items()}


@asynccontextmanager
async def running_stack(environ: Mapping[str, str], db: asyncpg.Pool, **demo_env: str) -> AsyncIterator[Stack]:
    """`demo_env` overrides the demo client's environment only; `{authz_port}` in a value is replaced by the
    authorization server's port. On exit, asserts no service answered a 5xx other than 503."""
    sockets = {name: bound_socket() for name in ("authz", "resource", "demo")}
    urls = {name: url_of(sock) for name, sock in sockets.items()}
    env = {
        **environ,
        "AUTHORIUM_ISSUER": urls["authz"],
        "AUTHORIUM_RESOURCE_URL": urls["resource"],
        "AUTHORIUM_CLIENT_DEMO_URL": urls["demo"],
    }
    client = await make_client(
        db,
        grant_types=("authorization_code", "refresh_token"),
        scope=DEFAULT_SCOPE,
        redirect_uris=(urls["demo"] + "/callback",),
        post_logout_redirect_uris=(urls["demo"] + "/signed-out",),
        backchannel_logout_uri=urls["demo"] + "/backchannel-logout",
        backchannel_logout_session_required=True,
    )
    assert client.secret is not None
    env["AUTHORIUM_CLIENT_DEMO_CLIENT_ID"] = client.client_id
    env["AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET"] = client.secret
    apps = {
        "authz": create_authz(AuthzSettings.from_env(env)),
        "resource": create_resource(ResourceSettings.from_env(env)),
        "demo": create_demo(ClientDemoSettings.from_env({**env, **_with_ports(demo_env, sockets)})),
    }
    async with AsyncExitStack() as stack:
        for sock in sockets.values():
            stack.callback(sock.close)
        for name in ("authz", "resource", "demo"):
            await stack.enter_async_context(serve(apps[name], sockets[name]))
        yield Stack(urls["authz"], urls["resource"], urls["demo"], client, env)
    for name, app in apps.items():
        assert server_errors(app) == 0, f"{name} answered a request with a 5xx"
