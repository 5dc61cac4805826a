"""Who may call the admin API (DESIGN.md, "Admin API"): a Bearer access token from this issuer (RFC 6750), verified as
every other reader of our access tokens verifies them (`AccessTokenReader`: signature against the key ring, `iss`,
`exp`, `typ` at+jwt, the algorithm allow-list; then revocation), whose audience is the admin API's identifier
(`AUTHORIUM_ADMIN_URL`) and whose scope holds `authorium:admin`. Refusals follow RFC 6750 section 3: 401 with a
`Bearer` challenge for a missing or bad token, 403 `insufficient_scope` for a good one without the scope."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.bearer import bearer_token, refuse
from authorium_shared.errors import InsufficientScope, InvalidToken
from authorium_shared.jwt import TokenInvalid
from authz.appkeys import ACCESS_TOKENS, CLIENTS, SETTINGS
from authz.scopes import ADMIN_SCOPE

REALM = "authorium-admin"


async def admin_client(request: web.Request) -> str:
    """The id of the admin client whose token the request carries; an RFC 6750 refusal otherwise."""
    token = bearer_token(request, REALM)
    reader = request.app[ACCESS_TOKENS]
    try:
        claims = reader.read(token, audience=request.app[SETTINGS].admin_url)
    except TokenInvalid as exc:
        raise refuse(InvalidToken(f"the access token is invalid: {exc.reason}"), REALM) from None
    if reader.is_revoked(claims):
        raise refuse(InvalidToken("the access token was revoked"), REALM)
    scope = claims.get("scope")
    if not isinstance(scope, str) or ADMIN_SCOPE not in scope.split():
        raise refuse(InsufficientScope(f"the admin API needs the {ADMIN_SCOPE} scope"), REALM, scope=ADMIN_SCOPE)
    client_id = claims["client_id"]
    # A disabled or deleted client's service tokens are revoked already; this closes the gap until that is known.
    if not isinstance(client_id, str) or await request.app[CLIENTS].get(client_id) is None:
        raise refuse(InvalidToken("the token's client is disabled or no longer exists"), REALM)
    return client_id
