"""The authorization server's routes."""

from __future__ import annotations

from aiohttp import web

from authz.endpoints import jwks, metadata


def add_routes(app: web.Application) -> None:
    app.router.add_get("/.well-known/oauth-authorization-server", metadata.metadata)
    app.router.add_get("/.well-known/openid-configuration", metadata.metadata)
    app.router.add_get(metadata.JWKS_PATH, jwks.jwks)
