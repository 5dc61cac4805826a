"""Back-Channel Logout 1.0 from the authorization server's side: the logout token (section 2.4), its delivery to each
client the session reached that registered a `backchannel_logout_uri` (section 2.5: a form POST of `logout_token`),
retried with backoff when the client does not answer 200 and never blocking the person's sign-out, from a durable
outbox that survives a restart of the server; each delivery in the audit log."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import asyncpg
import jwt
import pytest

from authorium_shared.jwks_cache import JWKSCache
from authorium_shared.jwt import TokenInvalid
from authorium_shared.resources import create_pg_pool
from authz.sessions import backchannel
from tests.authz import flows
from tests.authz.conftest import AuthzFactory
from tests.conftest import DatabaseFactory
from tests.rp import RelyingParty, running_rp
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("cheap_password_hashing")
EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def authz(module_authz: str) -> str:
    return module_authz


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries a fraction of a second apart instead of seconds, so the tests do not wait."""
    monkeypatch.setattr(backchannel, "FIRST_RETRY", 0.2)


async def verified(http: aiohttp.ClientSession, authz: str, token: str, client_id: str) -> dict[str, Any]:
    """Section 2.6 steps 1-4 as a client does them: signature through the issuer's JWKS, `typ`, `iss`, `aud`."""
    keys = JWKSCache(http, authz + "/jwks.json")
    claims = await keys.verify(
        token,
        algorithms=("RS256",),
        issuer=authz,
        audience=client_id,
        typ="logout+jwt",
        required=("iss", "aud", "iat", "exp", "jti", "events"),
    )
    return claims


async def logout_client(db: asyncpg.Pool, rp: RelyingParty, *, session_required: bool = True) -> flows.RegisteredClient:
    return await flows.make_client(
        db,
        backchannel_logout_uri=rp.backchannel_logout_uri,
        backchannel_logout_session_required=session_required,
        post_logout_redirect_uris=("https://client.example/signed-out",),
    )


async def sign_out(browser: aiohttp.ClientSession, authz: str, id_token: str) -> float:
    """RP-Initiated Logout with a hint; returns how long the answer took."""
    started = time.monotonic()
    async with browser.get(f"{authz}/logout", params={"id_token_hint": id_token}, allow_redirects=False) as resp:
        assert resp.status == 200, await resp.text()
    return time.monotonic() - started


async def test_section_2_4_every_client_the_session_reached_gets_a_valid_logout_token(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Sections 2.4 and 2.5: each client the session signed in to gets one form POST of `logout_token`: typ
    logout+jwt, signed by the issuer's key, with iss, aud (the client), iat, exp, jti, the logout event (an empty
    object), the session's `sid` (as in its ID tokens) and `sub`, and no nonce. A client the session never reached,
    and one that registered no back-channel URI, get nothing."""
    async with running_rp() as first, running_rp() as second, running_rp() as elsewhere:
        one, two = await logout_client(db, first), await logout_client(db, second)
        unreached = await logout_client(db, elsewhere)
        silent = await flows.make_client(db)
        username = await flows.make_user(db)
        async with flows.browser() as browser:
            tokens = await flows.code_flow(http, browser, authz, one, username, scope="openid")
            await flows.code_flow(http, browser, authz, two, None, scope="openid")
            await flows.code_flow(http, browser, authz, silent, None, scope="openid")
            id_claims = jwt.decode(tokens["id_token"], options={"verify_signature": False})
            await sign_out(browser, authz, tokens["id_token"])
        await eventually(lambda: len(first.received) and len(second.received), message="logout tokens delivered")
        for rp, client in ((first, one), (second, two)):
            (received,) = rp.received
            assert received.content_type == "application/x-www-form-urlencoded"
            (token,) = received.form["logout_token"]
            assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
            claims = await verified(http, authz, token, client.client_id)
            assert claims["aud"] == client.client_id
            assert claims["events"] == {EVENT: {}}
            assert claims["sid"] == id_claims["sid"] and claims["sub"] == id_claims["sub"]
            assert "nonce" not in claims
            assert 0 < claims["exp"] - claims["iat"] <= 300 and abs(claims["iat"] - time.time()) < 30
        assert first.tokens[0] != second.tokens[0]
        assert (
            jwt.decode(first.tokens[0], options={"verify_signature": False})["jti"]
            != jwt.decode(second.tokens[0], options={"verify_signature": False})["jti"]
        )
        with pytest.raises(TokenInvalid):
            await verified(http, authz, first.tokens[0], two.client_id)
        assert elsewhere.received == [] and unreached.client_id

        async def audited() -> bool:
            rows = await db.fetch(
                """SELECT client_id FROM audit_events
                   WHERE event = 'backchannel_logout_delivered' AND client_id = ANY($1)""",
                [one.client_id, two.client_id],
            )
            return sorted(r["client_id"] for r in rows) == sorted([one.client_id, two.client_id])

        await eventually(audited, message="each delivery in the audit log")


async def test_section_2_5_a_failing_client_is_retried_and_never_blocks_the_sign_out(
    authz: str, db: asyncpg.Pool, http: aiohttp.ClientSession
) -> None:
    """Section 2.5: a client that answers errors is tried again (with backoff) until it answers 200; the person's
    sign-out answered at once all the same; the audit log says how many attempts it took."""
    async with running_rp() as rp:
        rp.answers = [500, 503]
        client = await logout_client(db, rp)
        async with flows.browser() as browser:
            tokens = await flows.code_flow(http, browser, authz, client, await flows.make_user(db), scope="openid")
            took = await sign_out(browser, authz, tokens["id_token"])
        assert took < 2
        await eventually(lambda: len(rp.received) == 3, timeout=10, message="three attempts")
        claims = [await verified(http, authz, t, client.client_id) for t in rp.tokens]
        assert len({c["sid"] for c in claims}) == 1
        details = await eventually(
            lambda: db.fetchval(
                "SELECT details FROM audit_events WHERE event = 'backchannel_logout_delivered' AND client_id = $1",
                client.client_id,
            )
        )
        assert details["attempts"] == 3
        assert await db.fetchval("SELECT count(*) FROM backchannel_logouts WHERE client_id = $1", client.client_id) == 0


async def test_section_2_5_the_outbox_survives_a_restart_of_the_server(
    start_authz: AuthzFactory,
    make_database: DatabaseFactory,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The logout token still to deliver is in Postgres: a server stopped before the client answered loses nothing,
    and the next server to run delivers it. (A database of its own: every server on a database drains its outbox,
    and the module's server has another issuer.)"""
    # The first server's retry would come after it stopped.
    monkeypatch.setattr(backchannel, "FIRST_RETRY", 60.0)
    database = await make_database()
    db = await create_pg_pool(database, max_size=2)
    try:
        async with running_rp() as rp:
            rp.answers = [503]
            client = await logout_client(db, rp)
            async with start_authz(DATABASE_URL=database) as first:
                async with flows.browser() as browser:
                    username = await flows.make_user(db)
                    tokens = await flows.code_flow(http, browser, first, client, username, scope="openid")
                    await sign_out(browser, first, tokens["id_token"])
                await eventually(lambda: len(rp.received) == 1, message="the first attempt")
            queued = "SELECT count(*) FROM backchannel_logouts WHERE client_id = $1"
            assert await db.fetchval(queued, client.client_id) == 1
            # The stopped server's lease on the row ends; another server takes it then.
            due = "UPDATE backchannel_logouts SET next_attempt_at = now() WHERE client_id = $1"
            await db.execute(due, client.client_id)
            async with start_authz(DATABASE_URL=database) as second:
                await eventually(lambda: len(rp.received) == 2, message="the second server's attempt")
                await verified(http, second, rp.tokens[1], client.client_id)
                await eventually(lambda: db.fetchval(queued.replace("count(*)", "count(*) = 0"), client.client_id))
    finally:
        await db.close()
