"""The device authorization grant end to end over HTTP (RFC 8628 sections 3.3-3.5, 5.1, 5.4, 6.1): a device asks for
codes and polls the token endpoint while a person enters the user code at the verification page, signs in on the
login page and approves or denies on the consent page. Every error a poll can get, and the bad inputs."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client.errors import OAuthError as AuthlibError

from authorium_shared.resources import create_redis
from authz.device.verification import GONE
from authz.endpoints.device import THROTTLED, WRONG_CODE
from authz.factors.assurance import ACR_MFA
from authz.ratelimit import USER_CODE_FAILURES_PER_ADDRESS
from tests.authz import flows
from tests.authz.conftest import AuthzFactory
from tests.authz.devices import DEVICE_GRANT, codes, make_device_client, poll, visit
from tests.authz.factor_flows import signed_in_with_app
from tests.authz.test_authorize import assert_secure_page
from tests.conftest import REDIS_URL
from tests.waiting import eventually

with warnings.catch_warnings():
    # As in test_standard_clients: Authlib 1.9 warns that it falls back from `httpx2` to httpx (installed here).
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture
def authz(module_authz: str) -> str:
    """One server for the module; no test here enters a wrong user code on it (those are counted per address)."""
    return module_authz


@pytest.fixture
async def isolated_authz(start_authz: AuthzFactory, environ: dict[str, str]) -> AsyncIterator[str]:
    """A server with a Redis prefix of its own: the wrong user codes entered here are counted for it alone."""
    prefix = f"{environ['AUTHORIUM_REDIS_PREFIX']}device-{uuid.uuid4().hex[:8]}:"
    async with start_authz(AUTHORIUM_REDIS_PREFIX=prefix) as url:
        yield url


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


async def test_3_4_a_device_polling_before_the_person_decides_is_told_authorization_pending(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 sections 3.4-3.5: `authorization_pending` while the person has not decided."""
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    status, answer = await poll(http, authz, client, body["device_code"])
    assert (status, answer["error"]) == (400, "authorization_pending"), answer


async def test_3_5_tokens_once_approved_as_the_code_grant_issues_them(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.5 (RFC 6749 section 5.1): the tokens, their grant, its refresh token and revocation."""
    client = await make_device_client(db)
    username = await flows.make_user(db)
    user_id = str(await db.fetchval("SELECT user_id FROM users WHERE username = $1", username))
    body = await codes(http, authz, client, scope="openid offline_access notes:read")
    async with flows.browser() as browser:
        seen = await visit(browser, authz, body["user_code"], username)
    assert "Device connected" in seen.last, seen.last
    status, tokens = await poll(http, authz, client, body["device_code"])
    assert status == 200, tokens
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid offline_access notes:read"
    access = claims(tokens["access_token"])
    assert (access["sub"], access["client_id"], access["scope"]) == (user_id, client.client_id, tokens["scope"])
    # OpenID Connect: an ID token for the client, without a nonce (the device flow has none).
    id_token = claims(tokens["id_token"])
    assert (id_token["sub"], id_token["aud"]) == (user_id, client.client_id)
    assert "nonce" not in id_token and id_token["auth_time"] <= access["iat"]
    # The sign-in behind the approval, as a code carries it: how the person signed in, and their session.
    assert id_token["amr"] == ["pwd"] and id_token["sid"]
    # A grant the person can see and revoke, made in that session, with a refresh token (offline_access) that rotates
    # as any other.
    grant = await db.fetchrow("SELECT user_id, client_id, sid FROM grants WHERE grant_id = $1", access["grant_id"])
    assert grant is not None and (str(grant["user_id"]), grant["client_id"]) == (user_id, client.client_id)
    assert grant["sid"] == id_token["sid"]
    status, refreshed, _ = await flows.token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert status == 200 and refreshed["refresh_token"] != tokens["refresh_token"], refreshed
    async with http.post(authz + "/revoke", data={"token": refreshed["refresh_token"], "client_id": client.client_id}):
        pass
    status, answer, _ = await flows.token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=refreshed["refresh_token"]
    )
    assert (status, answer["error"]) == (400, "invalid_grant")


async def test_3_5_the_refresh_token_follows_the_code_grants_rules(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """A sign-in (openid) gets a refresh token only with offline_access; a client not registered for refresh_token
    gets none."""
    username = await flows.make_user(db)
    for grants, scope, refresh in (
        ((DEVICE_GRANT, "refresh_token"), "openid notes:read", False),
        ((DEVICE_GRANT, "refresh_token"), "notes:read", True),
        ((DEVICE_GRANT,), "notes:read", False),
    ):
        client = await make_device_client(db, grant_types=grants)
        body = await codes(http, authz, client, scope=scope)
        async with flows.browser() as browser:
            await visit(browser, authz, body["user_code"], username)
        status, tokens = await poll(http, authz, client, body["device_code"])
        assert status == 200, tokens
        assert ("refresh_token" in tokens) is refresh, (grants, scope)
        assert ("id_token" in tokens) is ("openid" in scope)


async def redis_keys_of(device_code: str, prefix: str) -> list[str]:
    digest = hashlib.sha256(device_code.encode()).hexdigest()
    redis = create_redis(REDIS_URL)
    try:
        return [key.decode() async for key in redis.scan_iter(match=f"*{prefix}device-{digest}*", count=1000)]
    finally:
        await redis.aclose()


async def test_3_5_a_device_code_is_used_once(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, redis_prefix: str
) -> None:
    """RFC 8628 section 3.5: once the tokens are issued, the device code is spent (`invalid_grant`)."""
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    assert len(await redis_keys_of(body["device_code"], redis_prefix)) == 2  # the request and its expiry marker
    async with flows.browser() as browser:
        await visit(browser, authz, body["user_code"], await flows.make_user(db))
        status, _ = await poll(http, authz, client, body["device_code"])
        assert status == 200
        status, answer = await poll(http, authz, client, body["device_code"])
        assert (status, answer["error"]) == (400, "invalid_grant"), answer
        # Consumed in Redis by the successful poll: nothing of the device code is left there.
        assert await redis_keys_of(body["device_code"], redis_prefix) == []
        # The user code is spent too: entering it again finds nothing.
        seen = await visit(browser, authz, body["user_code"], None)
        assert seen.status == 400 and WRONG_CODE in seen.last


async def test_3_5_two_polls_at_once_get_the_tokens_once(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.5: concurrent polls after approval: exactly one gets the tokens."""
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    async with flows.browser() as browser:
        await visit(browser, authz, body["user_code"], await flows.make_user(db))
    answers = await asyncio.gather(*(poll(http, authz, client, body["device_code"]) for _ in range(5)))
    assert sorted(status for status, _ in answers) == [200, 400, 400, 400, 400], answers
    assert {answer.get("error") for status, answer in answers if status == 400} == {"invalid_grant"}


async def test_3_5_access_denied_when_the_person_denies(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.5: `access_denied` after the person denies."""
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    async with flows.browser() as browser:
        seen = await visit(browser, authz, body["user_code"], await flows.make_user(db), decision="deny")
    assert "Access denied" in seen.last
    status, answer = await poll(http, authz, client, body["device_code"])
    assert (status, answer["error"]) == (400, "access_denied"), answer
    # The device was told; the code is done with.
    status, answer = await poll(http, authz, client, body["device_code"])
    assert (status, answer["error"]) == (400, "invalid_grant"), answer


async def test_3_5_slow_down_when_polled_faster_than_the_interval_and_the_interval_grows(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.5: `slow_down`, and the interval grows by 5 seconds for that device code only."""
    async with start_authz(AUTHORIUM_DEVICE_POLL_INTERVAL="1") as authz:
        client = await make_device_client(db)
        body = await codes(http, authz, client, scope="notes:read")
        other = await codes(http, authz, client, scope="notes:read")
        assert body["interval"] == 1
        assert (await poll(http, authz, client, body["device_code"]))[1]["error"] == "authorization_pending"
        status, answer = await poll(http, authz, client, body["device_code"])
        assert (status, answer["error"], answer["interval"]) == (400, "slow_down", 6), answer
        # Waiting the first interval is no longer enough for this device code: it must wait six seconds now...
        await asyncio.sleep(1.5)
        status, answer = await poll(http, authz, client, body["device_code"])
        assert (answer["error"], answer["interval"]) == ("slow_down", 11), answer
        # ... while another device code keeps its own interval.
        assert (await poll(http, authz, client, other["device_code"]))[1]["error"] == "authorization_pending"
        await asyncio.sleep(1.5)
        assert (await poll(http, authz, client, other["device_code"]))[1]["error"] == "authorization_pending"


async def test_3_5_expired_token_after_expires_in(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.5: `expired_token` after `expires_in`; the verification page forgets the user code."""
    async with start_authz(AUTHORIUM_DEVICE_CODE_TTL="5", AUTHORIUM_DEVICE_POLL_INTERVAL="1") as authz:
        client = await make_device_client(db)
        body = await codes(http, authz, client, scope="notes:read")
        assert body["expires_in"] == 5
        await asyncio.sleep(5.5)
        status, answer = await poll(http, authz, client, body["device_code"])
        assert (status, answer["error"]) == (400, "expired_token"), answer
        async with flows.browser() as browser:
            seen = await visit(browser, authz, body["user_code"], await flows.make_user(db))
        assert seen.status == 400 and WRONG_CODE in seen.last


async def test_3_5_another_clients_device_code_is_invalid_grant(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """Another client learns nothing and changes nothing: not even the rightful device's polling interval."""
    client = await make_device_client(db)
    thief = await make_device_client(db)
    confidential = await make_device_client(db, public=False)
    body = await codes(http, authz, client, scope="notes:read")
    for other in (thief, confidential):
        status, answer = await poll(http, authz, other, body["device_code"])
        assert (status, answer["error"]) == (400, "invalid_grant"), answer
    assert (await poll(http, authz, client, body["device_code"]))[1]["error"] == "authorization_pending"
    async with flows.browser() as browser:
        await visit(browser, authz, body["user_code"], await flows.make_user(db))
    status, answer = await poll(http, authz, thief, body["device_code"])
    assert (status, answer["error"]) == (400, "invalid_grant"), answer
    status, _ = await poll(http, authz, client, body["device_code"])
    assert status == 200


@pytest.mark.parametrize("device_code", ["", "x", "A" * 43, "é" * 100, "x" * 5000])
async def test_3_5_an_unknown_device_code_is_invalid_grant_or_invalid_request(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, device_code: str
) -> None:
    """RFC 8628 section 3.5 and RFC 6749 section 5.2: a device code never issued is `invalid_grant`."""
    client = await make_device_client(db)
    status, answer = await poll(http, authz, client, device_code)
    expected = "invalid_request" if device_code in ("", "x" * 5000) else "invalid_grant"
    assert (status, answer["error"]) == (400, expected), answer


async def test_3_4_a_client_not_registered_for_the_grant_cannot_poll(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.4 (RFC 6749 section 5.2): `unauthorized_client` for a client without the grant type."""
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    code_client = await flows.make_client(db, public=True)
    status, answer = await poll(http, authz, code_client, body["device_code"])
    assert (status, answer["error"]) == (400, "unauthorized_client"), answer


async def test_3_4_authlib_polls_as_an_independent_client(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """Authlib's OAuth 2.0 client posts the polls (it has no device flow of its own, but its token request carries any
    grant): pending, then the tokens."""
    client = await make_device_client(db)
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        token_endpoint = (await resp.json())["token_endpoint"]
    body = await codes(http, authz, client, scope="openid notes:read")
    async with AsyncOAuth2Client(client_id=client.client_id, token_endpoint_auth_method="none") as oauth:
        with pytest.raises(AuthlibError) as pending:
            await oauth.fetch_token(token_endpoint, grant_type=DEVICE_GRANT, device_code=body["device_code"])
        assert pending.value.error == "authorization_pending"
        async with flows.browser() as browser:
            await visit(browser, authz, body["user_code"], await flows.make_user(db))
        token = await oauth.fetch_token(token_endpoint, grant_type=DEVICE_GRANT, device_code=body["device_code"])
    assert token["token_type"] == "Bearer" and token["scope"] == "openid notes:read" and "id_token" in token


async def test_5_4_the_consent_page_states_the_user_code_the_client_and_the_scopes(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_device_client(db)
    name = await db.fetchval("SELECT name FROM clients WHERE client_id = $1", client.client_id)
    body = await codes(http, authz, client, scope="notes:read notes:write")
    async with flows.browser() as browser:
        seen = await visit(browser, authz, body["user_code"], await flows.make_user(db), decision=None)
        consent = seen.last
        assert 'action="/authorize/consent"' in consent
        assert body["user_code"] in consent and name in consent
        assert "notes:read" in consent and "notes:write" in consent
        assert "sent back to" not in consent
        # Nothing is decided until the person answers.
        assert (await poll(http, authz, client, body["device_code"]))[1]["error"] == "authorization_pending"


async def test_5_4_a_device_request_is_asked_every_time_even_of_a_confidential_client(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """Remembered consent never approves a device's request: a person tricked into entering an attacker's code sees
    what it would allow."""
    client = await make_device_client(db, public=False)
    username = await flows.make_user(db)
    async with flows.browser() as browser:
        first = await codes(http, authz, client, scope="notes:read")
        await visit(browser, authz, first["user_code"], username)
        second = await codes(http, authz, client, scope="notes:read")
        seen = await visit(browser, authz, second["user_code"], None, decision=None)
    assert 'action="/authorize/consent"' in seen.last and second["user_code"] in seen.last
    assert (await poll(http, authz, client, second["device_code"]))[1]["error"] == "authorization_pending"


async def test_6_1_a_typed_user_code_ignores_case_dashes_and_spaces(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    code = body["user_code"].replace("-", "")
    typed = f" {code[:4].lower()} - {code[4:]} "
    async with flows.browser() as browser:
        async with browser.get(authz + "/device") as resp:
            assert resp.status == 200 and 'name="user_code"' in await resp.text()
            assert_secure_page(resp.headers)
        seen = await visit(browser, authz, typed, await flows.make_user(db), typed=True)
    assert "Device connected" in seen.last
    assert (await poll(http, authz, client, body["device_code"]))[0] == 200


GARBLED = ["", "BCDF-GHJ", "AAAA-AAAA", "BCDF-GHJK-LMNP", "<script>alert(1)</script>", "BCDF\x00GHJK", "é" * 70]


async def test_5_1_wrong_and_garbled_user_codes_change_nothing_and_entry_is_throttled(
    isolated_authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    authz = isolated_authz
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    async with flows.browser() as browser:
        for attempt in range(USER_CODE_FAILURES_PER_ADDRESS):
            typed = GARBLED[attempt] if attempt < len(GARBLED) else "BCDF-GHJK"
            seen = await visit(browser, authz, typed, None, typed=attempt % 2 == 0)
            assert seen.status == 400 and WRONG_CODE in seen.last, (typed, seen.last[:300])
            assert "<script>" not in seen.last
        # Past the limit, even the right code is not looked up from this address (section 5.1).
        seen = await visit(browser, authz, body["user_code"], None)
        assert seen.status == 429 and THROTTLED in seen.last
        assert 0 < int(seen.headers["Retry-After"]) <= 901
    assert (await poll(http, authz, client, body["device_code"]))[1]["error"] == "authorization_pending"


async def test_3_3_a_person_with_a_second_factor_gives_it_and_the_id_token_says_so(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.3 with the login's second-factor step: the device's ID token carries the sign-in's amr and acr
    (OIDC Core 2, RFC 8176), as a code's would."""
    code_client = await flows.make_client(db)
    async with flows.browser() as setup:
        username, app = await signed_in_with_app(db, authz, code_client, setup)
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="openid notes:read")
    async with flows.browser() as browser:
        seen = await visit(browser, authz, body["user_code"], username, second_factor=app.code)
    assert any('action="/authorize/second-factor"' in page for page in seen.pages)
    assert "Device connected" in seen.last, seen.last
    status, tokens = await poll(http, authz, client, body["device_code"])
    assert status == 200, tokens
    id_token = claims(tokens["id_token"])
    assert id_token["amr"] == ["pwd", "otp", "mfa"] and id_token["acr"] == ACR_MFA


async def test_3_3_a_user_code_is_decided_once(authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool) -> None:
    """RFC 8628 section 3.3: two people (or two tabs) at the consent page of one user code: the first decision counts,
    the second is told the code is used, and the device gets what the first decided."""
    client = await make_device_client(db)
    body = await codes(http, authz, client, scope="notes:read")
    async with flows.browser() as first, flows.browser() as second:
        one = await visit(first, authz, body["user_code"], await flows.make_user(db), decision=None)
        two = await visit(second, authz, body["user_code"], await flows.make_user(db), decision=None)
        for seen in (one, two):
            assert 'action="/authorize/consent"' in seen.last
        async with first.post(
            authz + "/authorize/consent", data={**flows.hidden_fields(one.last), "decision": "allow"}
        ):
            pass
        form = {**flows.hidden_fields(two.last), "decision": "deny"}
        async with second.post(authz + "/authorize/consent", data=form) as resp:
            assert resp.status == 400 and GONE in await resp.text()
    status, tokens = await poll(http, authz, client, body["device_code"])
    assert status == 200, tokens


async def test_3_5_signing_out_the_approving_session_revokes_the_device_grant_unless_offline(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8628 section 3.5's grant is made in the browser session that approved it, as a code's is: RP-Initiated
    Logout of that session revokes it (its access token stops working at userinfo), except a grant for
    offline_access (OpenID Connect Core section 11), whose refresh token goes on working."""
    client = await make_device_client(db)
    username = await flows.make_user(db)
    online = await codes(http, authz, client, scope="openid notes:read")
    offline = await codes(http, authz, client, scope="openid offline_access notes:read")
    async with flows.browser() as browser:
        await visit(browser, authz, online["user_code"], username)
        await visit(browser, authz, offline["user_code"], None)
        online_tokens = (await poll(http, authz, client, online["device_code"]))[1]
        offline_tokens = (await poll(http, authz, client, offline["device_code"]))[1]
        assert claims(online_tokens["id_token"])["sid"] == claims(offline_tokens["id_token"])["sid"]
        bearer = {"Authorization": f"Bearer {online_tokens['access_token']}"}
        async with http.get(authz + "/userinfo", headers=bearer) as resp:
            assert resp.status == 200
        async with browser.get(
            authz + "/logout", params={"id_token_hint": online_tokens["id_token"]}, allow_redirects=False
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def refused() -> bool:
        async with http.get(authz + "/userinfo", headers=bearer) as resp:
            return resp.status == 401

    await eventually(refused, timeout=5, message="the signed-out session's device grant to be revoked")
    status, refreshed, _ = await flows.token_request(
        http, authz, client, grant_type="refresh_token", refresh_token=offline_tokens["refresh_token"]
    )
    assert status == 200, refreshed
