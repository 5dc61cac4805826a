"""Reading this server's own access tokens back: at the userinfo, revocation and introspection endpoints."""

from __future__ import annotations

from typing import Any

from authorium_shared import access_tokens
from authorium_shared.errors import TemporarilyUnavailable
from authorium_shared.jwt import TokenInvalid, verify_with_keyset
from authorium_shared.metrics import Metrics
from authorium_shared.revocation_lists import RevocationCache, RevocationsUnknown
from authorium_shared.verified_tokens import VerifiedTokens
from authz.settings import AuthzSettings
from authz.signing.ring import KeyRing


class AccessTokenReader:
    def __init__(self, settings: AuthzSettings, ring: KeyRing, revocations: RevocationCache, metrics: Metrics) -> None:
        self.settings = settings
        self.ring = ring
        self.revocations = revocations
        # Each token's signature is verified once; the cache re-checks expiry on every hit.
        self.verified: VerifiedTokens[dict[str, Any]] = VerifiedTokens(leeway=0, metrics=metrics)

    def read(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """The claims of a valid (signed by us, unexpired) access token; TokenInvalid otherwise.
        Revocation is the caller's concern (`is_revoked`)."""
        if token.count(".") != 2:
            raise TokenInvalid("not a JWT")
        cached = self.verified.get((token, audience))
        if cached is not None:
            return cached
        claims = verify_with_keyset(
            token,
            self.ring.keyset,
            algorithms=access_tokens.ALLOWED_ALGORITHMS,
            issuer=self.settings.issuer,
            audience=audience,
            typ=access_tokens.TYP,
            required=access_tokens.REQUIRED_CLAIMS,
        )
        self.verified.put((token, audience), claims, claims)
        return claims

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        """Checked against this replica's copy of the revocation lists (the token, its grant, and for an exchanged
        token the service grant of its client); 503 when that copy cannot be trusted."""
        jti = str(claims["jti"])
        named = (claims.get(access_tokens.GRANT_ID_CLAIM), claims.get(access_tokens.CLIENT_GRANT_ID_CLAIM))
        grants: list[str | None] = [grant for grant in named if isinstance(grant, str)] or [None]
        try:
            return any(self.revocations.is_revoked(jti, grant) for grant in grants)
        except RevocationsUnknown as exc:
            raise TemporarilyUnavailable(f"cannot check revocation: {exc}", headers={"Retry-After": "1"}) from None
