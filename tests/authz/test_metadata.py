"""Discovery (RFC 8414, OIDC Discovery) and the JWK Set (RFC 7517) over HTTP."""

from __future__ import annotations

import aiohttp
import asyncpg
import jwt

from authorium_shared.jwt import encode, verify
from authorium_shared.keys import KeySet, parse_kek
from authz.repositories.keys import KeyRepository

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def test_both_discovery_documents_name_the_configured_issuer(authz: str, http: aiohttp.ClientSession) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        async with http.get(authz + path) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            meta = await resp.json()
        assert meta["issuer"] == authz
        assert meta["jwks_uri"] == authz + "/jwks.json"


async def test_metadata_advertises_only_what_is_implemented(authz: str, http: aiohttp.ClientSession) -> None:
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        meta = await resp.json()
    for path_key in [k for k in meta if k.endswith("_endpoint")]:
        async with http.post(meta[path_key]) as resp:
            assert resp.status != 404, f"{path_key} is advertised but not served"


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
    stored = await KeyRepository(parse_kek(environ["AUTHORIUM_KEK"])).load(db)
    signing = KeySet(tuple(stored)).signing_key("RS256")
    token = encode({"iss": authz, "sub": "x", "exp": 4102444800, "iat": 1}, signing, typ="at+jwt")
    async with http.get(authz + "/jwks.json") as resp:
        published = jwt.PyJWKSet.from_dict(await resp.json())
    key = next(k for k in published.keys if k.key_id == signing.kid)
    claims = verify(token, key, algorithms=["RS256"], issuer=authz, audience=None, typ="at+jwt")
    assert claims["sub"] == "x"
