"""The admin API's HTTP conventions, in one place: every operation authenticated (`operation`), JSON bodies read,
refusals as problem details (RFC 9457, `application/problem+json`, the member at fault in `invalid_params`), strong
ETags on what is shown and `If-Match` on what changes it (RFC 9110 sections 8.8.3 and 13.1.1)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from authorium_shared.middleware import NO_STORE
from authz.acting import control_for
from authz.admin.access import admin_client
from authz.control import BadInput, Control, ControlError, Page, client_actor, version

PROBLEM_TYPE = "application/problem+json"
Operation = Callable[[web.Request, Control], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def operation(handler: Operation) -> Handler:
    """`handler`, run for an authenticated admin client, its refusals answered as problem details."""

    @functools.wraps(handler)
    async def run(request: web.Request) -> web.StreamResponse:
        control = control_for(request, client_actor(await admin_client(request)))
        try:
            return await handler(request, control)
        except ControlError as exc:
            return problem(exc)

    return run


def problem(exc: ControlError) -> web.Response:
    """RFC 9457 section 3: `type` about:blank (the status says it all), with `invalid_params` (section 3's example
    extension) naming the member at fault."""
    body: dict[str, Any] = {"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail}
    if isinstance(exc, BadInput) and exc.field is not None:
        body["invalid_params"] = [{"name": exc.field, "reason": exc.detail}]
    return web.Response(body=orjson.dumps(body), status=exc.status, content_type=PROBLEM_TYPE, headers=NO_STORE)


def answer(body: object, *, status: int = 200, etag_of: Mapping[str, Any] | None = None) -> web.Response:
    headers = dict(NO_STORE)
    if etag_of is not None:
        headers["ETag"] = f'"{version(etag_of)}"'
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def listing(page: Page) -> web.Response:
    return answer({"items": page.items, "next_cursor": page.next_cursor})


async def json_body(request: web.Request, *, optional: bool = False) -> Any:
    """The request's JSON body; BadInput when it is not JSON (an empty body is `{}` where `optional`)."""
    raw = await request.read()
    if not raw.strip() and optional:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadInput(None, "the body must be JSON") from None


def if_match(request: web.Request) -> str | None:
    """The version `If-Match` names: None without the header, `*` for any. A weak tag never matches (RFC 9110
    section 13.1.1 compares strongly), nor does a list of more than one."""
    value = request.headers.get("If-Match")
    if value is None:
        return None
    value = value.strip()
    if value == "*":
        return "*"
    if len(value) >= 2 and value[0] == value[-1] == '"' and "," not in value:
        return value[1:-1]
    return "!"  # matches no version


def query_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 9:
        raise BadInput(name, f"{name} must be a whole number")
    return int(value)


def query_bool(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        raise BadInput(name, f"{name} must be true or false")
    return value == "true"


def query_str(request: web.Request, name: str, *, max_length: int = 200) -> str | None:
    value = request.query.get(name)
    if value is not None and (not value or len(value) > max_length or not value.isprintable()):
        raise BadInput(name, f"{name} must be 1 to {max_length} printable characters")
    return value
