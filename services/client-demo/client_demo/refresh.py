"""A usable access token for a signed-in session: the stored one while it is fresh, else new tokens from the
refresh token grant (RFC 6749 section 6), obtained once even when several requests find it stale at once."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from authorium_shared.appkeys import REDIS, REDIS_KEYS
from client_demo import id_tokens, trace
from client_demo.appkeys import PROVIDER, SESSIONS, SETTINGS
from client_demo.proof_keys import ProofKey
from client_demo.provider import Exchange, ProviderError
from client_demo.sessions import Session, Tokens

log = logging.getLogger("authorium.client_demo")

# Refresh this long before the access token expires, so it does not expire on its way to the API.
MARGIN = 30
# Used when a token response gives no expires_in (RFC 6749 section 5.1 makes it only RECOMMENDED).
DEFAULT_LIFETIME = 60
LOCK_TIMEOUT = 15
LOCK_WAIT = 12


class SessionExpired(Exception):
    """The session can no longer get tokens (its grant was revoked or expired); its holder must sign in."""


def tokens_from(exchange: Exchange, previous: Tokens | None = None) -> Tokens:
    """The tokens of a token response; a refresh response may omit what did not change (RFC 6749 6)."""
    body = exchange.body
    expires_in = body.get("expires_in", DEFAULT_LIFETIME)
    return Tokens(
        access_token=body["access_token"],
        expires_at=time.time() + expires_in,
        refresh_token=body.get("refresh_token", previous.refresh_token if previous else None),
        id_token=body.get("id_token", previous.id_token if previous else ""),
        scope=body.get("scope", previous.scope if previous else ""),
    )


async def access_token(request: web.Request, session: Session, *, refused: str | None = None) -> str:
    """The access token to present. `refused` is one the API just turned away: it is replaced even if it
    has not expired (it may have been revoked, or signed with a key the API does not know yet)."""
    assert session.tokens is not None
    if refused is None and session.tokens.expires_at - MARGIN > time.time():
        return session.tokens.access_token
    stale = refused or session.tokens.access_token
    app = request.app
    # Refresh tokens rotate and a reused one revokes the grant, so two requests (perhaps on two replicas)
    # must never both spend the same one: one refreshes, the others wait and take its result.
    lock = app[REDIS].lock(
        app[REDIS_KEYS]("demo", "refresh-lock", session.sid), timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_WAIT
    )
    async with lock:
        latest = await app[SESSIONS].get(session.sid)
        if latest is None or latest.tokens is None or latest.user is None:
            raise SessionExpired
        if latest.tokens.access_token != stale:
            return latest.tokens.access_token
        return await _refresh(request, latest)


async def _refresh(request: web.Request, session: Session) -> str:
    app = request.app
    settings = app[SETTINGS]
    provider = app[PROVIDER]
    assert session.tokens is not None and session.user is not None
    refresh_token = session.tokens.refresh_token
    if refresh_token is None:
        raise SessionExpired
    try:
        # A DPoP session's new access token is bound to its key again (RFC 9449 section 5).
        key = ProofKey.from_stored(session.dpop_key) if session.dpop_key else None
        exchange = await provider.token({"grant_type": "refresh_token", "refresh_token": refresh_token}, key)
    except ProviderError as exc:
        if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
            log.info("refresh refused; the session ends", extra={"error": exc.error})
            raise SessionExpired from None
        raise
    tokens = tokens_from(exchange, session.tokens)
    if "id_token" in exchange.body:
        try:
            await id_tokens.verify(
                await provider.keys(),
                tokens.id_token,
                issuer=settings.issuer,
                client_id=settings.client_id,
                access_token=tokens.access_token,
                nonce=None,
                previous=session.user,
            )
        except id_tokens.IdTokenRejected as exc:
            log.warning("refreshed ID token rejected; the session ends", extra={"reason": exc.reason})
            if tokens.refresh_token:
                await provider.revoke(tokens.refresh_token, "refresh_token")
            raise SessionExpired from None
    await app[SESSIONS].set_tokens(session.sid, tokens, [trace.refresh(exchange)])
    return tokens.access_token
