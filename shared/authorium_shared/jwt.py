"""Sign and verify JWTs (RFC 7515/7519; RFC 9068 access tokens) with an explicit algorithm allow-list.

Every failure surfaces as TokenInvalid with a short reason; keys come only from our own key set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jwt
from jwt.utils import base64url_decode

from authorium_shared.keys import VERIFIABLE_ALGORITHMS, KeySet, SigningKey

MAX_TOKEN_BYTES: Final = 8192
MAX_KID_LENGTH: Final = 128
DEFAULT_REQUIRED: Final = ("exp", "iat", "iss")
_NUMERIC_DATE_CLAIMS: Final = ("exp", "nbf", "iat")
_HALF_HASH: Final = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


class TokenInvalid(Exception):
    """A token was rejected; `reason` is short and safe to log or put in an error description."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Header:
    alg: str
    kid: str
    typ: str | None


class _HeaderParser(jwt.PyJWS):
    """pyjwt's compact-form parser without its own header checks, so `peek_header` can apply ours
    with precise reasons. If pyjwt ever renames the hook, its stricter checks simply run again."""

    def _validate_headers(self, headers: dict[str, Any], *, encoding: bool = False) -> None:
        return None


_header_parser: Final = _HeaderParser()


def encode(claims: Mapping[str, Any], key: SigningKey, *, typ: str) -> str:
    return jwt.encode(dict(claims), key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": typ})


def half_hash(value: str, alg: str) -> str:
    """OpenID Connect Core section 3.1.3.6 `at_hash`: the left half of the hash the signing algorithm uses."""
    digest = _HALF_HASH[alg](value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def _check_allow_list(algorithms: Collection[str]) -> None:
    # A caller-side mistake, not a token problem: fail loudly rather than accept HS256 or none.
    if isinstance(algorithms, str) or not algorithms or not set(algorithms) <= set(VERIFIABLE_ALGORITHMS):
        raise ValueError(f"algorithms must be a non-empty collection drawn from {', '.join(VERIFIABLE_ALGORITHMS)}")


def _check_size_and_shape(token: str) -> None:
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalid("too large")
    if not token.isascii() or token.count(".") != 2:
        raise TokenInvalid("malformed")


class _DuplicateMember(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _DuplicateMember
    return members


def _check_unique_members(segment: str) -> None:
    """RFC 7515 section 5.2 and RFC 7519 section 4 let a parser either reject duplicate member names or keep the
    last one; rejecting leaves no room for two parsers to read one signed token two ways."""
    try:
        json.loads(base64url_decode(segment), object_pairs_hook=_unique_members)
    except _DuplicateMember:
        raise TokenInvalid("duplicate member") from None
    except (ValueError, TypeError, RecursionError):
        raise TokenInvalid("malformed") from None


def _parse_header(token: str) -> dict[str, Any]:
    try:
        header = _header_parser.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        raise TokenInvalid("malformed") from None
    _check_unique_members(token.partition(".")[0])
    return header


def _header_from_dict(header: Mapping[str, Any], algorithms: Collection[str]) -> Header:
    if "crit" in header:
        raise TokenInvalid("unsupported crit")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise TokenInvalid("algorithm not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        raise TokenInvalid("bad kid")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise TokenInvalid("malformed")
    # jku, x5u, jwk and x5c are deliberately never read: a token must not choose its own key.
    return Header(alg=alg, kid=kid, typ=typ)


def unverified_header(token: str) -> dict[str, Any]:
    """The header of a token whose key it names itself (a DPoP proof's `jwk`), checked for size, shape and duplicate
    members only: the caller vets every member it then reads."""
    if not isinstance(token, str):
        raise TokenInvalid("malformed")
    _check_size_and_shape(token)
    return _parse_header(token)


def check_unique_claims(token: str) -> None:
    """RFC 7519 section 4: a claims set with a member named twice is refused (see `_check_unique_members`)."""
    _check_unique_members(token.split(".")[1])


def media_type_matches(actual: object, expected: str) -> bool:
    """`typ` against a media type, with or without `application/`, case-insensitively (RFC 7515 section 4.1.9)."""
    return isinstance(actual, str) and _media_type(actual) == _media_type(expected)


def peek_header(token: str, *, algorithms: Collection[str]) -> Header:
    """Read and vet the unverified header; use it only to pick a key from our own set."""
    _check_allow_list(algorithms)
    if not isinstance(token, str):
        raise TokenInvalid("malformed")
    _check_size_and_shape(token)
    return _header_from_dict(_parse_header(token), algorithms)


def _media_type(value: str) -> str:
    lowered = value.lower()
    return lowered.removeprefix("application/")


def _check_typ(actual: str | None, expected: str | None) -> None:
    # RFC 9068 section 4: "at+jwt" and "application/at+jwt" name the same type, case-insensitively.
    if expected is not None and (actual is None or _media_type(actual) != _media_type(expected)):
        raise TokenInvalid("wrong typ")


def _check_key(header: Header, key: jwt.PyJWK, algorithms: Collection[str]) -> None:
    if key.algorithm_name not in algorithms:
        raise TokenInvalid("algorithm not allowed")
    if key.algorithm_name != header.alg:
        raise TokenInvalid("algorithm mismatch")
    if key.key_id is not None and key.key_id != header.kid:
        raise TokenInvalid("unknown kid")


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not yet valid"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm not allowed"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing {exc.claim}"
    return "malformed"


def _check_numeric_dates(claims: Mapping[str, Any]) -> None:
    # pyjwt coerces with int(), so "123" or true would pass; RFC 7519 says NumericDate is a number.
    for name in _NUMERIC_DATE_CLAIMS:
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TokenInvalid("malformed")


def _decode(
    token: str,
    key: jwt.PyJWK,
    *,
    alg: str,
    issuer: str,
    audience: str | None,
    leeway: float,
    required: Collection[str],
) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            options={"require": list(required), "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid(_reason(exc)) from None
    except (ValueError, TypeError, OverflowError, RecursionError):
        # Defence in depth: whatever an attacker-built token triggers, callers only see TokenInvalid.
        raise TokenInvalid("malformed") from None
    return claims


def verify(
    token: str,
    key: jwt.PyJWK,
    *,
    algorithms: Collection[str],
    issuer: str,
    audience: str | None,
    typ: str | None,
    leeway: float = 0,
    required: Collection[str] = DEFAULT_REQUIRED,
) -> dict[str, Any]:
    """Verify signature, exp/nbf/iat, exact iss, aud (if given) and typ (if given); return the claims."""
    header = peek_header(token, algorithms=algorithms)
    _check_key(header, key, algorithms)
    _check_typ(header.typ, typ)
    _check_unique_members(token.split(".")[1])
    claims = _decode(token, key, alg=header.alg, issuer=issuer, audience=audience, leeway=leeway, required=required)
    _check_numeric_dates(claims)
    return claims


def verify_with_keyset(
    token: str,
    keyset: KeySet,
    *,
    algorithms: Collection[str],
    issuer: str,
    audience: str | None,
    typ: str | None,
    leeway: float = 0,
    required: Collection[str] = DEFAULT_REQUIRED,
) -> dict[str, Any]:
    """`verify` for holders of the key set itself (the authorization server)."""
    header = peek_header(token, algorithms=algorithms)
    key = keyset.public_key(header.kid)
    if key is None:
        raise TokenInvalid("unknown kid")
    return verify(
        token,
        key,
        algorithms=algorithms,
        issuer=issuer,
        audience=audience,
        typ=typ,
        leeway=leeway,
        required=required,
    )
