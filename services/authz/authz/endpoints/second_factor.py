"""The second-factor page of an authorization request (OIDC Core 3.1.2.3, RFC 6238, RFC 8176): after the password
(or, for a step-up that `acr_values` asked for, within a signed-in session) the person types their authenticator
app's code or a recovery code, or chooses a security key: the page offers only what they have. Wrong codes are
throttled per user and per address; a code is accepted once."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from authz.endpoints.login import continuing_to
from authz.factors import step as factor_step
from authz.interaction import Step, posted_step, resumed_step


async def _page(request: web.Request, step: Step, *, error: str | None = None, status: int = 200) -> web.Response:
    user_id = factor_step.waiting_user(step)
    context: dict[str, Any] = {
        "rid": step.rid,
        "csrf": step.session.csrf,
        "client_name": await continuing_to(request, step.pending.client_id),
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
    refusal = await factor_step.refused(checked, lambda error, status: _page(request, step, error=error, status=status))
    if refusal is not None:
        return refusal
    assert checked.method is not None  # no refusal: the code was right
    return await factor_step.second_factor_passed(request, step, user_id, checked.method)
