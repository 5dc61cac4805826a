"""The device authorization endpoint (RFC 8628 sections 3.1-3.2): a device, authenticated as at the token endpoint
(public clients by `client_id`), asks for a scope; it gets a device code to poll with and a user code the person
enters at the verification URI. Errors per RFC 6749 section 5.2."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.appkeys import METRICS
from authorium_shared.errors import TemporarilyUnavailable, UnauthorizedClient
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import CLIENTS, DEVICE_CODES, RESOURCES, SETTINGS, TOKEN_RATE_LIMIT
from authz.authorization.checks import check_requested_scope
from authz.clients.authentication import authenticate
from authz.device.user_codes import display
from authz.endpoints import paths
from authz.forms import read_form, repeated
from authz.grants import device_code
from authz.resources import indicators


async def device_authorization(request: web.Request) -> web.Response:
    app = request.app
    params = await read_form(request)
    client = await authenticate(request, params, app[CLIENTS])
    # Each request stores state: it counts against the client's token-request budget.
    retry_after = await app[TOKEN_RATE_LIMIT].hit(client.client_id)
    if retry_after:
        app[METRICS].rate_limited.labels("device_authorization").inc()
        raise TemporarilyUnavailable(
            "too many requests for this client", status=429, headers={"Retry-After": str(retry_after)}
        )
    if device_code.GRANT_TYPE not in client.grant_types:
        raise UnauthorizedClient(f"this client is not registered for {device_code.GRANT_TYPE}")
    scopes = check_requested_scope(client, params)
    asked = indicators.requested(repeated(await request.post(), indicators.PARAMETER))
    target = indicators.choose(app[RESOURCES].current, asked, scopes, named="scope" in params)
    issued = await app[DEVICE_CODES].issue(client.client_id, target.scopes, target.identifiers)
    settings = app[SETTINGS]
    user_code = display(issued.user_code)
    verification_uri = settings.issuer + paths.DEVICE
    return json_response(
        {
            "device_code": issued.device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={user_code}",
            "expires_in": settings.device_code_ttl,
            "interval": settings.device_poll_interval,
        },
        headers=NO_STORE,
    )
