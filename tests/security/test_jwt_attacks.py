"""Attacks on the resource server's access-token verification (RFC 8725, RFC 9068 section 4), over HTTP against
real servers: tokens that name their own key, kid tricks, other RSA algorithms with the real key, oversized and
deeply nested tokens, `crit`, and duplicated members. Each must be an RFC 6750 refusal, never a 200 or a 500.

Covered in tests/resource/test_bearer.py and not repeated here: alg none, HS256 keyed with the public key (PEM
and JWK bytes), a foreign key under the published kid, wrong `typ`, expired and not-yet-valid tokens, wrong
`iss`/`aud`, an ID token as an access token, a token of another issuer."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from jwt.utils import base64url_encode

from authorium_shared.jwt import MAX_TOKEN_BYTES
from authorium_shared.keys import SigningKey
from tests.resource.conftest import bearer, claims_for, current_key, expect_refusal
from tests.resource.test_bearer import _refused_as_invalid
from tests.servers import bound_socket, serve, url_of

AT_JWT = "at+jwt"


@pytest.fixture(scope="module")
async def key(module_db: asyncpg.Pool, module_environ: dict[str, str]) -> SigningKey:
    """The authorization server's current RS256 key: a token it signs has a valid signature."""
    return await current_key(module_db, module_environ)


def signed(key: SigningKey, header: str, claims: str) -> str:
    """A compact JWS over exactly these header and claims texts (duplicates and all), signed RS256 by `key`."""
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    signing_input = base64url_encode(header.encode()) + b"." + base64url_encode(claims.encode())
    signature = key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + base64url_encode(signature)).decode()


def header_of(key: SigningKey, **extra: Any) -> dict[str, Any]:
    return {"alg": "RS256", "kid": key.kid, "typ": AT_JWT, **extra}


# RFC 8725 section 3.10: a kid used for a lookup must not become a path, a URL or a piece of SQL.
@pytest.mark.parametrize(
    "kid",
    [
        "../../../../../../etc/passwd",
        "../jwks.json",
        "..%2F..%2Fjwks.json",
        "/dev/null",
        "file:///etc/passwd",
        "http://127.0.0.1:1/jwks.json",
        "' OR '1'='1",
        "'; DROP TABLE signing_keys; --",
        "x' UNION SELECT private_key FROM signing_keys --",
        "\x00",
        "k" * 129,
        "",
    ],
)
async def test_kid_tricks_name_no_key(
    api: str, authz: str, module_http: aiohttp.ClientSession, key: SigningKey, kid: str
) -> None:
    token = jwt.encode(claims_for(authz), key.private_key, algorithm="RS256", headers={"kid": kid, "typ": AT_JWT})
    params = await expect_refusal(
        module_http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(token)
    )
    assert params["error_description"].endswith(("unknown kid", "bad kid")), params


@dataclass(frozen=True)
class Attacker:
    """A server of the attacker's publishing its own key (as a JWKS at every path), and what was fetched from it."""

    url: str
    key: rsa.RSAPrivateKey
    kid: str
    jwk: dict[str, Any]
    fetched: list[str]


@pytest.fixture
async def attacker() -> AsyncIterator[Attacker]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": "attacker-key", "use": "sig"}
    fetched: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/{tail:.*}", anything)
    sock = bound_socket()
    try:
        async with serve(app, sock):
            yield Attacker(url_of(sock), key, jwk["kid"], jwk, fetched)
    finally:
        sock.close()


def self_signed_certificate(key: rsa.RSAPrivateKey) -> str:
    """An x5c entry (RFC 7515 section 4.1.6, base64 DER): the attacker's key in a certificate it signed itself."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authorium issuer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


@pytest.mark.parametrize("kid_choice", ["attacker", "published", "none"])
async def test_keys_a_token_names_for_itself_are_never_used_or_fetched(
    api: str,
    authz: str,
    module_http: aiohttp.ClientSession,
    key: SigningKey,
    attacker: Attacker,
    kid_choice: str,
) -> None:
    """jwk, jku, x5u and x5c carry the attacker's key here, and the token is signed by it: a verifier that trusted
    any of them would accept the forgery, and one that followed jku or x5u could be made to fetch any URL
    (RFC 8725 section 3.10)."""
    headers: dict[str, Any] = {
        "typ": AT_JWT,
        "jwk": attacker.jwk,
        "jku": f"{attacker.url}/jwks.json",
        "x5u": f"{attacker.url}/cert.pem",
        "x5c": [self_signed_certificate(attacker.key)],
    }
    kid = {"attacker": attacker.kid, "published": key.kid, "none": None}[kid_choice]
    if kid is not None:
        headers["kid"] = kid
    token = jwt.encode(claims_for(authz), attacker.key, algorithm="RS256", headers=headers)
    assert jwt.get_unverified_header(token).get("kid") == kid
    reason = {"attacker": "unknown kid", "published": "bad signature", "none": "bad kid"}[kid_choice]
    await _refused_as_invalid(module_http, api, token, reason)
    assert attacker.fetched == [], "the resource server fetched a URL the token named"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS512"])
async def test_other_rsa_algorithms_with_the_real_key_are_refused(
    api: str, authz: str, module_http: aiohttp.ClientSession, key: SigningKey, alg: str
) -> None:
    """Only the algorithm the key is published for is honoured (RFC 8725 section 3.1), even with a good signature."""
    token = jwt.encode(claims_for(authz), key.private_key, algorithm=alg, headers={"kid": key.kid, "typ": AT_JWT})
    await _refused_as_invalid(module_http, api, token, "algorithm not allowed")


async def test_a_huge_token_is_refused_before_it_is_parsed(
    api: str, authz: str, module_http: aiohttp.ClientSession, key: SigningKey
) -> None:
    """100 kB, validly signed: the HTTP layer turns it away (431/400) without reading it as a token."""
    token = jwt.encode(claims_for(authz, pad="x" * 75_000), key.private_key, algorithm="RS256", headers=header_of(key))
    assert len(token) > 100_000
    async with module_http.get(api + "/api/me", headers=bearer(token)) as resp:
        body = await resp.text()
        assert resp.status in (400, 431), (resp.status, body[:200])
    assert "forged" not in body


async def test_a_token_just_over_the_verifiers_limit_gets_an_rfc6750_refusal(
    api: str, authz: str, module_http: aiohttp.ClientSession, key: SigningKey
) -> None:
    token = jwt.encode(claims_for(authz, pad="x" * 6200), key.private_key, algorithm="RS256", headers=header_of(key))
    assert MAX_TOKEN_BYTES < len(token) < 2 * MAX_TOKEN_BYTES
    await _refused_as_invalid(module_http, api, token, "too large")


# Deeper than Python's JSON parser recurses (sys.getrecursionlimit() is 1000), and small enough to be sent.
DEPTH = 1500


@pytest.mark.parametrize("where", ["header", "claims"])
async def test_deeply_nested_json_is_malformed(
    api: str, authz: str, module_http: aiohttp.ClientSession, key: SigningKey, where: str
) -> None:
    nested = "[" * DEPTH + "]" * DEPTH
    header, claims = json.dumps(header_of(key)), json.dumps(claims_for(authz))
    if where == "header":
        header = header[:-1] + f', "x": {nested}}}'
    else:
        claims = claims[:-1] + f', "x": {nested}}}'
    token = signed(key, header, claims)
    assert len(token) < 8000
    await _refused_as_invalid(module_http, api, token, "malformed")


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"crit": ["exp"]}, "unsupported crit"),
        ({"crit": []}, "unsupported crit"),
        ({"crit": "exp"}, "unsupported crit"),
        ({"crit": ["x-unknown"], "x-unknown": True}, "unsupported crit"),
        # RFC 7797's unencoded payload: pyjwt's parser already refuses the header as malformed.
        ({"crit": ["b64"], "b64": False}, "malformed"),
    ],
    ids=["exp", "empty", "string", "unknown", "b64"],
)
async def test_a_crit_header_is_refused(
    api: str, authz: str, module_http: aiohttp.ClientSession, key: SigningKey, extra: dict[str, Any], reason: str
) -> None:
    """RFC 7515 section 4.1.11: a recipient that does not understand every extension listed must reject."""
    token = signed(key, json.dumps(header_of(key, **extra)), json.dumps(claims_for(authz)))
    await _refused_as_invalid(module_http, api, token, reason)


def _with_member_first(document: dict[str, Any], name: str, value: Any) -> str:
    """`document` as JSON with `name` also given first, set to `value`: the same member twice."""
    return "{" + json.dumps(name) + ": " + json.dumps(value) + ", " + json.dumps(document)[1:]


@pytest.mark.parametrize(
    ("part", "name", "first_value"),
    [
        ("header", "alg", "none"),
        ("header", "typ", "JWT"),
        ("header", "kid", "another-kid"),
        ("claims", "sub", "admin"),
        ("claims", "aud", "https://other-api.example"),
        ("claims", "scope", "notes:admin"),
        ("claims", "exp", 1),
    ],
)
async def test_duplicated_members_are_refused(
    api: str,
    authz: str,
    module_http: aiohttp.ClientSession,
    key: SigningKey,
    part: str,
    name: str,
    first_value: Any,
) -> None:
    """Validly signed, but one member twice: a parser keeping the first and one keeping the last would read two
    different tokens (RFC 7515 section 5.2, RFC 7519 section 4 allow rejecting, and this verifier does)."""
    header, claims = header_of(key), claims_for(authz)
    token = signed(
        key,
        _with_member_first(header, name, first_value) if part == "header" else json.dumps(header),
        _with_member_first(claims, name, first_value) if part == "claims" else json.dumps(claims),
    )
    await _refused_as_invalid(module_http, api, token, "duplicate member")
    # Without the duplicate the same token is good: the refusal is the duplicate's doing.
    async with module_http.get(
        api + "/api/me", headers=bearer(signed(key, json.dumps(header), json.dumps(claims)))
    ) as r:
        assert r.status == 200, await r.text()
