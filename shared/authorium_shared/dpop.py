"""DPoP proofs (RFC 9449): checking the proof a request carries (section 4.3) for any endpoint, given its method
and URI; each proof's single use (section 11.1, in Redis); and server-provided nonces (sections 8 and 9) that every
replica can check without shared state. Used by the token endpoint and by protected resources alike."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from authorium_shared.bearer import BEARER, DPOP, Presented, refuse
from authorium_shared.errors import InvalidDPoPProof, InvalidToken, OAuthError, UseDPoPNonce
from authorium_shared.jwt import TokenInvalid, check_unique_claims, media_type_matches, unverified_header
from authorium_shared.keys import thumbprint
from authorium_shared.redis_keys import RedisKeys

HEADER: Final = "DPoP"
NONCE_HEADER: Final = "DPoP-Nonce"
TYP: Final = "dpop+jwt"
TOKEN_TYPE: Final = "DPoP"
# Section 4.2: asymmetric algorithms only (never `none`, never a MAC), each with the key type and curve it needs, so
# a key cannot be read under an algorithm it was not made for.
_KEY_TYPES: Final[Mapping[str, tuple[str, frozenset[str] | None]]] = {
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "RS256": ("RSA", None),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
# `dpop_signing_alg_values_supported` (section 5.1) and the `algs` of every DPoP challenge (section 7.1).
ALGORITHMS: Final = tuple(_KEY_TYPES)
# RFC 7517/7518 private members: a proof's `jwk` holding any of them is refused (section 4.3, check 7).
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MIN_RSA_BITS: Final = 2048
# Larger keys buy nothing and cost every verification more.
_MAX_RSA_BITS: Final = 8192
# A proof is made just before the request it goes with: older ones are refused (section 4.3, check 11; section 11.1).
MAX_AGE: Final = 60
# Clock difference between a client and this server tolerated either way on `iat`.
CLOCK_SKEW: Final = 5
MAX_JTI_LENGTH: Final = 256
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_PERCENT: Final = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True)
class Proof:
    """A proof that passed every check: `jkt` is the RFC 7638 thumbprint of its key (what tokens are bound to)."""

    jkt: str
    jti: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def access_token_hash(access_token: str) -> str:
    """`ath` (section 4.2): base64url of the SHA-256 of the access token's ASCII."""
    return _b64url(hashlib.sha256(access_token.encode("ascii", "surrogateescape")).digest())


def proof_from(request: web.Request) -> str | None:
    """The request's DPoP header, None when it has none; more than one is refused (section 4.3, check 1)."""
    values = request.headers.getall(HEADER, [])
    if len(values) > 1:
        raise InvalidDPoPProof("more than one DPoP header")
    return values[0] if values else None


def _normalise_path(path: str) -> str:
    """RFC 3986 section 6.2.2: percent-encodings in upper case, unreserved characters decoded, dot segments
    removed (section 5.2.4); an empty path is `/` (section 6.2.3)."""

    def encoding(match: re.Match[str]) -> str:
        char = chr(int(match[1], 16))
        return char if char in _UNRESERVED else "%" + match[1].upper()

    segments = _PERCENT.sub(encoding, path or "/").split("/")
    kept: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and len(kept) > 1:
                kept.pop()
            if last:
                kept.append("")
        else:
            kept.append(segment)
    return "/".join(kept) or "/"


def normalise_htu(uri: str) -> str | None:
    """An http(s) URI without its query and fragment (section 4.3, check 9), normalised per RFC 3986 sections
    6.2.2 and 6.2.3 (case of scheme and host, default port, percent-encoding, dot segments); None if it is not one."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"
    authority = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{authority}{_normalise_path(parts.path)}"


class Nonces:
    """Server-provided nonces (sections 8 and 9): an HMAC of the current time window under a secret every replica
    holds alike, so any replica checks what another handed out without shared state. A nonce is good for the
    window it was made in and the next one."""

    def __init__(self, secret: bytes, *, window: int = 300, clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret, b"authorium dpop nonce", hashlib.sha256).digest()
        self.window = window
        self.clock = clock

    def _for(self, slot: int) -> str:
        return _b64url(hmac.new(self._key, slot.to_bytes(8, "big", signed=True), hashlib.sha256).digest())

    def current(self) -> str:
        return self._for(int(self.clock() // self.window))

    def valid(self, nonce: object) -> bool:
        if not isinstance(nonce, str):
            return False
        slot = int(self.clock() // self.window)
        presented = nonce.encode("utf-8", "surrogatepass")
        # Both compared, always: how long this takes says nothing about which window matched.
        now_ok = hmac.compare_digest(presented, self._for(slot).encode())
        before_ok = hmac.compare_digest(presented, self._for(slot - 1).encode())
        return now_ok or before_ok

    def refuse(self, description: str) -> UseDPoPNonce:
        return UseDPoPNonce(description, headers={NONCE_HEADER: self.current()})


def _public_key(header: Mapping[str, Any], alg: str) -> tuple[jwt.PyJWK, dict[str, Any]]:
    """The proof's own key (section 4.2 `jwk`), refused unless it is a public key of the type `alg` needs."""
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof("the DPoP proof's header has no jwk")
    if _PRIVATE_MEMBERS & set(jwk):
        raise InvalidDPoPProof("the DPoP proof's jwk holds a private key")
    kty, curves = _KEY_TYPES[alg]
    crv = jwk.get("crv")
    if jwk.get("kty") != kty or (curves is not None and not (isinstance(crv, str) and crv in curves)):
        raise InvalidDPoPProof(f"the DPoP proof's jwk is not a key for {alg}")
    if "alg" in jwk and jwk["alg"] != alg:
        raise InvalidDPoPProof("the DPoP proof's jwk names another algorithm")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, OverflowError):
        raise InvalidDPoPProof("the DPoP proof's jwk is not a valid public key") from None
    if isinstance(key.key, rsa.RSAPublicKey) and not _MIN_RSA_BITS <= key.key.key_size <= _MAX_RSA_BITS:
        raise InvalidDPoPProof(f"the DPoP proof's RSA key must be {_MIN_RSA_BITS} to {_MAX_RSA_BITS} bits")
    return key, jwk


def _claims(proof: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
    try:
        check_unique_claims(proof)
        claims: dict[str, Any] = jwt.decode(
            proof,
            key,
            algorithms=[alg],
            options={
                "require": ["jti", "htm", "htu", "iat"],
                # Time is checked below against the proof window, not pyjwt's rules for tokens.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                # Refused, not warned about (a warning is no refusal); `_public_key` refuses short RSA keys first.
                "enforce_minimum_key_length": True,
            },
        )
    except TokenInvalid as exc:
        raise InvalidDPoPProof(f"the DPoP proof is malformed ({exc.reason})") from None
    except jwt.InvalidSignatureError:
        raise InvalidDPoPProof("the DPoP proof's signature does not verify with its jwk") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidDPoPProof(f"the DPoP proof has no {exc.claim} claim") from None
    except (jwt.PyJWTError, ValueError, TypeError, OverflowError, RecursionError):
        # Whatever a hostile proof triggers in the parser, the caller sees a refusal, never a crash.
        raise InvalidDPoPProof("the DPoP proof is malformed") from None
    return claims


def check_proof(
    proof: str,
    *,
    method: str,
    uri: str,
    now: float,
    nonces: Nonces | None = None,
    access_token: str | None = None,
) -> Proof:
    """RFC 9449 section 4.3's checks of one proof for a request with `method` to `uri` (its query and fragment do
    not count): a single well-formed JWT (check 2) with every claim section 4.2 requires (3), `typ` dpop+jwt (4), an
    asymmetric algorithm of ours (5), a signature that verifies (6) with a public `jwk` (7), `htm` (8) and `htu`
    (9) matching, the server's nonce when `nonces` asks for one (10), `iat` within the window (11), and for a
    protected resource the access token's hash `ath` (12; the key binding is the caller's). Single use (section
    11.1) is `ProofReplay`'s."""
    try:
        header = unverified_header(proof)
    except TokenInvalid as exc:
        raise InvalidDPoPProof(f"the DPoP proof is not a JWT ({exc.reason})") from None
    if not media_type_matches(header.get("typ"), TYP):
        raise InvalidDPoPProof(f"the DPoP proof's typ must be {TYP}")
    if "crit" in header:
        raise InvalidDPoPProof("the DPoP proof names critical extensions this server does not know")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _KEY_TYPES:
        raise InvalidDPoPProof(f"the DPoP proof's alg must be one of {' '.join(ALGORITHMS)}")
    key, jwk = _public_key(header, alg)
    claims = _claims(proof, key, alg)
    jti, htm, htu, iat = claims["jti"], claims["htm"], claims["htu"], claims["iat"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise InvalidDPoPProof(f"the DPoP proof's jti must be a string of 1 to {MAX_JTI_LENGTH} characters")
    if htm != method:
        raise InvalidDPoPProof("the DPoP proof's htm is not this request's method")
    expected = normalise_htu(uri)
    presented = normalise_htu(htu) if isinstance(htu, str) else None
    if presented is None or expected is None or presented != expected:
        raise InvalidDPoPProof("the DPoP proof's htu is not this request's URI")
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise InvalidDPoPProof("the DPoP proof's iat is not a number")
    if nonces is not None:
        nonce = claims.get("nonce")
        if not nonces.valid(nonce):
            raise nonces.refuse(
                "the DPoP proof must carry the server's nonce" if nonce is None else "the DPoP proof's nonce is stale"
            )
    if not now - MAX_AGE - CLOCK_SKEW <= iat <= now + CLOCK_SKEW:
        raise InvalidDPoPProof(f"the DPoP proof's iat is not within {MAX_AGE} seconds of now")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str):
            raise InvalidDPoPProof("the DPoP proof has no ath claim, the hash of the access token")
        if not hmac.compare_digest(ath.encode("utf-8", "surrogatepass"), access_token_hash(access_token).encode()):
            raise InvalidDPoPProof("the DPoP proof's ath is not the hash of this access token")
    try:
        jkt = thumbprint(jwk)
    except ValueError:
        raise InvalidDPoPProof("the DPoP proof's jwk is not a valid public key") from None
    return Proof(jkt=jkt, jti=jti)


def same_key(bound: str, presented: str | None) -> bool:
    """Whether a proof's key thumbprint (`presented`, None without a proof) is the one a token or code is bound to
    (section 4.3, check 12; section 10)."""
    return presented is not None and hmac.compare_digest(bound.encode(), presented.encode())


class ProofReplay:
    """Each proof is accepted once (section 11.1): its key's thumbprint and `jti` are remembered in Redis, with SET NX,
    for as long as `iat` would let the proof through."""

    TTL: Final = MAX_AGE + 2 * CLOCK_SKEW

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def first_use(self, proof: Proof) -> bool:
        # Hashed: a jti is the client's choice of up to MAX_JTI_LENGTH characters, and the key need be nothing more.
        digest = hashlib.sha256(f"{proof.jkt}\x00{proof.jti}".encode("utf-8", "surrogatepass")).hexdigest()
        return bool(await self.redis.set(self.keys("dpop", "jti", digest), b"1", nx=True, ex=self.TTL))


class ProofChecker:
    """Section 4.3 for one service: the pure checks, then single use. `nonces` is set when this service requires
    server-provided nonces (AUTHORIUM_DPOP_NONCE_REQUIRED)."""

    def __init__(self, replay: ProofReplay, *, nonces: Nonces | None, clock: Callable[[], float] = time.time) -> None:
        self.replay = replay
        self.nonces = nonces
        self.clock = clock

    async def check(self, proof: str, *, method: str, uri: str, access_token: str | None = None) -> Proof:
        """The proof of a request with `method` to `uri` (the URI a client reaches this endpoint at), or
        InvalidDPoPProof / UseDPoPNonce (status 400: a protected resource turns them into its 401 challenge)."""
        checked = check_proof(
            proof, method=method, uri=uri, now=self.clock(), nonces=self.nonces, access_token=access_token
        )
        if not await self.replay.first_use(checked):
            raise InvalidDPoPProof("the DPoP proof was used before (its jti was seen)")
        return checked

    async def check_binding(
        self, request: web.Request, presented: Presented, jkt: str | None, *, uri: str, realm: str
    ) -> None:
        """Section 7 at a protected resource, for an access token presented as `presented` and bound to `jkt` (its
        `cnf.jkt`, None for a bearer token): a bound token comes only with the DPoP scheme (7.2: never as a bearer
        token) and a proof for this request (`uri`) by the key it is bound to, naming it (`ath`). Refusals are 401
        with both challenges (section 7.1; a nonce refusal keeps its DPoP-Nonce, section 9)."""
        if presented.scheme == BEARER:
            if jkt is not None:
                invalid = InvalidToken("the access token is DPoP-bound: present it with the DPoP scheme and a proof")
                raise refuse(invalid, realm, dpop_algs=ALGORITHMS)
            return
        try:
            if jkt is None:
                raise InvalidToken("the access token is not DPoP-bound: present it as a Bearer token")
            proof = proof_from(request)
            if proof is None:
                raise InvalidDPoPProof("a DPoP-bound access token needs a DPoP proof")
            checked = await self.check(proof, method=request.method, uri=uri, access_token=presented.token)
            if not same_key(jkt, checked.jkt):
                raise InvalidToken("the DPoP proof is signed by another key than the one the token is bound to")
        except OAuthError as exc:
            exc.status = 401
            raise refuse(exc, realm, scheme=DPOP, dpop_algs=ALGORITHMS) from None

    def fresh_nonce(self) -> dict[str, str]:
        """The `DPoP-Nonce` header for a successful answer (section 8.2), when nonces are required."""
        return {NONCE_HEADER: self.nonces.current()} if self.nonces is not None else {}
