"""Signing in to the demo client with the authorization code flow, and every way a callback can go wrong."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from tests.authz.flows import browser, follow_authorization, query_of, token_request
from tests.client_demo.conftest import Visitor, stored_session
from tests.stack import Stack, running_stack


def params_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


async def test_sign_in_uses_pkce_state_and_nonce_and_lands_on_the_dashboard(
    visitor: Visitor, username: str, stack: Stack, redis: Redis
) -> None:
    request_url = await visitor.start_sign_in()
    assert request_url.startswith(stack.authz + "/authorize?")
    params = {k: v[0] for k, v in params_of(request_url).items()}
    assert params["response_type"] == "code"
    assert params["client_id"] == stack.client.client_id
    assert params["redirect_uri"] == stack.demo + "/callback"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert set(params["scope"].split()) >= {"openid", "offline_access", "notes:read", "notes:write"}

    page = await visitor.sign_in(username)
    assert f"Hello, {username}" in page or "Hello," in page
    assert "Sign out" in page
    session = await stored_session(redis, stack.environ, visitor.sid)
    assert session is not None and session["user"]["sub"]  # type: ignore[index]
    tokens = session["tokens"]
    for name in ("access_token", "refresh_token", "id_token"):
        assert tokens[name] not in page  # type: ignore[index]


def replace_param(url: str, name: str, value: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if value is None:
        query.pop(name, None)
    else:
        query[name] = value
    return parts._replace(query=urlencode(query)).geturl()


async def assert_signed_out(visitor: Visitor, redis: Redis, stack: Stack, sid: str | None) -> None:
    """No session: the cookie is gone, Redis holds nothing under the old id, and the home page offers sign-in."""
    assert visitor.sid is None
    assert await stored_session(redis, stack.environ, sid) is None
    status, page, _ = await visitor.get("/")
    assert status == 200 and "Sign in with Authorium" in page and "Sign out" not in page


async def test_a_tampered_state_ends_in_an_error_page_and_no_session(
    visitor: Visitor, username: str, stack: Stack, redis: Redis
) -> None:
    location = (await visitor.authorize(username)).location
    sid = visitor.sid
    status, page, resp = await visitor.callback(replace_param(location, "state", "x" * 43))
    assert status == 400
    assert "This sign-in link is not valid" in page
    assert resp.content_type == "text/html"
    await assert_signed_out(visitor, redis, stack, sid)


async def test_a_callback_without_state_is_refused(visitor: Visitor, username: str, stack: Stack, redis: Redis) -> None:
    location = (await visitor.authorize(username)).location
    status, page, _ = await visitor.callback(replace_param(location, "state", None))
    assert status == 400 and "This sign-in link is not valid" in page
    await assert_signed_out(visitor, redis, stack, None)


async def test_a_replayed_callback_url_ends_the_session_and_revokes_its_grant(
    visitor: Visitor, username: str, stack: Stack, redis: Redis, http: aiohttp.ClientSession
) -> None:
    location = (await visitor.authorize(username)).location
    status, _, _ = await visitor.callback(location)
    assert status == 303
    sid = visitor.sid
    session = await stored_session(redis, stack.environ, sid)
    assert session is not None
    refresh_token = session["tokens"]["refresh_token"]  # type: ignore[index]

    status, page, _ = await visitor.callback(location)
    assert status == 400 and "already used" in page
    await assert_signed_out(visitor, redis, stack, sid)
    status, body, _ = await token_request(
        http, stack.authz, stack.client, grant_type="refresh_token", refresh_token=refresh_token
    )
    assert status == 400 and body["error"] == "invalid_grant"


async def test_a_callback_in_another_browser_is_refused(
    stack: Stack, username: str, redis: Redis, visitor: Visitor
) -> None:
    # The victim's browser never started this sign-in: an attacker's callback URL must not sign it in
    # (login CSRF, RFC 6749 section 10.12).
    location = (await visitor.authorize(username)).location
    async with browser() as other_http:
        other = Visitor(stack, other_http)
        await other.get("/login")  # the other browser has a session of its own, with its own sign-in
        status, page, _ = await other.callback(location)
        assert status == 400 and "does not belong to a sign-in this browser started" in page
        await assert_signed_out(other, redis, stack, None)
    # And the state is spent: the browser that started it cannot finish it either.
    status, _, _ = await visitor.callback(location)
    assert status == 400


@pytest.mark.parametrize("iss", [None, "https://evil.example", "IGNORED"])
async def test_the_iss_parameter_must_name_the_issuer(
    visitor: Visitor, username: str, stack: Stack, redis: Redis, iss: str | None
) -> None:
    location = (await visitor.authorize(username)).location
    assert query_of(location)["iss"] == stack.authz
    if iss == "IGNORED":
        iss = stack.authz + "/"  # exact match, as RFC 9207 section 2.4 says: no normalisation
    status, page, _ = await visitor.callback(replace_param(location, "iss", iss))
    assert status == 400 and "This answer came from the wrong server" in page
    await assert_signed_out(visitor, redis, stack, None)


async def test_a_duplicated_parameter_is_refused(visitor: Visitor, username: str, stack: Stack, redis: Redis) -> None:
    location = (await visitor.authorize(username)).location
    status, page, _ = await visitor.callback(location + "&code=other")
    assert status == 400 and "more than once" in page
    await assert_signed_out(visitor, redis, stack, None)


async def test_an_id_token_with_another_nonce_is_rejected_and_its_tokens_revoked(
    visitor: Visitor, username: str, stack: Stack, redis: Redis, db: asyncpg.Pool
) -> None:
    location = await visitor.start_sign_in()
    # The authorization server is asked with a nonce other than the one the demo stored for this sign-in, as
    # when an attacker's code (from its own request) is injected into the victim's callback.
    forged = replace_param(location, "nonce", "n" * 43)
    result = await follow_authorization(visitor.http, stack.authz, forged, username)
    sid = visitor.sid
    status, page, _ = await visitor.callback(result.location)
    assert status == 400
    assert "The ID token was rejected" in page and "nonce" in page
    await assert_signed_out(visitor, redis, stack, sid)
    # What the server issued for the rejected sign-in is revoked, not left valid.
    revoked = await db.fetchval(
        "SELECT count(*) FROM grants WHERE client_id = $1 AND revoked_at IS NOT NULL", stack.client.client_id
    )
    assert revoked >= 1


async def test_denied_consent_is_a_readable_message(
    visitor: Visitor, username: str, stack: Stack, redis: Redis
) -> None:
    location = (await visitor.authorize(username, consent="deny")).location
    assert query_of(location)["error"] == "access_denied"
    status, page, _ = await visitor.callback(location)
    assert status == 400
    assert "You are not signed in" in page
    assert "You chose not to let the demo use your account" in page
    await assert_signed_out(visitor, redis, stack, None)


async def test_an_unknown_authorization_error_is_shown_escaped(
    visitor: Visitor, username: str, stack: Stack, redis: Redis
) -> None:
    location = await visitor.start_sign_in()
    state = query_of(location)["state"]
    answer = urlencode(
        {"error": "<b>weird</b>", "error_description": "<script>x</script>", "state": state, "iss": stack.authz}
    )
    status, page, _ = await visitor.get("/callback?" + answer)
    assert status == 400 and "Sign-in did not complete" in page
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


async def test_a_code_the_server_refuses_is_a_readable_message(visitor: Visitor, username: str, stack: Stack) -> None:
    location = (await visitor.authorize(username)).location
    status, page, _ = await visitor.callback(replace_param(location, "code", "not-a-code"))
    assert status == 400
    assert "would not exchange the code" in page and "invalid_grant" in page


async def test_signing_in_again_replaces_the_session_and_revokes_the_first_grant(
    visitor: Visitor, username: str, stack: Stack, redis: Redis, http: aiohttp.ClientSession
) -> None:
    await visitor.sign_in(username)
    first_sid = visitor.sid
    first = await stored_session(redis, stack.environ, first_sid)
    assert first is not None
    await visitor.sign_in(username)
    assert visitor.sid != first_sid
    assert await stored_session(redis, stack.environ, first_sid) is None
    status, body, _ = await token_request(
        http,
        stack.authz,
        stack.client,
        grant_type="refresh_token",
        refresh_token=first["tokens"]["refresh_token"],  # type: ignore[index]
    )
    assert status == 400 and body["error"] == "invalid_grant"


async def test_the_back_channel_can_use_an_internal_address(
    module_environ: dict[str, str], module_db: asyncpg.Pool, username: str, redis: Redis
) -> None:
    # As inside compose or a cluster: the browser is sent to the public issuer, while the demo calls the
    # authorization server at another address (here `localhost` instead of 127.0.0.1).
    internal = {"AUTHORIUM_CLIENT_DEMO_AUTHZ_URL": "http://localhost:{authz_port}"}
    async with running_stack(module_environ, module_db, **internal) as stack, browser() as http:
        visitor = Visitor(stack, http)
        assert (await visitor.start_sign_in()).startswith(stack.authz + "/authorize?")
        await visitor.sign_in(username)
        _, flow, _ = await visitor.get("/flow")
        assert "POST http://localhost:" in flow and "/token" in flow
