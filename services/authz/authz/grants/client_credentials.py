"""The client credentials grant (RFC 6749 section 4.4): a service acting for itself; `sub` is the client."""

from __future__ import annotations

import time
from typing import Any

from authorium_shared.errors import InvalidScope
from authz.grants.base import TokenRequest, token_response
from authz.scopes import USER_SCOPES, check_scope, parse_scope
from authz.tokens import new_jti

GRANT_TYPE = "client_credentials"


async def exchange(request: TokenRequest) -> dict[str, Any]:
    client, components = request.client, request.components
    requested = parse_scope(request.params.get("scope"))
    if USER_SCOPES & set(requested):
        raise InvalidScope(f"{' '.join(sorted(USER_SCOPES & set(requested)))} needs a signed-in user")
    scopes = check_scope(requested, [s for s in client.scopes if s not in USER_SCOPES])
    access_token = components.minter.access_token(
        subject=client.client_id,
        client_id=client.client_id,
        scopes=scopes,
        audience=(components.settings.resource_url,),
        jti=new_jti(),
        issued_at=int(time.time()),
    )
    # No refresh token: the client can always authenticate again (RFC 6749 section 4.4.3).
    return token_response(components, access_token=access_token, scopes=scopes)
