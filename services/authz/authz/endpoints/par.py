"""The pushed authorization request endpoint (RFC 9126 section 2): a client posts its authorization request here,
authenticated as at the token endpoint (any method, `private_key_jwt` too; a public client names its `client_id`),
and gets back a `request_uri` to send the browser to the authorization endpoint with (section 4).

The request is checked now with the authorization endpoint's own checks, and errors are answered here as JSON
(section 2.3), never by redirect; the authorization endpoint checks it again when it is used."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.errors import InvalidDPoPProof, InvalidRequest, TemporarilyUnavailable, UnauthorizedClient
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import CLIENTS, PUSHED, TOKEN_RATE_LIMIT
from authz.authorization import checks
from authz.clients.authentication import authenticate
from authz.endpoints.authorize import validate
from authz.forms import read_form, repeated
from authz.resources import indicators
from authz.tokens.binding import proof_key


async def pushed_authorization_request(request: web.Request) -> web.Response:
    params = await read_form(request)
    client = await authenticate(request, params, request.app[CLIENTS])
    if params.get("client_id", client.client_id) != client.client_id:
        raise InvalidRequest("client_id does not match the authenticated client")
    # DPoP (RFC 9449 section 10.1): a DPoP proof sent here binds the code to its key, as `dpop_jkt` would; with
    # both, they must name the same key. Checked once the client is known and before anything is stored.
    proof_jkt = await proof_key(request, required=False)
    if proof_jkt is not None:
        if params.get("dpop_jkt", proof_jkt) != proof_jkt:
            raise InvalidDPoPProof("dpop_jkt does not match the key of the DPoP proof (RFC 9449 section 10.1)")
        params = {**params, "dpop_jkt": proof_jkt}
    # Pushing is cheap and fills Redis for a minute: it counts against the client's token-endpoint budget.
    retry_after = await request.app[TOKEN_RATE_LIMIT].hit(client.client_id)
    if retry_after:
        raise TemporarilyUnavailable(
            "too many requests for this client", status=429, headers={"Retry-After": str(retry_after)}
        )
    if "request_uri" in params:
        raise InvalidRequest("request_uri must not be pushed (RFC 9126 section 2.1)")
    if "authorization_code" not in client.grant_types:
        raise UnauthorizedClient("this client is not registered for the authorization_code grant")
    try:
        redirect_uri = checks.check_redirect_uri(
            client, params.get("redirect_uri"), openid=checks.is_openid_request(params)
        )
    except checks.UntrustedRedirect:
        # Section 2.4 lets a server take an unregistered redirect URI from an authenticated client; this one does not.
        raise InvalidRequest("redirect_uri is missing or not one this client registered") from None
    resources = repeated(await request.post(), indicators.PARAMETER)
    validate(request.app, client, redirect_uri, params, resources)
    store = request.app[PUSHED]
    request_uri = await store.push(client.client_id, {**params, "client_id": client.client_id}, resources)
    # Section 2.2: 201 Created, with the request_uri and its lifetime.
    return json_response({"request_uri": request_uri, "expires_in": store.ttl}, status=201, headers=NO_STORE)
