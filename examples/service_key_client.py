"""An internal service that authenticates with a key pair and no secret: private_key_jwt (RFC 7523 section 2.2).

It signs a short-lived JWT for each token request (the client assertion) with its private key; the authorization
server checks it against the public key registered for the client. Nothing secret is ever sent or registered.

1. Make a key; the private key goes to a file only this service reads, the public JWK Set to standard output:

       python examples/service_key_client.py keygen service-key.pem > service-jwks.json

2. Register the client with the public keys (it gets no client_secret):

       authorium client create --name reporter --grant-type client_credentials --scope "notes:read notes:admin" \\
           --auth-method private_key_jwt --jwks-file service-jwks.json --json

3. Get a token with a signed assertion and call the notes API:

       SERVICE_CLIENT_ID=... SERVICE_KEY_FILE=service-key.pem python examples/service_key_client.py call [owner-sub]
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = os.environ.get("AUTHORIUM_ISSUER", "http://127.0.0.1:8000")
API = os.environ.get("NOTES_API_URL", "http://127.0.0.1:8001")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The server accepts assertions that live at most 5 minutes; one minute is plenty for a request made now.
ASSERTION_LIFETIME = 60


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The public half as a JWK, its `kid` the RFC 7638 thumbprint (so the same key always has the same kid)."""
    jwk: dict[str, str] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    canonical = json.dumps({name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "use": "sig", "alg": "ES256"}


def keygen(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Created readable by this user only, before anything is written to it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    print(json.dumps({"keys": [public_jwk(key)]}, indent=2))


def client_assertion(key: ec.EllipticCurvePrivateKey, client_id: str, audience: str) -> str:
    """RFC 7523 section 3: iss and sub the client, aud the authorization server's issuer identifier, a short expiry
    and a fresh jti (each assertion is accepted once)."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": public_jwk(key)["kid"]})


async def token(session: aiohttp.ClientSession, key: ec.EllipticCurvePrivateKey, client_id: str, scope: str) -> str:
    async with session.get(f"{ISSUER}/.well-known/oauth-authorization-server") as resp:
        resp.raise_for_status()
        meta = await resp.json()
    form = {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(key, client_id, meta["issuer"]),
    }
    async with session.post(meta["token_endpoint"], data=form) as resp:
        body: dict[str, Any] = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"token request failed: {body.get('error')}: {body.get('error_description')}")
    return str(body["access_token"])


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SystemExit("SERVICE_KEY_FILE must hold an EC private key (made by `keygen`)")
    return key


async def call(key: ec.EllipticCurvePrivateKey, owner: str | None) -> None:
    client_id = os.environ["SERVICE_CLIENT_ID"]
    async with aiohttp.ClientSession() as session:
        access_token = await token(session, key, client_id, os.environ.get("SERVICE_SCOPE", "notes:read notes:admin"))
        headers = {"Authorization": f"Bearer {access_token}"}
        async with session.get(API + "/api/me", headers=headers) as resp:
            resp.raise_for_status()
            print("me:", await resp.json())
        if owner is not None:
            async with session.get(API + "/api/notes", params={"owner": owner}, headers=headers) as resp:
                resp.raise_for_status()
                notes = await resp.json()
            print(f"{len(notes['notes'])} note(s) of {owner}")


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "keygen":
        keygen(Path(argv[1]))
    elif argv and argv[0] == "call" and len(argv) <= 2:
        asyncio.run(call(load_key(Path(os.environ["SERVICE_KEY_FILE"])), argv[1] if len(argv) == 2 else None))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
