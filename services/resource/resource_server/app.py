"""The resource server's application factory."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.service import base_app
from resource_server.appkeys import SETTINGS
from resource_server.settings import ResourceSettings

SERVICE = "resource"


def create_app(settings: ResourceSettings) -> web.Application:
    app = base_app(SERVICE, settings.common)
    app[SETTINGS] = settings
    return app
