"""Token introspection (RFC 7662), for authenticated clients.

A client learns about its own tokens only: anything revoked, expired, unknown, or issued to another client
(another audience) is `{"active": false}` and nothing more (section 2.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from authorium_shared.jwt import TokenInvalid
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import ACCESS_TOKENS, CLIENTS, GRANT_STORE, SETTINGS, USERS
from authz.clients.authentication import authenticate
from authz.forms import read_form, require
from authz.tokens.minter import refresh_digest

INACTIVE = {"active": False}
_ACCESS_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")


async def introspect(request: web.Request) -> web.Response:
    # Any token value, however long or odd, is a token this server did not issue: answered as such (section 2.2),
    # not as a malformed request.
    params = await read_form(request, unchecked=("token",))
    client = await authenticate(request, params, request.app[CLIENTS])
    token = require(params, "token")
    first, second = (_refresh, _access) if params.get("token_type_hint") == "refresh_token" else (_access, _refresh)
    body = await first(request.app, client.client_id, token) or await second(request.app, client.client_id, token)
    return json_response(body or INACTIVE, headers=NO_STORE)


async def _access(app: web.Application, client_id: str, token: str) -> dict[str, Any] | None:
    reader = app[ACCESS_TOKENS]
    try:
        claims = reader.read(token)
    except TokenInvalid:
        return None
    if claims["client_id"] != client_id or reader.is_revoked(claims):
        return None
    body = {name: claims[name] for name in _ACCESS_CLAIMS if name in claims}
    user = await app[USERS].get_by_subject(claims["sub"]) if claims["sub"] != client_id else None
    if user is not None:
        body["username"] = user.username
    return {"active": True, **body, "token_type": "Bearer"}


async def _refresh(app: web.Application, client_id: str, token: str) -> dict[str, Any] | None:
    found = await app[GRANT_STORE].find_refresh(refresh_digest(token)) if len(token) <= 256 else None
    if found is None:
        return None
    grant, state = found
    if grant.client_id != client_id or grant.revoked_at is not None or not state.active(datetime.now(UTC)):
        return None
    body: dict[str, Any] = {
        "active": True,
        "scope": " ".join(grant.scopes),
        "client_id": grant.client_id,
        "exp": int(state.expires_at.timestamp()),
        "iat": int(state.issued_at.timestamp()),
        "iss": app[SETTINGS].issuer,
    }
    if grant.user_id is not None:
        body["sub"] = str(grant.user_id)
    return body
