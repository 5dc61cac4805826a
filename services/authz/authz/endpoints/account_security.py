"""The account's security page, `/account/security` (RFC 6238, with the factors of `authz.factors`): a signed-in
person sets up an authenticator app (a QR code made on the server, with the secret as text beside it, confirmed by a
first code), sees their recovery codes once when they are made, makes new ones, or removes the app. Removing the app
or making new codes asks for a current code (or a recovery code), so a session left open is not enough to take the
second factor away. A person without a session is sent to the account page, which signs them in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from authorium_shared.appkeys import PG_POOL
from authz.appkeys import AUDIT, SETTINGS, TOTP_FACTORS
from authz.audit import audited_transaction
from authz.endpoints import paths, security_keys
from authz.factors import recovery, totp
from authz.factors import step as factor_step
from authz.factors.repository import RecoveryCodes, TotpRepository, remove_factor, second_factors
from authz.interaction import Account, account_page, expired, posted_account

ALREADY_ENROLLED = "An authenticator app is set up already. Remove it first to set up another."
NOTHING_TO_CONFIRM = "There is no authenticator app waiting to be confirmed. Start again."
NOT_CONFIRMED = "That code is not right. Type the code your app shows now for this account."


def _issuer_label(request: web.Request) -> str:
    """The name an authenticator app shows above the account: this server's host."""
    return urlsplit(request.app[SETTINGS].issuer).hostname or "Authorium"


async def _render(
    request: web.Request,
    account: Account,
    *,
    error: str | None = None,
    new_codes: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    session, user = account.session, account.user
    factors = await second_factors(request.app[PG_POOL], user.user_id)
    app_factor = next((f for f in factors if f.kind == "totp"), None)
    enrolment = None if app_factor else await request.app[TOTP_FACTORS].enrolment(user.user_id)
    context: dict[str, Any] = {
        "csrf": session.csrf,
        "username": user.username,
        "error": error,
        "totp_factor": app_factor,
        "recovery_codes_left": app_factor.details.get("recovery_codes_left", 0) if app_factor else 0,
        "enrolment_secret": enrolment.secret if enrolment else None,
        "enrolment_qr": None,
        "new_codes": new_codes,
        **await security_context(request, account),
    }
    if enrolment is not None:
        uri = totp.provisioning_uri(enrolment.secret, user.username, _issuer_label(request))
        context["enrolment_qr"] = totp.qr_svg(uri)
    return aiohttp_jinja2.render_template("account_security.html", request, context, status=status)


async def security_context(request: web.Request, account: Account) -> dict[str, Any]:
    """What the page's other sections show. Factor kinds with a section of their own (security keys:
    `security_keys.html`, included when present) add what it needs here."""
    return await security_keys.section(request, account.user)


async def page(request: web.Request) -> web.StreamResponse:
    """GET: the page; to the account page (which signs the person in) without a signed-in session."""
    return await _render(request, await account_page(request))


async def start_totp(request: web.Request) -> web.StreamResponse:
    """POST: begin setting up an authenticator app (a new secret, shown as a QR code until confirmed)."""
    _, account = await posted_account(request)
    if await request.app[TOTP_FACTORS].start(account.user.user_id, totp.new_secret()) is None:
        return await _render(request, account, error=ALREADY_ENROLLED, status=409)
    raise web.HTTPSeeOther(paths.ACCOUNT_SECURITY)


async def confirm_totp(request: web.Request) -> web.StreamResponse:
    """POST: the app's first code confirms it; the recovery codes are made and shown, this once."""
    app = request.app
    form, account = await posted_account(request)
    user = account.user
    enrolment = await app[TOTP_FACTORS].enrolment(user.user_id)
    if enrolment is None:
        return await _render(request, account, error=NOTHING_TO_CONFIRM, status=409)
    time_step = totp.matching_step(enrolment.secret, form.get("code", "")[:100])
    if time_step is None:
        return await _render(request, account, error=NOT_CONFIRMED)
    codes = recovery.generate()
    async with audited_transaction(app[PG_POOL]) as conn:
        if not await TotpRepository(conn, app[SETTINGS].kek).confirm(user.user_id, enrolment.factor_id, time_step):
            raise expired()  # another tab confirmed or replaced it meanwhile
        await RecoveryCodes.replace(conn, user.user_id, codes)
        await app[AUDIT].record(
            "second_factor_added",
            user_id=user.user_id,
            remote_addr=request.remote,
            details={"factor": "totp", "factor_id": str(enrolment.factor_id)},
            conn=conn,
        )
    return await _render(request, account, new_codes=codes)


async def _proven(request: web.Request, form: dict[str, str], account: Account) -> web.Response | None:
    """None when the form carries a right second-factor code (spent); else the page saying why not."""
    checked = await factor_step.check_code(request, account.user.user_id, form.get("code", "")[:100], client_id=None)
    return await factor_step.refused(
        checked, lambda error, status: _render(request, account, error=error, status=status)
    )


async def remove_totp(request: web.Request) -> web.StreamResponse:
    """POST: remove the authenticator app (with its recovery codes), given a current code; an app not confirmed yet
    is dropped without one."""
    app = request.app
    form, account = await posted_account(request)
    user = account.user
    factors = [f for f in await second_factors(app[PG_POOL], user.user_id) if f.kind == "totp"]
    if not factors:
        enrolment = await app[TOTP_FACTORS].enrolment(user.user_id)
        if enrolment is not None:
            async with audited_transaction(app[PG_POOL]) as conn:
                await remove_factor(conn, user.user_id, enrolment.factor_id)
        raise web.HTTPSeeOther(paths.ACCOUNT_SECURITY)
    refused = await _proven(request, form, account)
    if refused is not None:
        return refused
    async with audited_transaction(app[PG_POOL]) as conn:
        if await remove_factor(conn, user.user_id, factors[0].factor_id) is not None:
            await app[AUDIT].record(
                "second_factor_removed",
                user_id=user.user_id,
                remote_addr=request.remote,
                details={"factor": "totp", "factor_id": str(factors[0].factor_id)},
                conn=conn,
            )
    raise web.HTTPSeeOther(paths.ACCOUNT_SECURITY)


async def new_recovery_codes(request: web.Request) -> web.StreamResponse:
    """POST: replace the recovery codes with new ones (shown this once), given a current code."""
    app = request.app
    form, account = await posted_account(request)
    user = account.user
    if not any(f.kind == "totp" for f in await second_factors(app[PG_POOL], user.user_id)):
        raise web.HTTPSeeOther(paths.ACCOUNT_SECURITY)
    refused = await _proven(request, form, account)
    if refused is not None:
        return refused
    codes = recovery.generate()
    async with audited_transaction(app[PG_POOL]) as conn:
        await RecoveryCodes.replace(conn, user.user_id, codes)
        await app[AUDIT].record("recovery_codes_replaced", user_id=user.user_id, remote_addr=request.remote, conn=conn)
    return await _render(request, account, new_codes=codes)
