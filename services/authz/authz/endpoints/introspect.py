"""Token introspection (RFC 7662), for authenticated confidential clients (section 2.1).

A client the operator allowed to (`may_introspect`, a resource server) learns about any token of this issuer; any
other confidential client about its own tokens only; public clients never (`invalid_client`). Anything revoked,
expired, unknown, or not the client's to know about is `{"active": false}` and nothing more (section 2.2). A token
bound to a DPoP key is answered with its `cnf` and token type DPoP (RFC 9449 section 6.2)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from authorium_shared import access_tokens
from authorium_shared.jwt import TokenInvalid
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import ACCESS_TOKENS, CLIENTS, GRANT_STORE, SETTINGS, USERS
from authz.clients.authentication import authenticate
from authz.clients.records import Client
from authz.forms import read_form, require
from authz.tokens.minter import BEARER_TOKEN_TYPE, DPOP_TOKEN_TYPE, refresh_digest

INACTIVE = {"active": False}
# `act`: who acts for the subject of an exchanged token (RFC 8693 section 4.1); `cnf`: the key a DPoP-bound token is
# bound to (RFC 9449 section 6.2).
_ACCESS_CLAIMS = (
    "scope",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "nbf",
    "jti",
    "act",
    access_tokens.CONFIRMATION_CLAIM,
)


async def introspect(request: web.Request) -> web.Response:
    # Any token value, however long or odd, is a token this server did not issue: answered as such (section 2.2),
    # not as a malformed request.
    params = await read_form(request, unchecked=("token",))
    client = await authenticate(request, params, request.app[CLIENTS], public=False)
    token = require(params, "token")
    first, second = (_refresh, _access) if params.get("token_type_hint") == "refresh_token" else (_access, _refresh)
    body = await first(request.app, client, token) or await second(request.app, client, token)
    return json_response(body or INACTIVE, headers=NO_STORE)


def _may_know(client: Client, token_client_id: str) -> bool:
    return client.may_introspect or token_client_id == client.client_id


async def _access(app: web.Application, client: Client, token: str) -> dict[str, Any] | None:
    reader = app[ACCESS_TOKENS]
    try:
        claims = reader.read(token)
    except TokenInvalid:
        return None
    if not _may_know(client, claims["client_id"]) or reader.is_revoked(claims):
        return None
    body = {name: claims[name] for name in _ACCESS_CLAIMS if name in claims}
    # A client credentials token's subject is its client; any other's is a user.
    user = await app[USERS].get_by_subject(claims["sub"]) if claims["sub"] != claims["client_id"] else None
    if user is not None:
        body["username"] = user.username
    bound = access_tokens.CONFIRMATION_CLAIM in claims
    return {"active": True, **body, "token_type": DPOP_TOKEN_TYPE if bound else BEARER_TOKEN_TYPE}


async def _refresh(app: web.Application, client: Client, token: str) -> dict[str, Any] | None:
    found = await app[GRANT_STORE].find_refresh(refresh_digest(token)) if len(token) <= 256 else None
    if found is None:
        return None
    grant, state = found
    if not _may_know(client, grant.client_id) or grant.revoked_at is not None or not state.active(datetime.now(UTC)):
        return None
    issuer = app[SETTINGS].issuer
    body: dict[str, Any] = {
        "active": True,
        "scope": " ".join(grant.scopes),
        "client_id": grant.client_id,
        "exp": int(state.expires_at.timestamp()),
        "iat": int(state.issued_at.timestamp()),
        "iss": issuer,
        # A refresh token is presented only to this server's token endpoint: its audience is the issuer.
        "aud": issuer,
    }
    if grant.user_id is not None:
        body["sub"] = str(grant.user_id)
    if grant.dpop_jkt is not None:
        body[access_tokens.CONFIRMATION_CLAIM] = {access_tokens.JKT: grant.dpop_jkt}
    return body
