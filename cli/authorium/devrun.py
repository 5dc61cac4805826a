"""`authorium run`: the whole stack on one machine for development, with its state in a data folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from authorium import devstack
from authorium.services import SERVICES
from authorium.setup import DEMO_USERNAME, ensure_demo_client, ensure_demo_user
from authorium_shared.keys import generate_kek
from authorium_shared.logs import configure_logging
from authorium_shared.migrations import migrate
from authorium_shared.resources import create_pg_pool
from authorium_shared.service import start_site, supervise
from authorium_shared.settings import CommonSettings, listen_port, secrets_read_from_files
from authz.clients import credentials
from authz.settings import AuthzSettings
from authz.signing.lifecycle import ensure as ensure_keys

HOST = "127.0.0.1"


def _load_dev_secrets(path: Path) -> dict[str, str]:
    try:
        loaded = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, str)}


def _save_dev_secrets(path: Path, secrets: dict[str, str]) -> None:
    # Written owner-only: these are development credentials, but credentials all the same.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(secrets, f, indent=2)


async def seed(env: Mapping[str, str], dev: dict[str, str], demo_url: str) -> list[str]:
    """Make sure keys, the demo user and the demo client exist with the credentials in `dev` (made up the first
    time); returns what was created."""
    settings = AuthzSettings.from_env(env)
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    changed = []
    try:
        await ensure_keys(pool, settings)
        if await ensure_demo_user(pool, dev.setdefault("demo_password", secrets.token_urlsafe(12))):
            changed.append("demo user created")
        client_id = dev.setdefault("demo_client_id", credentials.new_client_id())
        await ensure_demo_client(
            pool, client_id, dev.setdefault("demo_client_secret", credentials.new_secret()), demo_url
        )
    finally:
        await pool.close()
    return changed


# Each service's port variable and the URL variable whose default follows that port.
PORTS = {
    "authz": ("AUTHORIUM_AUTHZ_PORT", "AUTHORIUM_ISSUER"),
    "resource": ("AUTHORIUM_RESOURCE_PORT", "AUTHORIUM_RESOURCE_URL"),
    "client-demo": ("AUTHORIUM_CLIENT_DEMO_PORT", "AUTHORIUM_CLIENT_DEMO_URL"),
}


def service_ports(environ: Mapping[str, str]) -> dict[str, int]:
    return {name: listen_port(environ, variable, SERVICES[name].default_port) for name, (variable, _) in PORTS.items()}


async def _serve_all(env: Mapping[str, str], ports: Mapping[str, int], *, announce: bool, reuse_port: bool) -> None:
    runners = []
    try:
        for name, port in ports.items():
            runners.append(await start_site(SERVICES[name].build(env), HOST, port, reuse_port=reuse_port))
            if announce:
                print(f"  {name:<12} http://{HOST}:{port}", flush=True)
        if announce:
            print("Ready. Press Ctrl-C to stop.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if announce:
            print("Stopping...", flush=True)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def _serve_worker(env: Mapping[str, str], ports: Mapping[str, int], workers: int, index: int) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_all(env, ports, announce=index == 0, reuse_port=workers > 1))


def run(environ: Mapping[str, str], workers: int = 1) -> int:
    # The development stack reads DATABASE_URL and REDIS_URL itself, and the values below replace secrets.
    environ = secrets_read_from_files(environ)
    data_dir = Path(environ.get("AUTHORIUM_DATA_DIR", ".authorium")).resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets_path = data_dir / "dev-secrets.json"
    dev = _load_dev_secrets(secrets_path)
    with devstack.resolve_backends(environ, data_dir) as backends:
        print(backends.describe(), flush=True)
        asyncio.run(devstack.ensure_database(backends.database_url))
        ports = service_ports(environ)
        env = {
            **{url_var: f"http://{HOST}:{ports[name]}" for name, (_, url_var) in PORTS.items()},
            **environ,
            "DATABASE_URL": backends.database_url,
            "REDIS_URL": backends.redis_url,
            "AUTHORIUM_KEK": environ.get("AUTHORIUM_KEK") or dev.setdefault("kek", generate_kek()),
        }
        common = CommonSettings.from_env(env)
        configure_logging("authorium", env.get("AUTHORIUM_LOG_LEVEL", "WARNING"))
        applied = asyncio.run(migrate(common.database_url))
        if applied:
            print(f"Applied {len(applied)} migrations.", flush=True)
        changed = asyncio.run(seed(env, dev, env["AUTHORIUM_CLIENT_DEMO_URL"].rstrip("/")))
        _save_dev_secrets(secrets_path, dev)
        env["AUTHORIUM_CLIENT_DEMO_CLIENT_ID"] = dev["demo_client_id"]
        env["AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET"] = dev["demo_client_secret"]
        print(f"Demo user: {DEMO_USERNAME} / {dev['demo_password']}", flush=True)
        print(f"Demo client: {dev['demo_client_id']} (secret in {secrets_path})", flush=True)
        if changed:
            print("Seeded: " + ", ".join(changed) + ".", flush=True)
        print(f"Services ({workers} worker{'s' if workers > 1 else ''} each):", flush=True)
        if workers > 1:
            supervise(lambda index: _serve_worker(env, ports, workers, index), workers)
        else:
            _serve_worker(env, ports, workers, 0)
    print("Stopped.", file=sys.stderr, flush=True)
    return 0
