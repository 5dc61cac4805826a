"""ID token validation as OpenID Connect Core sections 3.1.3.7 and 3.1.3.8 ask of a client using the code
flow, and section 12.2 for ID tokens that come with a refresh."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from authorium_shared.jwks_cache import JWKSCache
from authorium_shared.jwt import TokenInvalid, half_hash, peek_header

# The algorithm this client registered (`id_token_signed_response_alg`; RS256 is the OpenID Connect default):
# a token signed any other way is not one the server was asked to make.
ALGORITHMS = ("RS256",)
REQUIRED = ("iss", "sub", "aud", "exp", "iat")
LEEWAY = 30


class IdTokenRejected(Exception):
    """The ID token failed a check; `reason` says which, in words a person can read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    # 3.1.3.7 step 3: we must be an audience, and we trust no other party to be one beside us.
    if not isinstance(audiences, list) or audiences != [client_id]:
        raise IdTokenRejected("it was issued for another client")
    azp = claims.get("azp")
    if azp is not None and azp != client_id:
        raise IdTokenRejected("it was issued for another client (azp)")


def _check_nonce(claims: Mapping[str, Any], nonce: str) -> None:
    # 3.1.3.7 step 11: the nonce ties this token to the sign-in this browser started; a token with another
    # nonce was minted for a different request, however valid it is otherwise.
    value = claims.get("nonce")
    if not isinstance(value, str) or not hmac.compare_digest(value.encode(), nonce.encode()):
        raise IdTokenRejected("its nonce does not match the one this sign-in sent")


def _check_at_hash(claims: Mapping[str, Any], alg: str, access_token: str) -> None:
    # 3.1.3.8: optional in the code flow, but when present it must describe the access token we received.
    at_hash = claims.get("at_hash")
    if at_hash is not None and not (
        isinstance(at_hash, str) and hmac.compare_digest(at_hash, half_hash(access_token, alg))
    ):
        raise IdTokenRejected("its at_hash does not match the access token")


async def verify(
    keys: JWKSCache,
    token: str,
    *,
    issuer: str,
    client_id: str,
    access_token: str,
    nonce: str | None,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ID token's claims once every check has passed. `nonce` is the sign-in's (None after a refresh);
    `previous` is the session's earlier ID token claims, which a refreshed one must agree with (12.2)."""
    try:
        alg = peek_header(token, algorithms=ALGORITHMS).alg
        # Audience is checked below, exactly; pyjwt would accept any list that merely contains us.
        claims = await keys.verify(
            token, algorithms=ALGORITHMS, issuer=issuer, audience=None, typ=None, leeway=LEEWAY, required=REQUIRED
        )
    except TokenInvalid as exc:
        raise IdTokenRejected(f"it is not a valid token from this issuer ({exc.reason})") from None
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise IdTokenRejected("it names no subject")
    _check_audience(claims, client_id)
    if nonce is not None:
        _check_nonce(claims, nonce)
    _check_at_hash(claims, alg, access_token)
    if previous is not None:
        # 12.2: the same person, and auth_time (when given) still the time of the original sign-in.
        if claims["sub"] != previous.get("sub"):
            raise IdTokenRejected("its sub differs from the one at sign-in")
        if "auth_time" in claims and claims["auth_time"] != previous.get("auth_time"):
            raise IdTokenRejected("its auth_time differs from the one at sign-in")
    return claims
