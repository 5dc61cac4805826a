"""`authorium resource create|list|update|delete`: the resource registry (RFC 8707), against Postgres directly;
every change is announced on the event channel so running authorization servers reload the registry at once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_pg_pool, create_redis
from authz.resources.records import Resource, ResourceError, ResourceNotFound
from authz.resources.registry import RELOAD_INTERVAL, announce_change
from authz.resources.repository import KEEP, Keep, ResourceRepository
from authz.settings import AuthzSettings


async def announce(settings: AuthzSettings) -> bool:
    """Tell running authorization servers to reload the registry; False when Redis cannot be reached (they reload
    it on their own within RELOAD_INTERVAL seconds)."""
    redis = create_redis(settings.common.redis_url)
    try:
        await announce_change(redis, RedisKeys(settings.common.redis_prefix))
        return True
    except (RedisError, OSError):
        return False
    finally:
        await redis.aclose()


def _ttl(value: str) -> int | None:
    """--access-token-ttl: seconds, or `default` for the server's AUTHORIUM_ACCESS_TOKEN_TTL."""
    if value == "default":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("give a number of seconds, or `default`") from None


Change = Callable[[ResourceRepository], Awaitable[Resource]]


async def _run(environ: Mapping[str, str], work: Callable[[ResourceRepository], Awaitable[Any]]) -> Any:
    settings = AuthzSettings.from_env(environ)
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    try:
        return await work(ResourceRepository(pool, settings))
    finally:
        await pool.close()


async def _change(environ: Mapping[str, str], change: Change, *, json: bool, verb: str) -> int:
    try:
        resource = await _run(environ, change)
    except ResourceError as exc:
        print(f"authorium: {exc.message}", file=sys.stderr)
        return 1 if isinstance(exc, ResourceNotFound) else 2
    if not await announce(AuthzSettings.from_env(environ)):
        print(
            f"authorium: warning: Redis did not take the announcement; running servers reload the registry within"
            f" {RELOAD_INTERVAL:.0f} s",
            file=sys.stderr,
        )
    if json:
        print(orjson.dumps(resource.as_json()).decode())
    else:
        print(f"{verb} resource {resource.resource_id}: {resource.identifier} ({' '.join(resource.scopes)})")
    return 0


async def cmd_create(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    async def create(repository: ResourceRepository) -> Resource:
        return await repository.create(
            identifier=args.identifier, scopes=args.scope, name=args.name, access_token_ttl=args.access_token_ttl
        )

    return await _change(environ, create, json=args.json, verb="created")


async def cmd_update(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    ttl: int | Keep | None = KEEP if args.access_token_ttl is KEEP else args.access_token_ttl

    async def update(repository: ResourceRepository) -> Resource:
        return await repository.update(
            args.id,
            identifier=KEEP if args.identifier is None else args.identifier,
            scopes=KEEP if args.scope is None else args.scope,
            name=KEEP if args.name is None else args.name,
            access_token_ttl=ttl,
        )

    return await _change(environ, update, json=args.json, verb="updated")


async def cmd_delete(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    async def delete(repository: ResourceRepository) -> Resource:
        return await repository.delete(args.id)

    return await _change(environ, delete, json=args.json, verb="deleted")


async def cmd_list(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    async def listing(repository: ResourceRepository) -> list[Resource]:
        return await repository.list()

    resources: list[Resource] = await _run(environ, listing)
    if args.json:
        print(orjson.dumps([r.as_json() for r in resources]).decode())
        return 0
    print(f"{'id':<36}  {'identifier':<40}  {'ttl':>7}  scopes")
    for r in resources:
        ttl = "default" if r.access_token_ttl is None else str(r.access_token_ttl)
        print(f"{r.resource_id:<36}  {r.identifier:<40}  {ttl:>7}  {' '.join(r.scopes)}")
    return 0


def add_commands(sub: Any) -> None:
    """The `resource` command and its subcommands, on the `authorium` parser's subparsers."""
    resource = sub.add_parser("resource", help="APIs tokens are issued for (RFC 8707 resources)").add_subparsers(
        dest="resource_command", required=True
    )
    ttl_help = "access-token lifetime in seconds for this API (at most AUTHORIUM_ACCESS_TOKEN_TTL), or `default`"

    create = resource.add_parser("create", help="register an API by its identifier and the scopes it accepts")
    create.add_argument("--identifier", required=True, help="an absolute URI without a fragment, e.g. its base URL")
    create.add_argument("--scope", required=True, help='the scopes it declares, space-separated, e.g. "a:read a:write"')
    create.add_argument("--name", help="what the consent page calls it")
    create.add_argument("--access-token-ttl", type=_ttl, help=ttl_help)
    create.add_argument("--json", action="store_true", help="print only a JSON object")
    create.set_defaults(func=cmd_create)

    listing = resource.add_parser("list", help="show every resource (the built-in admin and notes APIs first)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    update = resource.add_parser("update", help="change a resource (only the options given)")
    update.add_argument("id")
    update.add_argument("--identifier")
    update.add_argument("--scope", help="the scopes it declares (replaces the list)")
    update.add_argument("--name")
    update.add_argument("--access-token-ttl", type=_ttl, default=KEEP, help=ttl_help)
    update.add_argument("--json", action="store_true", help="print only a JSON object")
    update.set_defaults(func=cmd_update)

    delete = resource.add_parser("delete", help="remove a resource; tokens issued for it live until they expire")
    delete.add_argument("id")
    delete.add_argument("--json", action="store_true", help="print only a JSON object")
    delete.set_defaults(func=cmd_delete)
