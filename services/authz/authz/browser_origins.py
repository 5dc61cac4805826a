"""Cross-origin requests (CORS) from apps that run in a browser, through aiohttp-cors.

Discovery and the JWK Set are public documents: any web origin may read them. The token, revocation and userinfo
endpoints answer a cross-origin request only from a web origin the client registered: the origin of one of its
redirect URIs, for a public client (an app in a browser keeps no secret, so it is always public, RFC 6749 2.1).
A preflight names no client, so it is answered for any origin; the request that follows is then checked against
its client, and refused (`invalid_request`) from any other origin."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp_cors
from aiohttp import web

from authorium_shared.errors import InvalidRequest
from authz.clients.records import Client

# What a browser app sends: form bodies, `Authorization` (client_secret_basic is not for it, but Bearer tokens at
# userinfo are), DPoP proofs (RFC 9449), and nothing that needs credentials (no cookies: every one of these endpoints
# is stateless). It may read the server's DPoP nonce (sections 8 and 9).
_OPTIONS = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
    allow_headers=("Authorization", "Content-Type", "DPoP"),
    expose_headers=("Retry-After", "WWW-Authenticate", "DPoP-Nonce"),
    max_age=600,
)


def enable(app: web.Application, routes: list[web.AbstractRoute]) -> None:
    """Answer CORS preflights and add CORS headers on `routes`."""
    cors = aiohttp_cors.setup(app, defaults={"*": _OPTIONS})
    for route in routes:
        cors.add(route)


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def web_origins(client: Client) -> frozenset[str]:
    """The origins a browser app registered, through its redirect URIs (web ones only: not a native app's private
    scheme)."""
    if not client.is_public:
        return frozenset()
    return frozenset(origin_of(uri) for uri in client.redirect_uris if urlsplit(uri).scheme in ("https", "http"))


def check_origin(request: web.Request, client: Client, issuer: str) -> None:
    """Refuse a cross-origin request from an origin `client` did not register. A request without `Origin` comes
    from no browser (a server, a native app) and is not CORS's business."""
    origin = request.headers.get("Origin")
    if origin is None or origin == issuer or origin in web_origins(client):
        return
    raise InvalidRequest(f"cross-origin requests from {origin[:100]} are not allowed for this client")
