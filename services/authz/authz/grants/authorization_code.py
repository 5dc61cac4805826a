"""The authorization code grant's token request (RFC 6749 section 4.1.3, RFC 7636 section 4.6, OIDC Core 3.1.3).

The code is consumed before anything else, so two concurrent redemptions cannot both pass, and only by the client
it was issued to, so a leaked code is not spent by anyone else (section 4.1.3); a code that its client presents
again revokes everything issued from it (RFC 6749 section 4.1.2). The grant covers the resources the authorization
request chose; `resource` here may narrow the access token to some of them (RFC 8707 section 2.2). A code the
authorization request bound to a DPoP key (`dpop_jkt`, RFC 9449 section 10) is redeemed only with a proof by that
key; a public client's refresh token is bound to the key of the proof that redeems its code (section 5)."""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

from authorium_shared.appkeys import METRICS
from authorium_shared.dpop import same_key
from authorium_shared.errors import InvalidGrant, InvalidRequest
from authz.appkeys import AUDIT, CODES, GRANT_STORE, MINTER, RESOURCES, REVOKER, SESSIONS
from authz.authorization import pkce
from authz.authorization.codes import Replayed
from authz.forms import require
from authz.grants import user_tokens
from authz.grants.request import TokenRequest
from authz.resources import indicators
from authz.tokens.families import AlreadyStored, Orphaned

GRANT_TYPE = "authorization_code"
_UNUSABLE = "the authorization code is invalid, expired, or already used"


async def _replayed(request: TokenRequest, grant_id: str) -> NoReturn:
    """A code presented again: what it started is revoked (RFC 6749 section 4.1.2)."""
    app = request.app
    app[METRICS].code_replays.inc()
    await app[REVOKER].grant(uuid.UUID(grant_id), "code replay")
    await app[AUDIT].record(
        "code_replay", client_id=request.client.client_id, remote_addr=request.remote, details={"grant_id": grant_id}
    )
    raise InvalidGrant(_UNUSABLE)


async def exchange(request: TokenRequest) -> dict[str, Any]:
    client, app, params = request.client, request.app, request.params
    found = await app[CODES].consume(require(params, "code"), client.client_id)
    if found is None:
        raise InvalidGrant(_UNUSABLE)
    if isinstance(found, Replayed):
        await _replayed(request, found.grant_id)
    code = found
    if code.redirect_uri is not None and params.get("redirect_uri") != code.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    verifier = params.get("code_verifier")
    if code.code_challenge is None:
        if verifier is not None:
            # RFC 9700 section 2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
            raise InvalidGrant("code_verifier was sent but the authorization request had no code_challenge")
    elif verifier is None:
        raise InvalidRequest("code_verifier is required: the authorization request had a code_challenge")
    elif not pkce.verify(verifier, code.code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
    if code.sid is not None and await app[SESSIONS].ended(code.sid):
        # Signed out between the code and its redemption: what the sign-out revoked must not come back.
        raise InvalidGrant("the session the code was issued in has ended")
    if code.dpop_jkt is not None and not same_key(code.dpop_jkt, request.dpop_jkt):
        raise InvalidGrant("the authorization request bound this code to another DPoP key (dpop_jkt)")
    # That the user still exists and is not disabled is checked as the grant is stored, in the same statement.
    user_id = uuid.UUID(code.user_id)

    # A code issued before resource indicators names none: its scopes choose, as they did then.
    granted = code.resources or indicators.choose(app[RESOURCES].current, (), code.scopes, named=False).identifiers
    tokens = user_tokens.prepare(
        request,
        user_tokens.Approval(
            grant_id=code.grant_id,
            user_id=user_id,
            scopes=code.scopes,
            resources=granted,
            auth_time=code.auth_time,
            sid=code.sid,
            amr=code.amr,
            nonce=code.nonce,
        ),
    )
    try:
        await app[GRANT_STORE].create(tokens.grant, tokens.refresh, tokens.refresh_expires_at)
    except Orphaned:
        raise InvalidGrant("the client or the user no longer exists, or the user is disabled") from None
    except AlreadyStored:
        await _replayed(request, code.grant_id)
    return app[MINTER].issue(tokens.issue)
