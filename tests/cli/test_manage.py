"""The management commands (issue 14 item 5): `authorium client list|show|update|disable|enable|delete|rotate-secret`,
`authorium user list|show|disable|enable|delete|set-password|sign-out`, `authorium grant list|revoke` and
`authorium audit`, run as an operator runs them, against the Postgres and Redis a running authorization server uses:
their changes take effect there at once (the announcement drops its cached client; revocations reach it)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest

from tests.authz.conftest import module_authz, module_server  # noqa: F401 - fixtures
from tests.authz.factor_flows import signed_in_with_app
from tests.authz.flows import PASSWORD, RegisteredClient, authorize, browser, make_client, make_user, token_request
from tests.processes import authorium
from tests.resource.conftest import Caller, user_token
from tests.waiting import eventually


@pytest.fixture
def authz(module_authz: str) -> str:  # noqa: F811
    return module_authz


async def run(environ: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(authorium, *args, env=environ, stdin=stdin)


async def ok(environ: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = await run(environ, *args, stdin=stdin)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


async def as_json(environ: dict[str, str], *args: str) -> Any:
    return orjson.loads(await ok(environ, *args, "--json"))


async def cc_status(http: aiohttp.ClientSession, authz: str, client: RegisteredClient) -> int:
    status, _, _ = await token_request(http, authz, client, grant_type="client_credentials")
    return status


async def refresh_status(http: aiohttp.ClientSession, authz: str, caller: Caller) -> int:
    status, _, _ = await token_request(
        http, authz, caller.client, grant_type="refresh_token", refresh_token=caller.refresh_token
    )
    return status


async def test_client_commands(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession, authz: str
) -> None:
    client = await make_client(
        db, grant_types=("client_credentials",), scope="notes:read notes:write", redirect_uris=()
    )
    client_id = client.client_id
    name = await db.fetchval("SELECT name FROM clients WHERE client_id = $1", client_id)
    assert [c["client_id"] for c in await as_json(environ, "client", "list", "--name", name)] == [client_id]
    table = await ok(environ, "client", "list", "--name", name)
    assert table.splitlines()[0].split() == ["client_id", "name", "grant_types", "scopes", "disabled"]
    assert client_id in table.splitlines()[1]
    shown = await as_json(environ, "client", "show", client_id)
    assert shown["scopes"] == ["notes:read", "notes:write"] and "client_secret" not in shown

    renamed = f"renamed {uuid.uuid4().hex[:8]}"
    updated = await as_json(environ, "client", "update", client_id, "--name", renamed, "--scope", "notes:read")
    assert (updated["name"], updated["scopes"]) == (renamed, ["notes:read"])
    bad = await run(environ, "client", "update", client_id, "--access-token-ttl", "5")
    assert bad.returncode == 2 and "access_token_ttl" in bad.stderr
    assert (await as_json(environ, "client", "show", client_id))["access_token_ttl"] is None

    # Cached by the running server first: the announcement must drop it.
    assert await cc_status(http, authz, client) == 200
    assert "disabled" in await ok(environ, "client", "disable", client_id)
    await eventually(lambda: _refused(http, authz, client), timeout=1.0, message="the disabled client refused")
    assert [c["client_id"] for c in await as_json(environ, "client", "list", "--name", renamed, "--disabled")] == [
        client_id
    ]
    assert await as_json(environ, "client", "list", "--name", renamed, "--enabled") == []
    await ok(environ, "client", "enable", client_id)
    assert await cc_status(http, authz, client) == 200

    rotated = await as_json(environ, "client", "rotate-secret", client_id)
    assert await cc_status(http, authz, RegisteredClient(client_id, rotated["client_secret"])) == 200
    assert await cc_status(http, authz, client) == 401
    bad = await run(environ, "client", "rotate-secret", client_id, "--overlap", "90000")
    assert bad.returncode == 2 and "overlap" in bad.stderr

    await ok(environ, "client", "delete", client_id)
    gone = await run(environ, "client", "show", client_id)
    assert gone.returncode == 1 and "no client" in gone.stderr
    again = await run(environ, "client", "delete", client_id)
    assert again.returncode == 1
    actors = await db.fetch(
        """SELECT event, details->>'actor' AS actor FROM audit_events
           WHERE client_id = $1 AND event <> 'client_registered' ORDER BY id""",
        client_id,
    )
    assert {r["actor"] for r in actors} == {"cli"}
    assert [r["event"] for r in actors] == [
        "client_updated",
        "client_disabled",
        "client_enabled",
        "client_secret_rotated",
        "client_deleted",
    ]


async def _refused(http: aiohttp.ClientSession, authz: str, client: RegisteredClient) -> bool:
    return await cc_status(http, authz, client) == 401


async def signs_in(authz: str, client: RegisteredClient, username: str, password: str = PASSWORD) -> bool:
    async with browser() as session:
        try:
            await authorize(session, authz, client, username, password=password, scope="notes:read")
        except AssertionError:
            return False
    return True


async def test_user_commands(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession, authz: str
) -> None:
    caller = await user_token(http, authz, db)
    username = await db.fetchval("SELECT username FROM users WHERE user_id = $1", uuid.UUID(caller.sub))
    assert [u["user_id"] for u in await as_json(environ, "user", "list", "--username", username)] == [caller.sub]
    assert username in await ok(environ, "user", "list", "--username", username)
    shown = await as_json(environ, "user", "show", username)
    assert shown == await as_json(environ, "user", "show", caller.sub)
    assert shown["disabled"] is False

    await ok(environ, "user", "disable", username)
    assert await refresh_status(http, authz, caller) == 400
    assert not await signs_in(authz, caller.client, username)
    await ok(environ, "user", "enable", username)
    assert await signs_in(authz, caller.client, username)

    refused = await run(environ, "user", "set-password", username)
    assert refused.returncode == 2 and "--password-stdin" in refused.stderr
    short = await run(environ, "user", "set-password", username, "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "8 to 1024" in short.stderr
    await ok(environ, "user", "set-password", username, "--password-stdin", stdin="another good password\n")
    assert not await signs_in(authz, caller.client, username)
    assert await signs_in(authz, caller.client, username, "another good password")

    again = await user_token(http, authz, db)
    other = await db.fetchval("SELECT username FROM users WHERE user_id = $1", uuid.UUID(again.sub))
    assert "1 grant revoked" in await ok(environ, "user", "sign-out", other)
    assert await refresh_status(http, authz, again) == 400

    await ok(environ, "user", "delete", username)
    gone = await run(environ, "user", "show", username)
    assert gone.returncode == 1 and "no user" in gone.stderr
    # A deleted user's events remain, found by their id.
    assert [e["type"] for e in await as_json(environ, "audit", "--user", caller.sub, "--type", "user_deleted")] == [
        "user_deleted"
    ]
    events = await db.fetch(
        "SELECT event FROM audit_events WHERE user_id = $1 AND details->>'actor' = 'cli' ORDER BY id",
        uuid.UUID(caller.sub),
    )
    # Disabling and deleting end the user's sessions too (with back-channel logout), recorded as the CLI's.
    assert [r["event"] for r in events] == [
        "user_disabled",
        "signed_out",
        "user_enabled",
        "user_password_set",
        "user_deleted",
        "signed_out",
    ]


async def test_grant_commands(
    environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession, authz: str
) -> None:
    caller = await user_token(http, authz, db)
    [grant] = await as_json(environ, "grant", "list", "--user", caller.sub)
    assert grant["client_id"] == caller.client_id and grant["last_used_at"]
    assert grant["grant_id"] in await ok(environ, "grant", "list", "--user", caller.sub)
    await ok(environ, "grant", "revoke", grant["grant_id"])
    assert await refresh_status(http, authz, caller) == 400
    assert await as_json(environ, "grant", "list", "--user", caller.sub) == []
    again = await run(environ, "grant", "revoke", grant["grant_id"])
    assert again.returncode == 1 and "no grant" in again.stderr


async def test_audit_command(environ: dict[str, str], db: asyncpg.Pool) -> None:
    client = await make_client(db)
    await ok(environ, "client", "disable", client.client_id)
    events = await as_json(environ, "audit", "--client", client.client_id, "--type", "client_disabled")
    assert [(e["type"], e["details"]["actor"]) for e in events] == [("client_disabled", "cli")]
    table = await ok(environ, "audit", "--client", client.client_id, "--since", "2020-01-01T00:00:00Z")
    assert "client_disabled" in table and "client_registered" in table
    assert await as_json(environ, "audit", "--client", client.client_id, "--until", "2020-01-01") == []
    username = await make_user(db)
    assert await as_json(environ, "audit", "--user", username) == []
    bad = await run(environ, "audit", "--since", "last tuesday")
    assert bad.returncode == 2 and "since" in bad.stderr


async def test_user_factor_commands(environ: dict[str, str], db: asyncpg.Pool, authz: str) -> None:
    """`authorium user factors USER [--json]` lists a user's second factors; `authorium user reset-factors USER`
    removes them (audited, actor cli), after which the password alone signs in again."""
    client = await make_client(db)
    async with browser() as session:
        username, _ = await signed_in_with_app(db, authz, client, session)
    [factor] = await as_json(environ, "user", "factors", username)
    assert factor["type"] == "totp" and factor["recovery_codes_left"] == 10
    assert factor["factor_id"] in await ok(environ, "user", "factors", username)
    assert "1 removed" in await ok(environ, "user", "reset-factors", username)
    assert await as_json(environ, "user", "factors", username) == []
    async with browser() as session:
        result = await authorize(session, authz, client, username, scope="openid")
    assert "code" in result.params
    missing = await run(environ, "user", "factors", f"nobody-{uuid.uuid4().hex[:8]}")
    assert missing.returncode == 1 and "no user" in missing.stderr
    user_id = await db.fetchval("SELECT user_id FROM users WHERE username = $1", username)
    assert (
        await db.fetchval(
            "SELECT details->>'actor' FROM audit_events WHERE event = 'second_factors_reset' AND user_id = $1", user_id
        )
        == "cli"
    )
