"""Managing users' second factors (the admin API and `authorium user factors` / `authorium user reset-factors`): list
them, remove one, or reset them all (a person who lost their phone and their recovery codes signs in with the password
alone again, and sets up a new factor). Every change is audited."""

from __future__ import annotations

import uuid

import asyncpg

from authz.audit import audited_transaction
from authz.control import Control, NotFound, Page
from authz.factors import repository
from authz.users.management import get_user, parse_user_id
from authz.users.repository import UserRepository


async def list_factors(pool: asyncpg.Pool, user_id: str) -> Page:
    """The user's second factors, oldest first (a handful at most: one page)."""
    user = await get_user(pool, user_id)
    factors = await repository.second_factors(pool, user.user_id)
    return Page([f.view() for f in factors], None)


async def _locked(conn: asyncpg.Connection, user_id: str) -> uuid.UUID:
    uid = parse_user_id(user_id)
    if await UserRepository.locked(conn, uid) is None:
        raise NotFound(f"no user {user_id!r}")
    return uid


async def reset_factors(control: Control, user_id: str) -> int:
    """Remove every second factor of the user (and their recovery codes); how many factors there were."""
    async with audited_transaction(control.pool) as conn:
        uid = await _locked(conn, user_id)
        removed = await repository.reset_factors(conn, uid)
        await control.record(conn, "second_factors_reset", user_id=uid, details={"factors_removed": removed})
    return removed


async def remove_factor(control: Control, user_id: str, factor_id: str) -> None:
    """Remove one second factor of the user; NotFound if they have no such factor."""
    try:
        fid = uuid.UUID(factor_id)
    except ValueError:
        raise NotFound(f"no factor {factor_id!r}") from None
    async with audited_transaction(control.pool) as conn:
        uid = await _locked(conn, user_id)
        kind = await repository.remove_factor(conn, uid, fid)
        if kind is None:
            raise NotFound(f"user {user_id!r} has no factor {factor_id!r}")
        await control.record(
            conn, "second_factor_removed", user_id=uid, details={"factor": kind, "factor_id": factor_id}
        )
