"""The authorization server's application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from aiohttp import web

from authorium_shared.service import base_app
from authz import contexts
from authz.appkeys import SETTINGS
from authz.routes import add_routes
from authz.settings import AuthzSettings

SERVICE = "authz"


def create_app(settings: AuthzSettings) -> web.Application:
    app = base_app(SERVICE, settings.common)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(asynccontextmanager(contexts.key_ring))
    add_routes(app)
    return app
