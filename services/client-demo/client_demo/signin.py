"""Signing in with the authorization code flow (RFC 6749 section 4.1, OpenID Connect Core 3.1): PKCE S256
(RFC 7636), state bound to this browser's session, nonce, and the `iss` response parameter (RFC 9207).

`/login` starts a sign-in; `/callback` finishes it. A callback that fails any check ends the browser's
session: whatever it carried (a forged state, a replayed URL, an injected code) leaves no one signed in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from client_demo import id_tokens, trace
from client_demo.appkeys import LOGINS, PROVIDER, SESSIONS, SETTINGS
from client_demo.browser import (
    clear_session_cookie,
    current_session,
    end_session,
    error_page,
    redirect,
    set_session_cookie,
)
from client_demo.proof_keys import ProofKey
from client_demo.provider import ProviderError, ProviderUnavailable
from client_demo.refresh import tokens_from
from client_demo.sessions import PendingLogin, Session, Tokens, new_id

log = logging.getLogger("authorium.client_demo")

# What a person reads for each error the authorization server can send back (RFC 6749 4.1.2.1, OpenID
# Connect Core 3.1.2.6); the server's own code and description are shown beside it.
AUTHORIZATION_ERRORS = {
    "access_denied": "You chose not to let the demo use your account, so nothing was shared and you are not "
    "signed in. You can sign in again whenever you like.",
    "login_required": "The authorization server needs you to sign in first.",
    "consent_required": "The authorization server needs your consent first.",
    "interaction_required": "The authorization server needs you to complete a step on its pages first.",
    "invalid_scope": "The demo asked for access it is not registered for. An operator should check its scopes.",
    "unauthorized_client": "The demo is not allowed to sign people in this way. An operator should check its "
    "registration.",
    "invalid_request": "The authorization server could not accept the demo's request.",
    "unsupported_response_type": "The authorization server does not support the code flow for this client.",
    "server_error": "The authorization server ran into a problem. Please try again.",
    "temporarily_unavailable": "The authorization server is busy or down for a moment. Please try again.",
}


class SignInFailed(Exception):
    def __init__(self, title: str, message: str, *, detail: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.detail = detail
        self.status = status


def code_challenge(verifier: str) -> str:
    """RFC 7636 section 4.2, S256."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


async def login(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    try:
        metadata = await app[PROVIDER].metadata()
    except ProviderError as exc:
        return error_page(
            request,
            "The authorization server is not reachable",
            "Signing in needs the authorization server, and the demo cannot reach it right now. "
            "Please try again in a moment.",
            detail=exc.description,
            status=503,
        )
    session = await current_session(request) or await app[SESSIONS].start()
    state, nonce, verifier = new_id(), new_id(), secrets.token_urlsafe(48)
    # "Sign in with DPoP": a key for this sign-in and the session it starts (RFC 9449).
    key = ProofKey.generate() if request.query.get("dpop") == "1" else None
    params = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": settings.redirect_uri,
        "scope": settings.scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if key is not None:
        # Section 10: the code is bound to the key, so only a proof by it redeems it.
        params["dpop_jkt"] = key.jkt
    endpoint = metadata["authorization_endpoint"]
    steps = [trace.authorization_request(endpoint, params)]
    pending = PendingLogin(
        sid=session.sid,
        nonce=nonce,
        code_verifier=verifier,
        steps=steps,
        dpop_key=key.stored() if key is not None else None,
    )
    await app[LOGINS].save(state, pending)
    response = redirect(endpoint + ("&" if "?" in endpoint else "?") + urlencode(params), status=302)
    set_session_cookie(response, settings, session)
    return response


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise SignInFailed(
            "This sign-in link is not valid",
            f"The link back from the authorization server has {name} more than once, which no real answer "
            "does. Nobody has been signed in. Please start again.",
        )
    return values[0] if values else None


async def callback(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    session = await current_session(request)
    try:
        signed_in = await _finish(request, session)
    except SignInFailed as failure:
        log.info("sign-in failed", extra={"reason": failure.title})
        if session is not None:
            await end_session(request, session, revoke=True)
        response = error_page(request, failure.title, failure.message, detail=failure.detail, status=failure.status)
        clear_session_cookie(response, settings)
        return response
    response = redirect("/")
    set_session_cookie(response, settings, signed_in)
    return response


async def _finish(request: web.Request, session: Session | None) -> Session:
    app = request.app
    settings = app[SETTINGS]
    provider = app[PROVIDER]
    query = request.query
    # RFC 6749 10.12: the state must be the one this browser's session sent. It is consumed here, so the
    # same callback URL never works twice.
    pending = await app[LOGINS].consume(_single(query, "state"))
    if session is None or pending is None or not hmac.compare_digest(pending.sid, session.sid):
        raise SignInFailed(
            "This sign-in link is not valid",
            "The link back from the authorization server does not belong to a sign-in this browser started, or "
            "it was already used. Nobody has been signed in. Please start again.",
        )
    try:
        metadata = await provider.metadata()
    except ProviderError as exc:
        raise _unavailable(exc) from None
    # RFC 9207: the answer must say it comes from the server this sign-in was sent to (against mix-up).
    iss = _single(query, "iss")
    if (iss is not None or metadata.get("authorization_response_iss_parameter_supported")) and iss != settings.issuer:
        raise SignInFailed(
            "This answer came from the wrong server",
            "The link back names a different authorization server than the one this sign-in was sent to "
            "(RFC 9207 iss check). Nobody has been signed in.",
        )
    steps = [*pending.steps, trace.redirect_back(settings.redirect_uri, dict(query))]
    error = _single(query, "error")
    if error is not None:
        description = _single(query, "error_description")
        raise SignInFailed(
            "You are not signed in" if error == "access_denied" else "Sign-in did not complete",
            AUTHORIZATION_ERRORS.get(error, "The authorization server could not complete the sign-in."),
            detail=f"{error}: {description}" if description else error,
        )
    code = _single(query, "code")
    if not code:
        raise SignInFailed("Sign-in did not complete", "The authorization server sent no code back.")
    key = ProofKey.from_stored(pending.dpop_key) if pending.dpop_key else None
    try:
        exchange = await provider.token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": settings.redirect_uri,
                "code_verifier": pending.code_verifier,
            },
            key,
        )
    except ProviderUnavailable as exc:
        raise _unavailable(exc) from None
    except ProviderError as exc:
        raise SignInFailed(
            "Sign-in did not complete",
            "The authorization server would not exchange the code for tokens: it may have expired or been used "
            "already. Please sign in again.",
            detail=f"{exc.error}: {exc.description}" if exc.description else exc.error,
        ) from None
    steps.append(trace.code_exchange(exchange))
    tokens = tokens_from(exchange)
    claims = await _verified_id_token(request, tokens, pending.nonce)
    steps += [trace.id_token(tokens.id_token), trace.access_token(tokens.access_token)]
    userinfo = await _userinfo(request, tokens.access_token, claims["sub"], steps, key)
    user: dict[str, Any] = {
        "sub": claims["sub"],
        "auth_time": claims.get("auth_time"),
        "id_token_claims": claims,
        "userinfo": userinfo,
    }
    if session.tokens is not None:
        # Signing in again replaces the earlier sign-in: its grant is revoked, not left behind.
        await end_session(request, session, revoke=True)
    return await app[SESSIONS].sign_in(session, user, tokens, steps, pending.dpop_key)


async def _verified_id_token(request: web.Request, tokens: Tokens, nonce: str) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    provider = request.app[PROVIDER]
    try:
        if not tokens.id_token:
            raise id_tokens.IdTokenRejected("the token response holds no ID token")
        return await id_tokens.verify(
            await provider.keys(),
            tokens.id_token,
            issuer=settings.issuer,
            client_id=settings.client_id,
            access_token=tokens.access_token,
            nonce=nonce,
        )
    except id_tokens.IdTokenRejected as exc:
        # Tokens we will not use are revoked, not left valid somewhere.
        if tokens.refresh_token:
            await provider.revoke(tokens.refresh_token, "refresh_token")
        else:
            await provider.revoke(tokens.access_token, "access_token")
        raise SignInFailed(
            "The ID token was rejected",
            "The authorization server's answer did not pass the demo's checks, so nobody has been signed in. "
            "Please sign in again.",
            detail=f"The ID token was rejected: {exc.reason}.",
        ) from None


async def _userinfo(
    request: web.Request, access_token: str, sub: str, steps: list[dict[str, Any]], key: ProofKey | None
) -> dict[str, Any] | None:
    try:
        exchange = await request.app[PROVIDER].userinfo(access_token, key)
    except ProviderError as exc:
        # The ID token already says who signed in; the profile is a nicety, so its absence is not fatal.
        log.warning("userinfo failed", extra={"error": exc.error})
        return None
    steps.append(trace.userinfo(exchange, access_token))
    # OpenID Connect Core 5.3.4: a profile for someone else is not used.
    return exchange.body if exchange.body.get("sub") == sub else None


def _unavailable(exc: ProviderError) -> SignInFailed:
    return SignInFailed(
        "The authorization server is not reachable",
        "The demo could not finish signing you in because the authorization server did not answer. Please try "
        "again in a moment.",
        detail=exc.description,
        status=502,
    )
