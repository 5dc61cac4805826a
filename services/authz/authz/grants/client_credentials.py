"""The client credentials grant (RFC 6749 section 4.4): a service acting for itself; `sub` is the client. The token
is for the resources `resource` names (RFC 8707 section 2), else those its scopes belong to."""

from __future__ import annotations

import time
from typing import Any

from authorium_shared.errors import InvalidScope
from authz.appkeys import MINTER, RESOURCES, SETTINGS
from authz.grants.request import TokenRequest
from authz.resources import indicators
from authz.scopes import USER_SCOPES, check_scope, parse_scope
from authz.tokens.minter import Issue, access_token_lifetime, new_jti

GRANT_TYPE = "client_credentials"


async def exchange(request: TokenRequest) -> dict[str, Any]:
    client = request.client
    requested = parse_scope(request.params.get("scope"))
    personal = sorted(set(USER_SCOPES) & set(requested))
    if personal:
        raise InvalidScope(f"{' '.join(personal)} needs a signed-in user")
    scopes = check_scope(requested, [s for s in client.scopes if s not in USER_SCOPES])
    registry = request.app[RESOURCES].current
    target = indicators.choose(registry, request.resources, scopes, named=bool(requested))
    settings = request.app[SETTINGS]
    # No refresh token: the client can always authenticate again (RFC 6749 section 4.4.3).
    return request.app[MINTER].issue(
        Issue(
            client=client,
            subject=client.client_id,
            scopes=target.scopes,
            audience=target.audience(settings.issuer),
            jti=new_jti(),
            issued_at=int(time.time()),
            lifetime=registry.lifetime(target.identifiers, access_token_lifetime(settings, client)),
            # Revoked when the client is disabled or deleted, so its service tokens stop everywhere.
            grant_id=str(client.service_grant_id) if client.service_grant_id else None,
            dpop_jkt=request.dpop_jkt,
        )
    )
