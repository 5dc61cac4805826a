"""What every grant receives, and the token response they share (RFC 6749 section 5.1)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from authz.components import Components
from authz.repositories.clients import Client


@dataclass(frozen=True)
class TokenRequest:
    components: Components
    client: Client
    params: dict[str, str]
    remote: str | None


def token_response(
    components: Components,
    *,
    access_token: str,
    scopes: Sequence[str],
    refresh_token: str | None = None,
    id_token: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": components.settings.access_token_ttl,
        "scope": " ".join(scopes),
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    if id_token is not None:
        body["id_token"] = id_token
    return body


def user_audience(components: Components, scopes: Sequence[str]) -> tuple[str, ...]:
    """The resource server, plus the issuer itself when `openid` lets the token call userinfo."""
    settings = components.settings
    return (settings.resource_url, settings.issuer) if "openid" in scopes else (settings.resource_url,)


def issues_refresh_token(client: Client, scopes: Sequence[str]) -> bool:
    """OpenID Connect Core section 11: a sign-in gets a refresh token only with `offline_access`;
    a plain OAuth authorization gets one whenever the client is registered for the grant."""
    if "refresh_token" not in client.grant_types:
        return False
    return "openid" not in scopes or "offline_access" in scopes
