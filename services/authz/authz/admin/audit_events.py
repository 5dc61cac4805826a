"""The admin API's audit events (DESIGN.md, "Admin API"): `GET /admin/v1/audit-events`, newest first, filtered by
`since`, `until`, `type`, `user`, `client`, a keyset page at a time."""

from __future__ import annotations

from aiohttp import web

from authz.admin.http import listing, operation, query_int, query_str
from authz.audit_query import list_events
from authz.control import Control


@operation
async def list_audit_events(request: web.Request, control: Control) -> web.Response:
    page = await list_events(
        control.pool,
        since=query_str(request, "since", max_length=64),
        until=query_str(request, "until", max_length=64),
        event_type=query_str(request, "type", max_length=100),
        user=query_str(request, "user", max_length=64),
        client=query_str(request, "client", max_length=256),
        cursor=query_str(request, "cursor", max_length=1000),
        limit=query_int(request, "limit"),
    )
    return listing(page)
