"""The device authorization grant's token request (RFC 8628 sections 3.4-3.5): the device polls with its device code
until the person has decided. While they have not, `authorization_pending`, or `slow_down` (the interval five seconds
longer) when the device polls faster than its interval; then `access_denied`, or the tokens, once; after the code's
lifetime `expired_token`. A code issued to another client, unknown or already used is `invalid_grant`.

Tokens are issued as the authorization code grant issues them (a grant the person can see and revoke, made in the
session that approved it; a refresh token by the same rules; an ID token when `openid` was granted, with that sign-in's
`sid`, `amr` and `acr`, without a nonce: the device flow has none)."""

from __future__ import annotations

import uuid
from typing import Any

from authorium_shared.errors import AccessDenied, AuthorizationPending, ExpiredToken, InvalidGrant, SlowDown
from authz.appkeys import DEVICE_CODES, GRANT_STORE, MINTER, SESSIONS, USERS
from authz.device import store
from authz.forms import require
from authz.grants import user_tokens
from authz.grants.request import TokenRequest
from authz.tokens.families import AlreadyStored, Orphaned

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
_UNUSABLE = "the device code is invalid, was issued to another client, or was already used"


async def exchange(request: TokenRequest) -> dict[str, Any]:
    client, app = request.client, request.app
    outcome = await app[DEVICE_CODES].poll(require(request.params, "device_code"), client.client_id)
    if isinstance(outcome, store.Pending):
        raise AuthorizationPending("the user has not yet approved or denied the request")
    if isinstance(outcome, store.SlowDown):
        raise SlowDown(
            f"polling too fast: wait at least {outcome.interval} seconds between requests", interval=outcome.interval
        )
    if isinstance(outcome, store.Denied):
        raise AccessDenied("the user denied the request", status=400)
    if isinstance(outcome, store.Expired):
        raise ExpiredToken("the device code has expired; start again")
    if isinstance(outcome, store.Unknown):
        raise InvalidGrant(_UNUSABLE)
    return await _issue(request, outcome)


async def _issue(request: TokenRequest, approved: store.Approved) -> dict[str, Any]:
    app = request.app
    if approved.sid is not None and await app[SESSIONS].ended(approved.sid):
        # Signed out between the approval and this poll: what the sign-out revoked must not come back.
        raise InvalidGrant("the session the request was approved in has ended")
    user = await app[USERS].get(uuid.UUID(approved.user_id))
    if user is None or user.disabled:
        raise InvalidGrant("the user no longer exists or is disabled")
    tokens = user_tokens.prepare(
        request,
        user_tokens.Approval(
            grant_id=approved.grant_id,
            user_id=user.user_id,
            scopes=approved.scopes,
            resources=approved.resources,
            auth_time=approved.auth_time,
            sid=approved.sid,
            amr=approved.amr,
        ),
    )
    try:
        await app[GRANT_STORE].create(tokens.grant, tokens.refresh, tokens.refresh_expires_at)
    except (Orphaned, AlreadyStored):
        raise InvalidGrant(_UNUSABLE) from None
    return app[MINTER].issue(tokens.issue)
