"""An operator signing a user out everywhere (`POST /admin/v1/users/{id}/sign-out`, `authorium user sign-out`) ends
every session of theirs with back-channel logout to the clients each reached (OpenID Connect Back-Channel Logout 1.0
sections 2.4-2.5), as the person's own sign-out does."""

from __future__ import annotations

import aiohttp
import asyncpg
import jwt
import pytest

from authz.sessions import backchannel
from tests.admin.conftest import Admin, call
from tests.authz import flows
from tests.authz.conftest import cheap_password_hashing  # noqa: F401 - fixture
from tests.authz.test_backchannel_logout import logout_client, verified
from tests.rp import running_rp
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backchannel, "FIRST_RETRY", 0.2)


async def test_an_operator_signing_a_user_out_everywhere_tells_the_clients(
    authz: str, admin_url: str, db: asyncpg.Pool, http: aiohttp.ClientSession, admin: Admin
) -> None:
    """The admin API's sign-out (every session of the user) sends each session's clients a logout token with that
    session's sid, as the person's own sign-out does; the sessions end."""
    async with running_rp() as rp:
        client = await logout_client(db, rp)
        username = await flows.make_user(db)
        user_id = str(await db.fetchval("SELECT user_id FROM users WHERE username = $1", username))
        sids = set()
        browsers = [flows.browser(), flows.browser()]
        try:
            for browser in browsers:
                tokens = await flows.code_flow(http, browser, authz, client, username, scope="openid")
                sids.add(jwt.decode(tokens["id_token"], options={"verify_signature": False})["sid"])
            status, body, _ = await call(http, admin, "POST", f"{admin_url}/admin/v1/users/{user_id}/sign-out")
            assert status == 200, body
            await eventually(lambda: len(rp.received) == 2, message="two logout tokens")
            got = {(await verified(http, authz, t, client.client_id))["sid"] for t in rp.tokens}
            assert got == sids
            params = {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": client.redirect_uri,
                "prompt": "none",
            }
            for browser in browsers:
                async with browser.get(f"{authz}/authorize", params=params, allow_redirects=False) as resp:
                    assert flows.query_of(resp.headers["Location"])["error"] == "login_required"
        finally:
            for browser in browsers:
                await browser.close()
