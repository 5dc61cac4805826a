"""What every operator's change shares, whether it comes through the admin API or the management CLI: who is acting
and the stores it changes (`Control`), the errors it can end in, versions for conditional updates, and keyset pages.
The operations themselves live in their domains: `authz.clients.management`, `authz.users.management`."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authz.audit import AuditLog
from authz.clients.cache import ClientCache, announce_change
from authz.revocation.revoker import Revoker
from authz.sessions.store import SessionStore
from authz.settings import AuthzSettings
from authz.users.passwords import Passwords

CLI_ACTOR = "cli"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def client_actor(client_id: str) -> str:
    """The actor an audit event names for a change made with an admin client's token."""
    return f"client:{client_id}"


def user_actor(user_id: object) -> str:
    """The actor an audit event names for a change a person made on their own account page."""
    return f"user:{user_id}"


@dataclass(frozen=True)
class Control:
    """An operator's session: `actor` (`cli`, or `client:<id>` of the admin API's caller) is named in every audit
    event the changes write."""

    pool: asyncpg.Pool
    redis: Redis
    keys: RedisKeys
    settings: AuthzSettings
    revoker: Revoker
    audit: AuditLog
    sessions: SessionStore
    passwords: Passwords
    actor: str
    remote_addr: str | None = None
    # This process's client cache, dropped at once (other replicas drop theirs on the announcement).
    clients: ClientCache | None = None

    async def record(
        self,
        conn: asyncpg.Connection,
        event: str,
        *,
        client_id: str | None = None,
        user_id: Any = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """The audit event of a change, in the change's transaction."""
        await self.audit.record(
            event,
            client_id=client_id,
            user_id=user_id,
            remote_addr=self.remote_addr,
            details={"actor": self.actor, **(details or {})},
            conn=conn,
        )

    async def client_changed(self, client_id: str) -> None:
        """Every replica drops its copy of the client at once: this one now, the others on the announcement."""
        if self.clients is not None:
            self.clients.invalidate(client_id)
        await announce_change(self.redis, self.keys, client_id)


class ControlError(Exception):
    """A change refused; nothing was written. `status` is its HTTP status in the admin API."""

    status = 400
    title = "Bad Request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadInput(ControlError):
    """A member of the request is wrong: `field` names it (None for the body as a whole)."""

    def __init__(self, field: str | None, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class NotFound(ControlError):
    status = 404
    title = "Not Found"


class Conflict(ControlError):
    status = 409
    title = "Conflict"


class Stale(ControlError):
    """The caller's version (an `If-Match` ETag) is not the current one: someone changed it since it was read."""

    status = 412
    title = "Precondition Failed"


def check_members(document: object, allowed: Mapping[str, type], *, nullable: Collection[str] = ()) -> dict[str, Any]:
    """`document` as a dict of known members of the right types (or null, for those in `nullable`); BadInput naming
    the first that is not."""
    if not isinstance(document, dict):
        raise BadInput(None, "the body must be a JSON object")
    for name, value in document.items():
        kind = allowed.get(name)
        if kind is None:
            raise BadInput(name, f"{name} is not a member this accepts (it accepts {', '.join(allowed)})")
        if value is None and name in nullable:
            continue
        # bool is an int in Python, never in JSON.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadInput(name, f"{name} must be {'an' if kind in (int, dict) else 'a'} {_JSON_TYPES[kind]}")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise BadInput(name, f"{name} must be an array of strings")
    return dict(document)


_JSON_TYPES = {str: "string", list: "array of strings", int: "integer", bool: "boolean", dict: "object"}


def version(view: Mapping[str, Any]) -> str:
    """A version of `view` (what is shown of a record): changes whenever anything shown changes."""
    return hashlib.sha256(orjson.dumps(view, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def check_version(view: Mapping[str, Any], expected: str | None) -> None:
    """Stale unless `expected` is None (no condition), `*`, or `view`'s version."""
    if expected is not None and expected != "*" and expected != version(view):
        raise Stale("the record changed since that version was read; read it again")


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).rstrip(b"=").decode()


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The key a cursor carries (what `encode_cursor` made); BadInput for anything else."""
    if cursor is None:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise BadInput("cursor", "cursor is not one this server gave out") from None
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, str | int) for k in key):
        raise BadInput("cursor", "cursor is not one this server gave out")
    return key


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput("limit", f"limit must be 1 to {MAX_LIMIT}")
    return limit


def page_of(rows: Sequence[Any], limit: int, view: Any, key: Any) -> Page:
    """A page from `limit + 1` rows (the extra one says there is more): `view` shows a row, `key` is its sort key."""
    shown = rows[:limit]
    more = len(rows) > limit
    return Page([view(r) for r in shown], encode_cursor(key(shown[-1])) if more and shown else None)
