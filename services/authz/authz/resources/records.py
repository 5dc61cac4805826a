"""Resources (RFC 8707): the APIs access tokens are issued for, each named by an identifier (an absolute URI) and
declaring the scopes it accepts; the two built-in entries; and the rules a registration must follow."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

import asyncpg

from authorium_shared.errors import InvalidScope
from authz.scopes import USER_SCOPES, parse_scope

# The admin API (authz's private listener) is always present and never stored: its identifier is
# AUTHORIUM_ADMIN_URL and it declares one scope.
ADMIN_ID = "admin"
ADMIN_SCOPE = "authorium:admin"
# The notes API, the default resource: stored under this id by `authorium setup` / `run`; its identifier is always
# AUTHORIUM_RESOURCE_URL, and until it is stored it declares NOTES_SCOPES.
NOTES_ID = "notes"
NOTES_SCOPES = ("notes:read", "notes:write", "notes:admin")
MAX_IDENTIFIER_LENGTH = 2000
MAX_NAME_LENGTH = 200
MIN_TTL, MAX_TTL = 30, 86400
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


class ResourceError(Exception):
    """A registration the registry refuses; `field` names the input at fault, when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidResource(ResourceError):
    """Bad input (a 400 at an API)."""


class ResourceConflict(ResourceError):
    """The identifier or a scope is another resource's already (a 409)."""


class ResourceNotFound(ResourceError):
    """No resource has that id (a 404)."""


class BuiltInResource(ResourceError):
    """The admin API's entry, or the default resource's identifier, cannot be changed or deleted (a 403)."""


@dataclass(frozen=True)
class Resource:
    resource_id: str
    identifier: str
    name: str | None
    scopes: tuple[str, ...]
    # Seconds; None: the server's AUTHORIUM_ACCESS_TOKEN_TTL (which also caps any value here).
    access_token_ttl: int | None
    built_in: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def label(self) -> str:
        """How a person is told about it (the consent page): its name, else its identifier."""
        return self.name or self.identifier

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Resource:
        return cls(
            resource_id=row["resource_id"],
            identifier=row["identifier"],
            name=row["name"],
            scopes=tuple(row["scopes"]),
            access_token_ttl=row["access_token_ttl"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.resource_id,
            "identifier": self.identifier,
            "name": self.name,
            "scopes": list(self.scopes),
            "access_token_ttl": self.access_token_ttl,
            "built_in": self.built_in,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def admin_api(admin_url: str) -> Resource:
    return Resource(ADMIN_ID, admin_url, "Authorium admin API", (ADMIN_SCOPE,), None, built_in=True)


def notes_api(resource_url: str) -> Resource:
    """The default resource as it is before `setup` stores it."""
    return Resource(NOTES_ID, resource_url, "Notes API", NOTES_SCOPES, None)


def view(stored: Iterable[Resource], *, admin_url: str, resource_url: str) -> list[Resource]:
    """Every resource as the server sees it: the admin API, the notes API (stored or not; its identifier is always
    AUTHORIUM_RESOURCE_URL), then the stored rest. A stored entry that collides with these two (possible only
    when AUTHORIUM_ADMIN_URL or AUTHORIUM_RESOURCE_URL changed since it was made) is left out, so each identifier
    and scope keeps exactly one owner."""
    stored = list(stored)
    notes = next((r for r in stored if r.resource_id == NOTES_ID), None)
    notes = notes_api(resource_url) if notes is None else replace(notes, identifier=resource_url)
    fixed = [admin_api(admin_url), notes]
    taken_ids = {r.identifier for r in fixed}
    taken_scopes = {s for r in fixed for s in r.scopes}
    others = [
        r
        for r in stored
        if r.resource_id not in (ADMIN_ID, NOTES_ID)
        and r.identifier not in taken_ids
        and not taken_scopes & set(r.scopes)
    ]
    return fixed + others


def check_identifier(value: str) -> str:
    """RFC 8707 section 2: an absolute URI (RFC 3986 section 4.3) without a fragment. Raises InvalidResource."""
    if not value or len(value) > MAX_IDENTIFIER_LENGTH or _CONTROL.search(value):
        raise InvalidResource(
            f"identifier must be 1 to {MAX_IDENTIFIER_LENGTH} characters without spaces", "identifier"
        )
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidResource(f"identifier {value!r} is not a valid URI", "identifier") from None
    if not parts.scheme or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme):
        raise InvalidResource("identifier must be an absolute URI, with a scheme (RFC 8707 section 2)", "identifier")
    if "#" in value:
        raise InvalidResource("identifier must not have a fragment (RFC 8707 section 2)", "identifier")
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise InvalidResource("an http(s) identifier must name a host", "identifier")
    return value


def check_scopes(value: str | Sequence[str]) -> tuple[str, ...]:
    """The scopes a resource declares: scope-tokens (RFC 6749 section 3.3), none of them OpenID Connect's (those are
    about the person, for the authorization server itself) nor the admin API's."""
    try:
        scopes = parse_scope(value if isinstance(value, str) else " ".join(value))
    except InvalidScope as exc:
        raise InvalidResource(exc.description or "scope is malformed", "scopes") from None
    reserved = [s for s in scopes if s in USER_SCOPES or s == ADMIN_SCOPE]
    if reserved:
        raise InvalidResource(f"{' '.join(reserved)} cannot be declared by a resource", "scopes")
    return scopes


def check_name(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip()
    if not name:
        return None
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidResource(f"name must be at most {MAX_NAME_LENGTH} printable characters", "name")
    return name


def check_ttl(value: int | None) -> int | None:
    if value is not None and not MIN_TTL <= value <= MAX_TTL:
        raise InvalidResource(f"access_token_ttl must be {MIN_TTL} to {MAX_TTL} seconds", "access_token_ttl")
    return value
