"""The consent page of an authorization request (OIDC Core 3.1.2.4): the signed-in person allows or denies the
scopes the client asked for; what they allow is remembered for that client."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from authz.appkeys import AUDIT, CLIENTS, CONSENTS, PENDING, RESOURCES
from authz.authorization.pending import PendingRequest
from authz.authorization.response import answer, decline
from authz.device import verification
from authz.interaction import expired, posted_step
from authz.scopes import describe
from authz.sessions.store import Session


async def page(
    request: web.Request, pending: PendingRequest, rid: str, session: Session, username: str
) -> web.Response:
    client = await request.app[CLIENTS].get(pending.client_id)
    registry = request.app[RESOURCES].current
    # The APIs the access token will be for (RFC 8707), by name where they have one, and always by identifier.
    apis = [((found.name if (found := registry.find(i)) else None), i) for i in pending.resources]
    context: dict[str, Any] = {
        "rid": rid,
        "csrf": session.csrf,
        "client_name": client.name if client else pending.client_id,
        "username": username,
        "scopes": [(scope, describe(scope)) for scope in pending.scopes],
        "apis": apis,
        "redirect_host": urlsplit(pending.redirect_uri).netloc or pending.redirect_uri,
        # A device's request: the code to compare with the one the device shows (RFC 8628 section 5.4).
        "user_code": await verification.user_code_of(request, pending),
    }
    return aiohttp_jinja2.render_template("consent.html", request, context)


async def consent(request: web.Request) -> web.StreamResponse:
    app = request.app
    form, step = await posted_step(request)
    rid, pending, session = step.rid, step.pending, step.session
    # A request waiting at the login page (prompt=login, max_age) carries the same rid and csrf as a consent
    # form would: without this, posting them here would skip the sign-in the client asked for.
    # Nor may a request waiting for a second factor (a step-up, `authz.factors.step`) skip it this way.
    if (
        session.user_id is None
        or pending.needs_login(session)
        or pending.names_another_user(session)
        or pending.resume_to is not None  # the account page's sign-in: nothing to consent to
        or pending.factor_user is not None
    ):
        raise expired()
    user_id = uuid.UUID(session.user_id)
    await app[PENDING].delete(rid)
    if form.get("decision") != "allow":
        await app[AUDIT].record(
            "consent_denied", client_id=pending.client_id, user_id=user_id, remote_addr=request.remote
        )
        return await decline(request, pending, session)
    await app[CONSENTS].grant(user_id, pending.client_id, pending.scopes)
    await app[AUDIT].record(
        "consent_granted",
        client_id=pending.client_id,
        user_id=user_id,
        remote_addr=request.remote,
        details={"scopes": list(pending.scopes)},
    )
    return await answer(request, pending, session)
