"""A software WebAuthn authenticator and client for the tests (WebAuthn Level 2 sections 5.1.3-5.1.4, 6.1, 6.5):
it answers the server's options as a browser and authenticator would, and can be told to lie (another origin, another
RP ID, an old counter, no user verification), so the server's checks are tested over real HTTP. Keys come from
`cryptography`; CBOR from py_webauthn's helper."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import encode_cbor

UP, UV, BE, AT = 0x01, 0x04, 0x08, 0x40
_OPTIONS = re.compile(r'data-options="([^"]*)"')


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page_options(page: str) -> dict[str, Any]:
    """The WebAuthn options a ceremony page hands its script (the form's data-options attribute)."""
    match = _OPTIONS.search(page)
    assert match is not None, f"no WebAuthn options on the page: {page[:500]}"
    options: dict[str, Any] = orjson.loads(html.unescape(match[1]))
    return options


@dataclass
class SoftAuthenticator:
    """One credential on one authenticator: an ES256 key pair, its id, its counter and (once registered) the user
    handle it stores, as a resident key does."""

    origin: str
    rp_id: str
    backup_eligible: bool = False
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0
    user_handle: bytes | None = None

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return orjson.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        )

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        # RFC 9053 / WebAuthn L2 section 6.5.1.1: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _flags(self, *, user_verified: bool) -> int:
        return UP | (UV if user_verified else 0) | (BE if self.backup_eligible else 0)

    def create(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None) -> dict[str, Any]:
        """navigator.credentials.create() answered: a "none" attestation (section 8.7) of a new credential."""
        assert options["rp"]["id"] == self.rp_id
        self.user_handle = from_b64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + bytes([self._flags(user_verified=True) | AT])
            + struct.pack(">I", self.sign_count)
            + attested
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["usb"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_verified: bool = True,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get() answered: an assertion (section 6.3.3) signed over authenticatorData and the
        hash of clientDataJSON. The counter goes up by one unless `sign_count` is given."""
        allowed = [from_b64url(c["id"]) for c in options.get("allowCredentials") or []]
        assert not allowed or self.credential_id in allowed, "the server did not offer this credential"
        self.sign_count = sign_count if sign_count is not None else self.sign_count + 1
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + bytes([self._flags(user_verified=user_verified)])
            + struct.pack(">I", self.sign_count)
        )
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        handle = user_handle if user_handle is not None else self.user_handle
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(handle) if handle is not None else None,
            },
        }
