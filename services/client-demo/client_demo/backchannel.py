"""The demo's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0 sections 2.5-2.8): the
authorization server posts a logout token here when a person signs out there; once it passes every check of section
2.6, the demo ends the sessions it names (section 2.7) and answers 200, else 400 with an error (section 2.8), never
cached."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from authorium_shared.appkeys import REDIS, REDIS_KEYS
from authorium_shared.jwt import TokenInvalid
from client_demo.appkeys import PROVIDER, SESSIONS, SETTINGS
from client_demo.id_tokens import ALGORITHMS, LEEWAY
from client_demo.provider import ProviderError

log = logging.getLogger("authorium.client_demo")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TYP = "logout+jwt"
REQUIRED = ("iss", "aud", "iat", "exp", "jti", "events")
MAX_TOKEN_LENGTH = 8192
NO_STORE = {"Cache-Control": "no-store"}


class LogoutTokenRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_claims(claims: Mapping[str, Any], client_id: str) -> tuple[str | None, str | None]:
    """Section 2.6 steps 3-7 on a token whose signature, `iss`, `exp` and `iat` were checked: this client is an
    audience, it carries the back-channel logout event (a JSON object), a `sid` or a `sub`, and no `nonce` (which would
    let an ID token pass for a logout token). Returns (sid, sub)."""
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        raise LogoutTokenRejected("it was issued for another client")
    events = claims["events"]
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise LogoutTokenRejected("it carries no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenRejected("it carries a nonce, which a logout token never does")
    sid, sub = claims.get("sid"), claims.get("sub")
    if sid is not None and (not isinstance(sid, str) or not sid):
        raise LogoutTokenRejected("its sid is not a string")
    if sub is not None and (not isinstance(sub, str) or not sub):
        raise LogoutTokenRejected("its sub is not a string")
    if sid is None and sub is None:
        raise LogoutTokenRejected("it names neither a session (sid) nor a person (sub)")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise LogoutTokenRejected("its jti is not a string")
    return sid, sub


def _refused(reason: str) -> web.Response:
    log.info("logout token refused", extra={"reason": reason})
    body = {"error": "invalid_request", "error_description": f"the logout token was refused: {reason}"}
    return web.Response(body=orjson.dumps(body), status=400, content_type="application/json", headers=NO_STORE)


async def backchannel_logout(request: web.Request) -> web.StreamResponse:
    """POST, form `logout_token` (section 2.5)."""
    app = request.app
    settings = app[SETTINGS]
    if request.content_type != "application/x-www-form-urlencoded":
        return _refused("the body must be application/x-www-form-urlencoded")
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError, LookupError):
        return _refused("the body is not valid form encoding")
    tokens = form.getall("logout_token", [])
    if len(tokens) != 1 or not isinstance(tokens[0], str) or not tokens[0] or len(tokens[0]) > MAX_TOKEN_LENGTH:
        return _refused("there must be exactly one logout_token")
    try:
        keys = await app[PROVIDER].keys()
        claims = await keys.verify(
            tokens[0],
            algorithms=ALGORITHMS,
            issuer=settings.issuer,
            audience=None,
            typ=TYP,
            leeway=LEEWAY,
            required=REQUIRED,
        )
        sid, sub = check_claims(claims, settings.client_id)
    except TokenInvalid as exc:
        return _refused(f"it is not a valid token from this issuer ({exc.reason})")
    except LogoutTokenRejected as exc:
        return _refused(exc.reason)
    except ProviderError:
        # The keys could not be fetched: not the token's fault; the authorization server retries.
        return web.Response(status=503, headers={**NO_STORE, "Retry-After": "5"})
    # Section 2.6 step 10: a token seen before is refused, for as long as it could still be accepted.
    seen_for = max(int(claims["exp"] - time.time()) + LEEWAY, 1)
    digest = hashlib.sha256(claims["jti"].encode()).hexdigest()
    if not await app[REDIS].set(app[REDIS_KEYS]("demo", "logout-jti", digest), "1", nx=True, ex=seen_for):
        return _refused("it was used before (jti)")
    ended = await app[SESSIONS].end_matching(sid=sid, sub=sub)
    log.info("back-channel logout", extra={"sessions_ended": ended})
    return web.Response(status=200, headers=NO_STORE)
