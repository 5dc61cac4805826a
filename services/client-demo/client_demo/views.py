"""The demo's pages: the home page (signed out: what this is; signed in: who you are and your notes), adding
and deleting notes through the notes API, the flow inspector, and signing out (here, then at the authorization
server through its end-session endpoint, OpenID Connect RP-Initiated Logout 1.0)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import orjson
from aiohttp import web

from client_demo import refresh, trace
from client_demo.api import ApiResponse, ApiUnavailable
from client_demo.appkeys import LOGOUTS, NOTES_API, PROVIDER, SESSIONS, SETTINGS
from client_demo.browser import clear_session_cookie, current_session, end_session, error_page, read_form, redirect
from client_demo.proof_keys import ProofKey
from client_demo.provider import ProviderError
from client_demo.sessions import PendingLogout, Session, new_id

NOTICES = {
    "signed-out": "You are signed out. The demo revoked its refresh token at the authorization server, so the "
    "tokens it held no longer work.",
    "signed-out-unrevoked": "You are signed out here, but the authorization server could not be reached to revoke "
    "the demo's tokens; the access token expires on its own within minutes.",
    "expired": "Your session has ended: its grant was revoked or has expired. Please sign in again.",
    "note-added": "Note added.",
    "note-deleted": "Note deleted.",
    "note-rejected": "The notes API did not accept that note: it needs a title of 1 to 200 characters and a body "
    "of at most 10,000.",
    "note-missing": "That note no longer exists.",
    "api-down": "The notes API could not be reached. Please try again in a moment.",
}
# The trace keeps API responses small: a session is not the place for someone's whole notebook.
MAX_TRACE_BODY = 4000
NOTES_PAGE = 50

SignedInHandler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


def _notice(request: web.Request) -> str | None:
    return NOTICES.get(request.query.get("notice", ""))


def _redirect_home(notice: str | None = None) -> web.Response:
    return redirect("/" if notice is None else f"/?notice={notice}")


async def _session_expired(request: web.Request, session: Session) -> web.StreamResponse:
    await end_session(request, session, revoke=False)
    response = _redirect_home("expired")
    clear_session_cookie(response, request.app[SETTINGS])
    return response


async def _run_signed_in(request: web.Request, session: Session, handler: SignedInHandler) -> web.StreamResponse:
    try:
        return await handler(request, session)
    except refresh.SessionExpired:
        return await _session_expired(request, session)
    except ProviderError as exc:
        # The session is still good; only renewing its access failed, so it is kept for the next try.
        return error_page(
            request,
            "The authorization server is not answering",
            "The demo needs the authorization server to renew your access, and it did not answer as expected. "
            "You are still signed in; please try again in a moment.",
            detail=f"{exc.error}: {exc.description}" if exc.description else exc.error,
            status=503,
        )


def signed_in(handler: SignedInHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Runs `handler` with the browser's signed-in session; anyone else is sent to the home page."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        session = await current_session(request)
        if session is None or not session.signed_in:
            return _redirect_home()
        return await _run_signed_in(request, session, handler)

    return wrapper


def _trace_body(body: Any) -> Any:
    size = len(orjson.dumps(body))
    return body if size <= MAX_TRACE_BODY else {"shown": f"a JSON body of {size} bytes, too long to show here"}


async def call_api(request: web.Request, session: Session, method: str, path: str, *, json: Any = None) -> ApiResponse:
    """Call the notes API with the session's access token, refreshing it when expired or refused."""
    api = request.app[NOTES_API]
    key = ProofKey.from_stored(session.dpop_key) if session.dpop_key else None
    token = await refresh.access_token(request, session)
    response = await api.call(method, path, token, json=json, key=key)
    if response.status == 401 and response.bearer_error == "invalid_token":
        token = await refresh.access_token(request, session, refused=token)
        response = await api.call(method, path, token, json=json, key=key)
        if response.status == 401 and response.bearer_error == "invalid_token":
            # Refused again with fresh tokens: the person removed the demo's access; this session is over.
            raise refresh.SessionExpired
    step = trace.api_call(method, response.url, token, response.status, _trace_body(response.body), response.proof)
    await request.app[SESSIONS].set_last_call(session.sid, step)
    return response


async def home(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    if session is None or not session.signed_in:
        return aiohttp_jinja2.render_template("home.html", request, {"notice": _notice(request), "session": None})
    return await _run_signed_in(request, session, _dashboard)


async def _dashboard(request: web.Request, session: Session) -> web.StreamResponse:
    assert session.user is not None and session.tokens is not None
    notes: list[dict[str, Any]] = []
    problem = None
    try:
        response = await call_api(request, session, "GET", f"/api/notes?limit={NOTES_PAGE}")
    except ApiUnavailable:
        problem = NOTICES["api-down"]
    else:
        if response.ok and isinstance(response.body, dict):
            notes = response.body.get("notes", [])
        elif response.bearer_error == "insufficient_scope":
            problem = "You did not let the demo read your notes (scope notes:read), so it cannot list them."
        else:
            problem = f"The notes API answered HTTP {response.status}."
    user = session.user
    profile = user.get("userinfo") or {}
    context = {
        "session": session,
        "notice": _notice(request),
        "problem": problem,
        "notes": notes,
        "name": profile.get("name") or profile.get("preferred_username") or user["sub"],
        "id_claims": user["id_token_claims"],
        "userinfo": user.get("userinfo"),
        "scopes": session.tokens.scope.split(),
        "can_write": "notes:write" in session.tokens.scope.split(),
    }
    return aiohttp_jinja2.render_template("dashboard.html", request, context)


def _note_path(request: web.Request) -> str:
    try:
        return f"/api/notes/{uuid.UUID(request.match_info['note_id'])}"
    except ValueError:
        raise web.HTTPNotFound() from None


@signed_in
async def add_note(request: web.Request, session: Session) -> web.StreamResponse:
    form = await read_form(request, session)
    note = {"title": form.get("title", "").strip(), "body": form.get("body", "")}
    try:
        response = await call_api(request, session, "POST", "/api/notes", json=note)
    except ApiUnavailable:
        return _redirect_home("api-down")
    return _redirect_home("note-added" if response.status == 201 else "note-rejected")


@signed_in
async def delete_note(request: web.Request, session: Session) -> web.StreamResponse:
    path = _note_path(request)
    await read_form(request, session)
    try:
        response = await call_api(request, session, "DELETE", path)
    except ApiUnavailable:
        return _redirect_home("api-down")
    return _redirect_home("note-deleted" if response.status == 204 else "note-missing")


async def flow(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    if session is None or not session.signed_in:
        return aiohttp_jinja2.render_template("flow.html", request, {"session": None, "steps": []})
    steps = [*session.steps, *(session.last_refresh or []), *([session.last_call] if session.last_call else [])]
    return aiohttp_jinja2.render_template("flow.html", request, {"session": session, "steps": steps})


@signed_in
async def logout(request: web.Request, session: Session) -> web.StreamResponse:
    """Sign out here (revoking the demo's tokens), then at the authorization server (RP-Initiated Logout 1.0 section
    2): with the ID token as `id_token_hint`, where to come back, and a `state` that the way back must carry."""
    await read_form(request, session)
    app = request.app
    settings = app[SETTINGS]
    revoked = await end_session(request, session, revoke=True)
    notice = "signed-out" if revoked else "signed-out-unrevoked"
    try:
        endpoint = (await app[PROVIDER].metadata()).get("end_session_endpoint")
    except ProviderError:
        endpoint = None
    if not isinstance(endpoint, str) or session.tokens is None:
        response = _redirect_home(notice)
    else:
        state = new_id()
        await app[LOGOUTS].save(state, PendingLogout(notice=notice))
        params = {
            "id_token_hint": session.tokens.id_token,
            "post_logout_redirect_uri": settings.post_logout_redirect_uri,
            "state": state,
        }
        response = redirect(endpoint + ("&" if "?" in endpoint else "?") + urlencode(params))
    clear_session_cookie(response, settings)
    return response


async def signed_out(request: web.Request) -> web.StreamResponse:
    """Where the authorization server sends the browser back after signing out (section 3), with our `state`."""
    logout = await request.app[LOGOUTS].consume(request.query.get("state"))
    if logout is None:
        return error_page(
            request,
            "This sign-out link is not valid",
            "The link back from the authorization server does not belong to a sign-out this demo started, or it was "
            "already used.",
            status=400,
        )
    return _redirect_home(logout.notice)
