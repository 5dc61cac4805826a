"""RFC 9700's attacks on codes and tokens, end to end: the authorization server refuses, and the resource server
stops honouring what an attack revoked.

Covered elsewhere and not repeated: a code bound to its client, redirect URI and PKCE verifier, and a replay
revoking the grant as introspection sees it (tests/authz/test_authorization_code.py); plain PKCE and public
clients without PKCE refused (tests/authz/test_authorize.py, test_checks.py); refresh reuse revoking the family
and another client's refresh token refused (tests/authz/test_refresh_token.py); the `iss` response parameter and
the demo refusing a wrong one (tests/authz/test_authorize.py, tests/client_demo/test_signin.py); forged tokens
for another audience or issuer and ID tokens at the resource server (tests/resource/test_bearer.py)."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from tests.authz.conftest import Person
from tests.authz.flows import make_client, pkce_pair, token_request
from tests.authz.test_authorization_code import code_for, redeem
from tests.resource.conftest import (
    USER_SCOPE,
    ResourceFactory,
    _caller,
    bearer,
    expect_refusal,
    refreshed,
    user_token,
)
from tests.resource.test_revocation import refused_within
from tests.security.answers import assert_nothing_issued, assert_oauth_error

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


async def test_a_replayed_code_revokes_what_it_issued_at_the_resource_server(
    api: str, authz: str, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(module_db, scope=USER_SCOPE)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope=USER_SCOPE, challenge=challenge)
    status, first = await redeem(module_http, authz, client, code, code_verifier=verifier)
    assert status == 200, first
    victim = _caller(first, client)
    async with module_http.get(api + "/api/me", headers=victim.headers) as resp:
        assert resp.status == 200

    # Whoever replays it (here with everything the first redemption had) gets nothing ...
    status, body = await redeem(module_http, authz, client, code, code_verifier=verifier)
    assert (status, body["error"]) == (400, "invalid_grant")
    assert_nothing_issued(body)
    # ... and what the code gave before stops working everywhere (RFC 6749 section 4.1.2).
    await refused_within(module_http, api, victim)
    status, body, resp = await token_request(
        module_http, authz, client, grant_type="refresh_token", refresh_token=victim.refresh_token
    )
    assert_oauth_error(status, body, resp, "invalid_grant")


@pytest.mark.parametrize("attempt", ["wrong verifier", "no verifier"])
async def test_a_failed_redemption_spends_the_code(
    authz: str, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool, person: Person, attempt: str
) -> None:
    """An intercepted code gives one try, not many: a wrong or missing PKCE verifier gets nothing, and the code is
    gone, so the verifier cannot be guessed at (the interception attack of RFC 7636 section 1). Another client's
    attempt spends nothing (RFC 6749 section 4.1.3: tests/authz/test_authorization_code.py)."""
    victim = await make_client(module_db, scope=USER_SCOPE)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, victim, person, scope="notes:read", challenge=challenge)
    thief, presented = {
        "wrong verifier": (victim, pkce_pair()[0]),
        "no verifier": (victim, ""),  # left out
    }[attempt]
    status, body = await redeem(module_http, authz, thief, code, code_verifier=presented)
    # RFC 7636 section 4.6 does not say which error a missing verifier is; this server says invalid_request.
    assert status == 400
    assert body["error"] in (("invalid_request", "invalid_grant") if attempt == "no verifier" else ("invalid_grant",))
    assert_nothing_issued(body)
    status, body = await redeem(module_http, authz, victim, code, code_verifier=verifier)
    assert (status, body.get("error")) == (400, "invalid_grant"), body


async def test_refresh_token_reuse_revokes_the_newest_access_token_at_the_resource_server(
    api: str, authz: str, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> None:
    first = await user_token(module_http, authz, module_db)
    stolen = first.refresh_token
    current = await refreshed(module_http, authz, first)  # the client rotates; the attacker kept the old one
    async with module_http.get(api + "/api/me", headers=current.headers) as resp:
        assert resp.status == 200

    status, body, resp = await token_request(
        module_http, authz, first.client, grant_type="refresh_token", refresh_token=stolen
    )
    assert_oauth_error(status, body, resp, "invalid_grant")
    # RFC 9700 section 4.14.2: the whole family is revoked, including what the legitimate client holds now.
    await refused_within(module_http, api, current)
    status, body, resp = await token_request(
        module_http, authz, first.client, grant_type="refresh_token", refresh_token=current.refresh_token
    )
    assert_oauth_error(status, body, resp, "invalid_grant")


async def test_a_genuine_token_for_another_resource_server_is_refused(
    start_resource: ResourceFactory, authz: str, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> None:
    """A token really issued by the trusted server, for another audience (RFC 9068 section 4, RFC 9700 4.10):
    a resource server that received it must not be able to replay it at another one."""
    caller = await user_token(module_http, authz, module_db)
    async with start_resource(AUTHORIUM_RESOURCE_URL="https://other-api.example") as elsewhere:
        params = await expect_refusal(
            module_http, "GET", elsewhere + "/api/me", status=401, error="invalid_token", headers=caller.headers
        )
    assert params["error_description"].endswith("wrong audience")


async def test_tokens_of_the_wrong_kind_are_refused_everywhere(
    api: str, authz: str, module_http: aiohttp.ClientSession, module_db: asyncpg.Pool
) -> None:
    """Token substitution: each kind of token presented where another kind is expected."""
    scope = "openid offline_access notes:read"
    caller = await user_token(module_http, authz, module_db, scope=scope, client_scope=scope)
    tokens = caller.response
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)

    # An ID token or a refresh token as a bearer token, at the resource server and at userinfo.
    for name in ("id_token", "refresh_token"):
        await expect_refusal(
            module_http, "GET", api + "/api/me", status=401, error="invalid_token", headers=bearer(tokens[name])
        )
        async with module_http.get(authz + "/userinfo", headers=bearer(tokens[name])) as resp:
            assert resp.status == 401, name
            assert resp.headers["WWW-Authenticate"].startswith("Bearer "), name
            assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"], name
            assert (await resp.json())["error"] == "invalid_token"
    # An access or ID token as a refresh token, or as a code.
    for name in ("access_token", "id_token"):
        status, body, resp = await token_request(
            module_http, authz, caller.client, grant_type="refresh_token", refresh_token=tokens[name]
        )
        assert_oauth_error(status, body, resp, "invalid_grant")
        status, body, resp = await token_request(
            module_http,
            authz,
            caller.client,
            grant_type="authorization_code",
            code=tokens[name],
            redirect_uri=caller.client.redirect_uri,
            code_verifier=pkce_pair()[0],
        )
        assert_oauth_error(status, body, resp, "invalid_grant")
    # Nothing above spent the genuine refresh token.
    status, body, _ = await token_request(
        module_http, authz, caller.client, grant_type="refresh_token", refresh_token=caller.refresh_token
    )
    assert status == 200, body
