"""The token endpoint itself (RFC 6749 section 3.2, errors per section 5.2): client authentication
(section 2.3), request rules, grant dispatch, and the per-client rate limit. The grants have their own modules."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import asyncpg
import pytest

from authz.clients import credentials
from tests.authz.conftest import AuthzFactory, Person
from tests.authz.flows import basic_header, make_client, pkce_pair
from tests.authz.test_authorization_code import code_for, redeem

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module's tests (see conftest's `module_server`)."""
    return module_authz


async def post_token(
    http: aiohttp.ClientSession,
    authz: str,
    data: dict[str, str] | str | bytes,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    """POST to /token exactly as given; every answer, success or error, must forbid caching."""
    async with http.post(f"{authz}/token", data=data, headers=headers or {}) as resp:
        body = await resp.json()
    assert resp.headers["Cache-Control"] == "no-store", resp.headers
    return resp.status, body, resp


def assert_error(status: int, body: dict[str, Any], expected_status: int, error: str) -> None:
    assert (status, body.get("error")) == (expected_status, error), body
    assert "access_token" not in body


async def test_client_secret_basic_authenticates(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    status, body, resp = await post_token(http, authz, {"grant_type": "client_credentials"}, client.basic)
    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert resp.headers["Pragma"] == "no-cache"
    assert resp.content_type == "application/json"


async def test_client_secret_post_authenticates(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    assert client.secret is not None
    form = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.secret}
    status, body, _ = await post_token(http, authz, form)
    assert status == 200, body


async def test_basic_with_client_id_repeated_in_the_body_is_fine(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    form = {"grant_type": "client_credentials", "client_id": client.client_id}
    status, body, _ = await post_token(http, authz, form, client.basic)
    assert status == 200, body


@pytest.mark.parametrize("who", ["wrong secret", "unknown client", "malformed"])
async def test_failed_basic_authentication_is_401_with_a_challenge(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, who: str
) -> None:
    client = await make_client(db)
    header = {
        "wrong secret": basic_header(client.client_id, "not-the-secret"),
        "unknown client": basic_header("no-such-client", client.secret or ""),
        "malformed": "Basic %%%not-base64",
    }[who]
    status, body, resp = await post_token(http, authz, {"grant_type": "client_credentials"}, {"Authorization": header})
    assert_error(status, body, 401, "invalid_client")
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("who", ["wrong secret", "unknown client", "no secret"])
async def test_failed_body_authentication_is_400_without_a_challenge(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, who: str
) -> None:
    client = await make_client(db)
    form = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.secret or ""}
    if who == "wrong secret":
        form["client_secret"] = "not-the-secret"
    elif who == "unknown client":
        form["client_id"] = "no-such-client"
    else:
        del form["client_secret"]
    status, body, resp = await post_token(http, authz, form)
    assert_error(status, body, 400, "invalid_client")
    assert "WWW-Authenticate" not in resp.headers


async def test_no_client_authentication_at_all_is_invalid_client(authz: str, http: aiohttp.ClientSession) -> None:
    status, body, _ = await post_token(http, authz, {"grant_type": "client_credentials"})
    assert_error(status, body, 400, "invalid_client")


async def test_two_authentication_methods_at_once_is_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    assert client.secret is not None
    form = {"grant_type": "client_credentials", "client_secret": client.secret}
    status, body, _ = await post_token(http, authz, form, client.basic)
    assert_error(status, body, 400, "invalid_request")


async def test_basic_for_one_client_and_client_id_of_another_is_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    other = await make_client(db)
    form = {"grant_type": "client_credentials", "client_id": other.client_id}
    status, body, _ = await post_token(http, authz, form, client.basic)
    assert_error(status, body, 400, "invalid_request")


async def test_basic_credentials_are_form_urlencoded_before_base64(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 6749 section 2.3.1: a secret with ':', '+', '%', spaces and non-ASCII still authenticates."""
    client = await make_client(db)
    secret = "s3:cr%t+plus &amp/ é€=?"
    await db.execute(
        "UPDATE clients SET secret_hash = $2 WHERE client_id = $1", client.client_id, credentials.digest(secret)
    )
    header = {"Authorization": basic_header(client.client_id, secret)}
    status, body, _ = await post_token(http, authz, {"grant_type": "client_credentials"}, header)
    assert status == 200, body
    # The same secret in the body (form encoding done by the HTTP client) works too.
    form = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    status, body, _ = await post_token(http, authz, form)
    assert status == 200, body


async def test_public_client_authenticates_with_client_id_and_pkce(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db, public=True)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read", challenge=challenge)
    status, body = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, body


async def test_public_client_cannot_use_client_credentials(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db, public=True)
    status, body, _ = await post_token(http, authz, {"grant_type": "client_credentials", "client_id": client.client_id})
    assert_error(status, body, 400, "unauthorized_client")


async def test_public_client_presenting_a_secret_is_refused(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db, public=True)
    form = {"grant_type": "authorization_code", "code": "x", "client_id": client.client_id, "client_secret": "guess"}
    status, body, _ = await post_token(http, authz, form)
    assert_error(status, body, 400, "invalid_client")


async def test_body_that_is_not_form_encoded_is_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db)
    headers = {**client.basic, "Content-Type": "application/json"}
    status, body, _ = await post_token(http, authz, b'{"grant_type": "client_credentials"}', headers)
    assert_error(status, body, 400, "invalid_request")


async def test_missing_grant_type_is_invalid_request(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    client = await make_client(db)
    status, body, _ = await post_token(http, authz, {"scope": "notes:read"}, client.basic)
    assert_error(status, body, 400, "invalid_request")


@pytest.mark.parametrize(
    "raw",
    [
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=notes:read&scope=notes:write",
    ],
)
async def test_repeated_parameter_is_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, raw: str
) -> None:
    client = await make_client(db)
    headers = {**client.basic, "Content-Type": FORM}
    status, body, _ = await post_token(http, authz, raw, headers)
    assert_error(status, body, 400, "invalid_request")


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:example:unknown"])
async def test_unsupported_grant_types(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, grant_type: str
) -> None:
    client = await make_client(db)
    form = {"grant_type": grant_type, "username": "u", "password": "p"}
    status, body, _ = await post_token(http, authz, form, client.basic)
    assert_error(status, body, 400, "unsupported_grant_type")


async def test_grant_the_client_is_not_registered_for_is_unauthorized_client(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db, grant_types=("authorization_code",))
    status, body, _ = await post_token(http, authz, {"grant_type": "client_credentials"}, client.basic)
    assert_error(status, body, 400, "unauthorized_client")
    status, body, _ = await post_token(http, authz, {"grant_type": "refresh_token", "refresh_token": "x"}, client.basic)
    assert_error(status, body, 400, "unauthorized_client")


async def test_rate_limit_is_per_client(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """A client over its limit gets RFC 6585's 429 with Retry-After and an error code OAuth defines
    (`temporarily_unavailable`, RFC 6749 section 4.1.2.1; `slow_down` is the device grant's, RFC 8628 3.5)."""
    busy = await make_client(db)
    other = await make_client(db)
    # The limit counts in fixed 60-second windows: keep all five requests inside one.
    if time.time() % 60 > 57:
        await asyncio.sleep(60 - time.time() % 60 + 0.1)
    async with start_authz(AUTHORIUM_TOKEN_RATE_LIMIT="3") as url:
        for _ in range(3):
            status, body, _ = await post_token(http, url, {"grant_type": "client_credentials"}, busy.basic)
            assert status == 200, body
        status, body, resp = await post_token(http, url, {"grant_type": "client_credentials"}, busy.basic)
        assert status == 429, body
        assert body["error"] == "temporarily_unavailable"
        assert 1 <= int(resp.headers["Retry-After"]) <= 61
        status, body, _ = await post_token(http, url, {"grant_type": "client_credentials"}, other.basic)
        assert status == 200, body
