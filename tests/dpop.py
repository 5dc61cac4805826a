"""DPoP proofs made by hand for the tests (RFC 9449 section 4.2), signed with pyjwt; thumbprints (RFC 7638) computed
by joserfc, a library independent of the server's own code. Authlib has no DPoP support to check against."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _public_jwk(private_key: PrivateKey) -> dict[str, Any]:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif isinstance(private_key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return jwk


def ath(access_token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()


@dataclass
class DPoPKey:
    """A client's DPoP key pair, making proofs for requests."""

    alg: str = "ES256"
    private_key: PrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def rsa(cls, bits: int = 2048, alg: str = "PS256") -> DPoPKey:
        return cls(alg, rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def ed25519(cls) -> DPoPKey:
        return cls("EdDSA", ed25519.Ed25519PrivateKey.generate())

    @property
    def jwk(self) -> dict[str, Any]:
        return _public_jwk(self.private_key)

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint, by joserfc."""
        kind = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}[self.jwk["kty"]]
        return str(kind.import_key(self.jwk).thumbprint())

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        drop: tuple[str, ...] = (),
        signer: PrivateKey | None = None,
        **claims: Any,
    ) -> str:
        """A proof for `method` `url` (section 4.2); `claims` override or add claims, `header` header members,
        `drop` removes claims, `signer` signs with another key than the one the header names."""
        body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if access_token is not None:
            body["ath"] = ath(access_token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        headers = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        alg = headers.pop("alg", self.alg)
        with warnings.catch_warnings():
            # The tests make proofs with keys too short on purpose.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            return jwt.encode(body, signer or self.private_key, algorithm=alg, headers=headers)
