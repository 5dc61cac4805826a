"""The device authorization endpoint (RFC 8628 sections 3.1-3.2, errors per RFC 6749 section 5.2) and its discovery
(RFC 8628 section 4), over HTTP."""

from __future__ import annotations

import hashlib
import re

import aiohttp
import asyncpg
import pytest

from authorium_shared.resources import create_redis
from tests.authz import flows
from tests.authz.devices import DEVICE_GRANT, codes, device_authorization, make_device_client, poll
from tests.conftest import REDIS_URL

USER_CODE = re.compile(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}")


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


async def test_3_2_a_public_client_gets_a_device_code_and_a_user_code(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.2: every member of the response, a user code of section 6.1's form, fresh codes each time."""
    client = await make_device_client(db)
    status, body, resp = await device_authorization(http, authz, client, scope="notes:read")
    assert status == 200, body
    assert "no-store" in resp.headers["Cache-Control"]
    assert set(body) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert len(body["device_code"]) >= 43  # 256 bits, base64url
    assert USER_CODE.fullmatch(body["user_code"]), body["user_code"]
    assert body["verification_uri"] == authz + "/device"
    assert body["verification_uri_complete"] == f"{authz}/device?user_code={body['user_code']}"
    assert (body["expires_in"], body["interval"]) == (600, 5)
    again = await codes(http, authz, client, scope="notes:read")
    assert again["device_code"] != body["device_code"] and again["user_code"] != body["user_code"]


async def test_3_1_a_confidential_client_authenticates_as_at_the_token_endpoint(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.1: client authentication as at the token endpoint (RFC 6749 sections 2.3 and 5.2)."""
    client = await make_device_client(db, public=False)
    status, body, _ = await device_authorization(http, authz, client, scope="notes:read")
    assert status == 200, body
    wrong = flows.RegisteredClient(client.client_id, "not-the-secret")
    status, body, resp = await device_authorization(http, authz, wrong, scope="notes:read")
    assert (status, body["error"]) == (401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    # Without its secret, a confidential client is not a public one.
    async with http.post(authz + "/device_authorization", data={"client_id": client.client_id}) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_client")
    async with http.post(authz + "/device_authorization", data={"scope": "notes:read"}) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_client")


async def test_3_1_a_client_not_registered_for_the_grant_is_unauthorized_client(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.2 (errors per RFC 6749 section 5.2): a client without the grant type gets no codes."""
    client = await flows.make_client(db, public=True)
    status, body, _ = await device_authorization(http, authz, client, scope="notes:read")
    assert (status, body["error"]) == (400, "unauthorized_client"), body


async def test_3_1_a_scope_the_client_may_not_have_is_invalid_scope(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.1's `scope`, checked as RFC 6749 section 3.3 says."""
    client = await make_device_client(db, scope="notes:read")
    status, body, _ = await device_authorization(http, authz, client, scope="notes:read notes:admin")
    assert (status, body["error"]) == (400, "invalid_scope"), body


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("scope=notes:read&scope=notes:write", "application/x-www-form-urlencoded"),
        ('{"scope": "notes:read"}', "application/json"),
        ("scope=notes%00read", "application/x-www-form-urlencoded"),
    ],
    ids=["repeated", "json", "nul"],
)
async def test_3_1_a_malformed_request_is_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, data: str, content_type: str
) -> None:
    """RFC 8628 section 3.1: form-encoded parameters, each at most once (RFC 6749 section 3.2)."""
    client = await make_device_client(db, public=False)
    headers = {**client.basic, "Content-Type": content_type}
    async with http.post(authz + "/device_authorization", data=data, headers=headers) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid_request")


async def test_3_2_device_codes_are_stored_hashed_and_live_expires_in(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, redis_prefix: str
) -> None:
    """RFC 8628 sections 3.2 and 5.2: neither code is stored in clear, and the request lives `expires_in`."""
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    digest = hashlib.sha256(body["device_code"].encode()).hexdigest()
    redis = create_redis(REDIS_URL)
    try:
        keys = [key.decode() async for key in redis.scan_iter(match=f"*{redis_prefix}*device*", count=1000)]
        assert not any(body["device_code"] in key for key in keys)
        user_code = body["user_code"].replace("-", "")
        assert not any(user_code in key for key in keys)
        (request_key,) = [key for key in keys if digest in key and key.endswith(":request")]
        values = b" ".join(v for pair in (await redis.hgetall(request_key)).items() for v in pair)
        assert body["device_code"].encode() not in values
        assert 590 <= await redis.ttl(request_key) <= 600
    finally:
        await redis.aclose()
    assert (await poll(http, authz, client, body["device_code"]))[1]["error"] == "authorization_pending"


async def test_4_discovery_names_the_endpoint_and_the_grant_type(authz: str, http: aiohttp.ClientSession) -> None:
    """RFC 8628 section 4: `device_authorization_endpoint` in the metadata, and the grant type listed."""
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        metadata = await resp.json()
    assert metadata["device_authorization_endpoint"] == authz + "/device_authorization"
    assert DEVICE_GRANT in metadata["grant_types_supported"]
    async with http.get(authz + "/.well-known/openid-configuration") as resp:
        assert (await resp.json())["device_authorization_endpoint"] == authz + "/device_authorization"
