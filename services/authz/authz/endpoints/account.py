"""The person's own page at the authorization server (`/account`): the apps that have access to their account, each
of which they can remove (its consent withdrawn and its grants revoked, so its tokens stop everywhere); their signed-in
sessions, each of which they can end (with back-channel logout to the apps it reached, OpenID Connect Back-Channel
Logout 1.0); changing their password (the current one required; every other session ends); and a link to their
security keys and authenticator app. Someone not signed in is shown the login page first, through the same parked
request as an authorization request's (`authz.authorization.pending`), so every sign-in step applies here too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from authz.acting import control_for
from authz.appkeys import (
    AUDIT,
    CLIENTS,
    CONSENTS,
    GRANT_STORE,
    LOGIN_THROTTLE,
    PASSWORDS,
    PENDING,
    SESSIONS,
)
from authz.authorization.pending import PendingRequest
from authz.control import BadInput, Control, NotFound, user_actor
from authz.endpoints import login, paths
from authz.endpoints.end_session import signing_out
from authz.interaction import Account, PageError, posted_account, signed_in_account
from authz.scopes import describe
from authz.sessions.store import well_formed
from authz.users import management
from authz.users.repository import User

# What the account page says after each change (`?notice=`), and the problems a password change can have.
NOTICES = {
    "access-removed": "Access removed. The app can no longer use your account; it must ask you again.",
    "nothing-removed": "That app had no access to remove.",
    "session-ended": "That session is signed out.",
    "password-changed": "Your password is changed. Every other session of yours is signed out.",
}
WRONG_PASSWORD = "Your current password is not right."
MISMATCH = "The new password and its confirmation differ."
THROTTLED = "Too many wrong passwords. Wait a few minutes, then try again."
LISTED = 200


def _control(request: web.Request, account: Account) -> Control:
    """The person acting on their own account, through the same operations an operator's tools use."""
    return control_for(request, user_actor(account.user.user_id))


async def account(request: web.Request) -> web.StreamResponse:
    """GET /account: the page, or the login page for someone not signed in."""
    found = await signed_in_account(request)
    if found is None:
        return await _sign_in_first(request)
    return await _page(request, found, notice=NOTICES.get(request.query.get("notice", "")))


async def _sign_in_first(request: web.Request) -> web.StreamResponse:
    """The login page, for a request parked to resume here (`authorize.resume`) once the person has signed in."""
    app = request.app
    session = await app[SESSIONS].current(request)
    if session is None or session.user_id is not None:
        session = await app[SESSIONS].start_anonymous()
    parked = PendingRequest(
        client_id="",
        redirect_uri="",
        redirect_uri_given=False,
        scopes=(),
        state=None,
        nonce=None,
        code_challenge=None,
        prompt=(),
        max_age=None,
        sid=session.sid,
        resume_to=paths.ACCOUNT,
    )
    rid = await app[PENDING].save(parked)
    response = await login.page(request, rid, session, "")
    app[SESSIONS].set_cookie(response, session)
    return response


def _when(value: datetime | int | None) -> str:
    if value is None:
        return "never"
    moment = datetime.fromtimestamp(value, UTC) if isinstance(value, int) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def _apps(request: web.Request, user: User) -> list[dict[str, Any]]:
    """Every client the person has consented to or holds a grant in force for: name, scopes, since, last used."""
    app = request.app
    apps: dict[str, dict[str, Any]] = {}
    for row in await app[CONSENTS].of_user(user.user_id, after=None, limit=LISTED):
        apps[row["client_id"]] = {
            "client_id": row["client_id"],
            "name": row["client_name"],
            "scopes": set(row["scopes"]),
            "since": row["granted_at"],
            "last_used": None,
        }
    for row in await app[GRANT_STORE].active_of_user(user.user_id, after=None, limit=LISTED):
        entry = apps.setdefault(
            row["client_id"],
            {
                "client_id": row["client_id"],
                "name": row["client_name"],
                "scopes": set(),
                "since": row["created_at"],
                "last_used": None,
            },
        )
        entry["scopes"] |= set(row["scopes"])
        entry["since"] = min(entry["since"], row["created_at"])
        if row["last_used_at"] is not None and (entry["last_used"] is None or row["last_used_at"] > entry["last_used"]):
            entry["last_used"] = row["last_used_at"]
    return [
        {
            **entry,
            "scopes": [(scope, describe(scope)) for scope in sorted(entry["scopes"])],
            "since": _when(entry["since"]),
            "last_used": _when(entry["last_used"]),
        }
        for entry in sorted(apps.values(), key=lambda e: (e["name"].lower(), e["client_id"]))
    ]


async def _sessions(request: web.Request, account: Account) -> list[dict[str, Any]]:
    store, clients = request.app[SESSIONS], request.app[CLIENTS]
    shown = []
    for session in await store.of_user(str(account.user.user_id)):
        if session.oidc_sid is None:
            continue
        names = []
        for client_id in await store.clients_of(session):
            client = await clients.get(client_id)
            names.append(client.name if client is not None else client_id)
        shown.append(
            {
                "id": session.oidc_sid,
                "current": session.sid_matches(account.session.sid),
                "signed_in": _when(session.auth_time),
                "agent": session.agent or "an unknown browser",
                "apps": names,
            }
        )
    return shown


async def _page(
    request: web.Request,
    account: Account,
    *,
    notice: str | None = None,
    password_error: str | None = None,
    status: int = 200,
) -> web.Response:
    context = {
        "csrf": account.session.csrf,
        "username": account.user.username,
        "notice": notice,
        "apps": await _apps(request, account.user),
        "sessions": await _sessions(request, account),
        "password_error": password_error,
        "security": paths.ACCOUNT_SECURITY,
    }
    return aiohttp_jinja2.render_template("account.html", request, context, status=status)


def _back(notice: str) -> web.Response:
    return web.Response(status=303, headers={"Location": f"{paths.ACCOUNT}?notice={notice}"})


async def remove_access(request: web.Request) -> web.StreamResponse:
    """POST: withdraw the consent given to a client and revoke its grants (`users.management.withdraw_consent`)."""
    form, account = await posted_account(request)
    client_id = form.get("client_id", "")
    if not client_id.isprintable():
        return _back("nothing-removed")
    try:
        await management.withdraw_consent(_control(request, account), str(account.user.user_id), client_id)
    except NotFound:
        return _back("nothing-removed")
    return _back("access-removed")


async def end_session(request: web.Request) -> web.StreamResponse:
    """POST: sign one of the person's sessions out (this one, or another device's)."""
    form, account = await posted_account(request)
    chosen = form.get("session", "")
    if not well_formed(chosen):
        raise PageError("Cannot sign out", "That is not one of your sessions.")
    store = request.app[SESSIONS]
    found = [s for s in await store.of_user(str(account.user.user_id)) if s.oidc_sid == chosen]
    if not found:
        return _back("session-ended")
    await signing_out(request.app).end(found, reason="signed out from the account page", remote_addr=request.remote)
    if not found[0].sid_matches(account.session.sid):
        return _back("session-ended")
    response = aiohttp_jinja2.render_template(
        "signed_out.html",
        request,
        {"title": "You are signed out", "message": "You have signed out of Authorium. You can close this page."},
    )
    response.del_cookie(store.cookie_name, path="/", secure=store.secure, httponly=True, samesite="Lax")
    return response


async def change_password(request: web.Request) -> web.StreamResponse:
    """POST: a new password, given the current one (throttled as sign-ins are); every other session ends."""
    form, account = await posted_account(request)
    app = request.app
    username, address = account.user.username, request.remote or "unknown"
    current, new = form.get("current_password", ""), form.get("new_password", "")
    throttle = app[LOGIN_THROTTLE]
    if await throttle.retry_after(username, address):
        return await _page(request, account, password_error=THROTTLED, status=429)
    if not await app[PASSWORDS].verify(account.user.password_hash, current):
        await throttle.failed(username, address)
        await app[AUDIT].record(
            "password_change_failure",
            user_id=account.user.user_id,
            remote_addr=request.remote,
            details={"reason": "wrong current password"},
        )
        return await _page(request, account, password_error=WRONG_PASSWORD, status=400)
    await throttle.succeeded(username)
    if new != form.get("confirm_password", ""):
        return await _page(request, account, password_error=MISMATCH, status=400)
    control = _control(request, account)
    try:
        await management.update_user(control, str(account.user.user_id), {"password": new})
    except (BadInput, NotFound) as exc:
        # BadInput: the new password is too short or too long (`users.passwords.check_strength`).
        problem = f"The new password cannot be used: {exc.detail}."
        return await _page(request, account, password_error=problem, status=400)
    others = [
        s for s in await app[SESSIONS].of_user(str(account.user.user_id)) if not s.sid_matches(account.session.sid)
    ]
    await signing_out(app).end(others, reason="password changed", remote_addr=request.remote)
    return _back("password-changed")
