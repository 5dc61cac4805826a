"""Reading the audit log back (the admin API's `/admin/v1/audit-events` and `authorium audit`): filters given as
text, checked, and keyset pages, newest first."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from authz import audit
from authz.control import BadInput, Page, check_limit, decode_cursor, page_of


def parse_time(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 date-time (`2026-01-31T12:00:00Z`); a date alone is its midnight, UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(name, f"{name} must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


async def list_events(
    pool: asyncpg.Pool,
    *,
    since: str | None = None,
    until: str | None = None,
    event_type: str | None = None,
    user: str | None = None,
    client: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page:
    size = check_limit(limit)
    start, end = parse_time("since", since), parse_time("until", until)
    try:
        user_id = uuid.UUID(user) if user is not None else None
    except ValueError:
        raise BadInput("user", "user must be a user id") from None
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], int):
        raise BadInput("cursor", "cursor is not one this server gave out")
    rows = await audit.query(
        pool,
        since=start,
        until=end,
        event=event_type,
        user_id=user_id,
        client_id=client,
        before_id=int(after[0]) if after else None,
        limit=size + 1,
    )
    return page_of(rows, size, audit.event_view, lambda r: [r["id"]])
