"""Authorization requests waiting on the user (RFC 6749 section 4.1.1): validated, then parked in Redis under a
random id while the person signs in and consents; only the browser session that started one can finish it."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, fields, replace

import orjson
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authz.sessions.store import Session, well_formed

PENDING_TTL = 600
# What a parked request resumes to once the person has signed in and consented: a code sent back to the client's
# redirect URI, or a device's request approved (RFC 8628 section 3.3; `device` names it, and there is no redirect).
CODE = "code"
DEVICE = "device"


@dataclass(frozen=True)
class PendingRequest:
    """A validated authorization request, parked while the user signs in or consents."""

    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: tuple[str, ...]
    max_age: int | None
    sid: str
    login_done: bool = False
    login_hint: str | None = None  # `login_hint`, when it could be a username: prefills the login page
    hint_subject: str | None = None  # the subject of a verified `id_token_hint`
    resources: tuple[str, ...] = ()  # identifiers of the resources the token will be for (RFC 8707)
    # A sign-in for one of this server's own pages (the account page), not for a client: once signed in, the person
    # is sent here (`authorize.resume`), and no code is issued. Such a request has no client (`client_id` is "").
    resume_to: str | None = None
    acr_values: tuple[str, ...] = ()  # `acr_values` (OIDC Core 3.1.2.1), most preferred first
    # The second-factor step (`authz.factors.step`): the user who passed the first factor (a password, or a session
    # of theirs for a step-up) and must now pass a second, with the methods and time of that first sign-in. Only
    # the browser session that parked the request reaches it, and that session is not signed in by it.
    factor_user: str | None = None
    factor_amr: tuple[str, ...] = ()
    factor_auth_time: int | None = None
    kind: str = CODE
    device: str | None = None  # kind DEVICE: the digest of the device code (authz.device.store)
    dpop_jkt: str | None = None  # the DPoP key the code will be bound to (RFC 9449 section 10)

    def needs_login(self, session: Session) -> bool:
        """Whether the person must sign in (again) for this request, unless they just did (OIDC Core 3.1.2.1):
        `prompt=login`; `prompt=select_account` (one account per session: choosing one is signing in as it); a
        sign-in older than `max_age`; or someone signed in other than the user `id_token_hint` names."""
        if self.login_done:
            return False
        if "login" in self.prompt or "select_account" in self.prompt or self.names_another_user(session):
            return True
        return self.max_age is not None and time.time() - (session.auth_time or 0) > self.max_age

    def names_another_user(self, session: Session) -> bool:
        """Whether `id_token_hint` names someone other than the session's user (OIDC Core 3.1.2.1)."""
        return self.hint_subject is not None and session.user_id != self.hint_subject


_FIELDS = frozenset(field.name for field in fields(PendingRequest))


class PendingRequests:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def save(self, request: PendingRequest, rid: str | None = None) -> str:
        rid = rid or secrets.token_urlsafe(32)
        data = asdict(request)
        if request.kind == CODE:
            # Left out when they say nothing new, so that a replica of the release before devices, during a rolling
            # deploy, can still finish the requests it knows.
            del data["kind"], data["device"]
        await self.redis.set(self.keys("authreq", rid), orjson.dumps(data), ex=PENDING_TTL)
        return rid

    async def get(self, rid: str | None) -> PendingRequest | None:
        if not well_formed(rid):
            return None
        assert rid is not None
        raw = await self.redis.get(self.keys("authreq", rid))
        if not raw:
            return None
        data = orjson.loads(raw)
        if not set(data) <= _FIELDS:
            # Parked by a newer release during a rolling deploy, with rules this one does not know: it cannot be
            # finished safely here, so it is treated as expired (the person starts again) rather than half-read.
            return None
        data["scopes"] = tuple(data["scopes"])
        data["prompt"] = tuple(data["prompt"])
        data["resources"] = tuple(data.get("resources", ()))
        data["acr_values"] = tuple(data.get("acr_values", ()))
        data["factor_amr"] = tuple(data.get("factor_amr", ()))
        return PendingRequest(**data)

    async def update(self, rid: str, request: PendingRequest, **changes: object) -> PendingRequest:
        updated = replace(request, **changes)  # type: ignore[arg-type]
        await self.save(updated, rid)
        return updated

    async def delete(self, rid: str) -> None:
        await self.redis.delete(self.keys("authreq", rid))
