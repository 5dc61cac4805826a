"""What every grant receives from the token endpoint, and the rules the user-facing grants share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from authz.clients.records import Client


@dataclass(frozen=True)
class TokenRequest:
    """An authenticated client's token request; `app` is how a grant reaches what it works with (`authz.appkeys`)."""

    app: web.Application
    client: Client
    params: dict[str, str]
    remote: str | None
    # The `resource` parameters (RFC 8707 section 2), checked for form: absolute URIs without fragments.
    resources: tuple[str, ...] = ()
    # The `audience` parameters (RFC 8693 section 2.1), for the token exchange grant to map to resources.
    audiences: tuple[str, ...] = ()
    # The thumbprint of the key of the request's DPoP proof (RFC 9449 section 5), checked by the token endpoint; a
    # grant passes it to the minter (`Issue.dpop_jkt`), which binds the access token to it.
    dpop_jkt: str | None = None


def issues_refresh_token(client: Client, scopes: Sequence[str]) -> bool:
    """OpenID Connect Core section 11: a sign-in gets a refresh token only with `offline_access`;
    a plain OAuth authorization gets one whenever the client is registered for the grant."""
    if "refresh_token" not in client.grant_types:
        return False
    return "openid" not in scopes or "offline_access" in scopes
