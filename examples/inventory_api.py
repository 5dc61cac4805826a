"""A second API beside the notes API: a tiny inventory service registered as its own resource (RFC 8707).

It accepts only access tokens whose `aud` is its own identifier, so a token issued for the notes API is refused
here (401 `invalid_token`), as one issued for this API is refused by the notes API. Tokens are verified locally
with the shared package's JWKS cache (signature, `iss`, `aud`, `exp`, `typ`, the algorithm allow-list; RFC 9068
section 4). Unlike the notes API it does not follow the revocation lists: its tokens simply live out their few
minutes. A token a service exchanged for a user's (RFC 8693) is answered with the user (`sub`) and who acts for them
(`act`). Register it and call it:

    authorium resource create --identifier http://127.0.0.1:8003 --scope "inventory:read inventory:write" \\
        --name "Inventory API"
    authorium client create --name stock-report --grant-type client_credentials --scope inventory:read --json
    python examples/inventory_api.py &
    curl -s -u "$ID:$SECRET" -d grant_type=client_credentials -d scope=inventory:read http://127.0.0.1:8000/token
    curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8003/api/items

Environment: AUTHORIUM_ISSUER (default http://127.0.0.1:8000), INVENTORY_API_URL (its identifier, default
http://127.0.0.1:8003), INVENTORY_PORT (default 8003).
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from authorium_shared import access_tokens
from authorium_shared.bearer import bearer_token, refuse
from authorium_shared.errors import InsufficientScope, InvalidToken
from authorium_shared.jwks_cache import JWKSCache, JWKSFetchError
from authorium_shared.jwt import TokenInvalid
from authorium_shared.middleware import json_response, render_errors

REALM = "inventory"
READ, WRITE = "inventory:read", "inventory:write"
ITEMS = [
    {"sku": "A-100", "name": "Anchor bolt", "count": 1200},
    {"sku": "B-220", "name": "Bracket", "count": 85},
]


@dataclass(frozen=True)
class Settings:
    issuer: str
    identifier: str  # this API's resource identifier: the `aud` its tokens must carry

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            issuer=environ.get("AUTHORIUM_ISSUER", "http://127.0.0.1:8000").rstrip("/"),
            identifier=environ.get("INVENTORY_API_URL", "http://127.0.0.1:8003"),
        )


SETTINGS = web.AppKey("settings", Settings)
KEYS = web.AppKey("keys", JWKSCache)


async def jwks_uri(session: aiohttp.ClientSession, issuer: str) -> str:
    """The issuer's `jwks_uri`, from its metadata (RFC 8414 section 3), once the metadata names that issuer."""
    async with session.get(issuer + "/.well-known/oauth-authorization-server", allow_redirects=False) as resp:
        metadata = await resp.json() if resp.status == 200 else {}
    if metadata.get("issuer") != issuer or not isinstance(metadata.get("jwks_uri"), str):
        raise JWKSFetchError(f"{issuer} published no usable metadata")
    return str(metadata["jwks_uri"])


async def token_claims(request: web.Request, scope: str) -> dict[str, Any]:
    """The claims of the request's bearer token (RFC 6750), once it is shown to be for this API and to carry
    `scope`; the RFC 6750 section 3 refusal otherwise."""
    token = bearer_token(request, REALM)
    settings = request.app[SETTINGS]
    try:
        claims = await request.app[KEYS].verify(
            token,
            algorithms=access_tokens.ALLOWED_ALGORITHMS,
            issuer=settings.issuer,
            audience=settings.identifier,
            typ=access_tokens.TYP,
            leeway=30,
            required=access_tokens.REQUIRED_CLAIMS,
        )
    except TokenInvalid as exc:
        raise refuse(InvalidToken(f"the access token is invalid: {exc.reason}"), REALM) from None
    if scope not in str(claims.get("scope", "")).split():
        raise refuse(InsufficientScope(f"this needs the {scope} scope"), REALM, scope=scope)
    return claims


async def list_items(request: web.Request) -> web.Response:
    claims = await token_claims(request, READ)
    body: dict[str, Any] = {"items": ITEMS, "client_id": claims["client_id"]}
    if "act" in claims:
        # A token exchanged by a service for a user's (RFC 8693 section 4.1): who acts, and for whom.
        body["sub"], body["act"] = claims["sub"], claims["act"]
    return json_response(body)


async def keys(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        app[KEYS] = JWKSCache(session, functools.partial(jwks_uri, session, settings.issuer))
        yield


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[render_errors])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(keys)
    app.router.add_get("/api/items", list_items)
    return app


if __name__ == "__main__":
    web.run_app(
        create_app(Settings.from_env(os.environ)),
        host="127.0.0.1",
        port=int(os.environ.get("INVENTORY_PORT", "8003")),
        access_log=None,
    )
