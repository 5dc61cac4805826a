"""`authorium run`: the whole stack on one machine for development, with its state in a data folder.

Each data folder (each checkout) has a database and a Redis key prefix of its own on servers it shares, and the
database records whose secrets made its signing keys, so a mismatched key-encryption key says where the right one is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from authorium import devstack
from authorium.services import SERVICES
from authorium.setup import (
    DEMO_USERNAME,
    ensure_admin_client,
    ensure_demo_client,
    ensure_demo_user,
    ensure_notes_api,
)
from authorium_shared import tracing
from authorium_shared.keys import KeyDecryptionError, generate_kek
from authorium_shared.logs import configure_logging
from authorium_shared.migrations import migrate
from authorium_shared.resources import create_pg_pool
from authorium_shared.service import start_site, supervise
from authorium_shared.settings import (
    ADMIN_PORT_VARIABLE,
    CommonSettings,
    ConfigError,
    listen_port,
    secrets_read_from_files,
)
from authz.clients import credentials
from authz.settings import AuthzSettings
from authz.signing.lifecycle import ensure as ensure_keys

HOST = "127.0.0.1"
# The comment `run` leaves on its database: whose key-encryption key the signing keys there are encrypted under.
SEEDED_BY = "authorium run: signing keys made with "


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
    """Make sure keys, the notes API, the demo user and the demo client exist with the credentials in `dev` (made up
    the first time); returns what was created."""
    settings = AuthzSettings.from_env(env)
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    changed = []
    try:
        await ensure_keys(pool, settings)
        if await ensure_notes_api(pool, settings):
            changed.append(f"notes API registered as {settings.resource_url}")
        if await ensure_demo_user(pool, dev.setdefault("demo_password", secrets.token_urlsafe(12))):
            changed.append("demo user created")
        client_id = dev.setdefault("demo_client_id", credentials.new_client_id())
        await ensure_demo_client(
            pool, client_id, dev.setdefault("demo_client_secret", credentials.new_secret()), demo_url
        )
        admin_id = dev.setdefault("admin_client_id", credentials.new_client_id())
        await ensure_admin_client(pool, admin_id, dev.setdefault("admin_client_secret", credentials.new_secret()))
    finally:
        await pool.close()
    return changed


async def _seeded_by(database_url: str) -> str | None:
    """What the database's comment says made its signing keys, if `run` left one."""
    conn = await asyncpg.connect(database_url)
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    if isinstance(comment, str) and comment.startswith(SEEDED_BY):
        return comment.removeprefix(SEEDED_BY)
    return None


async def _record_seeded_by(database_url: str, kek_source: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # COMMENT takes no parameters: format() quotes the name and the text.
        statement = await conn.fetchval(
            "SELECT format('COMMENT ON DATABASE %I IS %L', current_database(), $1::text)", SEEDED_BY + kek_source
        )
        await conn.execute(statement)
    except asyncpg.InsufficientPrivilegeError:
        pass  # a database named by DATABASE_URL that this role does not own: nothing recorded, nothing lost
    finally:
        await conn.close()


def kek_mismatch(database_url: str, kek_source: str, seeded_by: str | None) -> ConfigError:
    """The one line for keys this run's KEK cannot decrypt, saying whose secrets made them."""
    database = devstack.database_name(database_url) or database_url
    if seeded_by:
        made = f"they were made with {seeded_by}"
        remedy = "use that data folder (AUTHORIUM_DATA_DIR) or its AUTHORIUM_KEK"
    else:
        made = "no `authorium run` recorded whose secrets made them"
        remedy = "set the AUTHORIUM_KEK they were made with"
    return ConfigError(
        "AUTHORIUM_KEK",
        f"cannot decrypt the signing keys in database {database}: {made}, and this run uses {kek_source}"
        f" ({remedy}, or give this checkout another database with DATABASE_URL)",
    )


def checkout_redis_prefix(environ: Mapping[str, str], backends: devstack.DevBackends, data_dir: Path) -> str | None:
    """The Redis key prefix for this data folder when `run` found Redis on the local port, which other checkouts'
    `run` may use too; None when the environment names the prefix or the Redis (used as named) or it is embedded."""
    if environ.get("AUTHORIUM_REDIS_PREFIX") or backends.redis_source in ("REDIS_URL", "embedded"):
        return None
    return f"authorium:{devstack.checkout_id(data_dir)}:"


# Each service's port variable and the URL variable whose default follows that port.
PORTS = {
    "authz": ("AUTHORIUM_AUTHZ_PORT", "AUTHORIUM_ISSUER"),
    "resource": ("AUTHORIUM_RESOURCE_PORT", "AUTHORIUM_RESOURCE_URL"),
    "client-demo": ("AUTHORIUM_CLIENT_DEMO_PORT", "AUTHORIUM_CLIENT_DEMO_URL"),
}
# Each service's private listener's port variable (one AUTHORIUM_ADMIN_PORT cannot name three), and the URL variable
# whose default follows it.
ADMIN_PORTS = {
    "authz": ("AUTHORIUM_AUTHZ_ADMIN_PORT", "AUTHORIUM_ADMIN_URL"),
    "resource": ("AUTHORIUM_RESOURCE_ADMIN_PORT", None),
    "client-demo": ("AUTHORIUM_CLIENT_DEMO_ADMIN_PORT", None),
}


@dataclass(frozen=True)
class Ports:
    public: int
    admin: int


def service_ports(environ: Mapping[str, str]) -> dict[str, Ports]:
    """Each service's public and private port; all six must differ (0, any free port, aside)."""
    ports: dict[str, Ports] = {}
    taken: dict[int, str] = {}
    for name, service in SERVICES.items():
        public_variable, admin_variable = PORTS[name][0], ADMIN_PORTS[name][0]
        ports[name] = Ports(
            listen_port(environ, public_variable, service.default_port),
            listen_port(environ, admin_variable, service.default_admin_port),
        )
        for variable, port in ((public_variable, ports[name].public), (admin_variable, ports[name].admin)):
            if port and port in taken:
                raise ConfigError(variable, f"is {port}, the port of {taken[port]} too; give each its own")
            taken[port] = variable
    return ports


def port_urls(ports: Mapping[str, Ports]) -> dict[str, str]:
    """The URL variables whose defaults follow the ports `run` serves on."""
    urls = {url_variable: f"http://{HOST}:{ports[name].public}" for name, (_, url_variable) in PORTS.items()}
    for name, (_, admin_url_variable) in ADMIN_PORTS.items():
        if admin_url_variable is not None:
            urls[admin_url_variable] = f"http://{HOST}:{ports[name].admin}"
    return urls


async def _serve_all(env: Mapping[str, str], ports: Mapping[str, Ports], *, announce: bool, reuse_port: bool) -> None:
    runners = []
    try:
        for name, port in ports.items():
            service_env = {**env, ADMIN_PORT_VARIABLE: str(port.admin)}
            app = SERVICES[name].build(service_env)
            runners.append(await start_site(app, HOST, port.public, port.admin, reuse_port=reuse_port))
            if announce:
                print(f"  {name:<12} http://{HOST}:{port.public}  (private: http://{HOST}:{port.admin})", flush=True)
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


def _serve_worker(env: Mapping[str, str], ports: Mapping[str, Ports], workers: int, index: int) -> None:
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
            **port_urls(ports),
            **environ,
            "DATABASE_URL": backends.database_url,
            "REDIS_URL": backends.redis_url,
            "AUTHORIUM_KEK": environ.get("AUTHORIUM_KEK") or dev.setdefault("kek", generate_kek()),
        }
        if (prefix := checkout_redis_prefix(environ, backends, data_dir)) is not None:
            env["AUTHORIUM_REDIS_PREFIX"] = prefix
        if environ.get("AUTHORIUM_KEK"):
            kek_source = f"the AUTHORIUM_KEK of the environment (data folder {data_dir})"
        else:
            kek_source = f"the secrets in {secrets_path}"
        common = CommonSettings.from_env(env)
        configure_logging("authorium", env.get("AUTHORIUM_LOG_LEVEL", "WARNING"))
        tracing.start("authorium", env)  # one process serves all three: OTEL_SERVICE_NAME names them together
        applied = asyncio.run(migrate(common.database_url))
        if applied:
            print(f"Applied {len(applied)} migrations.", flush=True)
        try:
            changed = asyncio.run(seed(env, dev, env["AUTHORIUM_CLIENT_DEMO_URL"].rstrip("/")))
        except KeyDecryptionError:
            seeded_by = asyncio.run(_seeded_by(common.database_url))
            raise kek_mismatch(common.database_url, kek_source, seeded_by) from None
        asyncio.run(_record_seeded_by(common.database_url, kek_source))
        _save_dev_secrets(secrets_path, dev)
        env["AUTHORIUM_CLIENT_DEMO_CLIENT_ID"] = dev["demo_client_id"]
        env["AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET"] = dev["demo_client_secret"]
        print(f"Demo user: {DEMO_USERNAME} / {dev['demo_password']}", flush=True)
        print(f"Demo client: {dev['demo_client_id']} (secret in {secrets_path})", flush=True)
        print(f"Admin client: {dev['admin_client_id']} (secret in {secrets_path}; scope authorium:admin)", flush=True)
        if changed:
            print("Seeded: " + ", ".join(changed) + ".", flush=True)
        print(f"Services ({workers} worker{'s' if workers > 1 else ''} each):", flush=True)
        if workers > 1:
            supervise(lambda index: _serve_worker(env, ports, workers, index), workers)
        else:
            _serve_worker(env, ports, workers, 0)
    print("Stopped.", file=sys.stderr, flush=True)
    return 0
