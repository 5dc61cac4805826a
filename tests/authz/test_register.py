"""Dynamic client registration (RFC 7591) over HTTP, behind the operator's initial access token."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from authorium_shared.settings import ConfigError
from authz.settings import AuthzSettings
from tests.authz.conftest import AuthzFactory
from tests.authz.flows import RegisteredClient, make_user, sign_in_and_redeem, token_request

TOKEN = secrets.token_urlsafe(30)  # 40 characters
CHALLENGE = 'Bearer realm="authorium-registration"'


@pytest.fixture
async def authz(start_authz: AuthzFactory) -> AsyncIterator[str]:
    """A server with registration switched on."""
    async with start_authz(AUTHORIUM_REGISTRATION_TOKEN=TOKEN) as url:
        yield url


async def register(
    http: aiohttp.ClientSession, authz: str, body: Any, *, token: str | None = TOKEN, raw: bytes | None = None
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.post(
        f"{authz}/register", data=raw if raw is not None else orjson.dumps(body), headers=headers
    ) as resp:
        answer = await resp.json() if resp.content_type == "application/json" else {}
        return resp.status, answer, resp


async def test_a_confidential_client_registers_and_uses_its_secret_at_once(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    metadata = {
        "client_name": "Registered service",
        "grant_types": ["client_credentials"],
        "scope": "notes:read",
        "token_endpoint_auth_method": "client_secret_basic",
    }
    status, answer, resp = await register(http, authz, metadata)
    assert status == 201, answer
    assert resp.headers["Cache-Control"] == "no-store"
    assert answer["client_id"]
    assert answer["client_secret"]
    assert answer["client_secret_expires_at"] == 0
    assert isinstance(answer["client_id_issued_at"], int)
    for name, value in metadata.items():
        assert answer[name] == value, name
    assert answer["response_types"] == []
    assert answer["redirect_uris"] == []

    client = RegisteredClient(answer["client_id"], answer["client_secret"])
    status, tokens, _ = await token_request(http, authz, client, grant_type="client_credentials", scope="notes:read")
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer"
    # The secret is stored hashed, never as given.
    stored = await db.fetchrow("SELECT * FROM clients WHERE client_id = $1", answer["client_id"])
    assert stored is not None
    assert answer["client_secret"] not in repr(dict(stored))


async def test_a_public_client_registers_without_a_secret_and_signs_users_in(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    metadata = {
        "client_name": "Native app",
        "redirect_uris": ["http://127.0.0.1/callback", "com.example.app:/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile offline_access",
    }
    status, answer, _ = await register(http, authz, metadata)
    assert status == 201, answer
    assert "client_secret" not in answer
    assert "client_secret_expires_at" not in answer
    for name, value in metadata.items():
        assert answer[name] == value, name
    client = RegisteredClient(answer["client_id"], None, metadata["redirect_uris"][0])
    tokens = await sign_in_and_redeem(http, authz, client, await make_user(db), scope="openid profile")
    assert tokens["id_token"]


async def test_advertised_and_defaults_fill_in_what_was_left_out(authz: str, http: aiohttp.ClientSession) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        async with http.get(authz + path) as resp:
            assert (await resp.json())["registration_endpoint"] == authz + "/register"
    status, answer, _ = await register(http, authz, {"redirect_uris": ["https://app.example/cb"]})
    assert status == 201, answer
    assert answer["grant_types"] == ["authorization_code"]
    assert answer["response_types"] == ["code"]
    assert answer["token_endpoint_auth_method"] == "client_secret_basic"
    assert answer["id_token_signed_response_alg"] == "RS256"
    assert answer["client_name"]
    assert answer["client_secret"]


BAD_METADATA: list[tuple[Any, str]] = [
    ({"redirect_uris": ["http://app.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["not a uri"]}, "invalid_redirect_uri"),
    ({"grant_types": ["authorization_code"], "redirect_uris": []}, "invalid_redirect_uri"),
    ({"grant_types": ["password"]}, "invalid_client_metadata"),
    ({"grant_types": ["implicit"], "response_types": ["token"]}, "invalid_client_metadata"),
    ({"grant_types": ["refresh_token"]}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}, "invalid_client_metadata"),
    (
        {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"},
        "invalid_client_metadata",
    ),
    ({"grant_types": ["client_credentials"], "response_types": ["code"]}, "invalid_client_metadata"),
    ({"redirect_uris": ["https://a.example/cb"], "response_types": ["code", "token"]}, "invalid_client_metadata"),
    ({"grant_types": "client_credentials"}, "invalid_client_metadata"),
    ({"grant_types": [1]}, "invalid_client_metadata"),
    ({"redirect_uris": "https://app.example/cb"}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "client_name": 5}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "client_name": "   "}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "scope": ["notes:read"]}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "scope": "bad\x01scope"}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "none"}, "invalid_client_metadata"),
    ({"grant_types": ["client_credentials"], "id_token_signed_response_alg": "HS256"}, "invalid_client_metadata"),
    (["not", "an", "object"], "invalid_client_metadata"),
    ("a string", "invalid_client_metadata"),
    (None, "invalid_client_metadata"),
]


async def test_bad_metadata_or_initial_access_token_is_refused_and_nothing_is_stored(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    before = await db.fetchval("SELECT count(*) FROM clients")
    for body, error in BAD_METADATA:
        status, answer, resp = await register(http, authz, body)
        assert (status, answer.get("error")) == (400, error), body
        assert resp.headers["Cache-Control"] == "no-store"
    for raw in (b"{not json", b"", b"\xff\xfe", b'{"a": 1}{"b": 2}'):
        status, answer, _ = await register(http, authz, None, raw=raw)
        assert (status, answer.get("error")) == (400, "invalid_client_metadata"), raw
    async with http.post(
        f"{authz}/register",
        data={"grant_types": "client_credentials"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_client_metadata"
    body = {"grant_types": ["client_credentials"]}
    # Without any token: a bare challenge (RFC 6750 section 3.1, which RFC 7591 section 3 defers to).
    status, _, resp = await register(http, authz, body, token=None)
    assert status == 401
    assert resp.headers["WWW-Authenticate"] == CHALLENGE
    for wrong in (TOKEN[:-1] + ("A" if TOKEN[-1] != "A" else "B"), TOKEN[:-1], TOKEN + "x", "short"):
        status, answer, resp = await register(http, authz, body, token=wrong)
        assert status == 401
        assert answer["error"] == "invalid_token"
        assert resp.headers["WWW-Authenticate"].startswith(CHALLENGE + ', error="invalid_token"')
        assert resp.headers["Cache-Control"] == "no-store"
    async with http.post(
        f"{authz}/register", data=orjson.dumps(body), headers={"Authorization": "Basic " + TOKEN}
    ) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == CHALLENGE
    assert await db.fetchval("SELECT count(*) FROM clients") == before


async def test_without_the_setting_registration_is_off(start_authz: AuthzFactory, http: aiohttp.ClientSession) -> None:
    async with start_authz() as authz:
        for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            async with http.get(authz + path) as resp:
                assert "registration_endpoint" not in await resp.json()
        async with http.post(
            f"{authz}/register",
            data=b"{}",
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 404


@pytest.mark.parametrize("value", ["x" * 31, "caf\u00e9" * 10, "tab\t" * 10])
def test_a_short_or_unprintable_registration_token_stops_start_up(environ: dict[str, str], value: str) -> None:
    with pytest.raises(ConfigError, match="AUTHORIUM_REGISTRATION_TOKEN"):
        AuthzSettings.from_env({**environ, "AUTHORIUM_REGISTRATION_TOKEN": value})


def test_a_registration_token_that_cannot_be_sent_as_a_bearer_token_stops_start_up(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="AUTHORIUM_REGISTRATION_TOKEN"):
        AuthzSettings.from_env({**environ, "AUTHORIUM_REGISTRATION_TOKEN": "a secret phrase with spaces in it!!"})
