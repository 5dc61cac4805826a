"""The admin API's signing keys (DESIGN.md, "Admin API"): `GET /admin/v1/keys` and `POST /admin/v1/keys/rotate`,
the same rules as `authorium keys list|rotate` (`authz.signing.management`)."""

from __future__ import annotations

from aiohttp import web

from authz.admin.http import answer, json_body, operation
from authz.control import BadInput, Control
from authz.signing import management


@operation
async def list_keys(request: web.Request, control: Control) -> web.Response:
    return answer({"items": await management.list_keys(control.pool, control.settings), "next_cursor": None})


@operation
async def rotate_keys(request: web.Request, control: Control) -> web.Response:
    """The body may name the algorithms to rotate (`{"algs": ["ES256"]}`); by default, all."""
    body = await json_body(request, optional=True)
    if not isinstance(body, dict):
        raise BadInput(None, 'the body is {"algs": [...]}, or empty')
    for name in body:
        if name != "algs":
            raise BadInput(name, f'{name} is not a member this accepts (the body is {{"algs": [...]}})')
    algs = body.get("algs")
    if algs is not None and (not isinstance(algs, list) or not algs or not all(isinstance(a, str) for a in algs)):
        raise BadInput("algs", "algs must be a non-empty array of algorithm names")
    plans = await management.rotate_keys(control, algs)
    return answer({"rotated": [management.plan_view(p) for p in plans]})
