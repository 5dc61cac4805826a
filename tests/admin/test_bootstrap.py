"""The first admin client: `authorium setup` registers it from AUTHORIUM_ADMIN_CLIENT_ID and
AUTHORIUM_ADMIN_CLIENT_SECRET (or AUTHORIUM_ADMIN_CLIENT_SECRET_FILE), idempotently; its client-credentials token for
`authorium:admin` (RFC 6749 section 4.4) opens the admin API."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp

from tests.admin.conftest import Admin, admin_token
from tests.authz.flows import RegisteredClient
from tests.processes import authorium

SECRET = "an-admin-secret-of-well-over-thirty-two-characters"


async def test_setup_registers_the_admin_client_once(
    environ: dict[str, str], tmp_path: Path, http: aiohttp.ClientSession, authz: str, admin_url: str
) -> None:
    client_id = f"admin-{uuid.uuid4().hex[:8]}"
    secret_file = tmp_path / "admin-secret"
    secret_file.write_text(SECRET + "\n")
    env = {**environ, "AUTHORIUM_ADMIN_CLIENT_ID": client_id, "AUTHORIUM_ADMIN_CLIENT_SECRET_FILE": str(secret_file)}
    for _ in range(2):
        result = await asyncio.to_thread(authorium, "setup", env=env)
        assert result.returncode == 0, result.stderr
        assert f"admin client {client_id} registered" in result.stdout
        assert SECRET not in result.stdout + result.stderr
    admin = Admin(
        RegisteredClient(client_id, SECRET), await admin_token(http, authz, RegisteredClient(client_id, SECRET))
    )
    async with http.get(
        admin_url + "/admin/v1/clients", params={"name": "Authorium admin"}, headers=admin.headers
    ) as resp:
        assert resp.status == 200
        assert client_id in [c["client_id"] for c in (await resp.json())["items"]]


async def test_setup_needs_both_variables(environ: dict[str, str]) -> None:
    result = await asyncio.to_thread(authorium, "setup", env={**environ, "AUTHORIUM_ADMIN_CLIENT_ID": "lonely-admin"})
    assert result.returncode == 2
    assert "AUTHORIUM_ADMIN_CLIENT_SECRET" in result.stderr
