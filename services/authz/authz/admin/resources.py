"""The admin API's resources (RFC 8707; DESIGN.md, "Admin API"): `/admin/v1/resources` and
`/admin/v1/resources/{resource_id}`, over `authz.resources.management`."""

from __future__ import annotations

from aiohttp import web

from authz.admin import paths
from authz.admin.http import answer, if_match, json_body, listing, operation
from authz.appkeys import RESOURCES
from authz.control import Control
from authz.resources import management


@operation
async def list_resources(request: web.Request, control: Control) -> web.Response:
    return listing(await management.list_resources(control))


@operation
async def create_resource(request: web.Request, control: Control) -> web.Response:
    created = await management.create_resource(control, await json_body(request), request.app[RESOURCES])
    view = management.resource_view(created)
    response = answer(view, status=201, etag_of=view)
    response.headers["Location"] = f"{paths.RESOURCES}/{created.resource_id}"
    return response


@operation
async def show_resource(request: web.Request, control: Control) -> web.Response:
    view = management.resource_view(await management.get_resource(control, request.match_info["resource_id"]))
    return answer(view, etag_of=view)


@operation
async def update_resource(request: web.Request, control: Control) -> web.Response:
    updated = await management.update_resource(
        control,
        request.match_info["resource_id"],
        await json_body(request),
        expected_version=if_match(request),
        cache=request.app[RESOURCES],
    )
    view = management.resource_view(updated)
    return answer(view, etag_of=view)


@operation
async def delete_resource(request: web.Request, control: Control) -> web.Response:
    await management.delete_resource(
        control, request.match_info["resource_id"], expected_version=if_match(request), cache=request.app[RESOURCES]
    )
    return web.Response(status=204)
