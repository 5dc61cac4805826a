"""The authorization endpoint (RFC 6749 section 4.1.1-4.1.2, RFC 7636, RFC 9207, RFC 8707, OIDC Core 3.1.2):
validates the request (its resource indicators choose what the token will be for), then decides the next step:
the login page (`login.py`), the consent page (`consent.py`), or the answer. A request the client pushed first
(RFC 9126, `par.py`) is named by `client_id` and `request_uri` alone, and validated the same way.

The client and redirect URI are checked first; until both are known good every problem is shown on an error
page, never redirected. A request that needs the person is parked in Redis under a random id while they sign in
and consent; only the browser session that started it can finish it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace

from aiohttp import web

from authorium_shared.appkeys import PG_POOL
from authorium_shared.errors import ConsentRequired, InvalidRequest, LoginRequired, OAuthError
from authz.appkeys import CLIENTS, CONSENTS, KEY_RING, PENDING, PUSHED, RESOURCES, SESSIONS, SETTINGS, USERS
from authz.authorization import checks
from authz.authorization import pushed as pushed_requests
from authz.authorization.pending import DEVICE, PendingRequest
from authz.authorization.pushed import PushedRequest
from authz.authorization.response import answer, refuse, to_client
from authz.clients.records import Client
from authz.endpoints import consent, login
from authz.factors import assurance
from authz.factors import step as factor_step
from authz.factors.repository import has_second_factor
from authz.forms import read_form, repeated, single_values
from authz.interaction import PageError, expired, resumed_step
from authz.resources import indicators
from authz.sessions.store import Session


async def authorize(request: web.Request) -> web.StreamResponse:
    """GET or POST (OIDC Core 3.1.2.1): validate the request, then sign in, consent, or answer at once."""
    try:
        params = single_values(request.query) if request.method == "GET" else await read_form(request)
    except OAuthError as exc:
        raise PageError("Invalid request", exc.description or exc.error, status=exc.status) from None
    client_id = params.get("client_id")
    # Postgres text cannot hold NUL (asyncpg raises); no registered id has control characters anyway.
    client = await request.app[CLIENTS].get(client_id) if client_id and client_id.isprintable() else None
    # A request_uri of another kind (a request object's, RFC 9101) is refused below as not supported.
    request_uri = params.get("request_uri", "")
    pushed = (
        await _pushed_request(request, client, request_uri) if request_uri.startswith(pushed_requests.PREFIX) else None
    )
    if pushed is not None:
        params = pushed.params
    try:
        redirect_uri = checks.check_redirect_uri(
            client, params.get("redirect_uri"), openid=checks.is_openid_request(params)
        )
    except checks.UntrustedRedirect as exc:
        raise PageError("Cannot continue", exc.message) from None
    assert client is not None
    try:
        if pushed is None and (request.app[SETTINGS].require_par or client.require_pushed_authorization_requests):
            raise InvalidRequest("authorization requests must be pushed (RFC 9126 section 5)")
        asked = (
            pushed.resources
            if pushed is not None
            else repeated(request.query if request.method == "GET" else await request.post(), indicators.PARAMETER)
        )
        pending = validate(request.app, client, redirect_uri, params, asked)
    except OAuthError as exc:
        raise to_client(exc, request.app[SETTINGS].issuer, redirect_uri, params.get("state")) from None
    return await proceed(request, pending, None, await request.app[SESSIONS].current(request))


async def _pushed_request(request: web.Request, client: Client | None, request_uri: str) -> PushedRequest:
    """RFC 9126 section 4: the request pushed under `request_uri`, by this client; every other parameter of this
    request (but `client_id`) is ignored. An unknown, expired or used one, or another client's, cannot be answered
    by redirect (its redirect URI is in the request that is not there): an error page."""
    found = await request.app[PUSHED].consume(request_uri, client.client_id) if client is not None else None
    if found is None:
        raise PageError("Cannot continue", "This sign-in request has expired or was already used. Please start again.")
    return found


def validate(
    app: web.Application, client: Client, redirect_uri: str, params: Mapping[str, str], asked: tuple[str, ...]
) -> PendingRequest:
    """The authorization request's checks (`authz.authorization.checks`) once the client and its redirect URI are
    known good, in order: the request to park, or an OAuthError. `asked`: the `resource` parameters (RFC 8707).
    The pushed authorization request endpoint runs the same checks when a request is pushed (RFC 9126 section 2.1)."""
    checks.check_unsupported_parameters(params)
    checks.check_response_type(params)
    state, nonce = checks.check_state_and_nonce(params)
    scopes = checks.check_requested_scope(client, params)
    target = indicators.choose(app[RESOURCES].current, indicators.requested(asked), scopes, named="scope" in params)
    return PendingRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        redirect_uri_given="redirect_uri" in params,
        scopes=target.scopes,
        resources=target.identifiers,
        state=state,
        nonce=nonce,
        code_challenge=checks.check_pkce(client, params),
        prompt=checks.check_prompt(params),
        max_age=checks.check_max_age(params),
        sid="",
        login_hint=checks.check_login_hint(params),
        acr_values=checks.check_acr_values(params),
        hint_subject=checks.check_id_token_hint(
            params, app[KEY_RING].keyset, issuer=app[SETTINGS].issuer, client_id=client.client_id
        ),
        dpop_jkt=checks.check_dpop_jkt(params),
    )


async def resume(request: web.Request) -> web.StreamResponse:
    """Where the login form sends the browser: the parked request continues (to consent, or to the client)."""
    step = await resumed_step(request, request.query.get("rid", ""))
    if step.pending.resume_to is not None:
        # A sign-in for the account page: once it is done (every step the login asks), back there; no client.
        if step.session.user_id is None or step.pending.needs_login(step.session):
            raise expired()
        await request.app[PENDING].delete(step.rid)
        raise web.HTTPSeeOther(step.pending.resume_to)
    return await proceed(request, step.pending, step.rid, step.session)


async def proceed(
    request: web.Request, pending: PendingRequest, rid: str | None, session: Session | None
) -> web.StreamResponse:
    """Decide the next step: the login page, the consent page, or the redirect back with a code."""
    app = request.app
    try:
        user = await app[USERS].get(uuid.UUID(session.user_id)) if session and session.user_id else None
        if user is not None and user.disabled:
            user = None  # disabled since signing in: as if gone
        if user is None or session is None or pending.needs_login(session):
            if "none" in pending.prompt:
                raise LoginRequired("the user must sign in")
            if session is None or (session.user_id is not None and user is None):
                session = await app[SESSIONS].start_anonymous()
            rid = await app[PENDING].save(replace(pending, sid=session.sid), rid)
            response = await login.page(request, rid, session, pending.client_id, username=pending.login_hint or "")
            app[SESSIONS].set_cookie(response, session)
            return response
        if pending.names_another_user(session):
            # OIDC Core 3.1.2.1: the user id_token_hint names is neither signed in nor signed in by the request
            # (`needs_login` sent this request to the login page, and someone else signed in there).
            raise LoginRequired("the user who signed in is not the one id_token_hint names")
        if (
            assurance.wants_mfa(pending.acr_values)
            and assurance.MFA not in session.amr
            and "none" not in pending.prompt
            and await has_second_factor(app[PG_POOL], user.user_id)
        ):
            # Step-up (OIDC Core 3.1.2.1, acr_values): the session's sign-in is below the level asked for and the
            # person has a second factor, so they give it now, without the password again. With prompt=none, or
            # without a second factor, the request goes on at the level reached: acr_values is voluntary, and the
            # ID token's `acr` says which level that was (section 5.5.1.1).
            return await factor_step.ask_second_factor(
                request, pending, rid, session, user.user_id, amr=session.amr, auth_time=session.auth_time
            )
        client = await app[CLIENTS].get(pending.client_id)
        # RFC 8252 section 8.6, RFC 6749 section 10.2: nothing proves which app answers at a public client's
        # redirect URI (another app can claim the same loopback port or custom scheme), so remembered consent
        # would hand it codes without the person seeing a page: a public client's every request is asked.
        # RFC 8628 section 5.4: a device's request is always shown, with its user code, so that a person tricked into
        # entering someone else's code sees what they would be allowing.
        always_ask = client is None or client.is_public or pending.kind == DEVICE
        if (
            always_ask
            or "consent" in pending.prompt
            or not set(pending.scopes) <= await app[CONSENTS].granted(user.user_id, pending.client_id)
        ):
            if "none" in pending.prompt:
                raise ConsentRequired(
                    "a public client needs the user's consent on every request"
                    if always_ask
                    else "the user has not consented to these scopes"
                )
            rid = await app[PENDING].save(replace(pending, sid=session.sid), rid)
            return await consent.page(request, pending, rid, session, user.username)
    except OAuthError as exc:
        if rid is not None:
            await app[PENDING].delete(rid)
        raise refuse(exc, app[SETTINGS].issuer, pending) from None
    if rid is not None:
        await app[PENDING].delete(rid)
    return await answer(request, pending, session)
