"""Signing keys: generation, public JWK/JWKS (RFC 7517, RFC 7638 kids) and encryption at rest.

Private key material leaves this module only as an AES-256-GCM blob bound to its kid and alg.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Final

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ALGORITHMS: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
# What a signature may be checked with: ours, and the other asymmetric algorithms clients sign their own JWTs with
# (private_key_jwt assertions, RFC 7523). Never `none` nor an HMAC, whose key a verifier would have to hold.
VERIFIABLE_ALGORITHMS: tuple[str, ...] = (*ALGORITHMS, "ES384", "PS256")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

# RSA 2048 is what every OIDC relying party supports; larger keys only slow down each verification.
_RSA_BITS: Final = 2048
_RSA_EXPONENT: Final = 65537

# RFC 7638 section 3.2 (RSA, EC) and RFC 8037 section 2 (OKP): the members a thumbprint hashes.
_THUMBPRINT_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "oct": ("k", "kty"),
}

_KEK_BYTES: Final = 32
_NONCE_BYTES: Final = 12
_BLOB_VERSION: Final = 1
_BASE64URL_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class KeyState(enum.StrEnum):
    NEXT = "next"
    CURRENT = "current"
    RETIRED = "retired"


class KeyDecryptionError(Exception):
    """A stored private key could not be recovered: wrong KEK, tampered blob or a blob from another row."""


class WrongKeyEncryptionKey(KeyDecryptionError):
    """The AES-GCM tag did not verify: another KEK, or data tampered with or copied from another key."""


class NoSigningKey(LookupError):
    """The key set has no CURRENT key for the requested algorithm."""


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding)."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError(f"cannot compute a thumbprint for key type {kty!r}")
    missing = [name for name in members if not isinstance(jwk.get(name), str)]
    if missing:
        raise ValueError(f"JWK is missing required member(s) {', '.join(missing)}")
    canonical = json.dumps(
        {name: jwk[name] for name in members}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_members(private_key: PrivateKey) -> dict[str, str]:
    """The public JWK members of a private key, picked by name so no private member can slip through."""
    jwk: dict[str, Any]
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {name: str(jwk[name]) for name in _THUMBPRINT_MEMBERS[str(jwk["kty"])]}


def _check_key_matches_alg(alg: str, private_key: object) -> None:
    if alg == "RS256":
        ok = isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size >= _RSA_BITS
    elif alg == "ES256":
        ok = isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(private_key.curve, ec.SECP256R1)
    elif alg == "EdDSA":
        ok = isinstance(private_key, ed25519.Ed25519PrivateKey)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}; expected one of {', '.join(ALGORITHMS)}")
    if not ok:
        raise ValueError(f"private key of type {type(private_key).__name__} cannot sign {alg}")


def _generate_private_key(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=_RSA_EXPONENT, key_size=_RSA_BITS)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {alg!r}; expected one of {', '.join(ALGORITHMS)}")


@dataclass(frozen=True)
class SigningKey:
    """A private signing key; `kid` is the RFC 7638 thumbprint of its public JWK."""

    kid: str
    alg: str
    # Excluded from repr so a logged key never shows more than its kid, and from eq because the
    # kid (a hash of the public key) already identifies it.
    private_key: PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key_matches_alg(self.alg, self.private_key)

    @classmethod
    def generate(cls, alg: str) -> SigningKey:
        private_key = _generate_private_key(alg)
        return cls(kid=thumbprint(_public_members(private_key)), alg=alg, private_key=private_key)

    def public_jwk(self) -> dict[str, str]:
        return {**_public_members(self.private_key), "kid": self.kid, "alg": self.alg, "use": "sig"}

    def to_pyjwk(self) -> jwt.PyJWK:
        """The public key, pinned to `alg`, for verification."""
        return jwt.PyJWK(self.public_jwk(), algorithm=self.alg)


def parse_kek(value: str) -> bytes:
    """Decode a key-encryption key given as base64url (padding optional) of exactly 32 bytes."""
    text = value.strip()
    if not text:
        raise ValueError("key-encryption key is empty")
    unpadded = text.rstrip("=")
    if len(text) - len(unpadded) > 2 or not set(unpadded) <= _BASE64URL_ALPHABET:
        raise ValueError("key-encryption key is not base64url (A-Z, a-z, 0-9, '-', '_')")
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("key-encryption key is not valid base64url") from None
    if len(raw) != _KEK_BYTES:
        raise ValueError(f"key-encryption key must decode to {_KEK_BYTES} bytes, got {len(raw)}")
    return raw


def generate_kek() -> str:
    return _b64url(secrets.token_bytes(_KEK_BYTES))


def _aead(kek: bytes) -> AESGCM:
    if len(kek) != _KEK_BYTES:
        raise ValueError(f"key-encryption key must be {_KEK_BYTES} bytes")
    return AESGCM(kek)


def _associated_data(kid: str, alg: str) -> bytes:
    # Binding kid and alg (and the format version) means a blob copied onto another key row fails
    # authentication instead of silently signing under the wrong kid.
    return json.dumps({"alg": alg, "kid": kid, "v": _BLOB_VERSION}, sort_keys=True).encode()


def encrypt_private_key(key: SigningKey, kek: bytes) -> bytes:
    """AES-256-GCM of the PKCS#8 private key: version byte || 96-bit nonce || ciphertext+tag."""
    plaintext = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = secrets.token_bytes(_NONCE_BYTES)
    ciphertext = _aead(kek).encrypt(nonce, plaintext, _associated_data(key.kid, key.alg))
    return bytes([_BLOB_VERSION]) + nonce + ciphertext


def _load_private_key(der: bytes) -> PrivateKey:
    private_key = serialization.load_der_private_key(der, password=None)
    if not isinstance(private_key, PrivateKey):
        raise TypeError(f"unsupported private key type {type(private_key).__name__}")
    return private_key


def decrypt_private_key(blob: bytes, *, kid: str, alg: str, kek: bytes) -> SigningKey:
    aead = _aead(kek)
    if len(blob) <= 1 + _NONCE_BYTES or blob[0] != _BLOB_VERSION:
        raise KeyDecryptionError(f"signing key {kid}: unrecognised encrypted key format")
    nonce, ciphertext = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        plaintext = aead.decrypt(nonce, ciphertext, _associated_data(kid, alg))
    except InvalidTag:
        raise WrongKeyEncryptionKey(
            f"signing key {kid}: wrong key-encryption key, tampered data, or data from another key"
        ) from None
    try:
        key = SigningKey(kid=kid, alg=alg, private_key=_load_private_key(plaintext))
    except (ValueError, TypeError) as exc:
        raise KeyDecryptionError(f"signing key {kid}: decrypted data is not a {alg} key ({exc})") from None
    if thumbprint(_public_members(key.private_key)) != kid:
        raise KeyDecryptionError(f"signing key {kid}: decrypted key does not match its kid")
    return key


@dataclass(frozen=True)
class KeyEncryptionKeys:
    """The KEK everything is encrypted under, and during a KEK change the one it replaces, which still decrypts
    what has not been re-encrypted yet."""

    current: bytes = field(repr=False)
    previous: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for kek in (self.current, self.previous):
            if kek is not None:
                _aead(kek)  # checks the length

    def encrypt(self, key: SigningKey) -> bytes:
        return encrypt_private_key(key, self.current)

    def decrypt(self, blob: bytes, *, kid: str, alg: str) -> tuple[SigningKey, bool]:
        """The key, and whether it is stored under the current KEK (False: under the previous one).

        Only a tag that fails under the current KEK sends it to the previous one: AES-GCM authenticates, so
        the tag tells which KEK is right, and a blob that is damaged otherwise is an error either way."""
        try:
            return decrypt_private_key(blob, kid=kid, alg=alg, kek=self.current), True
        except WrongKeyEncryptionKey:
            if self.previous is None:
                raise
        return decrypt_private_key(blob, kid=kid, alg=alg, kek=self.previous), False

    def seal(self, secret: bytes, *, bound_to: str) -> bytes:
        """Another secret kept at rest (a TOTP key): AES-256-GCM under the current KEK, in the format of signing keys'
        blobs, bound to `bound_to` (the row it belongs to) so a blob copied onto another row fails to open."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return bytes([_BLOB_VERSION]) + nonce + _aead(self.current).encrypt(nonce, secret, _sealed_data(bound_to))

    def open(self, blob: bytes, *, bound_to: str) -> tuple[bytes, bool]:
        """What `seal` sealed for `bound_to`, and whether it is under the current KEK (False: the previous one);
        KeyDecryptionError when neither opens it (another KEK, tampered, or from another row)."""
        if len(blob) <= 1 + _NONCE_BYTES or blob[0] != _BLOB_VERSION:
            raise KeyDecryptionError(f"sealed secret of {bound_to}: unrecognised format")
        nonce, ciphertext = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        for kek in (self.current, self.previous):
            if kek is not None:
                try:
                    return _aead(kek).decrypt(nonce, ciphertext, _sealed_data(bound_to)), kek is self.current
                except InvalidTag:
                    continue
        raise WrongKeyEncryptionKey(f"sealed secret of {bound_to}: wrong key-encryption key, or tampered")


def _sealed_data(bound_to: str) -> bytes:
    # Unlike a signing key's (alg and kid), so no sealed secret can pass for a private key or the other way round.
    return json.dumps({"sealed": bound_to, "v": _BLOB_VERSION}, sort_keys=True).encode()


@dataclass(frozen=True)
class StoredKey:
    """A signing key with its rotation state, as kept in the database."""

    key: SigningKey
    state: KeyState
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("created_at", "activated_at", "retired_at"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"StoredKey.{name} must be timezone-aware")

    @property
    def kid(self) -> str:
        return self.key.kid

    @property
    def alg(self) -> str:
        return self.key.alg


_JWKS_ORDER: Final = {KeyState.CURRENT: 0, KeyState.NEXT: 1, KeyState.RETIRED: 2}


@dataclass(frozen=True)
class KeySet:
    """Every published key; CURRENT keys sign, all of them verify."""

    keys: tuple[StoredKey, ...]

    def signing_key(self, alg: str) -> SigningKey:
        current = [k for k in self.keys if k.alg == alg and k.state is KeyState.CURRENT]
        if not current:
            raise NoSigningKey(f"no current {alg} signing key")
        # Exactly one is expected; if a race left two, the newest wins on every replica alike.
        newest = max(current, key=lambda k: (k.activated_at or k.created_at, k.kid))
        return newest.key

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        ordered = sorted(self.keys, key=lambda k: _JWKS_ORDER[k.state])
        return {"keys": [k.key.public_jwk() for k in ordered]}

    @cached_property
    def _verification_keys(self) -> dict[str, jwt.PyJWK]:
        # NEXT keys verify too: another replica may already have promoted one and signed with it.
        return {k.kid: k.key.to_pyjwk() for k in self.keys}

    def public_key(self, kid: str) -> jwt.PyJWK | None:
        return self._verification_keys.get(kid)
