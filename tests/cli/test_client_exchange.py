"""The operator's token exchange policy (RFC 8693) from the command line: `client create --grant-type
urn:ietf:params:oauth:grant-type:token-exchange --may-exchange-for RESOURCE` and `client update --may-exchange-for` /
`--no-may-exchange-for`. Each resource named must be registered (RFC 8707) and not the admin API; refusals exit 2,
name the option's member, and change nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid

import asyncpg

from tests.authz.flows import make_client
from tests.processes import authorium

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
NOTES_API = "http://127.0.0.1:8001"  # AUTHORIUM_RESOURCE_URL's default: always registered
ADMIN_API = "http://127.0.0.1:8010"  # AUTHORIUM_ADMIN_URL's default


async def run(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(authorium, *args, env=environ)


async def test_a_service_is_registered_for_token_exchange_towards_registered_resources(
    environ: dict[str, str], db: asyncpg.Pool
) -> None:
    """DESIGN.md: the grant type named by its URN (RFC 8693 section 2.1), and `--may-exchange-for` repeatable."""
    created = await run(
        environ,
        *("client", "create", "--name", "orders", "--grant-type", GRANT),
        *("--may-exchange-for", NOTES_API, "--may-exchange-for", NOTES_API, "--json"),
    )
    assert created.returncode == 0, created.stderr
    row = await db.fetchrow("SELECT * FROM clients WHERE client_id = $1", json.loads(created.stdout)["client_id"])
    assert list(row["grant_types"]) == [GRANT]
    assert list(row["may_exchange_for"]) == [NOTES_API]


async def test_client_create_refuses_targets_that_are_not_registered_or_are_the_admin_api(
    environ: dict[str, str], db: asyncpg.Pool
) -> None:
    """RFC 8707: a target is a registered resource; the admin API is never one. A public client cannot exchange."""
    name = f"refused {uuid.uuid4().hex[:8]}"
    for target, said in (("https://unregistered.example/api", "not a registered resource"), (ADMIN_API, "admin API")):
        refused = await run(
            environ, "client", "create", "--name", name, "--grant-type", GRANT, "--may-exchange-for", target, "--json"
        )
        assert refused.returncode == 2, refused.stderr
        assert "may_exchange_for" in refused.stderr and said in refused.stderr
        assert refused.stdout == ""
    public = await run(environ, "client", "create", "--name", name, "--public", "--grant-type", GRANT, "--json")
    assert public.returncode == 2 and "public client cannot use token exchange" in public.stderr
    assert await db.fetchval("SELECT count(*) FROM clients WHERE name = $1", name) == 0


async def test_client_update_sets_and_withdraws_the_targets(environ: dict[str, str], db: asyncpg.Pool) -> None:
    """`client update --may-exchange-for` replaces the list, `--no-may-exchange-for` empties it; an unregistered
    resource is refused and leaves the list as it was."""
    client = await make_client(db, grant_types=(GRANT,), redirect_uris=())
    client_id = client.client_id

    async def targets() -> list[str]:
        return list(await db.fetchval("SELECT may_exchange_for FROM clients WHERE client_id = $1", client_id))

    updated = await run(environ, "client", "update", client_id, "--may-exchange-for", NOTES_API, "--json")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["may_exchange_for"] == [NOTES_API]
    bad = await run(environ, "client", "update", client_id, "--may-exchange-for", "https://unregistered.example/")
    assert bad.returncode == 2 and "may_exchange_for" in bad.stderr
    assert await targets() == [NOTES_API]
    both = await run(environ, "client", "update", client_id, "--may-exchange-for", NOTES_API, "--no-may-exchange-for")
    assert both.returncode == 2  # one or the other
    withdrawn = await run(environ, "client", "update", client_id, "--no-may-exchange-for", "--json")
    assert withdrawn.returncode == 0, withdrawn.stderr
    assert await targets() == []
