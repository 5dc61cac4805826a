"""The demo client's application factory: a confidential client in the backend-for-frontend pattern."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
import orjson
from aiohttp import web

from authorium_shared.middleware import secure_pages
from authorium_shared.service import base_app
from client_demo import contexts
from client_demo.appkeys import SETTINGS
from client_demo.browser import html_errors
from client_demo.routes import add_routes
from client_demo.settings import ClientDemoSettings

SERVICE = "client-demo"
HERE = Path(__file__).parent


def create_app(settings: ClientDemoSettings) -> web.Application:
    # Sessions and tokens live in Redis; the demo keeps nothing in Postgres.
    app = base_app(SERVICE, settings.common, postgres=False, middlewares=(secure_pages, html_errors))
    app[SETTINGS] = settings
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["pretty_json"] = lambda value: orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    env.filters["time"] = lambda value: datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    app.cleanup_ctx.append(asynccontextmanager(contexts.components))
    add_routes(app, HERE / "static")
    return app
