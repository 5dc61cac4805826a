"""private_key_jwt client authentication (RFC 7523 sections 2.2 and 3, OpenID Connect Core section 9): the checks a
client assertion must pass, as pure functions, and `ClientAssertions`, which finds the client's key and spends the
assertion's `jti` once.

What an assertion must carry (docs/operations.md, "Clients that authenticate with a key"):
- a header `alg` of SIGNING_ALGORITHMS (asymmetric only: never `none` nor an HMAC, which a verifier holding only
  public keys would have to treat the public key as a secret for) and a `kid` naming a key the client registered;
- `iss` and `sub` both the client's id; a `jti` never seen before (kept until the assertion expires);
- `aud` the issuer identifier (RFC 7523bis, OpenID Connect Core section 9 as amended), or, for clients written
  before that guidance, the token endpoint's URL or the URL of the endpoint being called; as a string or an array
  holding one of them;
- `exp` in the future and at most MAX_LIFETIME seconds away (and `iat`, when present, not in the future and at most
  MAX_LIFETIME before `exp`); `nbf`, when present, in the past. Clocks may differ by LEEWAY seconds."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt

from authorium_shared import jwt as authorium_jwt
from authorium_shared.jwt import TokenInvalid
from authorium_shared.keys import VERIFIABLE_ALGORITHMS
from authz.clients.keysets import ClientKeySets
from authz.clients.replay import SeenAssertions

# RFC 7521 section 4.2 / RFC 7523 section 2.2.
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
METHOD: Final = "private_key_jwt"
# What may sign an assertion: the asymmetric algorithms `authorium_shared.keys` can verify. Discovery publishes these
# as `token_endpoint_auth_signing_alg_values_supported`; registration takes keys only for these.
SIGNING_ALGORITHMS: Final = VERIFIABLE_ALGORITHMS
# An assertion is made for one request: a long-lived one is a bearer credential waiting to be stolen.
MAX_LIFETIME: Final = 300
LEEWAY: Final = 30
MAX_JTI_LENGTH: Final = 256
_REQUIRED: Final = ("iss", "sub", "aud", "exp", "jti")
REPLAYED: Final = "jti was used before"


class AssertionRejected(Exception):
    """The assertion does not authenticate the client. `reason` is short and safe to show; `proven` says whether
    the signature had verified (only then may the reason say more than that the credentials are wrong)."""

    def __init__(self, reason: str, *, proven: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.proven = proven


@dataclass(frozen=True)
class VerifiedAssertion:
    jti: str
    exp: float


def unverified_subject(assertion: str) -> str | None:
    """The `sub` an assertion claims (RFC 7523 section 3: the client's id), read without verifying anything, only to
    look the client up; None when it is not a JWT with a string `sub`."""
    if len(assertion) > authorium_jwt.MAX_TOKEN_BYTES or not assertion.isascii() or assertion.count(".") != 2:
        return None
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) and subject else None


def assertion_kid(assertion: str) -> str:
    """The header's `kid`, once the header passes `authorium_shared.jwt`'s checks with the allowed algorithms."""
    try:
        return authorium_jwt.peek_header(assertion, algorithms=SIGNING_ALGORITHMS).kid
    except TokenInvalid as exc:
        raise AssertionRejected(exc.reason, proven=False) from None


def accepted_audiences(issuer: str, token_endpoint: str, endpoint: str) -> tuple[str, ...]:
    """The `aud` values an assertion may name (see the module docstring)."""
    return tuple(dict.fromkeys((issuer, token_endpoint, endpoint)))


def check_audience(aud: object, accepted: Collection[str]) -> None:
    """RFC 7523 section 3 item 3: `aud` identifies this server; RFC 7519 section 4.1.3 lets it be an array, of
    which one value must."""
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else None
    if values is None or not any(isinstance(value, str) and value in accepted for value in values):
        raise AssertionRejected("wrong audience", proven=True)


def check_lifetime(claims: Mapping[str, Any], now: float) -> None:
    """RFC 7523 section 3 items 4 and 6: an expiry not too far off; `iat`, when present, not in the future.
    (`exp` already passed, `nbf` too, when `authorium_shared.jwt.verify` returned.)"""
    exp = float(claims["exp"])
    if exp - now > MAX_LIFETIME + LEEWAY:
        raise AssertionRejected(f"lives too long (at most {MAX_LIFETIME} seconds)", proven=True)
    iat = claims.get("iat")
    if iat is not None:
        if float(iat) > now + LEEWAY:
            raise AssertionRejected("issued in the future", proven=True)
        if exp - float(iat) > MAX_LIFETIME:
            raise AssertionRejected(f"lives too long (at most {MAX_LIFETIME} seconds)", proven=True)


def verify_assertion(
    assertion: str, key: jwt.PyJWK, *, client_id: str, audiences: Collection[str], now: float | None = None
) -> VerifiedAssertion:
    """Every check of RFC 7523 section 3 but the `jti`'s single use (`ClientAssertions.verify` spends it): the
    signature by `key` with an allowed algorithm, `iss` = `sub` = `client_id`, `aud`, `exp` and `iat`."""
    now = time.time() if now is None else now
    try:
        claims = authorium_jwt.verify(
            assertion,
            key,
            algorithms=SIGNING_ALGORITHMS,
            issuer=client_id,
            audience=None,  # checked below: several values are accepted
            typ=None,
            leeway=LEEWAY,
            required=_REQUIRED,
        )
    except TokenInvalid as exc:
        # pyjwt checks the signature before any claim, so any other reason is about a token the client signed.
        proven = exc.reason not in ("bad signature", "malformed", "algorithm not allowed", "algorithm mismatch")
        raise AssertionRejected(exc.reason, proven=proven) from None
    if claims["sub"] != client_id:
        raise AssertionRejected("sub must be the client_id", proven=True)
    check_audience(claims["aud"], audiences)
    check_lifetime(claims, now)
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise AssertionRejected(f"jti must be a string of 1 to {MAX_JTI_LENGTH} characters", proven=True)
    return VerifiedAssertion(jti=jti, exp=float(claims["exp"]))


class ClientAssertions:
    """Verifies a client's assertion against the keys it registered and spends its `jti`."""

    def __init__(self, keysets: ClientKeySets, seen: SeenAssertions, *, issuer: str, token_endpoint: str) -> None:
        self.keysets = keysets
        self.seen = seen
        self.issuer = issuer
        self.token_endpoint = token_endpoint

    async def verify(
        self, assertion: str, *, client_id: str, jwks: Mapping[str, Any] | None, jwks_uri: str | None, endpoint: str
    ) -> None:
        """Returns when `assertion` authenticates `client_id` at `endpoint` (this server's URL of the endpoint
        called); raises AssertionRejected otherwise. The `jti` is spent only once the signature has verified, so a
        forged assertion cannot use up a real one's."""
        key = await self.keysets.key(jwks, jwks_uri, assertion_kid(assertion))
        if key is None:
            raise AssertionRejected("unknown kid", proven=False)
        audiences = accepted_audiences(self.issuer, self.token_endpoint, endpoint)
        verified = verify_assertion(assertion, key, client_id=client_id, audiences=audiences)
        if not await self.seen.first_use(client_id, verified.jti, verified.exp, leeway=LEEWAY):
            raise AssertionRejected(REPLAYED, proven=True)
