"""Token revocation (RFC 7009): a client revokes its own access or refresh tokens.

Revoking a refresh token revokes its grant, and so every access token from it (RFC 7009 section 2.1).
Unknown, expired or malformed tokens answer 200, as section 2.2 requires."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.errors import UnauthorizedClient
from authorium_shared.jwt import TokenInvalid
from authorium_shared.middleware import NO_STORE
from authz.appkeys import ACCESS_TOKENS, AUDIT, CLIENTS, GRANT_STORE, REVOKER, SETTINGS
from authz.browser_origins import check_origin
from authz.clients.authentication import authenticate
from authz.forms import read_form, require
from authz.tokens.minter import refresh_digest

HINTS = ("access_token", "refresh_token")


async def revoke(request: web.Request) -> web.Response:
    # Any token value, however long or odd, is a token this server did not issue: answered as such (section 2.2),
    # not as a malformed request.
    params = await read_form(request, unchecked=("token",))
    client = await authenticate(request, params, request.app[CLIENTS])
    check_origin(request, client, request.app[SETTINGS].issuer)
    token = require(params, "token")
    # The hint only orders the search (section 2.1); an unknown hint is ignored, not an error.
    order = HINTS[::-1] if params.get("token_type_hint") == "refresh_token" else HINTS
    for kind in order:
        revoked = await (_revoke_access if kind == "access_token" else _revoke_refresh)(
            request.app, client.client_id, token
        )
        if revoked is not None:
            await request.app[AUDIT].record(
                "token_revoked",
                client_id=client.client_id,
                remote_addr=request.remote,
                details={"token_type": kind, **revoked},
            )
            break
    return web.Response(status=200, headers=NO_STORE)


async def _revoke_access(app: web.Application, client_id: str, token: str) -> dict[str, str] | None:
    try:
        claims = app[ACCESS_TOKENS].read(token)
    except TokenInvalid:
        return None
    if claims["client_id"] != client_id:
        raise UnauthorizedClient("the token was not issued to this client")
    await app[REVOKER].access_token(str(claims["jti"]), int(claims["exp"]))
    return {"jti": str(claims["jti"])}


async def _revoke_refresh(app: web.Application, client_id: str, token: str) -> dict[str, str] | None:
    found = await app[GRANT_STORE].find_refresh(refresh_digest(token)) if len(token) <= 256 else None
    if found is None:
        return None
    grant, _ = found
    if grant.client_id != client_id:
        raise UnauthorizedClient("the token was not issued to this client")
    # Even when Postgres has it revoked already: the earlier attempt may have failed before Redis had it (the client
    # got 503 and retries), and recording it again publishes it again.
    await app[REVOKER].grant(grant.grant_id, "revoked by client")
    return {"grant_id": str(grant.grant_id)}
