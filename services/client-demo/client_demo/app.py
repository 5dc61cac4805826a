"""The demo client's application factory."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.service import base_app
from client_demo.appkeys import SETTINGS
from client_demo.settings import ClientDemoSettings

SERVICE = "client-demo"


def create_app(settings: ClientDemoSettings) -> web.Application:
    app = base_app(SERVICE, settings.common)
    app[SETTINGS] = settings
    return app
