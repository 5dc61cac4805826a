"""`authorium setup`: the one-shot job of a deployment. Migrations, signing keys, and the demo client and user
that the environment declares; idempotent, and safe when several run at once."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import asyncpg
import pytest

from authz.users.passwords import Passwords
from tests.conftest import DatabaseFactory
from tests.processes import authorium

SECRET = "a-demo-secret-of-well-over-thirty-two-characters"


def declared(environ: dict[str, str], database_url: str, client_id: str) -> dict[str, str]:
    return {
        **environ,
        "DATABASE_URL": database_url,
        "AUTHORIUM_CLIENT_DEMO_CLIENT_ID": client_id,
        "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET": SECRET,
        "AUTHORIUM_CLIENT_DEMO_URL": "https://demo.example",
        "AUTHORIUM_DEMO_PASSWORD": "demo password 1",
    }


async def test_setup_prepares_a_fresh_database_and_then_has_nothing_to_do(
    environ: dict[str, str], make_database: DatabaseFactory
) -> None:
    url = await make_database(migrated=False)
    env = declared(environ, url, "authorium-demo")
    first = await asyncio.to_thread(authorium, "setup", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied migration authz 0001" in first.stdout
    assert "demo client authorium-demo registered for https://demo.example/callback" in first.stdout
    assert "demo user 'demo' created" in first.stdout
    # RFC 8707: the notes API, the default resource, is registered under AUTHORIUM_RESOURCE_URL.
    assert "notes API registered as http://127.0.0.1:8001" in first.stdout

    conn = await asyncpg.connect(url)
    try:
        client = await conn.fetchrow("SELECT * FROM clients WHERE client_id = 'authorium-demo'")
        assert client["secret_hash"] == hashlib.sha256(SECRET.encode()).digest()
        assert list(client["redirect_uris"]) == ["https://demo.example/callback"]
        # OpenID Connect RP-Initiated Logout 1.0 section 3.1 and Back-Channel Logout 1.0 section 2.2.
        assert list(client["post_logout_redirect_uris"]) == ["https://demo.example/signed-out"]
        assert client["backchannel_logout_uri"] == "https://demo.example/backchannel-logout"
        assert client["backchannel_logout_session_required"] is True
        assert "openid" in client["scopes"]
        assert await conn.fetchval("SELECT count(*) FROM signing_keys WHERE state = 'current'") >= 1
        password_hash = await conn.fetchval("SELECT password_hash FROM users WHERE username = 'demo'")
        with Passwords(workers=1) as passwords:
            assert await passwords.verify(password_hash, "demo password 1")

        # A changed secret or URL in the environment takes effect on the next run; nothing else is redone.
        env["AUTHORIUM_CLIENT_DEMO_URL"] = "https://demo2.example"
        second = await asyncio.to_thread(authorium, "setup", env=env)
        assert second.returncode == 0, second.stderr
        assert "applied migration" not in second.stdout and "signing key" not in second.stdout
        assert "notes API" not in second.stdout
        notes = await conn.fetchrow("SELECT identifier, scopes FROM resources WHERE resource_id = 'notes'")
        assert (notes["identifier"], list(notes["scopes"])) == (
            "http://127.0.0.1:8001",
            ["notes:read", "notes:write", "notes:admin"],
        )
        redirect_uris = await conn.fetchval("SELECT redirect_uris FROM clients WHERE client_id = 'authorium-demo'")
        assert list(redirect_uris) == ["https://demo2.example/callback"]

        # Where authz reaches the demo for logout tokens, when not at its public URL (compose, Kubernetes).
        env["AUTHORIUM_CLIENT_DEMO_BACKCHANNEL_LOGOUT_URI"] = "https://demo-internal.example/backchannel-logout"
        third = await asyncio.to_thread(authorium, "setup", env=env)
        assert third.returncode == 0, third.stderr
        logout = await conn.fetchrow(
            "SELECT post_logout_redirect_uris, backchannel_logout_uri FROM clients WHERE client_id = 'authorium-demo'"
        )
        assert list(logout["post_logout_redirect_uris"]) == ["https://demo2.example/signed-out"]
        assert logout["backchannel_logout_uri"] == "https://demo-internal.example/backchannel-logout"
        assert await conn.fetchval("SELECT count(*) FROM clients WHERE client_id = 'authorium-demo'") == 1
    finally:
        await conn.close()


async def test_concurrent_setup_runs_all_succeed(environ: dict[str, str], make_database: DatabaseFactory) -> None:
    url = await make_database(migrated=False)
    env = declared(environ, url, "concurrent-demo")
    results = await asyncio.gather(*(asyncio.to_thread(authorium, "setup", env=env) for _ in range(4)))
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE username = 'demo'") == 1
        by_alg = await conn.fetch("SELECT alg, count(*) FROM signing_keys WHERE state = 'current' GROUP BY alg")
        assert by_alg and all(row["count"] == 1 for row in by_alg)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET": "too-short"}, "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET"),
        ({"AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET": ""}, "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET"),
        ({"AUTHORIUM_CLIENT_DEMO_CLIENT_ID": "has spaces in it"}, "AUTHORIUM_CLIENT_DEMO_CLIENT_ID"),
        ({"AUTHORIUM_CLIENT_DEMO_URL": "https://demo.example/with/path"}, "AUTHORIUM_CLIENT_DEMO_URL"),
        ({"AUTHORIUM_DEMO_PASSWORD": "short"}, "AUTHORIUM_DEMO_PASSWORD"),
    ],
)
async def test_a_demo_client_that_cannot_be_declared_stops_setup_with_one_line(
    environ: dict[str, str], db_url: str, changes: dict[str, str], variable: str
) -> None:
    env = {**declared(environ, db_url, "bad-demo"), **changes}
    result = await asyncio.to_thread(authorium, "setup", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], result.stderr
    assert SECRET not in result.stderr


@pytest.mark.parametrize(
    "client_id", [str(uuid.uuid4()), uuid.uuid4().hex, uuid.uuid4().hex.upper(), "0123456789abcdef-0123456789abcdef"]
)
async def test_a_demo_client_id_in_the_form_of_a_user_id_is_refused(
    environ: dict[str, str], db_url: str, db: asyncpg.Pool, client_id: str
) -> None:
    """RFC 9068 section 5 and RFC 9700 section 4.15: a client-credentials token's `sub` is the client id and a user
    token's is the user id (a UUID), so an id a person chooses may not be one `uuid.UUID` reads: setup stops with one
    line naming the variable and saying why, and registers nothing."""
    result = await asyncio.to_thread(authorium, "setup", env=declared(environ, db_url, client_id))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AUTHORIUM_CLIENT_DEMO_CLIENT_ID" in lines[0], result.stderr
    assert "user id" in lines[0]
    assert await db.fetchval("SELECT count(*) FROM clients WHERE client_id = $1", client_id) == 0
