"""examples/service_key_client.py end to end, as its docstring says to run it: make a key, register the client with
`authorium client create --auth-method private_key_jwt --jwks-file` (no secret), then get a token with a signed
assertion (RFC 7523 section 2.2) and call the notes API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg

from tests.processes import authorium
from tests.resource.conftest import ResourceFactory

EXAMPLE = Path(__file__).parents[2] / "examples" / "service_key_client.py"


async def run_example(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_rfc7523_section_2_2_the_example_service_authenticates_with_its_key_and_no_secret(
    start_resource: ResourceFactory, authz: str, environ: dict[str, str], db: asyncpg.Pool, tmp_path: Path
) -> None:
    """The example's three steps over real HTTP, with the CLI in the middle: the client created for private_key_jwt
    has no secret (none printed, none stored), and the example's signed assertion gets a token the notes API takes."""
    key_file = tmp_path / "service-key.pem"
    code, jwks, err = await run_example("keygen", str(key_file), env={})
    assert code == 0, err
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [(key["kty"], "d" in key) for key in json.loads(jwks)["keys"]] == [("EC", False)]
    jwks_file = tmp_path / "service-jwks.json"
    jwks_file.write_text(jwks)

    created = await asyncio.to_thread(
        authorium,
        "client",
        "create",
        "--name",
        "key service",
        "--grant-type",
        "client_credentials",
        "--scope",
        "notes:read notes:admin",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        str(jwks_file),
        "--json",
        env=environ,
    )
    assert created.returncode == 0, created.stderr
    printed = json.loads(created.stdout)
    assert printed.get("client_secret") is None
    client_id = printed["client_id"]
    row = await db.fetchrow(
        "SELECT secret_hash, token_endpoint_auth_method FROM clients WHERE client_id = $1", client_id
    )
    assert row is not None and row["secret_hash"] is None
    assert row["token_endpoint_auth_method"] == "private_key_jwt"

    async with start_resource(AUTHORIUM_RESOURCE_URL="http://127.0.0.1:8001") as api:
        env = {"AUTHORIUM_ISSUER": authz, "NOTES_API_URL": api, "SERVICE_CLIENT_ID": client_id}
        code, out, err = await run_example("call", "some-user", env={**env, "SERVICE_KEY_FILE": str(key_file)})
        assert code == 0, err
        assert f"'sub': '{client_id}'" in out
        assert "0 note(s) of some-user" in out
        # Another key (not the registered one) gets nothing.
        other_key = tmp_path / "other-key.pem"
        assert (await run_example("keygen", str(other_key), env={}))[0] == 0
        code, out, err = await run_example("call", env={**env, "SERVICE_KEY_FILE": str(other_key)})
        assert code != 0 and "invalid_client" in err
