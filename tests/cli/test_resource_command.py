"""`authorium resource create|list|update|delete`: the resource registry (RFC 8707) from the command line, and
running authorization servers that follow each change at once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aiohttp
import asyncpg
import jwt

from tests.authz.conftest import running_authz
from tests.authz.flows import make_client, token_request
from tests.processes import authorium
from tests.waiting import eventually


async def _resource(environ: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(authorium, "resource", *args, env=environ)
    return result.returncode, result.stdout, result.stderr


async def _scopes_known(http: aiohttp.ClientSession, authz: str) -> set[str]:
    async with http.get(authz + "/.well-known/oauth-authorization-server") as resp:
        return set((await resp.json())["scopes_supported"])


async def test_a_registered_api_gets_its_own_tokens_on_a_running_server_at_once(
    environ: dict[str, str], http: aiohttp.ClientSession, db: asyncpg.Pool
) -> None:
    """RFC 8707 section 2: `resource create` registers an API; a running server picks it up from the announcement
    (well within its 30 s reload), and issues tokens whose `aud` is the API; update and delete follow the same way."""
    tag = uuid.uuid4().hex[:8]
    identifier = f"https://inventory-{tag}.example"
    scopes = f"{tag}:read {tag}:write"
    async with running_authz(environ) as authz:
        started = time.monotonic()
        code, out, err = await _resource(
            environ, "create", "--identifier", identifier, "--scope", scopes, "--name", "Inventory", "--json"
        )
        assert code == 0, err
        created = json.loads(out)  # the whole of stdout is one JSON document
        assert (created["identifier"], created["scopes"], created["name"]) == (identifier, scopes.split(), "Inventory")
        assert created["access_token_ttl"] is None

        async def known() -> bool:
            return {f"{tag}:read", f"{tag}:write"} <= await _scopes_known(http, authz)

        await eventually(known, timeout=5, message="the running server to reload the registry")
        assert time.monotonic() - started < 10

        client = await make_client(db, grant_types=("client_credentials",), scope=f"{tag}:read notes:read")
        status, body, _ = await token_request(http, authz, client, grant_type="client_credentials", scope=f"{tag}:read")
        assert status == 200, body
        assert jwt.decode(body["access_token"], options={"verify_signature": False})["aud"] == identifier

        code, out, err = await _resource(environ, "update", created["id"], "--access-token-ttl", "120", "--json")
        assert code == 0, err
        assert json.loads(out)["access_token_ttl"] == 120

        async def lifetime() -> bool:
            status, body, _ = await token_request(
                http, authz, client, grant_type="client_credentials", scope=f"{tag}:read"
            )
            return status == 200 and body["expires_in"] == 120

        await eventually(lifetime, timeout=5, message="the new lifetime to apply")

        code, out, err = await _resource(environ, "list", "--json")
        assert code == 0, err
        listed = {r["id"]: r for r in json.loads(out)}
        assert listed[created["id"]]["access_token_ttl"] == 120
        assert listed["admin"]["scopes"] == ["authorium:admin"] and listed["admin"]["built_in"] is True
        assert listed["notes"]["identifier"] == "http://127.0.0.1:8001"

        code, out, err = await _resource(environ, "list")
        assert code == 0, err
        assert identifier in out and "authorium:admin" in out  # a table for people

        code, out, err = await _resource(environ, "delete", created["id"])
        assert code == 0, err

        async def refused() -> bool:
            status, body, _ = await token_request(
                http, authz, client, grant_type="client_credentials", scope=f"{tag}:read"
            )
            return status == 400 and body["error"] == "invalid_scope"

        await eventually(refused, timeout=5, message="the deleted API's scope to be refused")
    assert await db.fetchval("SELECT count(*) FROM resources WHERE identifier = $1", identifier) == 0


async def test_bad_input_is_refused_with_a_reason_and_stores_nothing(environ: dict[str, str], db: asyncpg.Pool) -> None:
    """RFC 8707 section 2: identifiers are absolute URIs without fragments; a scope has one owner; the built-in
    entries stay. Each refusal is one line on stderr, exit status 2 (1 for an unknown id), nothing on stdout."""
    tag = uuid.uuid4().hex[:8]
    before = await db.fetchval("SELECT count(*) FROM resources")
    new = ["create", "--identifier", f"https://{tag}.example"]
    cases = [
        (["create", "--identifier", "https://api.example/#frag", "--scope", f"{tag}:a"], 2, "fragment"),
        (["create", "--identifier", "/relative", "--scope", f"{tag}:a"], 2, "absolute URI"),
        ([*new, "--scope", "notes:read"], 2, "declared by"),
        ([*new, "--scope", "authorium:admin"], 2, "cannot be declared"),
        ([*new, "--scope", 'bad"scope'], 2, "scope-tokens"),
        (
            ["create", "--identifier", f"https://{tag}.example", "--scope", f"{tag}:a", "--access-token-ttl", "5"],
            2,
            "30 ",
        ),
        (["update", "admin", "--access-token-ttl", "60"], 2, "built in"),
        (["delete", "notes"], 2, "cannot be deleted"),
        (["delete", str(uuid.uuid4())], 1, "no resource"),
    ]
    for args, status, message in cases:
        code, out, err = await _resource(environ, *args, "--json")
        assert (code, out) == (status, ""), (args, err)
        assert message in err, (args, err)
    assert await db.fetchval("SELECT count(*) FROM resources") == before
