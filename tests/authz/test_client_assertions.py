"""The client assertion's checks (authz/clients/assertions.py) as pure functions, without HTTP: RFC 7523 section 3
and OpenID Connect Core section 9. Over HTTP, with the key lookup and the jti store: test_private_key_jwt.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from authorium_shared.keys import SigningKey
from authz.clients.assertions import (
    LEEWAY,
    MAX_LIFETIME,
    AssertionRejected,
    accepted_audiences,
    assertion_kid,
    unverified_subject,
    verify_assertion,
)
from authz.clients.keysets import ClientKeySets
from tests.processes import free_port

ISSUER = "https://auth.example"
TOKEN_ENDPOINT = ISSUER + "/token"
AUDIENCES = accepted_audiences(ISSUER, TOKEN_ENDPOINT, ISSUER + "/revoke")
CLIENT_ID = "service-1"


@pytest.fixture(scope="module", params=["ES256", "RS256", "EdDSA"])
def key(request: pytest.FixtureRequest) -> SigningKey:
    return SigningKey.generate(request.param)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "aud": ISSUER,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 60,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: SigningKey, body: dict[str, Any], **header: Any) -> str:
    return jwt.encode(body, key.private_key, algorithm=key.alg, headers={"kid": key.kid, **header})


def forged_hs256(key: SigningKey, body: dict[str, Any]) -> str:
    """An HS256 token keyed with `key`'s public PEM: the algorithm confusion attack (RFC 8725 section 2.1). pyjwt
    refuses to make one (a PEM as an HMAC secret), so it is put together by hand, as an attacker would."""
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = b".".join(
        base64url_encode(json.dumps(part).encode()) for part in ({"alg": "HS256", "kid": key.kid}, body)
    )
    mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64url_encode(mac)).decode()


def check(key: SigningKey, assertion: str) -> None:
    verify_assertion(assertion, key.to_pyjwk(), client_id=CLIENT_ID, audiences=AUDIENCES)


def rejected(key: SigningKey, assertion: str) -> AssertionRejected:
    with pytest.raises(AssertionRejected) as caught:
        check(key, assertion)
    return caught.value


@pytest.mark.parametrize("aud", [ISSUER, TOKEN_ENDPOINT, ISSUER + "/revoke", ["https://other.example", ISSUER]])
def test_rfc7523_section_3_an_assertion_for_this_server_verifies(key: SigningKey, aud: object) -> None:
    """RFC 7523 section 3: signed by the client's key, iss = sub = client_id, aud naming this server (the issuer,
    or the token endpoint or the endpoint called, OIDC Core 9), a near expiry: accepted; the jti comes back."""
    body = claims(aud=aud)
    verified = verify_assertion(sign(key, body), key.to_pyjwk(), client_id=CLIENT_ID, audiences=AUDIENCES)
    assert verified.jti == body["jti"]
    assert verified.exp == body["exp"]


@pytest.mark.parametrize("aud", ["https://other.example", ISSUER + "/", [TOKEN_ENDPOINT + "x"], 7, None])
def test_rfc7523_section_3_item_3_wrong_audience(key: SigningKey, aud: object) -> None:
    """RFC 7523 section 3 item 3: the JWT MUST contain an aud identifying the authorization server; another
    server's, a look-alike, a non-string, or none is rejected."""
    error = rejected(key, sign(key, claims(aud=aud)))
    assert error.reason in ("wrong audience", "missing aud")
    assert error.proven


def test_rfc7523_section_3_item_1_and_2_iss_and_sub_must_be_the_client(key: SigningKey) -> None:
    """RFC 7523 sections 3 items 1-2 and 2.2: iss and sub are both the client_id (OIDC Core 9)."""
    assert rejected(key, sign(key, claims(iss="someone-else"))).reason == "wrong issuer"
    assert rejected(key, sign(key, claims(sub="someone-else"))).reason == "sub must be the client_id"
    assert rejected(key, sign(key, claims(sub=None))).reason == "missing sub"


def test_rfc7523_section_3_item_4_expired_assertion(key: SigningKey) -> None:
    """RFC 7523 section 3 item 4: the JWT MUST contain an exp, and is rejected once it has passed (beyond a small
    leeway for clock skew)."""
    now = int(time.time())
    assert rejected(key, sign(key, claims(iat=now - 200, exp=now - LEEWAY - 5))).reason == "expired"
    assert rejected(key, sign(key, claims(exp=None))).reason == "missing exp"


def test_rfc7523_section_3_item_4_too_long_lived_assertion(key: SigningKey) -> None:
    """RFC 7523 section 3 item 4: the server MAY reject JWTs with an exp unreasonably far in the future; here any
    lifetime over MAX_LIFETIME, whether measured from now or from iat."""
    now = int(time.time())
    assert "lives too long" in rejected(key, sign(key, claims(iat=None, exp=now + 3600))).reason
    assert "lives too long" in rejected(key, sign(key, claims(iat=now - 100, exp=now + MAX_LIFETIME))).reason
    check(key, sign(key, claims(iat=now, exp=now + MAX_LIFETIME)))


def test_rfc7523_section_3_item_6_iat_in_the_future(key: SigningKey) -> None:
    """RFC 7523 section 3 item 6: the server MAY reject JWTs with an iat unreasonably far in the past or future:
    beyond the leeway, an assertion made in the future is refused; nbf in the future likewise (item 5)."""
    now = int(time.time())
    assert rejected(key, sign(key, claims(iat=now + 120, exp=now + 150))).reason in (
        "issued in the future",
        "not yet valid",
    )
    assert rejected(key, sign(key, claims(nbf=now + 120, exp=now + 150))).reason == "not yet valid"


def test_rfc7523_section_3_item_7_jti_is_required(key: SigningKey) -> None:
    """RFC 7523 section 3 item 7 and OIDC Core 9: jti is REQUIRED here, so that the assertion can be used once."""
    assert rejected(key, sign(key, claims(jti=None))).reason == "missing jti"
    assert rejected(key, sign(key, claims(jti=12))).reason in (
        "malformed",
        "jti must be a string of 1 to 256 characters",
    )
    assert "jti must be" in rejected(key, sign(key, claims(jti="x" * 300))).reason


def test_rfc7523_section_3_item_9_signature_by_another_key(key: SigningKey) -> None:
    """RFC 7523 section 3 item 9: the JWT MUST be digitally signed by the client; a key the client did not register
    (even with the registered key's kid) fails, and without saying more than that (`proven` is False)."""
    other = SigningKey.generate(key.alg)
    forged = jwt.encode(claims(), other.private_key, algorithm=key.alg, headers={"kid": key.kid})
    error = rejected(key, forged)
    assert error.reason == "bad signature"
    assert not error.proven


def test_rfc7523_section_3_item_9_hmac_with_the_public_key_as_secret(key: SigningKey) -> None:
    """RFC 7523 section 3 item 9 with RFC 8725 section 3.1: only the asymmetric algorithms are allowed. An HS256
    token whose secret is the client's public key (the classic algorithm confusion) and an unsigned one (`none`)
    are both refused before any key is used."""
    confused = forged_hs256(key, claims())
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": key.kid})  # type: ignore[arg-type]
    for token in (confused, unsigned):
        with pytest.raises(AssertionRejected, match="algorithm not allowed"):
            assertion_kid(token)
        assert rejected(key, token).reason == "algorithm not allowed"


def test_the_client_is_found_by_the_assertions_sub() -> None:
    """RFC 7523 section 3 item 2: sub names the client; it is read (unverified) only to look the client up, and
    anything that is not a JWT with a string sub finds nobody."""
    key = SigningKey.generate("ES256")
    assert unverified_subject(sign(key, claims())) == CLIENT_ID
    assert unverified_subject(sign(key, claims(sub=5))) is None
    for junk in ("", "a.b.c", "x" * 10000, "é.é.é", "eyJhbGciOiJub25lIn0.e30"):
        assert unverified_subject(junk) is None


async def test_jwks_uri_caches_are_bounded_in_memory() -> None:
    """One JWKS cache per client jwks_uri (RFC 7591 section 2), at most `max_uris` of them: the least recently used
    is dropped, so clients registering many URIs cannot grow a replica's memory. A URI that answers nothing gives no
    key (fail closed)."""
    async with aiohttp.ClientSession() as session:
        keysets = ClientKeySets(session, max_uris=3)
        uris = [f"http://127.0.0.1:{free_port()}/jwks-{n}.json" for n in range(5)]
        for uri in uris:
            assert await keysets.key(None, uri, "kid") is None
        assert len(keysets) == 3
        assert await keysets.key({"keys": "not a list"}, None, "kid") is None
        assert await keysets.key(None, None, "kid") is None


@pytest.mark.parametrize("alg", ["PS256", "ES384"])
def test_rfc7523_section_3_item_9_clients_may_sign_with_ps256_and_es384(alg: str) -> None:
    """RFC 7518 section 3.1: the asymmetric algorithms a client's registered key may be for (RFC 7591 `jwks`) beyond
    the ones this server signs with: PS256 (a key registered with `"alg": "PS256"`) and ES384 (a P-384 key)."""
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg == "PS256":
        private = rsa.generate_private_key(65537, 2048)
        public = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        private = ec.generate_private_key(ec.SECP384R1())
        public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    key = jwt.PyJWK({**public, "kid": "k1", "alg": alg})
    assertion = jwt.encode(claims(), private, algorithm=alg, headers={"kid": "k1"})
    assert assertion_kid(assertion) == "k1"
    verify_assertion(assertion, key, client_id=CLIENT_ID, audiences=AUDIENCES)
    if isinstance(private, rsa.RSAPrivateKey):
        # The same RSA key, used with the algorithm it was not registered for, is refused (RFC 8725 section 3.1).
        mismatched = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "k1"})
        with pytest.raises(AssertionRejected, match="algorithm mismatch"):
            verify_assertion(mismatched, key, client_id=CLIENT_ID, audiences=AUDIENCES)
