"""The authorization server's application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from authorium_shared.middleware import secure_pages
from authorium_shared.resources import event_feed
from authorium_shared.service import base_app
from authz import contexts
from authz.appkeys import SETTINGS
from authz.interaction import page_errors
from authz.routes import add_private_routes, add_routes
from authz.settings import AuthzSettings

SERVICE = "authz"
HERE = Path(__file__).parent


def create_app(settings: AuthzSettings) -> web.Application:
    app = base_app(SERVICE, settings.common, middlewares=(secure_pages,), innermost=(page_errors,))
    app[SETTINGS] = settings
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    for context in (
        contexts.stores,
        contexts.client_keys,
        contexts.resources,
        contexts.passwords,
        contexts.signing_keys,
        contexts.revocations,
        contexts.backchannel_logout,
    ):
        app.cleanup_ctx.append(asynccontextmanager(context))
    # Serve once the revocations are loaded, or after a short wait (then introspection fails closed until then).
    app.cleanup_ctx.append(event_feed(start_wait=settings.revocation_max_staleness))
    app.cleanup_ctx.append(asynccontextmanager(contexts.pruning))
    add_routes(app, HERE / "static")
    add_private_routes(app.router)
    return app
