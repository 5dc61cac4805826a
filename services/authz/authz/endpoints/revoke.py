"""Token revocation (RFC 7009): a client revokes its own access or refresh tokens.

Revoking a refresh token revokes its grant, and so every access token from it (RFC 7009 section 2.1).
Unknown, expired or malformed tokens answer 200, as section 2.2 requires."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.errors import UnauthorizedClient
from authorium_shared.jwt import TokenInvalid
from authorium_shared.middleware import NO_STORE
from authz import client_auth
from authz.access import read_access_token
from authz.appkeys import COMPONENTS
from authz.components import Components
from authz.forms import read_form, require
from authz.repositories import audit
from authz.tokens import refresh_digest

HINTS = ("access_token", "refresh_token")


async def revoke(request: web.Request) -> web.Response:
    components = request.app[COMPONENTS]
    # Any token value, however long or odd, is a token this server did not issue: answered as such (section 2.2),
    # not as a malformed request.
    params = await read_form(request, unchecked=("token",))
    client = await client_auth.authenticate(request, params, components.clients)
    token = require(params, "token")
    # The hint only orders the search (section 2.1); an unknown hint is ignored, not an error.
    order = HINTS[::-1] if params.get("token_type_hint") == "refresh_token" else HINTS
    for kind in order:
        revoked = await (_revoke_access if kind == "access_token" else _revoke_refresh)(
            components, client.client_id, token
        )
        if revoked is not None:
            await audit.record(
                components.pool,
                "token_revoked",
                client_id=client.client_id,
                remote_addr=request.remote,
                details={"token_type": kind, **revoked},
            )
            break
    return web.Response(status=200, headers=NO_STORE)


async def _revoke_access(components: Components, client_id: str, token: str) -> dict[str, str] | None:
    try:
        claims = read_access_token(components, token)
    except TokenInvalid:
        return None
    if claims["client_id"] != client_id:
        raise UnauthorizedClient("the token was not issued to this client")
    await components.revoker.access_token(str(claims["jti"]), int(claims["exp"]))
    return {"jti": str(claims["jti"])}


async def _revoke_refresh(components: Components, client_id: str, token: str) -> dict[str, str] | None:
    found = await components.grants.find_by_refresh(refresh_digest(token)) if len(token) <= 256 else None
    if found is None:
        return None
    if found.client_id != client_id:
        raise UnauthorizedClient("the token was not issued to this client")
    if found.revoked_at is None:
        await components.revoker.grant(found.grant_id, "revoked by client")
    return {"grant_id": str(found.grant_id)}
