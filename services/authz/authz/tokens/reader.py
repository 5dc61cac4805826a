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
        """Checked against this replica's copy of the revocation lists; 503 when that copy cannot be trusted."""
        grant_id = claims.get(access_tokens.GRANT_ID_CLAIM)
        try:
            return self.revocations.is_revoked(str(claims["jti"]), grant_id if isinstance(grant_id, str) else None)
        except RevocationsUnknown as exc:
            raise TemporarilyUnavailable(f"cannot check revocation: {exc}", headers={"Retry-After": "1"}) from None
