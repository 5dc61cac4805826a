"""Passwordless sign-in with a passkey (WebAuthn Level 2 section 7.2, discoverable credentials), where the operator
turns it on (AUTHORIUM_PASSWORDLESS; the routes exist only then): the login page offers "Sign in with a passkey",
which leads here. No username is asked: the credential's user handle names the user. The authenticator must verify
the user (UV), so the passkey is two factors in one, and the sign-in's `amr` is ["hwk"|"swk", "user", "mfa"]
(`authz.factors.webauthn.passwordless_methods`)."""

from __future__ import annotations

import time

from aiohttp import web

from authz.endpoints import paths
from authz.endpoints.login import continuing_to
from authz.factors import passkey_sign_in, webauthn
from authz.factors import step as factor_step
from authz.interaction import PageError, Step, posted_step, resumed_step

PURPOSE = webauthn.Purpose.PASSWORDLESS


async def _page(request: web.Request, step: Step, *, error: str | None = None, status: int = 200) -> web.Response:
    context = {
        "title": "Sign in with a passkey",
        "lead": f"to continue to {await continuing_to(request, step.pending.client_id)}",
        "error": error,
        "action": paths.AUTHORIZE_PASSKEY,
        "button": "Sign in with a passkey",
        "back": f"{paths.AUTHORIZE_CONTINUE}?rid={step.rid}",
        "back_label": "Sign in with a password instead",
    }
    return await passkey_sign_in.ceremony_page(
        request,
        passkey_sign_in.Ceremony.of(step, PURPOSE),
        allowed=None,
        context={**context, "rid": step.rid},
        status=status,
    )


async def page(request: web.Request) -> web.StreamResponse:
    """GET: the ceremony (any discoverable credential of this RP ID), for the session that parked the request."""
    step = await resumed_step(request, request.query.get("rid", ""))
    if step.pending.login_done:
        raise PageError("Cannot continue", "You are signed in already.")
    return await _page(request, step)


async def passkey(request: web.Request) -> web.StreamResponse:
    """POST: verify the assertion; its credential's owner is signed in."""
    form, step = await posted_step(request, unchecked=("credential",))
    try:
        assertion = await passkey_sign_in.check_answer(
            request, passkey_sign_in.Ceremony.of(step, PURPOSE), form.get("credential", ""), user_id=None
        )
    except passkey_sign_in.SignInRefused as exc:
        return await _page(request, step, error=exc.message, status=400)
    amr = webauthn.passwordless_methods(assertion)
    return await factor_step.signed_in(request, step, assertion.passkey.user_id, amr=amr, auth_time=int(time.time()))
