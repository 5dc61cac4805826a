"""The browser's side of a session: the cookie that names it, the CSRF check on forms, ending it, and the
error page a person sees."""

from __future__ import annotations

import hmac
import logging

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from client_demo.appkeys import PROVIDER, SESSIONS, SETTINGS
from client_demo.provider import ProviderError
from client_demo.sessions import Session
from client_demo.settings import ClientDemoSettings

log = logging.getLogger("authorium.client_demo")

MAX_FORM_VALUE = 10_000


def cookie_name(settings: ClientDemoSettings) -> str:
    # __Host- pins the cookie to this origin over https; cookies ignore ports, hence a name of our own.
    return "__Host-demo_session" if settings.secure_cookies else "demo_session"


async def current_session(request: web.Request) -> Session | None:
    return await request.app[SESSIONS].get(request.cookies.get(cookie_name(request.app[SETTINGS])))


def set_session_cookie(response: web.StreamResponse, settings: ClientDemoSettings, session: Session) -> None:
    response.set_cookie(
        cookie_name(settings),
        session.sid,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=settings.secure_cookies,
        max_age=settings.session_ttl,
    )


def clear_session_cookie(response: web.StreamResponse, settings: ClientDemoSettings) -> None:
    response.del_cookie(cookie_name(settings), path="/", secure=settings.secure_cookies, httponly=True, samesite="Lax")


async def read_form(request: web.Request, session: Session) -> dict[str, str]:
    """The posted form, once its CSRF token has been checked against the session's."""
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError, LookupError):
        raise web.HTTPBadRequest(text="the form is not valid form encoding") from None
    values: dict[str, str] = {}
    for name in form:
        items = form.getall(name)
        if len(items) != 1 or not isinstance(items[0], str) or len(items[0]) > MAX_FORM_VALUE:
            raise web.HTTPBadRequest(text="each form field must be sent once, as text")
        values[name] = items[0]
    if not hmac.compare_digest(values.get("csrf", "").encode(), session.csrf.encode()):
        raise web.HTTPForbidden(text="the form is stale or was not sent from this site; reload the page")
    return values


async def end_session(request: web.Request, session: Session, *, revoke: bool) -> bool:
    """Forget the session here and, if asked, revoke its grant at the authorization server (the refresh
    token, else the access token, RFC 7009). Returns whether the authorization server confirmed."""
    await request.app[SESSIONS].end(session.sid)
    if not revoke or session.tokens is None:
        return False
    tokens = session.tokens
    provider = request.app[PROVIDER]
    try:
        if tokens.refresh_token is not None:
            # Revoking the refresh token revokes its grant, and with it every access token from it.
            return await provider.revoke(tokens.refresh_token, "refresh_token")
        return await provider.revoke(tokens.access_token, "access_token")
    except ProviderError as exc:
        log.warning("could not revoke at sign-out", extra={"error": exc.error})
        return False


def redirect(location: str, *, status: int = 303) -> web.Response:
    """A redirect response to attach cookies to (303 See Other: the browser follows with a GET)."""
    return web.Response(status=status, headers={"Location": location})


def error_page(
    request: web.Request, title: str, message: str, *, status: int, detail: str | None = None
) -> web.Response:
    return aiohttp_jinja2.render_template(
        "error.html", request, {"title": title, "message": message, "detail": detail}, status=status
    )


_ERROR_TITLES = {
    400: "That request could not be used",
    403: "That form could not be accepted",
    404: "There is no page here",
    405: "That is not how this page is used",
    413: "That is too much to send",
}


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


@web.middleware
async def html_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """People get error pages, not JSON: for aiohttp's own errors (404, 405, 413) and for a backing store
    that is away (the 503 that `render_errors` produces)."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not _wants_html(request):
            raise
        # aiohttp's own texts ("404: Not Found") add nothing to the title; ours say what to do.
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else "Please go back and retry."
        return error_page(request, _ERROR_TITLES.get(exc.status, "Something went wrong"), message, status=exc.status)
    if response.status >= 500 and response.content_type == "application/json" and _wants_html(request):
        page = error_page(
            request,
            "The demo is having trouble",
            "Something the demo depends on is not answering right now. Please try again in a moment.",
            status=response.status,
        )
        if "Retry-After" in response.headers:
            page.headers["Retry-After"] = response.headers["Retry-After"]
        return page
    return response
