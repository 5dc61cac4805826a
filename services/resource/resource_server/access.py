"""Who a request is from: the access token verified locally (RFC 9068 section 4), its DPoP proof when it is bound
to a key (RFC 9449 section 7), and the revocation cache; refusals per RFC 6750 section 3 and RFC 9449 section 7."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from authorium_shared import access_tokens, dpop
from authorium_shared.bearer import BEARER, DPOP, Presented, presented_token, refuse
from authorium_shared.errors import InsufficientScope, InvalidRequest, InvalidToken, TemporarilyUnavailable
from authorium_shared.jwks_cache import JWKSCache
from authorium_shared.jwt import TokenInvalid
from authorium_shared.metrics import Metrics
from authorium_shared.revocation_lists import RevocationCache, RevocationsUnknown
from authorium_shared.verified_tokens import VerifiedTokens
from resource_server.settings import ResourceSettings

REALM = "authorium-notes"
# Both schemes are accepted; every challenge offers both (RFC 9449 section 7.2).
ALGS = dpop.ALGORITHMS


@dataclass(frozen=True)
class AccessToken:
    subject: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    grant_id: str | None
    # Who acts for the subject (RFC 8693 section 4.1): the service that exchanged a token for this one, with the
    # services before it nested in its own `act`. None when the client acts directly.
    actor: dict[str, Any] | None = None
    # The service grant of the client that exchanged it (RFC 8693): revoked when that client is disabled or deleted.
    client_grant_id: str | None = None
    # RFC 9449 section 6.1: the thumbprint of the DPoP key the token is bound to (`cnf.jkt`); None for a bearer token.
    jkt: str | None = None

    @property
    def is_service(self) -> bool:
        """A client-credentials token: the client acts for itself, not for a user (a client id is never a user's
        `sub`). It carries the client's service grant id, which disabling or deleting the client revokes."""
        return self.subject == self.client_id

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> AccessToken:
        scope, grant_id = claims.get("scope", ""), claims.get(access_tokens.GRANT_ID_CLAIM)
        sub, client_id, jti = claims["sub"], claims["client_id"], claims["jti"]
        if not all(isinstance(v, str) and v for v in (sub, client_id, jti)) or not isinstance(scope, str):
            raise TokenInvalid("malformed claims")
        if grant_id is not None and not isinstance(grant_id, str):
            raise TokenInvalid("malformed claims")
        actor, client_grant_id = claims.get("act"), claims.get(access_tokens.CLIENT_GRANT_ID_CLAIM)
        if actor is not None and not _well_formed_act(actor):
            raise TokenInvalid("malformed claims")
        if client_grant_id is not None and not isinstance(client_grant_id, str):
            raise TokenInvalid("malformed claims")
        return cls(
            subject=sub,
            client_id=client_id,
            scopes=frozenset(scope.split()),
            jti=jti,
            grant_id=grant_id,
            actor=actor,
            client_grant_id=client_grant_id,
            jkt=_confirmation(claims),
        )

    @property
    def token_type(self) -> str:
        return BEARER if self.jkt is None else DPOP

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            # A token that got this far came with the scheme of its type (RFC 9449 section 7.2).
            insufficient = InsufficientScope(f"this needs the {scope} scope")
            raise refuse(insufficient, REALM, scope=scope, scheme=self.token_type, dpop_algs=ALGS)


def _confirmation(claims: dict[str, Any]) -> str | None:
    """`cnf.jkt` (RFC 9449 section 6.1). A token bound any other way (RFC 8705's `x5t#S256`) cannot be checked here,
    so it is refused rather than taken as a bearer token."""
    cnf = claims.get(access_tokens.CONFIRMATION_CLAIM)
    if cnf is None:
        return None
    jkt = cnf.get(access_tokens.JKT) if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not jkt:
        raise TokenInvalid("bound to a key by a confirmation method this server does not support")
    return jkt


def _well_formed_act(act: object) -> bool:
    """RFC 8693 section 4.1: a JSON object naming the actor by `sub`, each earlier actor nested in its `act`."""
    while isinstance(act, dict):
        if not isinstance(act.get("sub"), str):
            return False
        act = act.get("act")
    return act is None


class Verifier:
    def __init__(
        self,
        settings: ResourceSettings,
        keys: JWKSCache,
        revocations: RevocationCache,
        metrics: Metrics,
        proofs: dpop.ProofChecker,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.revocations = revocations
        self.proofs = proofs
        self.verified: VerifiedTokens[AccessToken] = VerifiedTokens(leeway=settings.leeway, metrics=metrics)

    async def authenticate(self, request: web.Request) -> AccessToken:
        if "access_token" in request.query:
            # Even beside an Authorization header: a token in the URL has leaked into logs and Referer headers
            # already, and RFC 6750 section 2 allows one method per request.
            raise refuse(
                InvalidRequest("send the token in the Authorization header, not the URL"), REALM, dpop_algs=ALGS
            )
        presented = presented_token(request, REALM, dpop_algs=ALGS)
        access = self.verified.get(presented.token) or await self._verify(presented)
        uri = self.settings.origin + request.rel_url.raw_path
        await self.proofs.check_binding(request, presented, access.jkt, uri=uri, realm=REALM)
        try:
            revoked = self.revocations.is_revoked(access.jti, access.grant_id) or (
                access.client_grant_id is not None and self.revocations.is_revoked(access.jti, access.client_grant_id)
            )
        except RevocationsUnknown as exc:
            # Fail closed: without a current revocation list no token can be vouched for.
            raise TemporarilyUnavailable(f"cannot check revocation: {exc}", headers={"Retry-After": "1"}) from None
        if revoked:
            raise refuse(InvalidToken("the access token was revoked"), REALM, scheme=presented.scheme, dpop_algs=ALGS)
        return access

    async def _verify(self, presented: Presented) -> AccessToken:
        token = presented.token
        try:
            claims = await self.keys.verify(
                token,
                algorithms=access_tokens.ALLOWED_ALGORITHMS,
                issuer=self.settings.issuer,
                audience=self.settings.resource_url,
                typ=access_tokens.TYP,
                leeway=self.settings.leeway,
                required=access_tokens.REQUIRED_CLAIMS,
            )
            access = AccessToken.from_claims(claims)
        except TokenInvalid as exc:
            invalid = InvalidToken(f"the access token is invalid: {exc.reason}")
            raise refuse(invalid, REALM, scheme=presented.scheme, dpop_algs=ALGS) from None
        self.verified.put(token, access, claims)
        return access
