"""The demo's DPoP key for one browser session (RFC 9449), when the person chose "sign in with DPoP": made at the
start of the sign-in, kept in the server-side session (never in the browser), and used to sign a proof (section
4.2) for every token, userinfo and API request of that session."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from authorium_shared.keys import thumbprint

ALG = "ES256"


class ProofKey:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._private_key = private_key
        public: dict[str, Any] = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.jwk = {name: public[name] for name in ("kty", "crv", "x", "y")}
        # RFC 7638: what the tokens are bound to (`cnf.jkt`), and the authorization request's `dpop_jkt`.
        self.jkt = thumbprint(self.jwk)

    def __repr__(self) -> str:
        return f"ProofKey(jkt={self.jkt})"

    @classmethod
    def generate(cls) -> ProofKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def stored(self) -> str:
        """The private key as a JWK, for the session in Redis (the browser never sees it)."""
        return str(ECAlgorithm.to_jwk(self._private_key))

    @classmethod
    def from_stored(cls, value: str) -> ProofKey:
        key = ECAlgorithm.from_jwk(value)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the stored DPoP key is not an EC private key")
        return cls(key)

    def proof(self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None) -> str:
        """A proof for one request (section 4.2): `url` without its query and fragment; `ath` with an access
        token; the server's `nonce` when it asked for one (sections 8 and 9)."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(time.time()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._private_key, algorithm=ALG, headers={"typ": "dpop+jwt", "jwk": self.jwk})
