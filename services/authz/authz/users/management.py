"""Managing users and what they have granted (the admin API and `authorium user ...` / `authorium grant ...`): list,
show, create, update (name, email, password, disabled), delete, sign out everywhere; a user's grants (revoke one) and
consents (withdraw one).

Disabling, deleting and signing out revoke the user's grants, so their refresh tokens stop at once and their access
tokens within a second everywhere (through the revocation lists), and end their browser sessions at this server."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from authz.audit import audited_transaction
from authz.authorization.consents import ConsentRepository
from authz.control import (
    BadInput,
    Conflict,
    Control,
    NotFound,
    Page,
    check_limit,
    check_version,
    decode_cursor,
    page_of,
)
from authz.sessions.logout import SignOut
from authz.tokens.families import GrantRepository
from authz.users.accounts import check_username
from authz.users.passwords import check_strength
from authz.users.repository import User, UsernameTaken, UserRepository

# What a user record shows and takes, with the type of each member (None allowed where the member may be cleared).
MEMBERS: dict[str, tuple[type, bool]] = {
    "username": (str, False),
    "password": (str, False),
    "name": (str, True),
    "email": (str, True),
    "disabled": (bool, False),
}
MAX_TEXT = 200


def user_view(user: User) -> dict[str, Any]:
    """A user as the admin API and `authorium user show --json` show them: never the password hash."""
    return {
        "user_id": str(user.user_id),
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def grant_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "grant_id": str(row["grant_id"]),
        "client_id": row["client_id"],
        "client_name": row["client_name"],
        "scopes": list(row["scopes"]),
        "created_at": _iso(row["created_at"]),
        "last_used_at": _iso(row["last_used_at"]),
        "expires_at": _iso(row["expires_at"]),
    }


def consent_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "client_id": row["client_id"],
        "client_name": row["client_name"],
        "scopes": list(row["scopes"]),
        "granted_at": _iso(row["granted_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


def _members(document: object, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise BadInput(None, "the body must be a JSON object")
    for name, value in document.items():
        if name not in allowed:
            raise BadInput(name, f"{name} is not a member this accepts (it accepts {', '.join(allowed)})")
        kind, nullable = MEMBERS[name]
        if value is None and nullable:
            continue
        if not isinstance(value, kind):
            raise BadInput(name, f"{name} must be a {'boolean' if kind is bool else 'string'}")
        if isinstance(value, str) and name != "password" and (len(value) > MAX_TEXT or not value.isprintable()):
            raise BadInput(name, f"{name} must be at most {MAX_TEXT} printable characters")
    return dict(document)


async def _password_hash(control: Control, password: str) -> str:
    try:
        check_strength(password)
    except ValueError as exc:
        raise BadInput("password", str(exc)) from None
    return await control.passwords.hash(password)


def parse_user_id(user_id: str) -> uuid.UUID:
    """The id as a UUID; NotFound for anything else (no user has such an id)."""
    try:
        return uuid.UUID(user_id)
    except ValueError:
        raise NotFound(f"no user {user_id!r}") from None


async def list_users(
    pool: asyncpg.Pool, *, cursor: str | None = None, limit: int | None = None, username: str | None = None
) -> Page:
    """Users in username order, a page at a time."""
    size = check_limit(limit)
    after = decode_cursor(cursor, 1)
    rows = await UserRepository(pool).page(after=str(after[0]) if after else None, limit=size + 1, username=username)
    return page_of(rows, size, user_view, lambda u: [u.username.lower()])


async def get_user(pool: asyncpg.Pool, user_id: str) -> User:
    user = await UserRepository(pool).get(parse_user_id(user_id))
    if user is None:
        raise NotFound(f"no user {user_id!r}")
    return user


async def find_user(pool: asyncpg.Pool, name_or_id: str) -> User:
    """The user with this id, or else this username (what the CLI takes)."""
    try:
        return await get_user(pool, name_or_id)
    except NotFound:
        user = await UserRepository(pool).find_by_username(name_or_id)
        if user is None:
            raise NotFound(f"no user {name_or_id!r}") from None
        return user


async def create_user(control: Control, document: object) -> User:
    fields = _members(document, ("username", "password", "name", "email"))
    for required in ("username", "password"):
        if required not in fields:
            raise BadInput(required, f"{required} is required")
    try:
        check_username(fields["username"])
    except ValueError as exc:
        raise BadInput("username", str(exc)) from None
    password_hash = await _password_hash(control, fields["password"])
    try:
        async with audited_transaction(control.pool) as conn:
            user = await UserRepository(conn).create(
                fields["username"], password_hash, name=fields.get("name"), email=fields.get("email")
            )
            await control.record(conn, "user_created", user_id=user.user_id, details={"username": user.username})
    except UsernameTaken:
        raise Conflict(f"user {fields['username']!r} exists already") from None
    return user


async def _locked(conn: asyncpg.Connection, uid: uuid.UUID, user_id: str, expected_version: str | None = None) -> User:
    """The row of user `uid` (`user_id` as the caller named it), locked for the caller's transaction: NotFound if
    there is none, Stale if `expected_version` is given and not the current one."""
    user = await UserRepository.locked(conn, uid)
    if user is None:
        raise NotFound(f"no user {user_id!r}")
    check_version(user_view(user), expected_version)
    return user


async def update_user(control: Control, user_id: str, document: object, *, expected_version: str | None = None) -> User:
    """Change name, email, password or disabled. Disabling revokes the user's grants and ends their sessions."""
    changes = _members(document, ("name", "email", "password", "disabled"))
    uid = parse_user_id(user_id)
    new_hash = await _password_hash(control, changes["password"]) if "password" in changes else None
    expires_at = control.revoker.grant_revocation_expiry()
    revoked: list[uuid.UUID] = []
    async with audited_transaction(control.pool) as conn:
        current = await _locked(conn, uid, user_id, expected_version)
        disabled = changes.get("disabled", current.disabled)
        user = await UserRepository.update(
            conn,
            uid,
            name=changes.get("name", current.name),
            email=changes.get("email", current.email),
            disabled=disabled,
            password_hash=new_hash or current.password_hash,
        )
        changed = sorted(k for k in changes if k in ("name", "email"))
        if changed:
            await control.record(conn, "user_updated", user_id=uid, details={"changed": changed})
        if new_hash is not None:
            await control.record(conn, "user_password_set", user_id=uid)
        if disabled != current.disabled:
            if disabled:
                revoked = await control.revoker.grants.revoke_user(conn, uid, "user disabled", expires_at)
            details = {"grants_revoked": len(revoked)} if disabled else {}
            await control.record(conn, "user_disabled" if disabled else "user_enabled", user_id=uid, details=details)
    if disabled and not current.disabled:
        await _after_revoking(control, uid, revoked, expires_at, "user disabled")
    return user


async def _after_revoking(
    control: Control, user_id: uuid.UUID, revoked: list[uuid.UUID], expires_at: datetime, reason: str
) -> None:
    """Once revocations are committed: announce the revoked grants, and end the user's sessions, with back-channel
    logout to the clients they reached (OpenID Connect Back-Channel Logout 1.0), as the person's own sign-out does."""
    await control.revoker.announce_grants(revoked, expires_at)
    await signing_out(control).everywhere(
        str(user_id), reason=reason, remote_addr=control.remote_addr, actor=control.actor
    )


def signing_out(control: Control) -> SignOut:
    return SignOut(control.pool, control.sessions, control.revoker, control.audit)


async def delete_user(control: Control, user_id: str, *, expected_version: str | None = None) -> None:
    """Delete the user with their consents, grants and refresh tokens (revoked first) and sessions."""
    uid = parse_user_id(user_id)
    expires_at = control.revoker.grant_revocation_expiry()
    async with audited_transaction(control.pool) as conn:
        current = await _locked(conn, uid, user_id, expected_version)
        revoked = await control.revoker.grants.revoke_user(conn, uid, "user deleted", expires_at)
        await UserRepository.delete(conn, uid)
        await control.record(
            conn,
            "user_deleted",
            user_id=uid,
            details={"username": current.username, "grants_revoked": len(revoked)},
        )
    await _after_revoking(control, uid, revoked, expires_at, "user deleted")


async def sign_out(control: Control, user_id: str) -> int:
    """Sign the user out everywhere: their sessions end and their grants are revoked (refresh tokens with them).
    Returns how many grants were revoked."""
    uid = parse_user_id(user_id)
    expires_at = control.revoker.grant_revocation_expiry()
    async with audited_transaction(control.pool) as conn:
        await _locked(conn, uid, user_id)
        revoked = await control.revoker.grants.revoke_user(conn, uid, "signed out by an operator", expires_at)
        await control.record(conn, "user_signed_out", user_id=uid, details={"grants_revoked": len(revoked)})
    await _after_revoking(control, uid, revoked, expires_at, "signed out by an operator")
    return len(revoked)


async def list_grants(pool: asyncpg.Pool, user_id: str, *, cursor: str | None = None, limit: int | None = None) -> Page:
    """The user's grants in force, newest first."""
    user = await get_user(pool, user_id)
    size = check_limit(limit)
    after = decode_cursor(cursor, 2)
    key = None
    if after is not None:
        try:
            key = (datetime.fromisoformat(str(after[0])), uuid.UUID(str(after[1])))
        except ValueError:
            raise BadInput("cursor", "cursor is not one this server gave out") from None
    rows = await GrantRepository(pool).active_of_user(user.user_id, after=key, limit=size + 1)
    return page_of(rows, size, grant_view, lambda r: [r["created_at"].isoformat(), str(r["grant_id"])])


async def revoke_grant(control: Control, grant_id: str) -> None:
    """Revoke one grant: its refresh tokens stop at once, its access tokens within a second everywhere. NotFound if
    there is no such grant or it is revoked already."""
    try:
        gid = uuid.UUID(grant_id)
    except ValueError:
        raise NotFound(f"no grant {grant_id!r}") from None
    expires_at = control.revoker.grant_revocation_expiry()
    async with audited_transaction(control.pool) as conn:
        grant = await GrantRepository.locked_active(conn, gid)
        if grant is None:
            raise NotFound(f"no grant {grant_id!r} in force")
        await control.revoker.grants.revoke(conn, gid, "revoked by an operator", expires_at)
        await control.record(
            conn, "grant_revoked", client_id=grant.client_id, user_id=grant.user_id, details={"grant_id": grant_id}
        )
    await control.revoker.announce_grants([gid], expires_at)


async def list_consents(
    pool: asyncpg.Pool, user_id: str, *, cursor: str | None = None, limit: int | None = None
) -> Page:
    user = await get_user(pool, user_id)
    size = check_limit(limit)
    after = decode_cursor(cursor, 1)
    rows = await ConsentRepository(pool).of_user(user.user_id, after=str(after[0]) if after else None, limit=size + 1)
    return page_of(rows, size, consent_view, lambda r: [r["client_id"]])


async def withdraw_consent(control: Control, user_id: str, client_id: str) -> None:
    """Forget what the user granted the client, and revoke the grants the client holds from them: it must ask
    again. NotFound if the user had granted the client nothing."""
    uid = parse_user_id(user_id)
    expires_at = control.revoker.grant_revocation_expiry()
    async with audited_transaction(control.pool) as conn:
        await _locked(conn, uid, user_id)
        if not await ConsentRepository.withdraw(conn, uid, client_id):
            raise NotFound(f"user {user_id!r} has no consent for client {client_id!r}")
        revoked = await control.revoker.grants.revoke_user(
            conn, uid, "consent withdrawn", expires_at, client_id=client_id
        )
        await control.record(
            conn, "consent_withdrawn", client_id=client_id, user_id=uid, details={"grants_revoked": len(revoked)}
        )
    await control.revoker.announce_grants(revoked, expires_at)
