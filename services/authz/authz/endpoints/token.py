"""The token endpoint (RFC 6749 section 3.2, errors per section 5.2): authenticate the client, apply its rate
limit, dispatch on `grant_type`. The grants themselves live in `authz.grants`."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.errors import SlowDown, UnauthorizedClient, UnsupportedGrantType
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import CLIENTS, TOKEN_RATE_LIMIT
from authz.clients.authentication import authenticate
from authz.forms import read_form, require
from authz.grants import GRANTS
from authz.grants.request import TokenRequest


async def token(request: web.Request) -> web.Response:
    params = await read_form(request)
    client = await authenticate(request, params, request.app[CLIENTS])
    retry_after = await request.app[TOKEN_RATE_LIMIT].hit(client.client_id)
    if retry_after:
        raise SlowDown("too many token requests for this client", headers={"Retry-After": str(retry_after)})
    grant_type = require(params, "grant_type")
    exchange = GRANTS.get(grant_type)
    if exchange is None:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client is not registered for {grant_type}")
    body = await exchange(TokenRequest(request.app, client, params, request.remote))
    return json_response(body, headers=NO_STORE)
