"""The management commands (issue 14): `authorium client list|show|update|disable|enable|delete|rotate-secret`,
`authorium user list|show|disable|enable|delete|set-password|sign-out|factors|reset-factors`, `authorium grant
list|revoke` and
`authorium audit`. They work on Postgres directly, through the same operations as the admin API
(`authz.clients.management`, `authz.users.management`, `authz.audit_query`), name `cli` as the actor in the audit
log, and announce what they change so running replicas drop their caches at once."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from redis.exceptions import RedisError

from authorium_shared.redis_keys import RedisKeys
from authorium_shared.resources import create_pg_pool, create_redis
from authorium_shared.revocation_lists import RevocationCache, RevocationList
from authz.audit import AuditLog
from authz.audit_query import list_events
from authz.clients import management as clients
from authz.clients.authentication import AUTH_METHODS
from authz.control import CLI_ACTOR, MAX_LIMIT, BadInput, Control, Page
from authz.factors import management as factors
from authz.grants import GRANT_TYPES
from authz.revocation.publisher import Publisher
from authz.revocation.revoker import Revoker
from authz.sessions.store import SessionStore
from authz.settings import AuthzSettings
from authz.tokens.families import GrantRepository
from authz.users import management as users
from authz.users.passwords import Passwords

Command = Callable[[argparse.Namespace, Mapping[str, str]], Awaitable[int]]


@asynccontextmanager
async def control(environ: Mapping[str, str]) -> AsyncIterator[Control]:
    """An operator's session for this command: Postgres and Redis, and the revoker every change revokes through."""
    settings = AuthzSettings.from_env(environ)
    pool = await create_pg_pool(settings.common.database_url, max_size=2)
    redis = create_redis(settings.common.redis_url)
    keys = RedisKeys(settings.common.redis_prefix)
    listed = RevocationList(redis, keys)
    try:
        with Passwords(workers=1) as passwords:
            yield Control(
                pool=pool,
                redis=redis,
                keys=keys,
                settings=settings,
                revoker=Revoker(
                    pool,
                    GrantRepository(pool),
                    listed,
                    settings,
                    RevocationCache(listed, max_staleness=settings.revocation_max_staleness),
                    Publisher(pool, listed),
                ),
                audit=AuditLog(pool),
                sessions=SessionStore(
                    redis,
                    keys,
                    ttl=settings.session_max_ttl,
                    idle_ttl=settings.session_idle_ttl,
                    secure=settings.secure_cookies,
                ),
                passwords=passwords,
                actor=CLI_ACTOR,
            )
    finally:
        await redis.aclose()
        await pool.close()


def announced(command: Callable[[argparse.Namespace, Control], Awaitable[int]]) -> Command:
    """Run `command` in an operator's session. A change is made in Postgres first; if Redis then cannot be told, it
    is made all the same: running servers publish the revocations from Postgres within a second, and drop cached
    clients within a minute."""

    async def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
        async with control(environ) as session:
            try:
                return await command(args, session)
            except RedisError as exc:
                print(
                    f"authorium: done, but Redis could not be told ({type(exc).__name__}); running servers catch up"
                    " from Postgres within a second (revocations) or a minute (cached clients)",
                    file=sys.stderr,
                )
                return 0

    return run


def show(record: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(record).decode())
        return
    width = max(len(k) for k in record)
    for key, value in record.items():
        shown = " ".join(map(str, value)) if isinstance(value, list) else ("-" if value is None else value)
        print(f"{key:<{width}}  {shown}")


def table(items: Sequence[Mapping[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """A listing: a JSON array with --json, else a table of `columns`."""
    if as_json:
        print(orjson.dumps(list(items)).decode())
        return
    cells = [[_cell(item.get(c)) for c in columns] for item in items]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    for row in [list(columns), *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(map(str, value))
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


async def every_page(fetch: Callable[[str | None], Awaitable[Page]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await fetch(cursor)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


# Clients


@announced
async def client_list(args: argparse.Namespace, session: Control) -> int:
    items = await every_page(
        lambda cursor: clients.list_clients(
            session.pool, cursor=cursor, limit=MAX_LIMIT, name=args.name, disabled=args.disabled
        )
    )
    table(items, ("client_id", "name", "grant_types", "scopes", "disabled"), args.json)
    return 0


@announced
async def client_show(args: argparse.Namespace, session: Control) -> int:
    show(clients.client_view(await clients.get_client(session.pool, args.client_id)), args.json)
    return 0


def read_jwks_file(path: str | None) -> dict[str, Any] | None:
    """`--jwks-file`: a JWK Set of the client's public keys, as JSON (RFC 7517 section 5); BadInput naming the
    option if it cannot be read. Registration checks what is in it."""
    if path is None:
        return None
    try:
        with open(path, "rb") as file:
            document = orjson.loads(file.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BadInput("jwks", f"--jwks-file {path}: {getattr(exc, 'strerror', None) or 'not JSON'}") from None
    if not isinstance(document, dict):
        raise BadInput("jwks", f'--jwks-file {path}: a JWK Set is a JSON object {{"keys": [...]}}')
    return document


def add_metadata_options(parser: argparse.ArgumentParser, *, update: bool) -> None:
    """The options `client create` and `client update` share for the second round's client metadata (DESIGN.md)."""
    again = "; replaces them all" if update else ""
    parser.add_argument("--jwks-file", help="the client's public keys, a JWK Set in a JSON file (private_key_jwt)")
    parser.add_argument("--jwks-uri", help="or where its JWK Set is fetched (private_key_jwt)")
    parser.add_argument("--post-logout-redirect-uri", action="append", help=f"repeatable; matched exactly{again}")
    parser.add_argument("--backchannel-logout-uri", help="where logout tokens are POSTed (Back-Channel Logout 1.0)")
    flag = argparse.BooleanOptionalAction if update else "store_true"
    default = None if update else False
    parser.add_argument(
        "--backchannel-logout-session-required", action=flag, default=default, help="logout tokens must carry sid"
    )
    parser.add_argument(
        "--dpop-bound", action=flag, default=default, help="its tokens must be DPoP-bound (RFC 9449 section 5.2)"
    )
    targets = parser.add_mutually_exclusive_group() if update else parser
    targets.add_argument(
        "--may-exchange-for",
        action="append",
        metavar="RESOURCE",
        help=f"a registered resource it may exchange a user's token towards (RFC 8693); repeatable{again}",
    )
    if update:
        targets.add_argument(
            "--no-may-exchange-for",
            dest="may_exchange_for",
            action="store_const",
            const=[],
            help="it may no longer exchange tokens towards any resource",
        )
    parser.add_argument(
        "--require-par", action=flag, default=default, help="only pushed authorization requests (RFC 9126)"
    )


def metadata_options(args: argparse.Namespace) -> dict[str, Any]:
    """The metadata options given, by member name."""
    given = {
        "jwks": read_jwks_file(args.jwks_file),
        "jwks_uri": args.jwks_uri,
        "post_logout_redirect_uris": args.post_logout_redirect_uri,
        "backchannel_logout_uri": args.backchannel_logout_uri,
        "backchannel_logout_session_required": args.backchannel_logout_session_required,
        "dpop_bound_access_tokens": args.dpop_bound,
        "may_exchange_for": args.may_exchange_for,
        "require_pushed_authorization_requests": args.require_par,
    }
    return {name: value for name, value in given.items() if value is not None}


@announced
async def client_update(args: argparse.Namespace, session: Control) -> int:
    changes: dict[str, Any] = metadata_options(args)
    for member, value in (
        ("name", args.name),
        ("redirect_uris", args.redirect_uri),
        ("grant_types", args.grant_type),
        ("scopes", args.scope.split() if args.scope is not None else None),
        ("access_token_ttl", args.access_token_ttl),
        ("refresh_token_ttl", args.refresh_token_ttl),
        ("id_token_signed_response_alg", args.id_token_alg),
        ("introspect", args.introspect),
        ("token_endpoint_auth_method", args.auth_method),
    ):
        if value is not None:
            changes[member] = value
    if not changes:
        print("authorium: nothing to change; name at least one option", file=sys.stderr)
        return 2
    show(clients.client_view(await clients.update_client(session, args.client_id, changes)), args.json)
    return 0


def client_disabling(disabled: bool) -> Command:
    @announced
    async def run(args: argparse.Namespace, session: Control) -> int:
        await clients.update_client(session, args.client_id, {"disabled": disabled})
        print(f"client {args.client_id} {'disabled' if disabled else 'enabled'}")
        return 0

    return run


@announced
async def client_delete(args: argparse.Namespace, session: Control) -> int:
    await clients.delete_client(session, args.client_id)
    print(f"client {args.client_id} deleted")
    return 0


@announced
async def client_rotate_secret(args: argparse.Namespace, session: Control) -> int:
    secret = await clients.rotate_secret(session, args.client_id, overlap=args.overlap)
    if args.json:
        print(orjson.dumps({"client_secret": secret}).decode())
    else:
        print(f"client_secret: {secret}")
        print("The secret is shown only now; Authorium keeps only its SHA-256 digest.", file=sys.stderr)
    return 0


# Users


@announced
async def user_list(args: argparse.Namespace, session: Control) -> int:
    items = await every_page(
        lambda cursor: users.list_users(session.pool, cursor=cursor, limit=MAX_LIMIT, username=args.username)
    )
    table(items, ("user_id", "username", "name", "disabled"), args.json)
    return 0


@announced
async def user_show(args: argparse.Namespace, session: Control) -> int:
    show(users.user_view(await users.find_user(session.pool, args.user)), args.json)
    return 0


def user_disabling(disabled: bool) -> Command:
    @announced
    async def run(args: argparse.Namespace, session: Control) -> int:
        user = await users.find_user(session.pool, args.user)
        await users.update_user(session, str(user.user_id), {"disabled": disabled})
        print(f"user {user.username} {'disabled' if disabled else 'enabled'}")
        return 0

    return run


@announced
async def user_delete(args: argparse.Namespace, session: Control) -> int:
    user = await users.find_user(session.pool, args.user)
    await users.delete_user(session, str(user.user_id))
    print(f"user {user.username} deleted")
    return 0


@announced
async def user_set_password(args: argparse.Namespace, session: Control) -> int:
    if not args.password_stdin:
        print("authorium: give the password on standard input with --password-stdin", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    user = await users.find_user(session.pool, args.user)
    await users.update_user(session, str(user.user_id), {"password": password})
    print(f"password of {user.username} set")
    return 0


@announced
async def user_sign_out(args: argparse.Namespace, session: Control) -> int:
    user = await users.find_user(session.pool, args.user)
    revoked = await users.sign_out(session, str(user.user_id))
    print(f"{user.username} signed out everywhere; {revoked} grant{'' if revoked == 1 else 's'} revoked")
    return 0


@announced
async def user_factors(args: argparse.Namespace, session: Control) -> int:
    user = await users.find_user(session.pool, args.user)
    page = await factors.list_factors(session.pool, str(user.user_id))
    table(page.items, ("factor_id", "type", "label", "created_at", "last_used_at", "recovery_codes_left"), args.json)
    return 0


@announced
async def user_reset_factors(args: argparse.Namespace, session: Control) -> int:
    user = await users.find_user(session.pool, args.user)
    removed = await factors.reset_factors(session, str(user.user_id))
    print(f"second factors of {user.username} reset; {removed} removed")
    return 0


# Grants and the audit log


@announced
async def grant_list(args: argparse.Namespace, session: Control) -> int:
    user = await users.find_user(session.pool, args.user)
    items = await every_page(
        lambda cursor: users.list_grants(session.pool, str(user.user_id), cursor=cursor, limit=MAX_LIMIT)
    )
    table(items, ("grant_id", "client_id", "scopes", "created_at", "last_used_at"), args.json)
    return 0


@announced
async def grant_revoke(args: argparse.Namespace, session: Control) -> int:
    await users.revoke_grant(session, args.grant_id)
    print(f"grant {args.grant_id} revoked")
    return 0


@announced
async def audit(args: argparse.Namespace, session: Control) -> int:
    user = args.user
    if user is not None and not _is_uuid(user):
        # A username names a user who exists; an id may name one deleted since (their events remain).
        user = str((await users.find_user(session.pool, user)).user_id)
    page = await list_events(
        session.pool,
        since=args.since,
        until=args.until,
        event_type=args.type,
        user=user,
        client=args.client,
        limit=args.limit,
    )
    table(page.items, ("id", "occurred_at", "type", "client_id", "user_id", "details"), args.json)
    return 0


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `grant` and `audit` commands (`client` and `user` get theirs from `add_client_commands` and
    `add_user_commands`)."""
    grant = sub.add_parser("grant", help="a user's grants").add_subparsers(dest="grant_command", required=True)
    glist = grant.add_parser("list", help="a user's grants in force, newest first")
    glist.add_argument("--user", required=True, help="user id or username")
    _json_flag(glist)
    glist.set_defaults(func=grant_list)
    grevoke = grant.add_parser("revoke", help="revoke a grant: its refresh and access tokens stop")
    grevoke.add_argument("grant_id")
    grevoke.set_defaults(func=grant_revoke)

    events = sub.add_parser("audit", help="audit events, newest first")
    events.add_argument("--since", help="from this RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z")
    events.add_argument("--until", help="before this RFC 3339 date-time")
    events.add_argument("--type", help="only events of this type, e.g. client_disabled")
    events.add_argument("--user", help="only events about this user (id or username)")
    events.add_argument("--client", help="only events about this client id")
    events.add_argument("--limit", type=int, default=100, help=f"at most this many (default 100, at most {MAX_LIMIT})")
    _json_flag(events)
    events.set_defaults(func=audit)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def add_client_commands(client: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clist = client.add_parser("list", help="registered clients")
    clist.add_argument("--name", help="only those whose name contains this (any case)")
    state = clist.add_mutually_exclusive_group()
    state.add_argument("--disabled", action="store_const", const=True, help="only disabled clients")
    state.add_argument("--enabled", dest="disabled", action="store_const", const=False, help="only enabled clients")
    _json_flag(clist)
    clist.set_defaults(func=client_list)

    cshow = client.add_parser("show", help="one client")
    cshow.add_argument("client_id")
    _json_flag(cshow)
    cshow.set_defaults(func=client_show)

    update = client.add_parser("update", help="change a client; options not given stay as they are")
    update.add_argument("client_id")
    update.add_argument("--name")
    update.add_argument("--redirect-uri", action="append", help="repeatable; replaces them all")
    update.add_argument("--grant-type", action="append", choices=GRANT_TYPES, help="repeatable; replaces them all")
    update.add_argument("--scope", help="allowed scopes, space-separated; replaces them all")
    update.add_argument("--access-token-ttl", type=int, help="seconds (at most the server's)")
    update.add_argument("--refresh-token-ttl", type=int, help="seconds (at most the server's)")
    update.add_argument("--id-token-alg", help="the ID token's signing algorithm")
    update.add_argument(
        "--introspect",
        action=argparse.BooleanOptionalAction,
        help="may introspect any token of this issuer (a resource server), or no longer",
    )
    update.add_argument("--auth-method", choices=AUTH_METHODS, help="how it authenticates at the token endpoint")
    add_metadata_options(update, update=True)
    _json_flag(update)
    update.set_defaults(func=client_update)

    for name, disabled, text in (
        ("disable", True, "the client can no longer authenticate; its tokens are revoked"),
        ("enable", False, "the client may authenticate again"),
    ):
        command = client.add_parser(name, help=text)
        command.add_argument("client_id")
        command.set_defaults(func=client_disabling(disabled))

    delete = client.add_parser("delete", help="delete a client; its tokens are revoked, its consents removed")
    delete.add_argument("client_id")
    delete.set_defaults(func=client_delete)

    rotate = client.add_parser("rotate-secret", help="give a confidential client a new secret")
    rotate.add_argument("client_id")
    rotate.add_argument(
        "--overlap", type=int, default=0, help="seconds the old secret keeps working (default 0, at most 86400)"
    )
    rotate.add_argument("--json", action="store_true", help='print only {"client_secret": ...}')
    rotate.set_defaults(func=client_rotate_secret)


def add_user_commands(user: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ulist = user.add_parser("list", help="users")
    ulist.add_argument("--username", help="only those whose username contains this (any case)")
    _json_flag(ulist)
    ulist.set_defaults(func=user_list)

    ushow = user.add_parser("show", help="one user")
    ushow.add_argument("user", help="user id or username")
    _json_flag(ushow)
    ushow.set_defaults(func=user_show)

    for name, func, text in (
        ("disable", user_disabling(True), "the user can no longer sign in; their grants are revoked"),
        ("enable", user_disabling(False), "the user may sign in again"),
        ("delete", user_delete, "delete a user with their grants, consents and sessions"),
        (
            "sign-out",
            user_sign_out,
            "end the user's sessions everywhere (with back-channel logout) and revoke their grants",
        ),
        ("reset-factors", user_reset_factors, "remove the user's second factors and recovery codes"),
    ):
        command = user.add_parser(name, help=text)
        command.add_argument("user", help="user id or username")
        command.set_defaults(func=func)

    ufactors = user.add_parser("factors", help="a user's second factors")
    ufactors.add_argument("user", help="user id or username")
    _json_flag(ufactors)
    ufactors.set_defaults(func=user_factors)

    password = user.add_parser("set-password", help="set a user's password")
    password.add_argument("user", help="user id or username")
    password.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    password.set_defaults(func=user_set_password)
