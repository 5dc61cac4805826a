"""The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0 sections 2-4): a client sends the person here to
sign out. With an `id_token_hint` for the signed-in person (and session) the sign-out happens at once; otherwise the
person is asked first (section 2). Signing out ends the session with back-channel logout to the clients it reached
(`authz.sessions.logout`), then sends the person to the `post_logout_redirect_uri` with `state` (section 3), only if
the client registered exactly that URI; any failed check is an error page, never a redirect (section 4)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from authorium_shared.appkeys import PG_POOL
from authorium_shared.errors import OAuthError
from authz.appkeys import AUDIT, BACKCHANNEL, CLIENTS, KEY_RING, REVOKER, SESSIONS, SETTINGS, USERS
from authz.forms import read_form, single_values
from authz.interaction import PageError, expired
from authz.sessions.logout import SignOut
from authz.sessions.logout_request import (
    LogoutRefused,
    LogoutRequest,
    check_logout_request,
    check_post_logout_redirect_uri,
)
from authz.sessions.store import Session

CANNOT = "Cannot sign out"


def signing_out(app: web.Application) -> SignOut:
    """The sign-out of this app's stores (the account page ends sessions the same way)."""
    return SignOut(app[PG_POOL], app[SESSIONS], app[REVOKER], app[AUDIT], wake=app[BACKCHANNEL].wake)


async def _checked(request: web.Request, params: dict[str, str]) -> tuple[LogoutRequest, str | None, str | None]:
    """The request, where to send the person afterwards, and the client's name; PageError if any check fails."""
    app = request.app
    try:
        logout = check_logout_request(params, app[KEY_RING].keyset, issuer=app[SETTINGS].issuer)
        client = await app[CLIENTS].get(logout.client_id) if logout.client_id is not None else None
        redirect_uri = check_post_logout_redirect_uri(client, logout.client_id, logout.post_logout_redirect_uri)
    except LogoutRefused as exc:
        raise PageError(CANNOT, exc.message) from None
    return logout, redirect_uri, client.name if client is not None else None


async def _params(request: web.Request) -> dict[str, str]:
    try:
        return single_values(request.query) if request.method == "GET" else await read_form(request)
    except OAuthError as exc:
        raise PageError("Invalid request", exc.description or exc.error, status=exc.status) from None


async def end_session(request: web.Request) -> web.StreamResponse:
    """GET or POST (section 2)."""
    app = request.app
    logout, redirect_uri, client_name = await _checked(request, await _params(request))
    session = await app[SESSIONS].current(request)
    if session is None or session.user_id is None:
        # Nobody is signed in here (the session ended already): nothing to end, and nothing to ask.
        return _finish(request, logout, redirect_uri)
    user = await app[USERS].get(uuid.UUID(session.user_id))
    username = user.username if user is not None else None
    if logout.confirmed_for(session, username):
        await _sign_out(request, session)
        return _finish(request, logout, redirect_uri)
    carried = [
        (name, value)
        for name, value in (
            ("client_id", logout.client_id),
            ("post_logout_redirect_uri", redirect_uri),
            ("state", logout.state),
        )
        if value is not None
    ]
    context = {"csrf": session.csrf, "username": username or "", "client_name": client_name, "carried": carried}
    return aiohttp_jinja2.render_template("logout.html", request, context)


async def confirm(request: web.Request) -> web.StreamResponse:
    """The confirmation page's answer: the same request again (checked again), with the session's CSRF token."""
    app = request.app
    form = await _params(request)
    logout, redirect_uri, _ = await _checked(request, form)
    session = await app[SESSIONS].current(request)
    if session is None or session.user_id is None:
        return _finish(request, logout, redirect_uri)
    if not session.csrf_matches(form.get("csrf", "")):
        raise expired()
    if form.get("decision") != "sign-out":
        return aiohttp_jinja2.render_template(
            "signed_out.html",
            request,
            {"title": "You are still signed in", "message": "Nothing was changed. You can close this page."},
        )
    await _sign_out(request, session)
    return _finish(request, logout, redirect_uri)


async def _sign_out(request: web.Request, session: Session) -> None:
    await signing_out(request.app).end([session], reason="signed out", remote_addr=request.remote)


def _finish(request: web.Request, logout: LogoutRequest, redirect_uri: str | None) -> web.StreamResponse:
    """Section 3: to the registered post-logout redirect URI, with `state` if one was sent; else a page that says so."""
    response: web.StreamResponse
    if redirect_uri is not None:
        location = redirect_uri
        if logout.state is not None:
            location += ("&" if "?" in redirect_uri else "?") + urlencode({"state": logout.state})
        # 303 after a POST, so the browser follows with a GET and never re-posts (RFC 9700 section 4.12).
        response = web.Response(status=303 if request.method == "POST" else 302, headers={"Location": location})
    else:
        response = aiohttp_jinja2.render_template(
            "signed_out.html",
            request,
            {"title": "You are signed out", "message": "You have signed out of Authorium. You can close this page."},
        )
    sessions = request.app[SESSIONS]
    response.del_cookie(sessions.cookie_name, path="/", secure=sessions.secure, httponly=True, samesite="Lax")
    return response
