"""Reading this server's own access tokens back: at the userinfo, revocation and introspection endpoints."""

from __future__ import annotations

from typing import Any

from authorium_shared import access_tokens
from authorium_shared.errors import TemporarilyUnavailable
from authorium_shared.jwt import TokenInvalid, verify_with_keyset
from authorium_shared.revocations import RevocationsUnknown
from authz.components import Components


def read_access_token(components: Components, token: str, *, audience: str | None = None) -> dict[str, Any]:
    """The claims of a valid (signed by us, unexpired) access token; TokenInvalid otherwise.
    Revocation is the caller's concern."""
    if token.count(".") != 2:
        raise TokenInvalid("not a JWT")
    cached = components.verified_tokens.get((token, audience))
    if cached is not None:
        return cached
    claims = verify_with_keyset(
        token,
        components.ring.keyset,
        algorithms=access_tokens.ALLOWED_ALGORITHMS,
        issuer=components.settings.issuer,
        audience=audience,
        typ=access_tokens.TYP,
        required=access_tokens.REQUIRED_CLAIMS,
    )
    components.verified_tokens.put((token, audience), claims, claims)
    return claims


def is_revoked(components: Components, claims: dict[str, Any]) -> bool:
    """Checked against this replica's copy of the revocation lists; 503 when that copy cannot be trusted."""
    grant_id = claims.get(access_tokens.GRANT_ID_CLAIM)
    try:
        return components.revocations.is_revoked(str(claims["jti"]), grant_id if isinstance(grant_id, str) else None)
    except RevocationsUnknown as exc:
        raise TemporarilyUnavailable(f"cannot check revocation: {exc}", headers={"Retry-After": "1"}) from None
