"""Signing in with a passkey or security key (WebAuthn Level 2 section 7.2): the ceremony's page, and the check of
the browser's answer that both ways of using one share, as a second factor after the password or alone
(passwordless). Every refusal is audited and counted; a signature counter that did not increase is audited apart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from authorium_shared.appkeys import METRICS
from authorium_shared.middleware import allow_own_scripts
from authz.appkeys import AUDIT, PASSKEYS, SETTINGS, WEBAUTHN_CHALLENGES
from authz.endpoints import paths
from authz.factors import webauthn
from authz.factors.passkeys import Passkey
from authz.interaction import PageError, Step
from authz.sessions.store import Session

# The `factor` label of `authorium_sign_ins_total` and the audit events' `factor` detail.
FACTOR = "webauthn"
NOT_VERIFIED = "Your passkey or security key could not be checked. Try again."
EXPIRED_CEREMONY = "This page has expired. Try again."


class SignInRefused(Exception):
    """The answer does not sign anyone in; `message` is what the person is shown."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def relying_party(request: web.Request) -> webauthn.RelyingParty:
    rp = webauthn.RelyingParty.of(request.app[SETTINGS])
    if rp is None:
        raise PageError(
            "Security keys unavailable",
            "Passkeys and security keys need this server to be reached by a host name, not an IP address.",
            status=404,
        )
    return rp


@dataclass(frozen=True)
class Ceremony:
    """Whose ceremony: the browser session it is bound to, what it is for (`purpose`, and `subject`: the parked
    request's id, or what an account page confirms), and the client whose request it serves, if any (for the audit)."""

    session: Session
    purpose: webauthn.Purpose
    subject: str
    client_id: str | None = None

    @classmethod
    def of(cls, step: Step, purpose: webauthn.Purpose) -> Ceremony:
        return cls(step.session, purpose, step.rid, step.pending.client_id or None)


async def ceremony_page(
    request: web.Request,
    ceremony: Ceremony,
    *,
    allowed: list[Passkey] | None,
    context: dict[str, Any],
    status: int = 200,
) -> web.Response:
    """The page whose script calls navigator.credentials.get with a fresh challenge for this session and purpose
    (section 7.2 steps 1-3)."""
    rp = relying_party(request)
    challenge = await request.app[WEBAUTHN_CHALLENGES].issue(ceremony.session.sid, ceremony.purpose, ceremony.subject)
    page = {
        "options": webauthn.authentication_options(rp, challenge, allowed=allowed),
        "mode": "get",
        "rid": None,
        "csrf": ceremony.session.csrf,
        "ask_name": False,
        "name": "",
        "error": None,
        "hidden": {},
        "code_action": None,
        **context,
    }
    response = aiohttp_jinja2.render_template("webauthn.html", request, page, status=status)
    allow_own_scripts(response)
    return response


async def check_answer(
    request: web.Request, ceremony: Ceremony, answer: str, *, user_id: uuid.UUID | None
) -> webauthn.Assertion:
    """Verify the browser's answer to this session's challenge for the ceremony: by `user_id`'s credential (a second
    factor, a confirmation), or, without `user_id`, by any discoverable credential whose user handle matches and
    whose authenticator verified the user (passwordless). Stores the new counter. SignInRefused otherwise."""
    app = request.app
    rp = relying_party(request)
    # Taken whatever happens next: each challenge is answered at most once (a replayed answer finds none).
    issued = await app[WEBAUTHN_CHALLENGES].consume(ceremony.session.sid, ceremony.purpose, ceremony.subject)
    passkey = None
    try:
        if issued is None:
            raise webauthn.CeremonyFailed("no challenge outstanding (expired, used, or never issued)")
        credential = webauthn.parse_assertion(answer)
        passkey = await app[PASSKEYS].find(bytes(credential.raw_id))
        if passkey is None:
            raise webauthn.CeremonyFailed("unknown credential")
        if user_id is not None and passkey.user_id != user_id:
            raise webauthn.CeremonyFailed("credential of another user")
        if user_id is None and not webauthn.user_handle_matches(credential, passkey):
            raise webauthn.CeremonyFailed("user handle does not match the credential's")
        assertion = webauthn.verify_assertion(
            rp, credential, issued.challenge, passkey, require_user_verification=user_id is None
        )
        if not await app[PASSKEYS].record_use(passkey.credential_id, assertion.sign_count):
            # Another assertion with this counter (or a later one) was accepted in between.
            raise webauthn.CounterNotIncreased(passkey.sign_count, assertion.sign_count)
    except webauthn.CeremonyFailed as exc:
        owner = user_id if user_id is not None else (passkey.user_id if passkey is not None else None)
        await _refused(request, exc, client_id=ceremony.client_id, user_id=owner, passkey=passkey)
        raise SignInRefused(EXPIRED_CEREMONY if issued is None else NOT_VERIFIED) from None
    app[METRICS].sign_ins.labels("success", FACTOR).inc()
    return assertion


async def _refused(
    request: web.Request,
    exc: webauthn.CeremonyFailed,
    *,
    client_id: str | None,
    user_id: uuid.UUID | None,
    passkey: Passkey | None,
) -> None:
    app = request.app
    app[METRICS].sign_ins.labels("failure", FACTOR).inc()
    details: dict[str, Any] = {"factor": FACTOR, "reason": exc.reason}
    if passkey is not None:
        details["passkey_id"] = str(passkey.passkey_id)
    if isinstance(exc, webauthn.CounterNotIncreased):
        # Section 6.1.1: a signature counter that did not increase signals a cloned authenticator.
        details.update(stored_sign_count=exc.stored, presented_sign_count=exc.presented)
        await app[AUDIT].record(
            "passkey_sign_count_not_increased",
            client_id=client_id,
            user_id=user_id,
            remote_addr=request.remote,
            details=details,
        )
    await app[AUDIT].record(
        "sign_in_failure", client_id=client_id, user_id=user_id, remote_addr=request.remote, details=details
    )


async def security_key_choice(request: web.Request, step: Step, user_id: uuid.UUID) -> str | None:
    """Where the second-factor step's "Use a security key" leads, when the waiting user has one and passkeys work
    at this issuer; None otherwise."""
    if webauthn.RelyingParty.of(request.app[SETTINGS]) is None or not await request.app[PASSKEYS].for_user(user_id):
        return None
    return f"{paths.AUTHORIZE_SECURITY_KEY}?rid={step.rid}"
