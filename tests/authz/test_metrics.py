"""The authorization server's domain metrics move when the events happen, seen as an operator sees them: in a scrape
of `/metrics` on the private listener (docs/operations.md, "Metrics")."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
import asyncpg

from tests.authz.conftest import AuthzFactory, Person, signed_in_person
from tests.authz.flows import PASSWORD, authorize, hidden_fields, make_client, pkce_pair, token_request
from tests.authz.test_authorization_code import code_for, redeem
from tests.scrape import scrape


async def test_tokens_issued_count_by_grant_type_and_client_kind(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    confidential = await make_client(db)
    public = await make_client(db, public=True)
    before = await scrape(http, authz)

    status, body, _ = await token_request(http, authz, confidential, grant_type="client_credentials")
    assert status == 200, body
    verifier, challenge = pkce_pair()
    code = await code_for(authz, public, person, scope="openid offline_access", challenge=challenge)
    status, issued = await redeem(http, authz, public, code, code_verifier=verifier)
    assert status == 200, issued
    status, body, _ = await token_request(
        http, authz, public, grant_type="refresh_token", refresh_token=issued["refresh_token"]
    )
    assert status == 200, body
    # A refused request issues nothing.
    status, _, _ = await token_request(http, authz, confidential, grant_type="client_credentials", scope="nope")
    assert status == 400

    after = await scrape(http, authz)
    name = "authorium_tokens_issued_total"
    for grant_type, kind in [
        ("client_credentials", "confidential"),
        ("authorization_code", "public"),
        ("refresh_token", "public"),
    ]:
        moved = after.value(name, grant_type=grant_type, client_kind=kind) - before.value(
            name, grant_type=grant_type, client_kind=kind
        )
        assert moved == 1, (grant_type, kind, after.text)
    assert after.value(name) - before.value(name) == 3


async def test_a_code_replay_and_a_refresh_reuse_are_counted_with_their_revocations(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    client = await make_client(db)
    before = await scrape(http, authz)

    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read offline_access", challenge=challenge)
    status, first = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, first
    status, _ = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 400
    replayed = await scrape(http, authz)
    assert replayed.value("authorium_code_replays_total") - before.value("authorium_code_replays_total") == 1
    assert replayed.value("authorium_revocations_total") > before.value("authorium_revocations_total")

    code = await code_for(authz, client, person, scope="notes:read offline_access", challenge=challenge)
    status, second = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, second
    for expected in (200, 400):  # the rotated-out refresh token, presented again
        status, body, _ = await token_request(
            http, authz, client, grant_type="refresh_token", refresh_token=second["refresh_token"]
        )
        assert status == expected, body
    reused = await scrape(http, authz)
    name = "authorium_refresh_token_reuse_total"
    assert reused.value(name) - replayed.value(name) == 1
    assert reused.value("authorium_revocations_total") > replayed.value("authorium_revocations_total")

    # RFC 7009: one revocation more.
    async with http.post(authz + "/revoke", data={"token": first["access_token"]}, headers=client.basic) as resp:
        assert resp.status == 200
    revoked = await scrape(http, authz)
    assert revoked.value("authorium_revocations_total") - reused.value("authorium_revocations_total") == 1


async def test_sign_ins_count_by_outcome(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, db_url: str
) -> None:
    client = await make_client(db)
    async with signed_in_person(db_url) as someone:
        before = await scrape(http, authz)
        query = urlencode({"response_type": "code", "client_id": client.client_id, "redirect_uri": client.redirect_uri})
        async with someone.browser.get(f"{authz}/authorize?{query}&scope=openid") as resp:
            fields = hidden_fields(await resp.text())
        wrong = {**fields, "username": someone.username, "password": PASSWORD + "x"}
        async with someone.browser.post(authz + "/authorize/login", data=wrong, allow_redirects=False) as resp:
            assert resp.status == 200  # the login page again
        await authorize(someone.browser, authz, client, someone.username, scope="openid")
    after = await scrape(http, authz)
    name = "authorium_sign_ins_total"
    for outcome in ("failure", "success"):
        moved = after.value(name, outcome=outcome, factor="password") - before.value(name, outcome=outcome)
        assert moved == 1, (outcome, after.text)


async def test_token_requests_over_the_rate_limit_are_counted(
    start_authz: AuthzFactory, http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    client = await make_client(db, grant_types=("client_credentials",), redirect_uris=())
    async with start_authz(AUTHORIUM_TOKEN_RATE_LIMIT="2") as authz:
        statuses = [(await token_request(http, authz, client, grant_type="client_credentials"))[0] for _ in range(4)]
        assert statuses == [200, 200, 429, 429]
        after = await scrape(http, authz)
    assert after.value("authorium_rate_limited_total", limit="token") == 2
    assert after.value("authorium_tokens_issued_total") == 2


async def test_state_read_at_scrape_time(authz: str, http: aiohttp.ClientSession) -> None:
    """Signing-key ages, the Postgres pool, the event feed and the process are there to be read at any scrape."""
    seen = await scrape(http, authz)
    assert seen.value("authorium_signing_key_age_seconds", state="current") > 0
    assert seen.value("authorium_postgres_pool_connections", state="max") > 0
    assert seen.value("authorium_postgres_pool_connections", state="in_use") >= 0
    assert seen.value("authorium_event_feed_up") == 1
    assert seen.value("authorium_workers") == 1
    assert seen.value("process_resident_memory_bytes") > 0
    assert seen.value("http_request_duration_seconds_count", route="/metrics") >= 0


async def test_store_round_trips_are_timed(
    authz: str, http: aiohttp.ClientSession, db: asyncpg.Pool, person: Person
) -> None:
    """A code exchange runs Postgres statements (the grant) and Redis commands (the code's Lua script, the token
    endpoint's rate limit): each is observed in `authorium_postgres_query_seconds` and
    `authorium_redis_command_seconds` by command, and a pipeline counts once as `PIPELINE`."""
    client = await make_client(db)
    before = await scrape(http, authz)
    verifier, challenge = pkce_pair()
    code = await code_for(authz, client, person, scope="notes:read offline_access", challenge=challenge)
    status, issued = await redeem(http, authz, client, code, code_verifier=verifier)
    assert status == 200, issued
    status, _, _ = await token_request(http, authz, client, token=issued["access_token"], grant_type="nope")
    async with http.post(authz + "/revoke", data={"token": issued["refresh_token"]}, headers=client.basic) as resp:
        assert resp.status == 200
    after = await scrape(http, authz)

    def moved(name: str, **labels: str) -> float:
        return after.value(name + "_count", **labels) - before.value(name + "_count", **labels)

    assert moved("authorium_postgres_query_seconds") >= 2, after.text
    assert moved("authorium_redis_command_seconds") >= 2
    commands = {s.labels["command"] for s in after.samples if s.name == "authorium_redis_command_seconds_count"}
    assert commands, after.text
    assert all(c == c.upper() and " " not in c for c in commands), commands
    assert "EVALSHA" in commands or "EVAL" in commands, commands
    assert "PIPELINE" in commands, commands
    assert after.value("authorium_redis_command_seconds_sum") > 0
