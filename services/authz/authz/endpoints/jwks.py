"""The JWK Set (RFC 7517 section 5): public keys only, next and retired keys included, so verifiers know a
key before it signs and after it stops."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.middleware import json_response
from authz.appkeys import KEY_RING, SETTINGS


async def jwks(request: web.Request) -> web.Response:
    max_age = request.app[SETTINGS].jwks_max_age
    return json_response(
        request.app[KEY_RING].keyset.jwks(),
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )
