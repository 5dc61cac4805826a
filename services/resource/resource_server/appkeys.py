"""The resource server's application keys."""

from __future__ import annotations

from aiohttp import web

from resource_server.settings import ResourceSettings

SETTINGS = web.AppKey("resource_settings", ResourceSettings)
