"""The authorization response (RFC 6749 section 4.1.2, RFC 9207): the code, or an error, sent back to the
client's verified redirect URI with `state` and the issuer."""

from __future__ import annotations

import uuid

from aiohttp import web

from authorium_shared.errors import AccessDenied, OAuthError
from authorium_shared.middleware import redirect_with
from authz.appkeys import CODES, SESSIONS, SETTINGS
from authz.authorization.checks import MAX_STATE_LENGTH
from authz.authorization.codes import AuthorizationCode
from authz.authorization.pending import DEVICE, PendingRequest
from authz.device import verification
from authz.interaction import PageError
from authz.sessions.store import Session


def to_client(exc: OAuthError, issuer: str, redirect_uri: str, state: str | None) -> OAuthError:
    """Turn an error into a redirect to the (verified) client, with `state` and RFC 9207's `iss`
    (section 4.1.2.1)."""
    exc.redirect_uri = redirect_uri
    exc.state = state if state is not None and len(state) <= MAX_STATE_LENGTH else None
    exc.redirect_params = {"iss": issuer}
    return exc


def refuse(exc: OAuthError, issuer: str, pending: PendingRequest) -> Exception:
    """An error in a parked request: redirected to its client, or for a device, which has no redirect URI, shown on
    a page (RFC 8628 section 3.3; the device learns of it by polling)."""
    if pending.kind == DEVICE:
        return PageError("Cannot continue", exc.description or exc.error)
    return to_client(exc, issuer, pending.redirect_uri, pending.state)


async def answer(request: web.Request, pending: PendingRequest, session: Session) -> web.StreamResponse:
    """The parked request granted: a code for its client, or the device's request approved."""
    if pending.kind == DEVICE:
        return await verification.decided(request, pending, session, approved=True)
    return await answer_with_code(request, pending, session)


async def decline(request: web.Request, pending: PendingRequest, session: Session) -> web.StreamResponse:
    """The person denied the parked request (RFC 6749 section 4.1.2.1, RFC 8628 section 3.5 `access_denied`)."""
    if pending.kind == DEVICE:
        return await verification.decided(request, pending, session, approved=False)
    denied = AccessDenied("the user denied the request")
    raise to_client(denied, request.app[SETTINGS].issuer, pending.redirect_uri, pending.state)


async def answer_with_code(request: web.Request, pending: PendingRequest, session: Session) -> web.StreamResponse:
    """Issue a code for the signed-in person and send the browser back to the client with it."""
    assert session.user_id is not None and session.auth_time is not None
    code = await request.app[CODES].issue(
        AuthorizationCode(
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri if pending.redirect_uri_given else None,
            scopes=pending.scopes,
            user_id=session.user_id,
            auth_time=session.auth_time,
            grant_id=str(uuid.uuid4()),
            code_challenge=pending.code_challenge,
            nonce=pending.nonce,
            resources=pending.resources,
            sid=session.oidc_sid,
            amr=session.amr,
            dpop_jkt=pending.dpop_jkt,
        )
    )
    # Back-Channel Logout 1.0 section 2.1: the session remembers the clients it reached, to tell them when it ends.
    await request.app[SESSIONS].reached(session, pending.client_id)
    params = {"code": code}
    if pending.state is not None:
        params["state"] = pending.state
    params["iss"] = request.app[SETTINGS].issuer
    raise redirect_with(pending.redirect_uri, params, after_post=request.method == "POST")
