"""The refresh token grant (RFC 6749 section 6) with rotation and reuse detection (RFC 9700 section 4.14.2).

Every use returns a new refresh token and retires the old one; the old one coming back revokes the family.
With AUTHORIUM_REFRESH_REUSE_GRACE_SECONDS set, the same client racing itself within that window gets the
same successor pair again instead. `resource` may narrow the new access token to some of the resources the grant
covers (RFC 8707 section 2.2); the refresh token keeps them all. A public client's refresh token bound to a DPoP
key is refreshed only with a proof by that key (RFC 9449 section 5); the new access token is bound to the key of
the request's proof, if it has one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from authorium_shared.appkeys import METRICS
from authorium_shared.errors import InvalidGrant, InvalidScope
from authz.appkeys import AUDIT, GRANT_STORE, MINTER, RESOURCES, REVOKER, SETTINGS
from authz.forms import require
from authz.grants.request import TokenRequest
from authz.resources import indicators
from authz.scopes import parse_scope
from authz.tokens.families import Rejected, Reused
from authz.tokens.minter import Issue, access_token_lifetime, new_jti, refresh_digest, refresh_token_lifetime

GRANT_TYPE = "refresh_token"


async def exchange(request: TokenRequest) -> dict[str, Any]:
    client, app, params = request.client, request.app, request.params
    settings, minter, revoker = app[SETTINGS], app[MINTER], app[REVOKER]
    presented = require(params, "refresh_token")
    requested = parse_scope(params.get("scope"))
    successor = minter.successor_of(presented)
    now = datetime.fromtimestamp(int(time.time()), UTC)
    registry = app[RESOURCES].current
    narrowed: indicators.Target | None = None
    if request.resources:
        # A grant's resources and scopes never change, so they can be read before the rotation locks the token. A
        # token that is unknown or another client's is left for the rotation to refuse, saying nothing more.
        found = await app[GRANT_STORE].find_refresh(refresh_digest(presented))
        if found is not None and found[0].client_id == client.client_id:
            grant = found[0]
            granted = [a for a in grant.audience if a != settings.issuer]
            scopes = requested or grant.scopes
            narrowed = indicators.narrow(registry, granted, request.resources, scopes, named=bool(requested))
            if not narrowed.scopes:
                raise InvalidScope("the grant holds no scope of the resources asked for")
            requested = narrowed.scopes
    outcome = await app[GRANT_STORE].rotate(
        token_hash=refresh_digest(presented),
        client_id=client.client_id,
        successor_hash=refresh_digest(successor),
        access_jti=new_jti(),
        requested_scopes=requested,
        now=now,
        ttl=timedelta(seconds=refresh_token_lifetime(settings, client)),
        grace=timedelta(seconds=settings.refresh_reuse_grace),
        revocation_expires_at=revoker.grant_revocation_expiry(now),
        dpop_jkt=request.dpop_jkt,
    )
    if isinstance(outcome, Rejected):
        raise InvalidScope(outcome.reason) if outcome.invalid_scope else InvalidGrant(outcome.reason)
    if isinstance(outcome, Reused):
        app[METRICS].refresh_reuse.inc()
        await revoker.announce_grant(outcome.grant.grant_id)
        await app[AUDIT].record(
            "refresh_reuse",
            client_id=client.client_id,
            user_id=outcome.grant.user_id,
            remote_addr=request.remote,
            details={"grant_id": str(outcome.grant.grant_id)},
        )
        raise InvalidGrant("the refresh token was already used; its whole family is now revoked")
    grant, issued = outcome.grant, outcome.successor
    # The rotation is committed: from here on nothing may fail on a store, or the client, retrying its 503, would
    # present a used token and revoke its own family. The user exists: grants are deleted with their user.
    if grant.user_id is None:
        raise InvalidGrant("the user no longer exists")
    audience = grant.audience if narrowed is None else narrowed.audience(settings.issuer)
    return minter.issue(
        Issue(
            client=client,
            subject=str(grant.user_id),
            scopes=issued.access_scopes,
            audience=audience,
            jti=issued.access_jti,
            issued_at=int(issued.issued_at.timestamp()),
            lifetime=registry.lifetime(audience, access_token_lifetime(settings, client)),
            grant_id=str(grant.grant_id),
            auth_time=int(grant.auth_time.timestamp()) if grant.auth_time else None,
            refresh_token=successor,
            sid=grant.sid,
            dpop_jkt=request.dpop_jkt,
        )
    )
