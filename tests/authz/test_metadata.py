"""Discovery (RFC 8414, OIDC Discovery) and the JWK Set (RFC 7517) over HTTP."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import jwt

from authorium_shared.jwt import encode, verify
from authorium_shared.keys import KeyEncryptionKeys, KeySet, parse_kek
from authz.signing.repository import KeyRepository
from tests.authz.conftest import AuthzFactory
from tests.processes import authorium, free_port

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def test_both_discovery_documents_name_the_configured_issuer(authz: str, http: aiohttp.ClientSession) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        async with http.get(authz + path) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            meta = await resp.json()
        assert meta["issuer"] == authz
        assert meta["jwks_uri"] == authz + "/jwks.json"


# The method each advertised endpoint is used with.
ENDPOINT_METHODS = {
    "authorization_endpoint": "GET",
    "token_endpoint": "POST",
    "revocation_endpoint": "POST",
    "introspection_endpoint": "POST",
    "userinfo_endpoint": "GET",
    "registration_endpoint": "POST",
    "pushed_authorization_request_endpoint": "POST",
    "end_session_endpoint": "GET",
    "device_authorization_endpoint": "POST",
}


async def test_metadata_advertises_only_what_is_implemented(authz: str, http: aiohttp.ClientSession) -> None:
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        meta = await resp.json()
    for path_key in [k for k in meta if k.endswith("_endpoint")]:
        async with http.post(meta[path_key]) as resp:
            assert resp.status != 404, f"{path_key} is advertised but not served"


async def test_both_documents_list_the_endpoints_and_capabilities(authz: str, http: aiohttp.ClientSession) -> None:
    documents = []
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        async with http.get(authz + path) as resp:
            assert resp.status == 200
            documents.append(await resp.json())
    assert documents[0] == documents[1]
    meta = documents[0]
    assert meta["authorization_endpoint"] == authz + "/authorize"
    for name in ("token", "revocation", "introspection", "userinfo"):
        assert meta[f"{name}_endpoint"].startswith(authz + "/"), name
    assert "registration_endpoint" not in meta
    assert meta["response_types_supported"] == ["code"]
    assert sorted(meta["grant_types_supported"]) == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",  # RFC 8628 section 4
        "urn:ietf:params:oauth:grant-type:token-exchange",  # RFC 8693 section 2.1
    ]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "RS256" in meta["id_token_signing_alg_values_supported"]  # OIDC Discovery section 3: required
    assert "openid" in meta["scopes_supported"]
    assert meta["subject_types_supported"] == ["public"]
    for key in ("token", "revocation", "introspection"):
        methods = meta[f"{key}_endpoint_auth_methods_supported"]
        assert set(methods) == {"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}, key
        # RFC 8414 section 2: required where private_key_jwt is listed; asymmetric only (RFC 7523, never none or HS*).
        algs = set(meta[f"{key}_endpoint_auth_signing_alg_values_supported"])
        assert algs == {"RS256", "ES256", "EdDSA", "ES384", "PS256"}, key
    assert meta["pushed_authorization_request_endpoint"] == authz + "/par"  # RFC 9126 section 5
    assert meta["require_pushed_authorization_requests"] is False


async def test_every_advertised_endpoint_is_served_for_its_method(
    start_authz: AuthzFactory, http: aiohttp.ClientSession
) -> None:
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN="t" * 40) as authz:
        async with http.get(authz + "/.well-known/openid-configuration") as resp:
            meta = await resp.json()
        advertised = {k for k in meta if k.endswith("_endpoint")}
        assert advertised == set(ENDPOINT_METHODS), "an advertised endpoint is missing from this test's table"
        for key, method in ENDPOINT_METHODS.items():
            # No credentials: each answers with its own refusal, never "not found" or "method not allowed".
            async with http.request(method, meta[key], allow_redirects=False) as resp:
                assert resp.status not in (404, 405), f"{key} is advertised but {method} is not served"
        async with http.get(meta["jwks_uri"]) as resp:
            assert resp.status == 200


async def test_jwks_is_a_valid_public_key_set(authz: str, http: aiohttp.ClientSession) -> None:
    async with http.get(authz + "/jwks.json") as resp:
        assert resp.status == 200
        assert "max-age=" in resp.headers["Cache-Control"]
        body = await resp.json()
    key_set = jwt.PyJWKSet.from_dict(body)
    algs = {k.algorithm_name for k in key_set.keys}
    assert {"RS256", "ES256", "EdDSA"} <= algs
    for key in body["keys"]:
        assert not PRIVATE_MEMBERS & key.keys(), f"private member in {key['kid']}"
        assert key["use"] == "sig"
    # Each algorithm has a signing key and a next key published ahead of use.
    assert len(body["keys"]) >= 6


async def test_a_token_signed_with_the_current_key_verifies_against_the_published_jwks(
    authz: str, http: aiohttp.ClientSession, environ: dict[str, str], db: asyncpg.Pool
) -> None:
    stored = await KeyRepository(KeyEncryptionKeys(parse_kek(environ["AUTHORIUM_KEK"]))).load(db)
    signing = KeySet(tuple(stored)).signing_key("RS256")
    token = encode({"iss": authz, "sub": "x", "exp": 4102444800, "iat": 1}, signing, typ="at+jwt")
    async with http.get(authz + "/jwks.json") as resp:
        published = jwt.PyJWKSet.from_dict(await resp.json())
    key = next(k for k in published.keys if k.key_id == signing.kid)
    claims = verify(token, key, algorithms=["RS256"], issuer=authz, audience=None, typ="at+jwt")
    assert claims["sub"] == "x"


async def test_an_http_issuer_off_loopback_stops_start_up_unless_allowed(
    start_authz: AuthzFactory, environ: dict[str, str]
) -> None:
    """RFC 8414 section 2: the issuer "is a URL that uses the https scheme". An http issuer is accepted on loopback
    (development) and, off loopback, only with the explicit development flag; otherwise start-up stops with one
    line naming the variable."""
    env = {**environ, "AUTHORIUM_ISSUER": "http://auth.example.test"}
    # One worker: if start-up wrongly succeeded, the timeout's kill ends the server itself, leaving no forked worker.
    result = await asyncio.to_thread(
        authorium, "serve", "authz", "--port", str(free_port()), "--workers", "1", env=env, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "AUTHORIUM_ISSUER" in result.stderr and "https" in result.stderr
    for issuer, allowed in (("http://auth.example.test", "true"), ("http://localhost:8000", "false")):
        async with (
            start_authz(AUTHORIUM_ISSUER=issuer, AUTHORIUM_ALLOW_HTTP_ISSUER=allowed) as url,
            aiohttp.ClientSession() as http,
            http.get(url + "/.well-known/openid-configuration") as resp,
        ):
            assert (await resp.json())["issuer"] == issuer
