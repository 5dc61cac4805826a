"""Reading this server's own access tokens back: at the userinfo, revocation and introspection endpoints."""

from __future__ import annotations

from typing import Any

from authorium_shared import access_tokens
from authorium_shared.jwt import TokenInvalid, verify_with_keyset
from authz.components import Components


def read_access_token(components: Components, token: str, *, audience: str | None = None) -> dict[str, Any]:
    """The claims of a valid (signed by us, unexpired) access token; TokenInvalid otherwise.
    Revocation is the caller's concern."""
    if token.count(".") != 2:
        raise TokenInvalid("not a JWT")
    return verify_with_keyset(
        token,
        components.ring.keyset,
        algorithms=access_tokens.ALLOWED_ALGORITHMS,
        issuer=components.settings.issuer,
        audience=audience,
        typ=access_tokens.TYP,
        required=access_tokens.REQUIRED_CLAIMS,
    )


async def is_revoked(components: Components, claims: dict[str, Any]) -> bool:
    grant_id = claims.get(access_tokens.GRANT_ID_CLAIM)
    return await components.revocations.is_revoked(
        jti=str(claims["jti"]), grant_id=grant_id if isinstance(grant_id, str) else None
    )
