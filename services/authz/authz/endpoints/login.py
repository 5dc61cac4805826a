"""The login page of an authorization request (OIDC Core 3.1.2.3): the person signs in with a username and
password; failures are throttled per username and per address, and look the same whether or not the user exists.
Success leads to the second-factor step when the user has a second factor (`authz.factors.step`); once signed in the
browser has a new session id and goes back to the authorization endpoint to continue."""

from __future__ import annotations

import time

import aiohttp_jinja2
from aiohttp import web

from authorium_shared.appkeys import METRICS
from authz.appkeys import AUDIT, CLIENTS, LOGIN_THROTTLE, PASSWORDS, SETTINGS, USERS
from authz.endpoints import paths
from authz.factors import assurance
from authz.factors import step as factor_step
from authz.interaction import posted_step
from authz.sessions.store import Session
from authz.users.accounts import check_username

WRONG_CREDENTIALS = "The username or password is incorrect."
# The factor a sign-in here checks (`authorium_sign_ins_total{factor}`): the only one, for now.
FACTOR = "password"
ACCOUNT_NAME = "your Authorium account"
THROTTLED = "Too many failed sign-in attempts. Wait a few minutes, then try again."


def _for_audit(username: str) -> str:
    """The typed username as it can be stored: Postgres JSON holds no NUL, and control characters have no
    business in an audit trail someone reads."""
    return "".join(c if c.isprintable() else "\ufffd" for c in username)


async def continuing_to(request: web.Request, client_id: str) -> str:
    """What a sign-in is for, as its pages name it: the client, or (no client) this server's account page."""
    client = await request.app[CLIENTS].get(client_id) if client_id else None
    return client.name if client else client_id or ACCOUNT_NAME


async def page(
    request: web.Request,
    rid: str,
    session: Session,
    client_id: str,
    *,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> web.Response:
    context = {
        "rid": rid,
        "csrf": session.csrf,
        "client_name": await continuing_to(request, client_id),
        "error": error,
        "username": username,
        # AUTHORIUM_PASSWORDLESS: "Sign in with a passkey" (`passkey.py`).
        "passkey_url": f"{paths.AUTHORIZE_PASSKEY}?rid={rid}" if request.app[SETTINGS].passwordless else None,
    }
    return aiohttp_jinja2.render_template("login.html", request, context, status=status)


async def login(request: web.Request) -> web.StreamResponse:
    app = request.app
    form, step = await posted_step(request)
    rid, pending, session = step.rid, step.pending, step.session
    username, password = form.get("username", "")[:100], form.get("password", "")
    address = request.remote or "unknown"
    throttle, audit, metrics = app[LOGIN_THROTTLE], app[AUDIT], app[METRICS]
    retry_after = await throttle.retry_after(username, address)
    if retry_after:
        metrics.rate_limited.labels("sign_in").inc()
        metrics.sign_ins.labels("throttled", FACTOR).inc()
        await audit.record(
            "sign_in_failure",
            client_id=pending.client_id or None,
            remote_addr=address,
            details={"username": _for_audit(username), "reason": "throttled"},
        )
        response = await page(request, rid, session, pending.client_id, error=THROTTLED, username=username, status=429)
        response.headers["Retry-After"] = str(retry_after)
        return response
    try:
        check_username(username)
        user = await app[USERS].find_by_username(username)
    except ValueError:
        user = None
    right = await app[PASSWORDS].verify(user.password_hash if user else None, password)
    if not right or user is None or user.disabled:
        await throttle.failed(username, address)
        # A disabled account looks like wrong credentials, whether or not the password was right.
        reason = "disabled" if right and user is not None else "wrong credentials"
        metrics.sign_ins.labels("failure", FACTOR).inc()
        await audit.record(
            "sign_in_failure",
            client_id=pending.client_id or None,
            remote_addr=address,
            details={"username": _for_audit(username), "reason": reason},
        )
        return await page(request, rid, session, pending.client_id, error=WRONG_CREDENTIALS, username=username)
    await throttle.succeeded(username)
    metrics.sign_ins.labels("success", FACTOR).inc()
    # Signed in now, or once a second factor is checked if the user has one (`authz.factors.step`).
    return await factor_step.after_first_factor(
        request, step, user.user_id, amr=(assurance.PWD,), auth_time=int(time.time())
    )
