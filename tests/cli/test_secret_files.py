"""Secrets from files, as container platforms mount them: every secret variable also as `NAME_FILE`, for the
services, `setup` and the key commands alike; a bad one stops the command with one line, never the secret."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from argon2 import PasswordHasher

from authorium_shared.keys import generate_kek
from authorium_shared.settings import SECRET_VARIABLES
from tests.conftest import DEMO_CLIENT_ENV, DatabaseFactory
from tests.processes import authorium, authorium_popen, free_port, wait_for_port

# For each secret variable, a command that reads it.
READERS = {
    "AUTHORIUM_KEK": ("serve", "authz"),
    "AUTHORIUM_KEK_PREVIOUS": ("serve", "authz"),
    "AUTHORIUM_REGISTRATION_TOKEN": ("serve", "authz"),
    "DATABASE_URL": ("serve", "resource"),
    "REDIS_URL": ("serve", "client-demo"),
    "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET": ("serve", "client-demo"),
    "AUTHORIUM_DEMO_PASSWORD": ("setup",),
    "AUTHORIUM_ADMIN_CLIENT_SECRET": ("setup",),
    "AUTHORIUM_DPOP_NONCE_SECRET": ("serve", "resource"),
}


def _secret_file(folder: Path, name: str, content: str) -> str:
    path = folder / name
    path.write_text(content)
    path.chmod(0o400)
    return str(path)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_every_secret_variable_has_a_reader_here() -> None:
    assert set(READERS) == set(SECRET_VARIABLES)


@pytest.mark.parametrize("variable", sorted(READERS))
async def test_a_missing_secret_file_stops_the_command_that_reads_it_with_one_line(
    environ: dict[str, str], make_database: DatabaseFactory, tmp_path: Path, variable: str
) -> None:
    missing = str(tmp_path / "run" / "secrets" / variable.lower())
    serve = READERS[variable][0] == "serve"
    env = {**environ, **(DEMO_CLIENT_ENV if serve else {}), "DATABASE_URL": await make_database()}
    env.pop(variable, None)
    env[f"{variable}_FILE"] = missing
    # One worker: if the variable were not read, the server would start, and a timeout kills one process.
    args = [*READERS[variable], *(["--port", "0", "--workers", "1"] if serve else [])]
    result = await asyncio.to_thread(authorium, *args, env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line.startswith(f"authorium: configuration error: {variable}_FILE names"), line
    assert missing in line


async def test_a_secret_in_both_forms_is_refused_naming_both(environ: dict[str, str], tmp_path: Path) -> None:
    other = generate_kek()
    env = {**environ, "AUTHORIUM_KEK_FILE": _secret_file(tmp_path, "kek", other + "\n")}
    result = await asyncio.to_thread(authorium, "serve", "authz", "--port", "0", "--workers", "1", env=env, timeout=30)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "AUTHORIUM_KEK and AUTHORIUM_KEK_FILE are both set" in line
    assert environ["AUTHORIUM_KEK"] not in line and other not in line


async def test_a_bad_secret_in_a_file_names_the_variable_and_never_shows_the_content(
    environ: dict[str, str], tmp_path: Path
) -> None:
    content = "not-a-kek-but-a-password-all-the-same"
    env = {**environ, "AUTHORIUM_KEK_FILE": _secret_file(tmp_path, "kek", content + "\n")}
    env.pop("AUTHORIUM_KEK")
    result = await asyncio.to_thread(authorium, "keys", "list", env=env)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith("authorium: configuration error: AUTHORIUM_KEK key-encryption key "), line
    assert content not in result.stderr + result.stdout


async def test_setup_keys_and_authz_read_their_secrets_from_files(
    environ: dict[str, str], make_database: DatabaseFactory, tmp_path: Path
) -> None:
    database_url = await make_database()
    demo_secret, demo_password = "demo-secret-" + "x" * 32, "  a pass phrase with spaces  "
    files = {
        "AUTHORIUM_KEK_FILE": _secret_file(tmp_path, "kek", environ["AUTHORIUM_KEK"] + "\n"),
        "DATABASE_URL_FILE": _secret_file(tmp_path, "database-url", database_url + "\n"),
        "REDIS_URL_FILE": _secret_file(tmp_path, "redis-url", environ["REDIS_URL"] + "\n"),
        "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET_FILE": _secret_file(tmp_path, "demo-secret", demo_secret + "\n"),
        "AUTHORIUM_DEMO_PASSWORD_FILE": _secret_file(tmp_path, "demo-password", demo_password + "\n"),
    }
    env = {k: v for k, v in environ.items() if k not in ("AUTHORIUM_KEK", "DATABASE_URL", "REDIS_URL")}
    env.update(files, AUTHORIUM_CLIENT_DEMO_CLIENT_ID="demo-from-files")

    result = await asyncio.to_thread(authorium, "setup", env=env)
    assert result.returncode == 0, result.stderr
    assert "demo client demo-from-files registered" in result.stdout
    assert "demo user 'demo' created" in result.stdout
    conn = await asyncpg.connect(database_url)
    try:
        digest = await conn.fetchval("SELECT secret_hash FROM clients WHERE client_id = 'demo-from-files'")
        password_hash = await conn.fetchval("SELECT password_hash FROM users WHERE username = 'demo'")
    finally:
        await conn.close()
    assert digest == hashlib.sha256(demo_secret.encode()).digest(), "the file's newline is not part of the secret"
    assert PasswordHasher().verify(password_hash, demo_password), "only the newline: the spaces are the password's"

    listed = await asyncio.to_thread(authorium, "keys", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    kids = {k["kid"] for k in json.loads(listed.stdout)}
    assert len(kids) == 6

    port = free_port()
    proc = authorium_popen("serve", "authz", "--port", str(port), "--workers", "1", env=env)
    try:
        await asyncio.to_thread(wait_for_port, port, 20)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/jwks.json") as resp:
            assert resp.status == 200
            assert {k["kid"] for k in (await resp.json())["keys"]} == kids
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    for secret in (environ["AUTHORIUM_KEK"], demo_secret, demo_password.strip()):
        assert secret not in err


async def test_run_reads_its_stores_and_kek_from_files(
    environ: dict[str, str], make_database: DatabaseFactory, tmp_path: Path
) -> None:
    # `authorium run` hands DATABASE_URL and REDIS_URL to the development stack and puts its own AUTHORIUM_KEK in
    # the environment only when none is given: a file counts as given.
    database_url = await make_database(migrated=False)
    ports = {"authz": free_port(), "resource": free_port(), "client-demo": free_port()}
    env = {k: v for k, v in environ.items() if k not in ("AUTHORIUM_KEK", "DATABASE_URL", "REDIS_URL")}
    env.update(
        AUTHORIUM_KEK_FILE=_secret_file(tmp_path, "kek", environ["AUTHORIUM_KEK"] + "\n"),
        DATABASE_URL_FILE=_secret_file(tmp_path, "database-url", database_url + "\n"),
        REDIS_URL_FILE=_secret_file(tmp_path, "redis-url", environ["REDIS_URL"] + "\n"),
        AUTHORIUM_DATA_DIR=str(tmp_path / "data"),
        AUTHORIUM_AUTHZ_PORT=str(ports["authz"]),
        AUTHORIUM_RESOURCE_PORT=str(ports["resource"]),
        AUTHORIUM_CLIENT_DEMO_PORT=str(ports["client-demo"]),
        AUTHORIUM_AUTHZ_ADMIN_PORT=str(authz_private := free_port()),
    )
    proc = authorium_popen("run", "--workers", "1", env=env)
    try:
        try:
            for port in ports.values():
                await asyncio.to_thread(wait_for_port, port, 30)
        except TimeoutError:
            proc.kill()
            raise AssertionError(proc.communicate()[1]) from None
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{authz_private}/readyz") as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Demo user: demo / " in out
    # The keys were made in the file's database, under the file's KEK (not one `run` made up).
    listed = await asyncio.to_thread(
        authorium, "keys", "list", env={**environ, "DATABASE_URL": database_url}, timeout=30
    )
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.strip().splitlines()) == 1 + 6
