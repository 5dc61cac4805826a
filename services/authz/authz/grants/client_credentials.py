"""The client credentials grant (RFC 6749 section 4.4): a service acting for itself; `sub` is the client."""

from __future__ import annotations

import time
from typing import Any

from authorium_shared.errors import InvalidScope
from authz.appkeys import MINTER, SETTINGS
from authz.grants.request import TokenRequest
from authz.scopes import ADMIN_SCOPE, USER_SCOPES, check_scope, parse_scope
from authz.settings import AuthzSettings
from authz.tokens.minter import Issue, new_jti

GRANT_TYPE = "client_credentials"


# MERGE (issue 14): the resource registry (RFC 8707) replaces this with its general rule, under which the admin API
# is a built-in resource whose scope is `authorium:admin`.
def audience(settings: AuthzSettings, scopes: tuple[str, ...]) -> tuple[str, ...]:
    """The admin API when `authorium:admin` alone was granted; the default resource otherwise."""
    return (settings.admin_url,) if scopes == (ADMIN_SCOPE,) else (settings.resource_url,)


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
            audience=audience(request.app[SETTINGS], scopes),
            jti=new_jti(),
            issued_at=int(time.time()),
            # Revoked when the client is disabled or deleted, so its service tokens stop everywhere.
            grant_id=str(client.service_grant_id) if client.service_grant_id else None,
        )
    )
