"""The authorization response (RFC 6749 section 4.1.2, RFC 9207): the code, or an error, sent back to the
client's verified redirect URI with `state` and the issuer."""

from __future__ import annotations

import uuid

from aiohttp import web

from authorium_shared.errors import OAuthError
from authorium_shared.middleware import redirect_with
from authz.appkeys import CODES, SESSIONS, SETTINGS
from authz.authorization.checks import MAX_STATE_LENGTH
from authz.authorization.codes import AuthorizationCode
from authz.authorization.pending import PendingRequest
from authz.sessions.store import Session


def to_client(exc: OAuthError, issuer: str, redirect_uri: str, state: str | None) -> OAuthError:
    """Turn an error into a redirect to the (verified) client, with `state` and RFC 9207's `iss`
    (section 4.1.2.1)."""
    exc.redirect_uri = redirect_uri
    exc.state = state if state is not None and len(state) <= MAX_STATE_LENGTH else None
    exc.redirect_params = {"iss": issuer}
    return exc


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
        )
    )
    # Back-Channel Logout 1.0 section 2.1: the session remembers the clients it reached, to tell them when it ends.
    await request.app[SESSIONS].reached(session, pending.client_id)
    params = {"code": code}
    if pending.state is not None:
        params["state"] = pending.state
    params["iss"] = request.app[SETTINGS].issuer
    raise redirect_with(pending.redirect_uri, params, after_post=request.method == "POST")
