"""Who a request is from: the access token verified locally (RFC 9068 section 4) and checked against the
revocation cache, with RFC 6750 refusals."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from authorium_shared import access_tokens
from authorium_shared.bearer import bearer_token, refuse
from authorium_shared.errors import InsufficientScope, InvalidRequest, InvalidToken, TemporarilyUnavailable
from authorium_shared.jwks_cache import JWKSCache
from authorium_shared.jwt import TokenInvalid
from resource_server.revocations import RevocationCache, RevocationsUnknown
from resource_server.settings import ResourceSettings

REALM = "authorium-notes"


@dataclass(frozen=True)
class AccessToken:
    subject: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    grant_id: str | None

    @property
    def is_service(self) -> bool:
        """A client-credentials token: the client acts for itself, not for a user."""
        return self.grant_id is None and self.subject == self.client_id

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> AccessToken:
        scope, grant_id = claims.get("scope", ""), claims.get(access_tokens.GRANT_ID_CLAIM)
        sub, client_id, jti = claims["sub"], claims["client_id"], claims["jti"]
        if not all(isinstance(v, str) and v for v in (sub, client_id, jti)) or not isinstance(scope, str):
            raise TokenInvalid("malformed claims")
        if grant_id is not None and not isinstance(grant_id, str):
            raise TokenInvalid("malformed claims")
        return cls(subject=sub, client_id=client_id, scopes=frozenset(scope.split()), jti=jti, grant_id=grant_id)

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise refuse(InsufficientScope(f"this needs the {scope} scope"), REALM, scope=scope)


class VerifiedTokens:
    """Tokens whose signature and claims were checked already, so a client presenting the same token again
    costs a dictionary lookup instead of a signature verification. Validity in time is re-checked on every
    hit, revocation is checked by the caller on every request regardless, and an entry is kept at most
    `max_age` seconds (so a key withdrawn from the JWKS stops working within that time, as it would anyway
    through the JWKS cache)."""

    def __init__(
        self, *, leeway: float, max_entries: int = 10_000, max_age: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.leeway = leeway
        self.max_entries = max_entries
        self.max_age = max_age
        self.clock = clock
        self._entries: dict[str, tuple[AccessToken, float, float, float]] = {}

    def get(self, token: str) -> AccessToken | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        access, not_before, expires, forget_at = entry
        now = self.clock()
        if now >= forget_at or now >= expires + self.leeway:
            del self._entries[token]
            return None
        return access if now >= not_before - self.leeway else None

    def put(self, token: str, access: AccessToken, claims: dict[str, Any]) -> None:
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest insertion
        now = self.clock()
        self._entries[token] = (access, float(claims.get("nbf", now)), float(claims["exp"]), now + self.max_age)


class Verifier:
    def __init__(self, settings: ResourceSettings, keys: JWKSCache, revocations: RevocationCache) -> None:
        self.settings = settings
        self.keys = keys
        self.revocations = revocations
        self.verified = VerifiedTokens(leeway=settings.leeway)

    async def authenticate(self, request: web.Request) -> AccessToken:
        if "access_token" in request.query:
            # Even beside an Authorization header: a token in the URL has leaked into logs and Referer headers
            # already, and RFC 6750 section 2 allows one method per request.
            raise refuse(InvalidRequest("send the token in the Authorization header, not the URL"), REALM)
        token = bearer_token(request, REALM)
        access = self.verified.get(token) or await self._verify(token)
        try:
            revoked = self.revocations.is_revoked(access.jti, access.grant_id)
        except RevocationsUnknown as exc:
            # Fail closed: without a current revocation list no token can be vouched for.
            raise TemporarilyUnavailable(f"cannot check revocation: {exc}", headers={"Retry-After": "1"}) from None
        if revoked:
            raise refuse(InvalidToken("the access token was revoked"), REALM)
        return access

    async def _verify(self, token: str) -> AccessToken:
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
            raise refuse(InvalidToken(f"the access token is invalid: {exc.reason}"), REALM) from None
        self.verified.put(token, access, claims)
        return access
