"""The client credentials grant (RFC 6749 section 4.4): a service acting for itself; `sub` is the client."""

from __future__ import annotations

import time
from typing import Any

from authorium_shared.errors import InvalidScope
from authz.appkeys import MINTER, SETTINGS
from authz.grants.request import TokenRequest
from authz.scopes import USER_SCOPES, check_scope, parse_scope
from authz.tokens.minter import Issue, new_jti

GRANT_TYPE = "client_credentials"


async def exchange(request: TokenRequest) -> dict[str, Any]:
    client = request.client
    requested = parse_scope(request.params.get("scope"))
    personal = sorted(set(USER_SCOPES) & set(requested))
    if personal:
        raise InvalidScope(f"{' '.join(personal)} needs a signed-in user")
    scopes = check_scope(requested, [s for s in client.scopes if s not in USER_SCOPES])
    # No refresh token: the client can always authenticate again (RFC 6749 section 4.4.3).
    return request.app[MINTER].issue(
        Issue(
            client=client,
            subject=client.client_id,
            scopes=scopes,
            audience=(request.app[SETTINGS].resource_url,),
            jti=new_jti(),
            issued_at=int(time.time()),
        )
    )
