"""The admin API described as OpenAPI 3.1, served at `/admin/openapi.json`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authorium_shared.middleware import json_response
from authz.appkeys import SETTINGS
from authz.settings import AuthzSettings


def build_document(settings: AuthzSettings) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Authorium admin API", "version": "1.0.0"},
        "servers": [{"url": settings.admin_url}],
        "paths": {},
    }


async def openapi(request: web.Request) -> web.Response:
    return json_response(build_document(request.app[SETTINGS]))
