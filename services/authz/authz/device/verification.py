"""The end of a device's request at the verification page (RFC 8628 section 3.3): once the person has signed in and
seen the consent page, their decision is recorded for the device to collect by polling, and they are told to return
to it. The user code is shown on the consent page to compare with the device's (section 5.4)."""

from __future__ import annotations

import uuid

import aiohttp_jinja2
from aiohttp import web

from authz.appkeys import CLIENTS, DEVICE_CODES, SESSIONS
from authz.authorization.pending import DEVICE, PendingRequest
from authz.device.store import DeviceRequest
from authz.device.user_codes import display
from authz.interaction import PageError
from authz.sessions.store import Session

GONE = "This code has expired or was already used. Start again on your device."


async def _waiting(request: web.Request, pending: PendingRequest) -> DeviceRequest:
    found = await request.app[DEVICE_CODES].get(pending.device) if pending.device else None
    if found is None or found.client_id != pending.client_id:
        raise PageError("Cannot continue", GONE)
    return found


async def user_code_of(request: web.Request, pending: PendingRequest) -> str | None:
    """A device's request: its user code as the device shows it (PageError if it is no longer waiting); else None."""
    if pending.kind != DEVICE:
        return None
    return display((await _waiting(request, pending)).user_code)


async def decided(request: web.Request, pending: PendingRequest, session: Session, *, approved: bool) -> web.Response:
    """Record the person's decision on the device's request, and say so."""
    assert session.user_id is not None and session.auth_time is not None
    found = await _waiting(request, pending)
    recorded = await request.app[DEVICE_CODES].decide(
        found,
        approved=approved,
        user_id=session.user_id,
        auth_time=session.auth_time,
        grant_id=str(uuid.uuid4()),
        sid=session.oidc_sid,
        amr=session.amr,
    )
    if not recorded:
        raise PageError("Cannot continue", GONE)
    if approved:
        # As for a code (Back-Channel Logout 1.0 section 2.1): the session's end is told to the device's client too.
        await request.app[SESSIONS].reached(session, pending.client_id)
    client = await request.app[CLIENTS].get(pending.client_id)
    context = {"approved": approved, "client_name": client.name if client else pending.client_id}
    return aiohttp_jinja2.render_template("device_done.html", request, context)
