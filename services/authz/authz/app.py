"""The authorization server's application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from authorium_shared.middleware import secure_pages
from authorium_shared.service import base_app
from authz import contexts
from authz.appkeys import SETTINGS
from authz.routes import add_routes
from authz.settings import AuthzSettings

SERVICE = "authz"
HERE = Path(__file__).parent


def create_app(settings: AuthzSettings) -> web.Application:
    app = base_app(SERVICE, settings.common, middlewares=(secure_pages,))
    app[SETTINGS] = settings
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    app.cleanup_ctx.append(asynccontextmanager(contexts.key_ring))
    app.cleanup_ctx.append(asynccontextmanager(contexts.components))
    add_routes(app, HERE / "static")
    return app
