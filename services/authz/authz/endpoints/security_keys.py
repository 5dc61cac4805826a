"""The account's passkeys and security keys (WebAuthn Level 2 section 7.1, registration): the "Security keys" section
of the account's security page (`account_security.py`) lists them with name and last use; adding one is a page whose
script calls navigator.credentials.create, then a CSRF-protected form that posts the result; removing one is
confirmed with any of the person's keys or their authenticator app's code. Only the signed-in person reaches their
own."""

from __future__ import annotations

import uuid

import aiohttp_jinja2
from aiohttp import web

from authorium_shared.appkeys import PG_POOL
from authorium_shared.middleware import allow_own_scripts
from authz.appkeys import AUDIT, PASSKEYS, SETTINGS, WEBAUTHN_CHALLENGES
from authz.endpoints import paths
from authz.factors import passkey_sign_in, webauthn
from authz.factors import step as factor_step
from authz.factors.passkey_sign_in import EXPIRED_CEREMONY, NOT_VERIFIED, relying_party
from authz.factors.passkeys import MAX_NAME_LENGTH, MAX_PER_USER, CredentialTaken, Passkey, TooMany
from authz.factors.repository import TOTP, second_factors
from authz.interaction import Account, PageError, account_page, posted_account
from authz.users.repository import User


def check_name(value: str) -> str:
    """The name a person gives a key: 1 to MAX_NAME_LENGTH printable characters, spaces trimmed."""
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ValueError(f"Give the key a name of 1 to {MAX_NAME_LENGTH} characters.")
    return name


async def section(request: web.Request, user: User) -> dict[str, object]:
    """What `security_keys.html`, the "Security keys" section of the account's security page, needs."""
    return {
        "security_keys_available": webauthn.RelyingParty.of(request.app[SETTINGS]) is not None,
        "security_keys": await request.app[PASSKEYS].for_user(user.user_id),
    }


async def _add_page(
    request: web.Request, account: Account, *, name: str = "", error: str | None = None, status: int = 200
) -> web.Response:
    rp = relying_party(request)
    app, user = request.app, account.user
    existing = await app[PASSKEYS].for_user(user.user_id)
    if len(existing) >= MAX_PER_USER:
        raise PageError("Too many security keys", f"You have {MAX_PER_USER}: remove one to add another.")
    challenge = await app[WEBAUTHN_CHALLENGES].issue(account.session.sid, webauthn.Purpose.REGISTER, str(user.user_id))
    options = webauthn.registration_options(
        rp,
        challenge,
        user_handle=await app[PASSKEYS].user_handle(user.user_id),
        username=user.username,
        display_name=user.name or user.username,
        existing=existing,
    )
    context: dict[str, object] = {
        "title": "Add a security key",
        "lead": "Name it, then follow your browser's instructions to create a passkey or touch your security key.",
        "error": error,
        "action": paths.ACCOUNT_SECURITY_KEYS,
        "mode": "create",
        "options": options,
        "rid": None,
        "csrf": account.session.csrf,
        "ask_name": True,
        "name": name,
        "button": "Add security key",
        "hidden": {},
        "code_action": None,
        "back": paths.ACCOUNT_SECURITY,
        "back_label": "Back to security",
    }
    response = aiohttp_jinja2.render_template("webauthn.html", request, context, status=status)
    allow_own_scripts(response)
    return response


async def new(request: web.Request) -> web.StreamResponse:
    """GET: the page that registers a new credential (section 7.1 steps 1-3: the options, with a fresh challenge);
    to the account page (which signs the person in) without a signed-in session."""
    account = await account_page(request)
    return await _add_page(request, account)


async def register(request: web.Request) -> web.StreamResponse:
    """POST: verify the new credential (section 7.1 steps 5-24) and store it."""
    form, account = await posted_account(request, unchecked=("credential",))
    app, user = request.app, account.user
    rp = relying_party(request)
    typed = form.get("name", "")[: MAX_NAME_LENGTH * 4]
    try:
        name = check_name(typed)
    except ValueError as exc:
        return await _add_page(request, account, name=typed, error=str(exc), status=400)
    # Taken whatever happens next: an answer is checked against its challenge once.
    ceremony = await app[WEBAUTHN_CHALLENGES].consume(account.session.sid, webauthn.Purpose.REGISTER, str(user.user_id))
    if ceremony is None:
        return await _add_page(request, account, name=name, error=EXPIRED_CEREMONY, status=400)
    try:
        created = webauthn.verify_registration(rp, form.get("credential", ""), ceremony.challenge)
        passkey = await app[PASSKEYS].add(
            user_id=user.user_id,
            credential_id=created.credential_id,
            public_key=created.public_key,
            sign_count=created.sign_count,
            transports=created.transports,
            backup_eligible=created.backup_eligible,
            name=name,
        )
    except webauthn.CeremonyFailed as exc:
        await app[AUDIT].record(
            "passkey_registration_failure",
            user_id=user.user_id,
            remote_addr=request.remote,
            details={"reason": exc.reason},
        )
        return await _add_page(request, account, name=name, error=NOT_VERIFIED, status=400)
    except CredentialTaken:
        return await _add_page(
            request, account, name=name, error="This security key is registered already.", status=400
        )
    except TooMany:
        raise PageError("Too many security keys", f"You have {MAX_PER_USER}: remove one to add another.") from None
    await app[AUDIT].record(
        "passkey_added",
        user_id=user.user_id,
        remote_addr=request.remote,
        details={"passkey_id": str(passkey.passkey_id), "name": passkey.name},
    )
    raise web.HTTPSeeOther(paths.ACCOUNT_SECURITY + "#security-keys")


async def _remove_page(
    request: web.Request, account: Account, passkey: Passkey, *, error: str | None = None, status: int = 200
) -> web.Response:
    """The confirmation: any of the person's keys (a WebAuthn assertion), or a code from their authenticator app."""
    user = account.user
    factors = await second_factors(request.app[PG_POOL], user.user_id)
    context = {
        "title": f"Remove “{passkey.name}”",
        "lead": "Confirm it is you with any of your security keys"
        + (", or with a code from your authenticator app." if any(f.kind == TOTP for f in factors) else "."),
        "error": error,
        "action": paths.ACCOUNT_SECURITY_KEYS_REMOVE,
        "button": "Confirm with a security key",
        "hidden": {"passkey_id": str(passkey.passkey_id)},
        "code_action": paths.ACCOUNT_SECURITY_KEYS_REMOVE if any(f.kind == TOTP for f in factors) else None,
        "back": paths.ACCOUNT_SECURITY + "#security-keys",
        "back_label": "Keep it",
    }
    ceremony = passkey_sign_in.Ceremony(account.session, webauthn.Purpose.REMOVE, str(passkey.passkey_id))
    return await passkey_sign_in.ceremony_page(
        request, ceremony, allowed=await request.app[PASSKEYS].for_user(user.user_id), context=context, status=status
    )


async def _own_key(request: web.Request, account: Account, value: str) -> Passkey:
    try:
        passkey_id = uuid.UUID(value)
    except ValueError:
        raise PageError("Invalid request", "No such security key.", status=404) from None
    passkey = next(
        (p for p in await request.app[PASSKEYS].for_user(account.user.user_id) if p.passkey_id == passkey_id), None
    )
    if passkey is None:
        raise PageError("Invalid request", "No such security key.", status=404)
    return passkey


async def confirm_removal(request: web.Request) -> web.StreamResponse:
    """GET: the page that confirms removing a key. A session left open is not enough to take a factor away: the
    person proves it is them with one of their keys, or their authenticator app's code (as for the app itself)."""
    account = await account_page(request)
    relying_party(request)
    return await _remove_page(request, account, await _own_key(request, account, request.query.get("passkey_id", "")))


async def remove(request: web.Request) -> web.StreamResponse:
    """POST: remove one of the person's keys, once confirmed by an assertion of any of their keys or by a code."""
    form, account = await posted_account(request, unchecked=("credential",))
    app, user = request.app, account.user
    passkey = await _own_key(request, account, form.get("passkey_id", ""))
    if "code" in form:
        checked = await factor_step.check_code(request, user.user_id, form["code"][:100], client_id=None)
        refusal = await factor_step.refused(
            checked,
            lambda error, status: _remove_page(request, account, passkey, error=error, status=status),
            wrong_status=400,
        )
        if refusal is not None:
            return refusal
    else:
        ceremony = passkey_sign_in.Ceremony(account.session, webauthn.Purpose.REMOVE, str(passkey.passkey_id))
        try:
            await passkey_sign_in.check_answer(request, ceremony, form.get("credential", ""), user_id=user.user_id)
        except passkey_sign_in.SignInRefused as exc:
            return await _remove_page(request, account, passkey, error=exc.message, status=400)
    removed = await app[PASSKEYS].remove(user.user_id, passkey.passkey_id)
    if removed is not None:
        await app[AUDIT].record(
            "passkey_removed",
            user_id=user.user_id,
            remote_addr=request.remote,
            details={"passkey_id": str(removed.passkey_id), "name": removed.name},
        )
    raise web.HTTPSeeOther(paths.ACCOUNT_SECURITY + "#security-keys")
