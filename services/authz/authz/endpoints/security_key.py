"""A security key or passkey as the second factor of a sign-in (WebAuthn Level 2 section 7.2, RFC 8176): the choice
"Use a security key" on the second-factor step leads here, where the person's registered credentials are offered to
navigator.credentials.get; a verified assertion completes the sign-in with `amr` ["pwd", "hwk"|"swk", "mfa"]."""

from __future__ import annotations

from aiohttp import web

from authz.appkeys import PASSKEYS
from authz.endpoints import paths
from authz.endpoints.login import continuing_to
from authz.factors import passkey_sign_in, webauthn
from authz.factors import step as factor_step
from authz.interaction import PageError, Step, posted_step, resumed_step

PURPOSE = webauthn.Purpose.SECOND_FACTOR


async def _page(request: web.Request, step: Step, *, error: str | None = None, status: int = 200) -> web.Response:
    user_id = factor_step.waiting_user(step)
    passkeys = await request.app[PASSKEYS].for_user(user_id)
    if not passkeys:
        raise PageError("No security key", "You have no security key registered. Use your code instead.")
    context = {
        "title": "Use your security key",
        "lead": f"to continue to {await continuing_to(request, step.pending.client_id)}",
        "error": error,
        "action": paths.AUTHORIZE_SECURITY_KEY,
        "button": "Use security key",
        "back": f"{paths.AUTHORIZE_SECOND_FACTOR}?rid={step.rid}",
        "back_label": "Use a code instead",
    }
    return await passkey_sign_in.ceremony_page(
        request,
        passkey_sign_in.Ceremony.of(step, PURPOSE),
        allowed=passkeys,
        context={**context, "rid": step.rid},
        status=status,
    )


async def page(request: web.Request) -> web.StreamResponse:
    """GET: the ceremony, for the browser session whose request waits for this user's second factor."""
    return await _page(request, await resumed_step(request, request.query.get("rid", "")))


async def security_key(request: web.Request) -> web.StreamResponse:
    """POST: verify the assertion; the sign-in completes when it is the waiting user's credential's."""
    form, step = await posted_step(request, unchecked=("credential",))
    user_id = factor_step.waiting_user(step)
    try:
        assertion = await passkey_sign_in.check_answer(
            request, passkey_sign_in.Ceremony.of(step, PURPOSE), form.get("credential", ""), user_id=user_id
        )
    except passkey_sign_in.SignInRefused as exc:
        return await _page(request, step, error=exc.message, status=400)
    return await factor_step.second_factor_passed(request, step, user_id, webauthn.key_method(assertion.passkey))
