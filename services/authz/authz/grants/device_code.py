"""The device authorization grant's token request (RFC 8628 sections 3.4-3.5): the device polls with its device code
until the person has decided. While they have not, `authorization_pending`, or `slow_down` (the interval five seconds
longer) when the device polls faster than its interval; then `access_denied`, or the tokens, once; after the code's
lifetime `expired_token`. A code issued to another client, unknown or already used is `invalid_grant`.

Tokens are issued as the authorization code grant issues them (a grant the person can see and revoke, made in the
session that approved it; a refresh token by the same rules; an ID token when `openid` was granted, with that sign-in's
`sid`, `amr` and `acr`, without a nonce: the device flow has none)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from authorium_shared.errors import AccessDenied, AuthorizationPending, ExpiredToken, InvalidGrant, SlowDown
from authz.appkeys import DEVICE_CODES, GRANT_STORE, MINTER, RESOURCES, SESSIONS, SETTINGS, USERS
from authz.device import store
from authz.forms import require
from authz.grants.request import TokenRequest, issues_refresh_token
from authz.resources import indicators
from authz.scopes import OPENID
from authz.tokens.families import AlreadyStored, Grant, IssuedRefresh, Orphaned
from authz.tokens.minter import (
    Issue,
    access_token_lifetime,
    new_jti,
    new_refresh_token,
    refresh_digest,
    refresh_token_lifetime,
)

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
    client, app = request.client, request.app
    if approved.sid is not None and await app[SESSIONS].ended(approved.sid):
        # Signed out between the approval and this poll: what the sign-out revoked must not come back.
        raise InvalidGrant("the session the request was approved in has ended")
    user = await app[USERS].get(uuid.UUID(approved.user_id))
    if user is None or user.disabled:
        raise InvalidGrant("the user no longer exists or is disabled")
    settings = app[SETTINGS]
    registry = app[RESOURCES].current
    granted = approved.resources
    target = indicators.narrow(registry, granted, request.resources or granted, approved.scopes, named=False)
    now = int(time.time())
    issued_at = datetime.fromtimestamp(now, UTC)
    jti = new_jti()
    refresh_token = new_refresh_token() if issues_refresh_token(client, approved.scopes) else None
    refresh = (
        IssuedRefresh(refresh_digest(refresh_token), access_jti=jti, access_scopes=target.scopes, issued_at=issued_at)
        if refresh_token
        else None
    )
    refresh_lifetime = refresh_token_lifetime(settings, client)
    access_lifetime = registry.lifetime(target.identifiers, access_token_lifetime(settings, client))
    lifetime = refresh_lifetime if refresh_token else access_lifetime
    audience = (*granted, settings.issuer) if OPENID in approved.scopes else tuple(granted)
    grant = Grant(
        grant_id=uuid.UUID(approved.grant_id),
        client_id=client.client_id,
        user_id=user.user_id,
        scopes=approved.scopes,
        audience=audience,
        nonce=None,
        auth_time=datetime.fromtimestamp(approved.auth_time, UTC),
        expires_at=issued_at + timedelta(seconds=lifetime),
        revoked_at=None,
        sid=approved.sid,
        # A public device's refresh tokens are bound to its DPoP key (RFC 9449 section 5), as in the code grant.
        dpop_jkt=request.dpop_jkt if client.is_public else None,
    )
    try:
        await app[GRANT_STORE].create(grant, refresh, issued_at + timedelta(seconds=refresh_lifetime))
    except (Orphaned, AlreadyStored):
        raise InvalidGrant(_UNUSABLE) from None
    return app[MINTER].issue(
        Issue(
            client=client,
            subject=str(user.user_id),
            scopes=target.scopes,
            audience=target.audience(settings.issuer),
            jti=jti,
            issued_at=now,
            lifetime=access_lifetime,
            grant_id=approved.grant_id,
            auth_time=approved.auth_time,
            refresh_token=refresh_token,
            sid=approved.sid,
            amr=approved.amr,
            dpop_jkt=request.dpop_jkt,
        )
    )
