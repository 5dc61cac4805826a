"""The `authorium` command: argument parsing over functions the services and the shared package provide."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta

import asyncpg
import orjson
from redis.exceptions import RedisError

from authorium import devrun, manage, resources
from authorium.services import SERVICES
from authorium.setup import setup
from authorium_shared import tracing
from authorium_shared.errors import OAuthError
from authorium_shared.keys import ALGORITHMS, KeyDecryptionError
from authorium_shared.logs import configure_logging
from authorium_shared.migrations import Timeouts, migrate
from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_pg_pool, create_redis
from authorium_shared.rotation import RotationTooEarly
from authorium_shared.service import available_cores, serve
from authorium_shared.settings import ADMIN_PORT_VARIABLE, CommonSettings, ConfigError, env_int, env_str
from authz.clients.authentication import AUTH_METHODS
from authz.clients.registration import build_spec, register_client
from authz.control import CLI_ACTOR, BadInput, ControlError
from authz.grants import GRANT_TYPES
from authz.pruning import prune
from authz.settings import AuthzSettings, BuiltInResources
from authz.signing import lifecycle as authz_keys
from authz.signing.management import list_keys
from authz.users.accounts import create_user
from authz.users.passwords import Passwords
from authz.users.repository import UsernameTaken, UserRepository


class CommandError(Exception):
    """A failure the user can act on; printed as one line, exit status 1 (2 for bad input)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


async def cmd_migrate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    applied = await migrate(CommonSettings.from_env(environ).database_url, Timeouts.from_env(environ))
    for m in applied:
        print(f"applied {m.component} {m.version:04d}_{m.name}")
    if not applied:
        print("database is up to date")
    return 0


async def cmd_setup(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    for line in await setup(environ) or ["everything was in place already"]:
        print(line)
    return 0


async def cmd_prune(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = AuthzSettings.from_env(environ)
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    try:
        deleted = await prune(pool, audit_retention=timedelta(days=settings.audit_retention_days))
    finally:
        await pool.close()
    for table, count in deleted.items():
        print(f"{table}: {count} deleted")
    return 0


async def cmd_keys_rotate(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = AuthzSettings.from_env(environ)
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    try:
        plans = await authz_keys.rotate(pool, settings, args.alg or ALGORITHMS, actor=CLI_ACTOR)
    except RotationTooEarly as exc:
        raise CommandError(str(exc)) from None
    finally:
        await pool.close()
    redis = create_redis(settings.common.redis_url)
    try:
        await authz_keys.announce(redis, RedisKeys(settings.common.redis_prefix))
    finally:
        await redis.aclose()
    for plan in plans:
        print(f"{plan.alg}: now signing with {plan.promote or '(new key)'}; retired {plan.retire or 'nothing'}")
    return 0


async def cmd_keys_reencrypt(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = AuthzSettings.from_env(environ)
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    try:
        kids = await authz_keys.reencrypt(pool, settings)
    finally:
        await pool.close()
    if kids:
        redis = create_redis(settings.common.redis_url)
        try:
            await authz_keys.announce(redis, RedisKeys(settings.common.redis_prefix))
        finally:
            await redis.aclose()
    print(f"re-encrypted {len(kids)} key{'' if len(kids) == 1 else 's'} under AUTHORIUM_KEK")
    return 0


async def cmd_keys_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    settings = AuthzSettings.from_env(environ)
    conn = await asyncpg.connect(settings.common.database_url)
    try:
        rows = await list_keys(conn, settings)
    finally:
        await conn.close()
    if args.json:
        print(orjson.dumps(rows).decode())
        return 0
    print(f"{'kid':<45} {'alg':<6} {'state':<8} created")
    for r in rows:
        print(f"{r['kid']:<45} {r['alg']:<6} {r['state']:<8} {r['created_at']}")
    return 0


async def cmd_client_create(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    spec = build_spec(
        name=args.name,
        grant_types=args.grant_type or ["authorization_code", "refresh_token"],
        redirect_uris=args.redirect_uri or [],
        scope=args.scope,
        public=args.public,
        token_endpoint_auth_method=args.auth_method,
        may_introspect=args.introspect,
        **manage.metadata_options(args),
    )
    pool = await create_pg_pool(CommonSettings.from_env(environ).database_url, max_size=2)
    try:
        client, secret = await register_client(pool, spec, built_in=BuiltInResources.from_env(environ))
    finally:
        await pool.close()
    result = {"client_id": client.client_id}
    if secret is not None:
        result["client_secret"] = secret
    if args.json:
        print(orjson.dumps(result).decode())
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
        if secret is not None:
            print("The secret is shown only now; Authorium keeps only its SHA-256 digest.", file=sys.stderr)
    return 0


async def cmd_user_create(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    if not args.password_stdin:
        raise CommandError("give the password on standard input with --password-stdin", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    pool = await create_pg_pool(CommonSettings.from_env(environ).database_url, max_size=2)
    try:
        with Passwords(workers=1) as passwords:
            user = await create_user(UserRepository(pool), passwords, args.username, password)
    except ValueError as exc:
        raise CommandError(str(exc), 2) from None
    except UsernameTaken:
        raise CommandError(f"user {args.username!r} exists already", 2) from None
    finally:
        await pool.close()
    print(f"created user {user.username} ({user.user_id})")
    return 0


def cmd_serve(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    service = SERVICES[args.service]
    settings = service.settings(environ)  # read once here, so a bad value stops start-up before any fork
    configure_logging(service.name, CommonSettings.from_env(environ).log_level)
    tracing.start(service.name, environ)  # before the application is built: only what is created after is traced
    host = args.host or env_str(environ, "AUTHORIUM_HOST", "127.0.0.1")
    port = args.port if args.port is not None else service.default_port
    if port == settings.admin_port and port != 0:
        raise ConfigError(ADMIN_PORT_VARIABLE, f"must differ from the public port ({port})")
    return serve(
        lambda: service.create_app(settings), host, port, settings.admin_port, workers=worker_count(args, environ)
    )


def worker_count(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    if args.workers is not None:
        if args.workers < 1:
            raise CommandError("--workers must be at least 1", 2)
        return int(args.workers)
    return env_int(environ, "AUTHORIUM_WORKERS", available_cores(), minimum=1, maximum=256)


def cmd_run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    return devrun.run(environ, worker_count(args, environ))


WORKERS_HELP = "processes sharing each port with SO_REUSEPORT (default: $AUTHORIUM_WORKERS, else the CPUs available)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="authorium", description="Authorium: an OAuth 2.0 / OpenID Connect stack.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="development: all three services on 127.0.0.1:8000/8001/8002 (private listeners 8010/8011/8012)"
    )
    run.add_argument("--workers", type=int, help=WORKERS_HELP)
    run.set_defaults(func=cmd_run)

    serve = sub.add_parser("serve", help="run one service (what containers run)")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host", help="address to listen on (default: $AUTHORIUM_HOST or 127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        help="public port (default: 8000 authz, 8001 resource, 8002 client-demo); the private listener's is"
        " $AUTHORIUM_ADMIN_PORT (default: 8010, 8011, 8012), on the same host",
    )
    serve.add_argument("--workers", type=int, help=WORKERS_HELP)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply Postgres migrations (idempotent)").set_defaults(func=cmd_migrate)
    sub.add_parser(
        "prune", help="delete expired refresh tokens, grants and revocations, and old audit events, in batches"
    ).set_defaults(func=cmd_prune)
    sub.add_parser(
        "setup",
        help="migrate, make sure signing keys exist, and register the demo client and user if the environment "
        "declares them (what a deployment's one-shot job runs; idempotent)",
    ).set_defaults(func=cmd_setup)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    rotate = keys.add_parser("rotate", help="promote the next key to signing and publish a new next key")
    rotate.add_argument("--alg", action="append", choices=ALGORITHMS, help="only this algorithm (repeatable)")
    rotate.set_defaults(func=cmd_keys_rotate)
    klist = keys.add_parser("list", help="show keys and their states")
    klist.add_argument("--json", action="store_true")
    klist.set_defaults(func=cmd_keys_list)
    keys.add_parser(
        "reencrypt",
        help="re-encrypt every private key still under AUTHORIUM_KEK_PREVIOUS under AUTHORIUM_KEK (idempotent)",
    ).set_defaults(func=cmd_keys_reencrypt)

    client = sub.add_parser("client", help="clients").add_subparsers(dest="client_command", required=True)
    create = client.add_parser("create", help="register a client")
    create.add_argument("--name", required=True)
    create.add_argument("--public", action="store_true", help="a public client (no secret; PKCE required)")
    create.add_argument("--grant-type", action="append", choices=GRANT_TYPES, help="repeatable")
    create.add_argument("--redirect-uri", action="append", help="repeatable; matched exactly")
    create.add_argument("--scope", help='allowed scopes, space-separated, e.g. "openid notes:read"')
    create.add_argument("--auth-method", choices=AUTH_METHODS)
    create.add_argument(
        "--introspect",
        action="store_true",
        help="may introspect any token of this issuer, not only its own (a resource server; RFC 7662 section 2.1)",
    )
    manage.add_metadata_options(create, update=False)
    create.add_argument("--json", action="store_true", help="print only a JSON object")
    create.set_defaults(func=cmd_client_create)
    manage.add_client_commands(client)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    ucreate = user.add_parser("create", help="create a user")
    ucreate.add_argument("--username", required=True)
    ucreate.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    ucreate.set_defaults(func=cmd_user_create)
    manage.add_user_commands(user)
    manage.add_commands(sub)
    resources.add_commands(sub)
    return p


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        result = args.func(args, env)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except ConfigError as exc:
        print(f"authorium: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"authorium: {exc}", file=sys.stderr)
        return exc.status
    except OAuthError as exc:
        print(f"authorium: {exc.description or exc.error}", file=sys.stderr)
        return 2
    except ControlError as exc:  # refused by a management operation: nothing was changed
        print(f"authorium: {exc.detail}", file=sys.stderr)
        return 2 if isinstance(exc, BadInput) else 1
    except KeyDecryptionError:
        print(
            "authorium: the signing keys cannot be decrypted with this AUTHORIUM_KEK (nor AUTHORIUM_KEK_PREVIOUS, if"
            " set); set the key they were stored under (for `authorium run`, it is in the data folder's"
            " dev-secrets.json), or, while changing the KEK, the old one as AUTHORIUM_KEK_PREVIOUS",
            file=sys.stderr,
        )
        return 1
    except (OSError, asyncpg.PostgresError, RedisError) as exc:
        print(f"authorium: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
