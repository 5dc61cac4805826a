"""The authorization endpoint (RFC 6749 section 4.1.1-4.1.2, RFC 7636, RFC 9207, OIDC Core 3.1.2) with its
login and consent pages.

The client and redirect URI are checked first; until both are known good every problem is shown on an
error page, never redirected. A request that needs the user is parked in Redis under a random id while
they sign in and consent; each form carries the session's CSRF token and only the session that started the
request can finish it."""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from authorium_shared.errors import AccessDenied, ConsentRequired, InvalidRequest, LoginRequired, OAuthError
from authorium_shared.middleware import redirect_with
from authz import checks
from authz.appkeys import COMPONENTS
from authz.components import Components
from authz.endpoints import paths
from authz.forms import read_form, single_values
from authz.passwords import verify_password
from authz.repositories import audit
from authz.repositories.codes import AuthorizationCode
from authz.repositories.sessions import PendingRequest, Session
from authz.scopes import check_scope, describe, parse_scope
from authz.users import check_username

WRONG_CREDENTIALS = "The username or password is incorrect."
THROTTLED = "Too many failed sign-in attempts. Wait a few minutes, then try again."
EXPIRED = "This page has expired or did not come from this site."


def _cookie_name(components: Components) -> str:
    # __Host- pins the cookie to this origin over https; cookies ignore ports, hence a name of our own.
    return "__Host-authz_session" if components.settings.secure_cookies else "authz_session"


def _set_session_cookie(response: web.StreamResponse, components: Components, session: Session) -> None:
    response.set_cookie(
        _cookie_name(components),
        session.sid,
        max_age=components.settings.session_ttl,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=components.settings.secure_cookies,
    )


async def _current_session(request: web.Request, components: Components) -> Session | None:
    return await components.sessions.get(request.cookies.get(_cookie_name(components)))


def _for_audit(username: str) -> str:
    """The typed username as it can be stored: Postgres JSON holds no NUL, and control characters have no
    business in an audit trail someone reads."""
    return "".join(c if c.isprintable() else "\ufffd" for c in username)


def _error_page(request: web.Request, title: str, message: str, status: int = 400) -> web.Response:
    return aiohttp_jinja2.render_template("error.html", request, {"title": title, "message": message}, status=status)


async def authorize(request: web.Request) -> web.StreamResponse:
    """GET or POST (OIDC Core 3.1.2.1): validate the request, then sign in, consent, or answer at once."""
    components = request.app[COMPONENTS]
    try:
        params = single_values(request.query) if request.method == "GET" else await read_form(request)
    except OAuthError as exc:
        return _error_page(request, "Invalid request", exc.description or exc.error, status=exc.status)
    client_id = params.get("client_id")
    # Postgres text cannot hold NUL (asyncpg raises); no registered id has control characters anyway.
    client = await components.clients.get(client_id) if client_id and client_id.isprintable() else None
    try:
        redirect_uri = checks.check_redirect_uri(client, params.get("redirect_uri"))
    except checks.UntrustedRedirect as exc:
        return _error_page(request, "Cannot continue", exc.message)
    assert client is not None
    try:
        checks.check_unsupported_parameters(params)
        checks.check_response_type(params)
        state, nonce = checks.check_state_and_nonce(params)
        pending = PendingRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            redirect_uri_given="redirect_uri" in params,
            scopes=check_scope(parse_scope(params.get("scope")), client.scopes),
            state=state,
            nonce=nonce,
            code_challenge=checks.check_pkce(client, params),
            prompt=checks.check_prompt(params),
            max_age=checks.check_max_age(params),
            sid="",
        )
    except OAuthError as exc:
        raise _to_client(exc, components, redirect_uri, params.get("state")) from None
    return await _proceed(request, components, pending, None, await _current_session(request, components))


def _to_client(exc: OAuthError, components: Components, redirect_uri: str, state: str | None) -> OAuthError:
    """Turn an error into a redirect to the (verified) client, with `state` and RFC 9207's `iss`."""
    exc.redirect_uri = redirect_uri
    exc.state = state if state is not None and len(state) <= checks.MAX_STATE_LENGTH else None
    exc.redirect_params = {"iss": components.settings.issuer}
    return exc


async def _proceed(
    request: web.Request,
    components: Components,
    pending: PendingRequest,
    rid: str | None,
    session: Session | None,
) -> web.StreamResponse:
    """Decide the next step: the login page, the consent page, or the redirect back with a code."""
    try:
        user = await components.users.get(uuid.UUID(session.user_id)) if session and session.user_id else None
        if user is None or session is None or _login_needed(pending, session):
            if "none" in pending.prompt:
                raise LoginRequired("the user must sign in")
            if session is None or (session.user_id is not None and user is None):
                session = await components.sessions.start_anonymous()
            rid = await components.pending.save(replace(pending, sid=session.sid), rid)
            client = await components.clients.get(pending.client_id)
            response = _login_page(request, rid, session, client.name if client else pending.client_id)
            _set_session_cookie(response, components, session)
            return response
        granted = await components.consents.granted(user.user_id, pending.client_id)
        if not set(pending.scopes) <= granted or "consent" in pending.prompt:
            if "none" in pending.prompt:
                raise ConsentRequired("the user has not consented to these scopes")
            rid = await components.pending.save(replace(pending, sid=session.sid), rid)
            return await _consent_page(request, components, pending, rid, session, user.username)
    except OAuthError as exc:
        if rid is not None:
            await components.pending.delete(rid)
        raise _to_client(exc, components, pending.redirect_uri, pending.state) from None
    if rid is not None:
        await components.pending.delete(rid)
    return await _answer_with_code(request, components, pending, session)


def _login_needed(pending: PendingRequest, session: Session) -> bool:
    if pending.login_done:
        return False
    if "login" in pending.prompt:
        return True
    return pending.max_age is not None and time.time() - (session.auth_time or 0) > pending.max_age


def _login_page(
    request: web.Request,
    rid: str,
    session: Session,
    client_name: str,
    *,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> web.Response:
    context = {"rid": rid, "csrf": session.csrf, "client_name": client_name, "error": error, "username": username}
    return aiohttp_jinja2.render_template("login.html", request, context, status=status)


async def _consent_page(
    request: web.Request, components: Components, pending: PendingRequest, rid: str, session: Session, username: str
) -> web.Response:
    client = await components.clients.get(pending.client_id)
    context: dict[str, Any] = {
        "rid": rid,
        "csrf": session.csrf,
        "client_name": client.name if client else pending.client_id,
        "username": username,
        "scopes": [(scope, describe(scope)) for scope in pending.scopes],
        "redirect_host": urlsplit(pending.redirect_uri).netloc or pending.redirect_uri,
    }
    return aiohttp_jinja2.render_template("consent.html", request, context)


async def _answer_with_code(
    request: web.Request, components: Components, pending: PendingRequest, session: Session
) -> web.StreamResponse:
    assert session.user_id is not None and session.auth_time is not None
    code = await components.codes.issue(
        AuthorizationCode(
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri if pending.redirect_uri_given else None,
            scopes=pending.scopes,
            user_id=session.user_id,
            auth_time=session.auth_time,
            grant_id=str(uuid.uuid4()),
            code_challenge=pending.code_challenge,
            nonce=pending.nonce,
        )
    )
    params = {"code": code}
    if pending.state is not None:
        params["state"] = pending.state
    params["iss"] = components.settings.issuer
    raise redirect_with(pending.redirect_uri, params, after_post=request.method == "POST")


async def _form_in_session(
    request: web.Request, components: Components
) -> tuple[dict[str, str], Session, str, PendingRequest] | web.Response:
    """The posted form, if it carries this browser session's CSRF token and names a request it started."""
    try:
        form = await read_form(request)
    except InvalidRequest as exc:
        return _error_page(request, "Invalid request", exc.description or exc.error, status=exc.status)
    session = await _current_session(request, components)
    rid = form.get("rid", "")
    pending = await components.pending.get(rid)
    if (
        session is None
        or pending is None
        or not hmac.compare_digest(pending.sid, session.sid)
        or not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode())
    ):
        return _error_page(request, "Cannot continue", EXPIRED, status=403)
    return form, session, rid, pending


async def login(request: web.Request) -> web.StreamResponse:
    components = request.app[COMPONENTS]
    checked = await _form_in_session(request, components)
    if isinstance(checked, web.Response):
        return checked
    form, session, rid, pending = checked
    username, password = form.get("username", "")[:100], form.get("password", "")
    client = await components.clients.get(pending.client_id)
    client_name = client.name if client else pending.client_id
    address = request.remote or "unknown"
    retry_after = await components.failed_logins_by_username.exceeded(
        username.lower()
    ) or await components.failed_logins_by_address.exceeded(address)
    if retry_after:
        await audit.record(
            components.pool,
            "sign_in_failure",
            client_id=pending.client_id,
            remote_addr=address,
            details={"username": _for_audit(username), "reason": "throttled"},
        )
        response = _login_page(request, rid, session, client_name, error=THROTTLED, username=username, status=429)
        response.headers["Retry-After"] = str(retry_after)
        return response
    try:
        check_username(username)
        user = await components.users.find_by_username(username)
    except ValueError:
        user = None
    if not await verify_password(user.password_hash if user else None, password) or user is None:
        await components.failed_logins_by_username.hit(username.lower())
        await components.failed_logins_by_address.hit(address)
        await audit.record(
            components.pool,
            "sign_in_failure",
            client_id=pending.client_id,
            remote_addr=address,
            details={"username": _for_audit(username), "reason": "wrong credentials"},
        )
        return _login_page(request, rid, session, client_name, error=WRONG_CREDENTIALS, username=username)
    await components.failed_logins_by_username.reset(username.lower())
    signed_in = await components.sessions.sign_in(session, str(user.user_id), int(time.time()))
    await components.pending.update(rid, pending, sid=signed_in.sid, login_done=True)
    await audit.record(
        components.pool, "sign_in_success", client_id=pending.client_id, user_id=user.user_id, remote_addr=address
    )
    response = web.HTTPSeeOther(f"{paths.AUTHORIZE_CONTINUE}?rid={rid}")
    _set_session_cookie(response, components, signed_in)
    raise response


async def resume(request: web.Request) -> web.StreamResponse:
    """Where the login form sends the browser: the parked request continues (to consent, or to the client)."""
    components = request.app[COMPONENTS]
    session = await _current_session(request, components)
    rid = request.query.get("rid", "")
    pending = await components.pending.get(rid)
    if session is None or pending is None or not hmac.compare_digest(pending.sid, session.sid):
        return _error_page(request, "Cannot continue", EXPIRED, status=403)
    return await _proceed(request, components, pending, rid, session)


async def consent(request: web.Request) -> web.StreamResponse:
    components = request.app[COMPONENTS]
    checked = await _form_in_session(request, components)
    if isinstance(checked, web.Response):
        return checked
    form, session, rid, pending = checked
    # A request waiting at the login page (prompt=login, max_age) carries the same rid and csrf as a consent
    # form would: without this, posting them here would skip the sign-in the client asked for.
    if session.user_id is None or _login_needed(pending, session):
        return _error_page(request, "Cannot continue", EXPIRED, status=403)
    user_id = uuid.UUID(session.user_id)
    await components.pending.delete(rid)
    if form.get("decision") != "allow":
        await audit.record(
            components.pool, "consent_denied", client_id=pending.client_id, user_id=user_id, remote_addr=request.remote
        )
        raise _to_client(AccessDenied("the user denied the request"), components, pending.redirect_uri, pending.state)
    await components.consents.grant(user_id, pending.client_id, pending.scopes)
    await audit.record(
        components.pool,
        "consent_granted",
        client_id=pending.client_id,
        user_id=user_id,
        remote_addr=request.remote,
        details={"scopes": list(pending.scopes)},
    )
    return await _answer_with_code(request, components, pending, session)
