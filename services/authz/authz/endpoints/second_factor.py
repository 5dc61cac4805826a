"""The second-factor page of an authorization request (OIDC Core 3.1.2.3, RFC 6238, RFC 8176): after the password
(or, for a step-up that `acr_values` asked for, within a signed-in session) the person types their authenticator
app's code or a recovery code, or chooses a security key: the page offers only what they have. Wrong codes are
throttled per user and per address; a code is accepted once."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from authz.appkeys import CLIENTS
from authz.endpoints.login import ACCOUNT_NAME
from authz.factors import step as factor_step
from authz.interaction import Step, posted_step, resumed_step

WRONG_CODE = "That code is not right. Try again with the current code from your app, or a recovery code."
REPLAYED_CODE = "That code was used already. Wait for your app to show the next one."
THROTTLED = "Too many wrong codes. Wait a few minutes, then try again."


async def _page(request: web.Request, step: Step, *, error: str | None = None, status: int = 200) -> web.Response:
    user_id = factor_step.waiting_user(step)
    # No client: the sign-in is for this server's account page.
    client = await request.app[CLIENTS].get(step.pending.client_id) if step.pending.client_id else None
    context: dict[str, Any] = {
        "rid": step.rid,
        "csrf": step.session.csrf,
        "client_name": client.name if client else step.pending.client_id or ACCOUNT_NAME,
        "error": error,
        **await factor_step.page_context(request, step, user_id),
    }
    return aiohttp_jinja2.render_template("second_factor.html", request, context, status=status)


async def page(request: web.Request) -> web.StreamResponse:
    """GET: the form, for the browser session whose request waits for a second factor."""
    return await _page(request, await resumed_step(request, request.query.get("rid", "")))


async def second_factor(request: web.Request) -> web.StreamResponse:
    """POST: check the code; the sign-in completes (and the request continues) when it is right."""
    form, step = await posted_step(request)
    user_id = factor_step.waiting_user(step)
    checked = await factor_step.check_code(
        request, user_id, form.get("code", "")[:100], client_id=step.pending.client_id or None
    )
    if checked.retry_after:
        response = await _page(request, step, error=THROTTLED, status=429)
        response.headers["Retry-After"] = str(checked.retry_after)
        return response
    if checked.method is None:
        return await _page(request, step, error=REPLAYED_CODE if checked.replayed else WRONG_CODE)
    return await factor_step.second_factor_passed(request, step, user_id, checked.method)
