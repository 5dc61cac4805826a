"""Signing in to the demo client with the authorization code flow, and every way a callback can go wrong."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from redis.asyncio import Redis

from tests.authz.flows import query_of
from tests.client_demo.conftest import Visitor, stored_session
from tests.stack import Stack


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
