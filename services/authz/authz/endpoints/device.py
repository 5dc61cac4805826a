"""The verification page of the device authorization grant (RFC 8628 section 3.3): the person enters the user code
their device shows (or arrives with it in `verification_uri_complete`, section 3.3.1), then signs in and approves
or denies on the authorization endpoint's own login and consent pages, the request parked as any other.

User codes are read as section 6.1 says (case, dashes and spaces ignored); wrong ones are counted per address, and
past USER_CODE_FAILURES_PER_ADDRESS in a window no code is looked up from there (section 5.1).

The entry form carries no CSRF token, as `/authorize` takes none: entering a code only parks a request and shows the
login or consent page, whose forms do carry the session's token; nothing is decided without them. Against a code
someone else slipped the person (section 5.4), the consent page states the code and whose device asks."""

from __future__ import annotations

import aiohttp_jinja2
from aiohttp import web

from authorium_shared.appkeys import METRICS
from authorium_shared.errors import InvalidRequest
from authz.appkeys import CLIENTS, DEVICE_CODES, SESSIONS, USER_CODE_THROTTLE
from authz.authorization.pending import DEVICE, PendingRequest
from authz.device.user_codes import MAX_INPUT, normalize
from authz.endpoints.authorize import proceed
from authz.forms import read_form
from authz.interaction import PageError

WRONG_CODE = "That code is not valid, or it has expired. Check the code your device shows and try again."
THROTTLED = "Too many wrong codes were entered from here. Wait a few minutes, then try again."


def page(request: web.Request, *, user_code: str = "", error: str | None = None, status: int = 200) -> web.Response:
    context = {"user_code": user_code[:MAX_INPUT], "error": error}
    return aiohttp_jinja2.render_template("device.html", request, context, status=status)


async def device(request: web.Request) -> web.StreamResponse:
    """GET: the form, or with `user_code` (verification_uri_complete) straight on; POST: the form's answer."""
    if request.method == "GET":
        typed = request.query.get("user_code")
        if typed is None:
            return page(request)
    else:
        try:
            typed = (await read_form(request)).get("user_code", "")
        except InvalidRequest as exc:
            raise PageError("Invalid request", exc.description or exc.error, status=exc.status) from None
    return await enter(request, typed)


async def enter(request: web.Request, typed: str) -> web.StreamResponse:
    app = request.app
    address = request.remote or "unknown"
    throttle = app[USER_CODE_THROTTLE]
    retry_after = await throttle.exceeded(address)
    if retry_after:
        app[METRICS].rate_limited.labels("user_code").inc()
        response = page(request, user_code=typed, error=THROTTLED, status=429)
        response.headers["Retry-After"] = str(retry_after)
        return response
    code = normalize(typed)
    found = await app[DEVICE_CODES].find(code) if code else None
    client = await app[CLIENTS].get(found.client_id) if found else None
    if found is None or client is None:
        await throttle.hit(address)
        return page(request, user_code=typed, error=WRONG_CODE, status=400)
    pending = PendingRequest(
        client_id=found.client_id,
        redirect_uri="",
        redirect_uri_given=False,
        scopes=found.scopes,
        resources=found.resources,
        state=None,
        nonce=None,
        code_challenge=None,
        prompt=(),
        max_age=None,
        sid="",
        kind=DEVICE,
        device=found.digest,
    )
    return await proceed(request, pending, None, await app[SESSIONS].current(request))
