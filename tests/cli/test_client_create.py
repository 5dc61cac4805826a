"""`authorium client create`: JSON only on stdout, and the secret stored nowhere in clear."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from authorium_shared.resources import create_redis
from tests.authz.conftest import running_authz
from tests.authz.devices import DEVICE_GRANT, codes
from tests.authz.flows import RegisteredClient
from tests.conftest import REDIS_URL
from tests.processes import authorium


async def _create(environ: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(authorium, "client", "create", *args, env=environ)
    return result.returncode, result.stdout, result.stderr


async def test_confidential_client_prints_only_json_and_stores_only_a_digest(
    environ: dict[str, str], db: asyncpg.Pool
) -> None:
    code, out, err = await _create(
        environ, "--name", "x", "--grant-type", "client_credentials", "--scope", "notes:read", "--json"
    )
    assert code == 0, err
    printed = json.loads(out)  # the whole of stdout is one JSON document
    assert set(printed) == {"client_id", "client_secret"}
    secret = printed["client_secret"]
    assert len(secret) >= 43  # 256 bits in base64url

    row = await db.fetchrow("SELECT * FROM clients WHERE client_id = $1", printed["client_id"])
    assert row is not None
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).digest()
    assert list(row["grant_types"]) == ["client_credentials"]
    assert list(row["scopes"]) == ["notes:read"]

    # Nowhere in the database or in Redis does the secret appear in clear.
    dump = await db.fetch(
        "SELECT row_to_json(t)::text AS j FROM (SELECT * FROM clients) t"
        " UNION ALL SELECT row_to_json(a)::text FROM (SELECT * FROM audit_events) a"
    )
    assert all(secret not in r["j"] for r in dump)
    redis = create_redis(REDIS_URL)
    try:
        async for key in redis.scan_iter(match=environ["AUTHORIUM_REDIS_PREFIX"] + "*"):
            value = await redis.dump(key)
            assert value is None or secret.encode() not in value
    finally:
        await redis.aclose()
    assert secret not in err


async def test_public_client_gets_no_secret(environ: dict[str, str]) -> None:
    code, out, err = await _create(
        environ, "--name", "spa", "--public", "--redirect-uri", "https://app.example/cb", "--scope", "openid", "--json"
    )
    assert code == 0, err
    assert set(json.loads(out)) == {"client_id"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grant-type", "client_credentials", "--public"], "public client cannot use client_credentials"),
        (["--grant-type", "authorization_code"], "needs at least one redirect URI"),
        (["--redirect-uri", "http://evil.example/cb"], "must use https"),
        (["--redirect-uri", "https://app.example/cb#frag"], "fragment"),
        (["--grant-type", "client_credentials", "--scope", 'bad"scope'], "scope-tokens"),
        # RFC 8707: a scope is a registered resource's, or OpenID Connect's; no API declares this one.
        (["--grant-type", "client_credentials", "--scope", "notes:read unheard:of"], "declares the scope unheard:of"),
    ],
)
async def test_invalid_registrations_are_refused_with_a_reason_and_store_nothing(
    environ: dict[str, str], db: asyncpg.Pool, args: list[str], message: str
) -> None:
    before = await db.fetchval("SELECT count(*) FROM clients")
    code, out, err = await _create(environ, "--name", "bad", *args, "--json")
    assert code == 2
    assert out == ""
    assert message in err
    assert await db.fetchval("SELECT count(*) FROM clients") == before


async def test_password_grant_is_not_even_an_option(environ: dict[str, str]) -> None:
    code, _, err = await _create(environ, "--name", "p", "--grant-type", "password", "--json")
    assert code == 2
    assert "invalid choice" in err


async def test_a_client_created_without_scope_gets_the_default_scopes(
    environ: dict[str, str], db: asyncpg.Pool
) -> None:
    """RFC 7591 section 2 (`scope`: a server MAY register a default set), as for dynamic registration: a client created
    without --scope may ask for `openid profile email offline_access`, not nothing at all."""
    code, out, err = await _create(environ, "--name", "no scope", "--redirect-uri", "https://app.example/cb", "--json")
    assert code == 0, err
    scopes = await db.fetchval("SELECT scopes FROM clients WHERE client_id = $1", json.loads(out)["client_id"])
    assert list(scopes) == ["openid", "profile", "email", "offline_access"]


# A registered resource (the notes API, AUTHORIUM_RESOURCE_URL's default): what --may-exchange-for may name.
NOTES_API = "http://127.0.0.1:8001"


async def test_a_public_device_client_is_created_and_can_ask_for_codes(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """RFC 8628: `--grant-type urn:ietf:params:oauth:grant-type:device_code` with `--public` and no redirect URI."""
    code, out, err = await _create(
        environ,
        "--name",
        "notes cli",
        "--public",
        "--grant-type",
        DEVICE_GRANT,
        "--grant-type",
        "refresh_token",
        "--scope",
        "notes:read",
        "--json",
    )
    assert code == 0, err
    printed = json.loads(out)
    assert printed.get("client_secret") is None, printed
    row = await db.fetchrow("SELECT grant_types, redirect_uris FROM clients WHERE client_id = $1", printed["client_id"])
    assert row is not None and list(row["grant_types"]) == [DEVICE_GRANT, "refresh_token"]
    assert list(row["redirect_uris"]) == []
    async with running_authz(environ) as authz:
        body = await codes(http, authz, RegisteredClient(printed["client_id"], None), scope="notes:read")
    assert body["verification_uri"] == authz + "/device"


async def test_a_private_key_jwt_client_is_registered_from_a_jwks_file_with_no_secret(
    environ: dict[str, str], db: asyncpg.Pool, tmp_path: Path
) -> None:
    """DESIGN.md's `client create --auth-method private_key_jwt --jwks-file F`: the client's public keys are stored
    (RFC 7591 section 2) and no secret is made; the other round-two flags are stored under their metadata names."""
    key = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), as_dict=True)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**key, "kid": "svc-1"}]}))
    code, out, err = await _create(
        environ,
        *("--name", "svc", "--grant-type", "client_credentials", "--scope", "notes:read"),
        *("--auth-method", "private_key_jwt", "--jwks-file", str(jwks), "--dpop-bound"),
        *("--may-exchange-for", NOTES_API, "--json"),
    )
    assert code == 0, err
    printed = json.loads(out)
    assert set(printed) == {"client_id"}
    row = await db.fetchrow("SELECT * FROM clients WHERE client_id = $1", printed["client_id"])
    assert row is not None and row["secret_hash"] is None
    assert row["jwks"]["keys"][0]["kid"] == "svc-1"
    assert row["dpop_bound_access_tokens"] is True
    assert list(row["may_exchange_for"]) == [NOTES_API]

    jwks.write_text("not json")
    code, out, err = await _create(
        environ,
        "--name",
        "svc",
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        str(jwks),
    )
    assert code == 2 and out == "" and "--jwks-file" in err
