"""What the server's pages share (OIDC Core 3.1.2.3-3.1.2.4): the error page, the check that a posted login or consent
form comes from the browser session that started the request it names, and the signed-in person of an account page
with the check that a form posted there comes from their session."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from authorium_shared.errors import InvalidRequest
from authz.appkeys import PENDING, SESSIONS, USERS
from authz.authorization.pending import PendingRequest
from authz.endpoints import paths
from authz.forms import read_form
from authz.sessions.store import Session
from authz.users.repository import User

EXPIRED = "This page has expired or did not come from this site."


class PageError(Exception):
    """A problem shown to the person on an error page (never redirected to a client); rendered by `page_errors`."""

    def __init__(self, title: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status = status


def expired() -> PageError:
    return PageError("Cannot continue", EXPIRED, status=403)


def error_page(request: web.Request, title: str, message: str, status: int = 400) -> web.Response:
    return aiohttp_jinja2.render_template("error.html", request, {"title": title, "message": message}, status=status)


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except PageError as exc:
        return error_page(request, exc.title, exc.message, status=exc.status)
    return response


@dataclass(frozen=True)
class Step:
    """A request parked while the person signs in or consents, reached from the session that parked it."""

    rid: str
    pending: PendingRequest
    session: Session


async def resumed_step(request: web.Request, rid: str) -> Step:
    """The parked request `rid`, if this browser's session started it; PageError otherwise."""
    session = await request.app[SESSIONS].current(request)
    pending = await request.app[PENDING].get(rid)
    if session is None or pending is None or not session.sid_matches(pending.sid):
        raise expired()
    return Step(rid, pending, session)


async def posted_step(request: web.Request, *, unchecked: Collection[str] = ()) -> tuple[dict[str, str], Step]:
    """A posted form and the request it continues, if the form carries this browser session's CSRF token and
    names a request the session started; PageError otherwise. `unchecked` as for `read_form`."""
    form = await _page_form(request, unchecked)
    step = await resumed_step(request, form.get("rid", ""))
    if not step.session.csrf_matches(form.get("csrf", "")):
        raise expired()
    return form, step


async def _page_form(request: web.Request, unchecked: Collection[str]) -> dict[str, str]:
    """A form posted from one of the pages (`read_form`); PageError when it is not one."""
    try:
        return await read_form(request, unchecked=unchecked)
    except InvalidRequest as exc:
        raise PageError("Invalid request", exc.description or exc.error, status=exc.status) from None


@dataclass(frozen=True)
class Account:
    """The person on their own account pages: the browser's signed-in session and its user."""

    session: Session
    user: User


async def signed_in_account(request: web.Request) -> Account | None:
    """The browser's signed-in session and its (enabled) user; None if nobody, or a disabled user, is signed in."""
    session = await request.app[SESSIONS].current(request)
    if session is None or session.user_id is None:
        return None
    user = await request.app[USERS].get(uuid.UUID(session.user_id))
    if user is None or user.disabled:
        return None
    return Account(session, user)


async def account_page(request: web.Request) -> Account:
    """The signed-in person, for an account page other than `/account`: without one, the browser is sent to
    `/account`, which signs them in first."""
    account = await signed_in_account(request)
    if account is None:
        raise web.HTTPSeeOther(paths.ACCOUNT)
    return account


async def posted_account(request: web.Request, *, unchecked: Collection[str] = ()) -> tuple[dict[str, str], Account]:
    """A form posted from an account page by its signed-in person (their session's CSRF token); PageError otherwise.
    `unchecked` as for `read_form`."""
    form = await _page_form(request, unchecked)
    account = await signed_in_account(request)
    if account is None or not account.session.csrf_matches(form.get("csrf", "")):
        raise expired()
    return form, account
