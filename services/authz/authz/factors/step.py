"""The second-factor step of a sign-in (OIDC Core 3.1.2.3, RFC 8176): after the first factor (the password, or for a
step-up the person's signed-in session) the parked request records who passed it, and the browser is sent to
`/authorize/second-factor`; only once a second factor is checked there is the session signed in, with the methods
used (`amr`). Until then the browser's session is not signed in anywhere.

`after_first_factor` is where every sign-in goes once its first factor passed, whatever request it continues, and
`signed_in` where it ends; a factor kind checks its own proof and calls `second_factor_passed`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from authorium_shared.appkeys import METRICS, PG_POOL
from authz.appkeys import AUDIT, FACTOR_THROTTLE, PENDING, RECOVERY_CODES, SESSIONS, TOTP_FACTORS, USERS
from authz.authorization.pending import PendingRequest
from authz.endpoints import paths
from authz.factors import assurance, totp
from authz.factors.passkey_sign_in import security_key_choice
from authz.factors.repository import TOTP, has_second_factor, second_factors
from authz.interaction import Step, expired
from authz.sessions.store import Session

# The `factor` label of `authorium_sign_ins_total` and the audit events' `factor` detail.
TOTP_FACTOR = "totp"
RECOVERY_CODE_FACTOR = "recovery_code"
# The second-factor page's code form, labelled for what the person can type (`code_label`).
APP_OR_RECOVERY_CODE = "Code from your authenticator app, or a recovery code"
RECOVERY_CODE_ONLY = "One of your recovery codes"
# Why a typed code was refused (`refused`).
WRONG_CODE = "That code is not right. Try again with the current code from your app, or a recovery code."
REPLAYED_CODE = "That code was used already. Wait for your app to show the next one."
THROTTLED = "Too many wrong codes. Wait a few minutes, then try again."


async def after_first_factor(
    request: web.Request, step: Step, user_id: uuid.UUID, *, amr: tuple[str, ...], auth_time: int
) -> web.StreamResponse:
    """The first factor passed for `user_id`: to the second-factor step if they have a second factor, else signed
    in now."""
    if await has_second_factor(request.app[PG_POOL], user_id):
        return await ask_second_factor(
            request, step.pending, step.rid, step.session, user_id, amr=amr, auth_time=auth_time
        )
    return await signed_in(request, step, user_id, amr=amr, auth_time=auth_time)


async def ask_second_factor(
    request: web.Request,
    pending: PendingRequest,
    rid: str | None,
    session: Session,
    user_id: uuid.UUID,
    *,
    amr: tuple[str, ...],
    auth_time: int | None,
) -> web.StreamResponse:
    """Park the request (`rid`, or a new one) as waiting for `user_id`'s second factor, reachable from `session`, and
    send the browser to the step's page."""
    waiting = replace(pending, sid=session.sid, factor_user=str(user_id), factor_amr=amr, factor_auth_time=auth_time)
    rid = await request.app[PENDING].save(waiting, rid)
    raise web.HTTPSeeOther(f"{paths.AUTHORIZE_SECOND_FACTOR}?rid={rid}")


def waiting_user(step: Step) -> uuid.UUID:
    """The user whose second factor the parked request waits for; PageError (expired) when it waits for none, or
    the browser's session is now someone else's."""
    pending, session = step.pending, step.session
    if pending.factor_user is None or (session.user_id is not None and session.user_id != pending.factor_user):
        raise expired()
    return uuid.UUID(pending.factor_user)


async def second_factor_passed(request: web.Request, step: Step, user_id: uuid.UUID, method: str) -> web.StreamResponse:
    """A second factor (RFC 8176 method `method`) of the waiting user was checked: the sign-in is complete."""
    pending = step.pending
    amr = assurance.with_methods(pending.factor_amr, method)
    auth_time = pending.factor_auth_time or int(time.time())
    return await signed_in(request, step, user_id, amr=amr, auth_time=auth_time)


async def signed_in(
    request: web.Request, step: Step, user_id: uuid.UUID, *, amr: tuple[str, ...], auth_time: int
) -> web.StreamResponse:
    """Every factor needed passed: the browser gets a new signed-in session and the request continues."""
    app = request.app
    user = await app[USERS].get(user_id)
    if user is None or user.disabled:
        # Deleted or disabled during the sign-in: as if the page had expired.
        await app[PENDING].delete(step.rid)
        raise expired()
    session = await app[SESSIONS].sign_in(
        step.session, str(user_id), auth_time, amr, agent=request.headers.get("User-Agent")
    )
    pending = replace(
        step.pending, sid=session.sid, login_done=True, factor_user=None, factor_amr=(), factor_auth_time=None
    )
    await app[PENDING].save(pending, step.rid)
    await app[AUDIT].record(
        "sign_in_success",
        client_id=pending.client_id or None,  # "" for a sign-in to the account page
        user_id=user_id,
        remote_addr=request.remote,
        details={"amr": list(amr)},
    )
    response = web.HTTPSeeOther(f"{paths.AUTHORIZE_CONTINUE}?rid={step.rid}")
    app[SESSIONS].set_cookie(response, session)
    raise response


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of a typed second-factor code: `method` (RFC 8176) and `factor` when it was right; `replayed` when
    it was an authenticator code used already; `retry_after` when the throttle refused to check it."""

    method: str | None = None
    factor: str | None = None
    replayed: bool = False
    retry_after: int | None = None


async def check_code(request: web.Request, user_id: uuid.UUID, code: str, *, client_id: str | None) -> CodeCheck:
    """Check a code typed as a second factor: the authenticator app's current code, or else one of the recovery
    codes (spent when right). Throttled per user and per address apart from passwords; failures are audited and
    counted in `authorium_sign_ins_total` by factor."""
    app = request.app
    throttle, metrics = app[FACTOR_THROTTLE], app[METRICS]
    address = request.remote or "unknown"
    subject = str(user_id)
    retry_after = await throttle.retry_after(subject, address)
    factor = TOTP_FACTOR if totp.normalized(code) is not None else RECOVERY_CODE_FACTOR
    if retry_after:
        metrics.rate_limited.labels("second_factor").inc()
        metrics.sign_ins.labels("throttled", factor).inc()
        await app[AUDIT].record(
            "sign_in_failure",
            client_id=client_id,
            user_id=user_id,
            remote_addr=address,
            details={"factor": factor, "reason": "throttled"},
        )
        return CodeCheck(retry_after=retry_after)
    result = await _spend(request, user_id, code)
    if result.method is None:
        await throttle.failed(subject, address)
        metrics.sign_ins.labels("failure", factor).inc()
        await app[AUDIT].record(
            "sign_in_failure",
            client_id=client_id,
            user_id=user_id,
            remote_addr=address,
            details={"factor": factor, "reason": "replayed code" if result.replayed else "wrong code"},
        )
        return result
    await throttle.succeeded(subject)
    metrics.sign_ins.labels("success", result.factor or factor).inc()
    return result


async def refused(
    checked: CodeCheck, page: Callable[[str, int], Awaitable[web.Response]], *, wrong_status: int = 200
) -> web.Response | None:
    """None when the checked code was right; else the page (`page(error, status)`) that says why not: 429 with
    Retry-After when the throttle refused to check it, `wrong_status` for a wrong or replayed code."""
    if checked.retry_after:
        response = await page(THROTTLED, 429)
        response.headers["Retry-After"] = str(checked.retry_after)
        return response
    if checked.method is None:
        return await page(REPLAYED_CODE if checked.replayed else WRONG_CODE, wrong_status)
    return None


async def _spend(request: web.Request, user_id: uuid.UUID, code: str) -> CodeCheck:
    app = request.app
    if totp.normalized(code) is not None:
        enrolled = await app[TOTP_FACTORS].confirmed_secret(user_id)
        time_step = totp.matching_step(enrolled.secret, code) if enrolled else None
        if enrolled is None or time_step is None:
            return CodeCheck()
        if not await app[TOTP_FACTORS].use_step(user_id, enrolled.factor_id, time_step):
            return CodeCheck(replayed=True)
        return CodeCheck(method=assurance.OTP, factor=TOTP_FACTOR)
    if await app[RECOVERY_CODES].use(user_id, code):
        return CodeCheck(method=assurance.OTP, factor=RECOVERY_CODE_FACTOR)
    return CodeCheck()


async def code_label(request: web.Request, user_id: uuid.UUID) -> str | None:
    """What the second-factor page's code form asks for: the authenticator app's code or a recovery code when the
    person has a confirmed app; a recovery code (a fallback for any factor) when they have unused ones but no app;
    None, no code form, when they have neither."""
    app = request.app
    if any(f.kind == TOTP for f in await second_factors(app[PG_POOL], user_id)):
        return APP_OR_RECOVERY_CODE
    if await app[RECOVERY_CODES].left(user_id):
        return RECOVERY_CODE_ONLY
    return None


async def page_context(request: web.Request, step: Step, user_id: uuid.UUID) -> dict[str, Any]:
    """What the second-factor page offers: the code form (`code_label`, when the person has something to type) and,
    from factor kinds with a part of their own on the page (security keys: `second_factor_keys.html`, included when
    present), what that part needs."""
    return {
        "code_label": await code_label(request, user_id),
        "security_key_url": await security_key_choice(request, step, user_id),
    }
