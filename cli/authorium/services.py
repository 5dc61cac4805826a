"""The three services by name: how to read each one's settings and build its application."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from authorium_shared.settings import (
    DEFAULT_AUTHZ_ADMIN_PORT,
    DEFAULT_CLIENT_DEMO_ADMIN_PORT,
    DEFAULT_RESOURCE_ADMIN_PORT,
)
from authz.app import create_app as create_authz
from authz.settings import AuthzSettings
from client_demo.app import create_app as create_client_demo
from client_demo.settings import ClientDemoSettings
from resource_server.app import create_app as create_resource
from resource_server.settings import ResourceSettings


@dataclass(frozen=True)
class Service:
    name: str
    default_port: int
    # The private listener's (AUTHORIUM_ADMIN_PORT); each service's settings default to it.
    default_admin_port: int
    settings: Callable[[Mapping[str, str]], Any]
    create_app: Callable[[Any], web.Application]

    def build(self, environ: Mapping[str, str]) -> web.Application:
        return self.create_app(self.settings(environ))


SERVICES = {
    "authz": Service("authz", 8000, DEFAULT_AUTHZ_ADMIN_PORT, AuthzSettings.from_env, create_authz),
    "resource": Service("resource", 8001, DEFAULT_RESOURCE_ADMIN_PORT, ResourceSettings.from_env, create_resource),
    "client-demo": Service(
        "client-demo", 8002, DEFAULT_CLIENT_DEMO_ADMIN_PORT, ClientDemoSettings.from_env, create_client_demo
    ),
}
