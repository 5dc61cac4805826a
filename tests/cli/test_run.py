"""`authorium run`: all three services up with keys and demo data, the demo user able to sign in to the demo
client, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.authz.flows import browser, follow_authorization
from tests.conftest import DatabaseFactory
from tests.processes import authorium, authorium_popen, free_port, wait_for_port


@pytest.mark.slow
async def test_run_starts_everything_and_ctrl_c_stops_it(
    environ: dict[str, str], tmp_path: Path, make_database: DatabaseFactory
) -> None:
    ports = {"authz": free_port(), "resource": free_port(), "client-demo": free_port()}
    admin_ports = {name: free_port() for name in ports}
    issuer = f"http://127.0.0.1:{ports['authz']}"
    env = {
        **environ,
        # A database of its own: `run` makes its own KEK, which cannot read keys stored under another.
        "DATABASE_URL": await make_database(migrated=False),
        "AUTHORIUM_DATA_DIR": str(tmp_path / "data"),
        "AUTHORIUM_AUTHZ_PORT": str(ports["authz"]),
        "AUTHORIUM_RESOURCE_PORT": str(ports["resource"]),
        "AUTHORIUM_CLIENT_DEMO_PORT": str(ports["client-demo"]),
        "AUTHORIUM_AUTHZ_ADMIN_PORT": str(admin_ports["authz"]),
        "AUTHORIUM_RESOURCE_ADMIN_PORT": str(admin_ports["resource"]),
        "AUTHORIUM_CLIENT_DEMO_ADMIN_PORT": str(admin_ports["client-demo"]),
        "AUTHORIUM_ISSUER": issuer,
    }
    del env["AUTHORIUM_KEK"]  # `run` makes a development one
    proc = authorium_popen("run", env=env)
    try:
        for port in ports.values():
            try:
                await asyncio.to_thread(wait_for_port, port, 30)
            except TimeoutError:
                proc.kill()
                raise AssertionError(proc.communicate()[1]) from None
        async with aiohttp.ClientSession() as http:
            async with http.get(issuer + "/.well-known/openid-configuration") as resp:
                meta = await resp.json()
            assert meta["issuer"] == issuer
            async with http.get(meta["jwks_uri"]) as resp:
                assert len((await resp.json())["keys"]) >= 3
            # Each service's private listener, on 127.0.0.1, says it is ready; the public one does not answer that.
            for name, port in ports.items():
                async with http.get(f"http://127.0.0.1:{admin_ports[name]}/readyz") as resp:
                    assert resp.status == 200
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    assert resp.status == 404
        demo = f"http://127.0.0.1:{ports['client-demo']}"
        password = json.loads((tmp_path / "data" / "dev-secrets.json").read_text())["demo_password"]
        async with browser() as person:
            async with person.get(demo + "/login", allow_redirects=False) as resp:
                assert resp.status == 302
                request_url = resp.headers["Location"]
            back = await follow_authorization(person, issuer, request_url, "demo", password=password)
            async with person.get(back.location) as resp:
                page = await resp.text()
            assert "Hello, Demo User" in page, "the demo user signs in to the demo client"
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Demo user: demo / " in out
    assert "Demo client: " in out
    # The first admin client (issue 14): its id, and where its secret is.
    assert re.search(r"Admin client: \S+ \(secret in .*dev-secrets\.json", out), out
    secrets = json.loads((tmp_path / "data" / "dev-secrets.json").read_text())
    assert out.count(secrets["admin_client_secret"]) == 0
    for port in (*ports.values(), *admin_ports.values()):
        assert f"http://127.0.0.1:{port}" in out
    assert (tmp_path / "data" / "dev-secrets.json").stat().st_mode & 0o077 == 0


@pytest.mark.slow
async def test_keys_made_with_another_folders_secrets_stop_run_naming_that_folder(
    environ: dict[str, str], tmp_path: Path, make_database: DatabaseFactory
) -> None:
    """Two checkouts that share a database (one DATABASE_URL): the second one's `run` stops with one line saying
    whose secrets the signing keys there were made with, rather than a bare "cannot be decrypted"."""
    first, second = tmp_path / "one" / ".authorium", tmp_path / "two" / ".authorium"
    ports = {"authz": free_port(), "resource": free_port(), "client-demo": free_port()}
    env = {
        **environ,
        "DATABASE_URL": await make_database(migrated=False),
        "AUTHORIUM_WORKERS": "1",
        "AUTHORIUM_AUTHZ_PORT": str(ports["authz"]),
        "AUTHORIUM_RESOURCE_PORT": str(ports["resource"]),
        "AUTHORIUM_CLIENT_DEMO_PORT": str(ports["client-demo"]),
    }
    del env["AUTHORIUM_KEK"]  # each checkout's `run` makes its own

    proc = authorium_popen("run", env={**env, "AUTHORIUM_DATA_DIR": str(first)})
    try:
        await asyncio.to_thread(wait_for_port, ports["client-demo"], 30)
        proc.send_signal(signal.SIGINT)
        await asyncio.to_thread(proc.communicate, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0

    result = await asyncio.to_thread(authorium, "run", env={**env, "AUTHORIUM_DATA_DIR": str(second)})
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("authorium: configuration error: AUTHORIUM_KEK cannot decrypt the signing keys in database")
    assert f"made with the secrets in {first / 'dev-secrets.json'}" in line
    assert f"this run uses the secrets in {second / 'dev-secrets.json'}" in line
    # Nothing of the second folder's was written: its next run starts as clean as this one did.
    assert not (second / "dev-secrets.json").exists()


def test_a_kek_mismatch_without_a_record_says_what_it_knows() -> None:
    from authorium.devrun import kek_mismatch

    line = str(kek_mismatch("postgresql://h/shared", "the secrets in /b/.authorium/dev-secrets.json", None))
    assert line == (
        "configuration error: AUTHORIUM_KEK cannot decrypt the signing keys in database shared: no `authorium run`"
        " recorded whose secrets made them, and this run uses the secrets in /b/.authorium/dev-secrets.json (set the"
        " AUTHORIUM_KEK they were made with, or give this checkout another database with DATABASE_URL)"
    )


def test_run_refuses_two_listeners_on_one_port() -> None:
    """Issue 14: each of the six listeners `run` opens has a port of its own; a clash stops it with one line naming the
    variable, before anything starts (with SO_REUSEPORT, two of its own sockets could otherwise share a port)."""
    from authorium.devrun import Ports, service_ports
    from authorium_shared.settings import ConfigError

    assert service_ports({}) == {
        "authz": Ports(8000, 8010),
        "resource": Ports(8001, 8011),
        "client-demo": Ports(8002, 8012),
    }
    with pytest.raises(ConfigError, match="AUTHORIUM_RESOURCE_ADMIN_PORT is 8010, the port of AUTHORIUM_AUTHZ_ADMIN"):
        service_ports({"AUTHORIUM_RESOURCE_ADMIN_PORT": "8010"})
    with pytest.raises(ConfigError, match="AUTHORIUM_AUTHZ_ADMIN_PORT is 8000"):
        service_ports({"AUTHORIUM_AUTHZ_ADMIN_PORT": "8000"})
