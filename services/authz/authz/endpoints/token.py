"""The token endpoint (RFC 6749 section 3.2, errors per section 5.2): authenticate the client, apply its rate
limit, read the resource indicators (RFC 8707 section 2), token exchange audiences (RFC 8693 section 2.1) and the
DPoP proof (RFC 9449 section 5), dispatch on `grant_type`. The grants themselves live in `authz.grants`; the minter
binds what they issue to the proof's key."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.appkeys import METRICS
from authorium_shared.errors import TemporarilyUnavailable, UnauthorizedClient, UnsupportedGrantType
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import CLIENTS, DPOP, SETTINGS, TOKEN_RATE_LIMIT
from authz.browser_origins import check_origin
from authz.clients.authentication import authenticate
from authz.forms import read_form, repeated, require
from authz.grants import GRANTS
from authz.grants.request import TokenRequest
from authz.resources import indicators
from authz.tokens.binding import proof_key
from authz.tokens.minter import DPOP_TOKEN_TYPE


async def token(request: web.Request) -> web.Response:
    params = await read_form(request)
    client = await authenticate(request, params, request.app[CLIENTS])
    check_origin(request, client, request.app[SETTINGS].issuer)
    retry_after = await request.app[TOKEN_RATE_LIMIT].hit(client.client_id)
    if retry_after:
        request.app[METRICS].rate_limited.labels("token").inc()
        # No code of RFC 6749 section 5.2 means "too many requests"; `slow_down` belongs to the device grant's polling
        # (RFC 8628 3.5). temporarily_unavailable (registered, RFC 6749 4.1.2.1) says it, with RFC 6585's 429.
        raise TemporarilyUnavailable(
            "too many token requests for this client", status=429, headers={"Retry-After": str(retry_after)}
        )
    grant_type = require(params, "grant_type")
    exchange = GRANTS.get(grant_type)
    if exchange is None:
        raise UnsupportedGrantType(f"grant_type {grant_type!r} is not supported")
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"this client is not registered for {grant_type}")
    form = await request.post()
    resources = indicators.requested(repeated(form, indicators.PARAMETER))
    audiences = repeated(form, "audience")
    dpop_jkt = await proof_key(request, required=client.dpop_bound_access_tokens)
    body = await exchange(
        TokenRequest(request.app, client, params, request.remote, resources, audiences, dpop_jkt=dpop_jkt)
    )
    if dpop_jkt is not None and body.get("token_type") != DPOP_TOKEN_TYPE:
        # Fail closed: a grant that forgot to pass the key on would hand out a bearer token the client asked to bind.
        raise RuntimeError(f"the {grant_type} grant did not bind its tokens to the DPoP key")
    request.app[METRICS].tokens_issued.labels(grant_type, "public" if client.is_public else "confidential").inc()
    nonce = request.app[DPOP].fresh_nonce() if dpop_jkt is not None else {}
    return json_response(body, headers={**NO_STORE, **nonce})
