"""What the grants a person approves (the authorization code, the device code) issue once approved, the same way:
a grant the person can see and revoke, with its first refresh token when the client gets one (`issues_refresh_token`),
and the access token (and ID token, with `openid`) for the resources the approval covers, narrowed by `resource`
(RFC 8707 section 2.2)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authz.appkeys import RESOURCES, SETTINGS
from authz.grants.request import TokenRequest, issues_refresh_token
from authz.resources import indicators
from authz.scopes import OPENID
from authz.tokens.families import Grant, IssuedRefresh
from authz.tokens.minter import (
    Issue,
    access_token_lifetime,
    new_jti,
    new_refresh_token,
    refresh_digest,
    refresh_token_lifetime,
)


@dataclass(frozen=True)
class Approval:
    """What the person approved: for whom, which scopes and resources, and the sign-in behind it."""

    grant_id: str
    user_id: uuid.UUID
    scopes: tuple[str, ...]
    # Every resource of the request: what a refresh may later narrow to.
    resources: tuple[str, ...]
    auth_time: int
    sid: str | None
    amr: tuple[str, ...]
    nonce: str | None = None


@dataclass(frozen=True)
class Tokens:
    """The grant to store (with its first refresh token, until `refresh_expires_at`), and what to mint once it is."""

    grant: Grant
    refresh: IssuedRefresh | None
    refresh_expires_at: datetime
    issue: Issue


def prepare(request: TokenRequest, approval: Approval) -> Tokens:
    app, client = request.app, request.client
    settings = app[SETTINGS]
    registry = app[RESOURCES].current
    granted = approval.resources
    target = indicators.narrow(registry, granted, request.resources or granted, approval.scopes, named=False)
    now = int(time.time())
    issued_at = datetime.fromtimestamp(now, UTC)
    jti = new_jti()
    refresh_token = new_refresh_token() if issues_refresh_token(client, approval.scopes) else None
    refresh = (
        IssuedRefresh(refresh_digest(refresh_token), access_jti=jti, access_scopes=target.scopes, issued_at=issued_at)
        if refresh_token
        else None
    )
    refresh_lifetime = refresh_token_lifetime(settings, client)
    access_lifetime = registry.lifetime(target.identifiers, access_token_lifetime(settings, client))
    lifetime = refresh_lifetime if refresh_token else access_lifetime
    # What a refresh may later narrow: every resource of the authorization request (and the issuer, for userinfo).
    audience = (*granted, settings.issuer) if OPENID in approval.scopes else tuple(granted)
    grant = Grant(
        grant_id=uuid.UUID(approval.grant_id),
        client_id=client.client_id,
        user_id=approval.user_id,
        scopes=approval.scopes,
        audience=audience,
        nonce=approval.nonce,
        auth_time=datetime.fromtimestamp(approval.auth_time, UTC),
        expires_at=issued_at + timedelta(seconds=lifetime),
        revoked_at=None,
        sid=approval.sid,
        # A confidential client's refresh tokens are bound by its authentication instead (RFC 9449 section 5).
        dpop_jkt=request.dpop_jkt if client.is_public else None,
    )
    issue = Issue(
        client=client,
        subject=str(approval.user_id),
        scopes=target.scopes,
        audience=target.audience(settings.issuer),
        jti=jti,
        issued_at=now,
        lifetime=access_lifetime,
        grant_id=approval.grant_id,
        auth_time=approval.auth_time,
        nonce=approval.nonce,
        refresh_token=refresh_token,
        sid=approval.sid,
        amr=approval.amr,
        dpop_jkt=request.dpop_jkt,
    )
    return Tokens(grant, refresh, issued_at + timedelta(seconds=refresh_lifetime), issue)
