"""The admin API's clients (DESIGN.md, "Admin API"): `/admin/v1/clients` and `/admin/v1/clients/{client_id}`,
over `authz.clients.management`."""

from __future__ import annotations

from aiohttp import web

from authz.admin import paths
from authz.admin.http import answer, if_match, json_body, listing, operation, query_bool, query_int, query_str
from authz.clients import management
from authz.control import BadInput, Control


@operation
async def list_clients(request: web.Request, control: Control) -> web.Response:
    page = await management.list_clients(
        control.pool,
        cursor=query_str(request, "cursor", max_length=1000),
        limit=query_int(request, "limit"),
        name=query_str(request, "name"),
        disabled=query_bool(request, "disabled"),
    )
    return listing(page)


@operation
async def create_client(request: web.Request, control: Control) -> web.Response:
    client, secret = await management.create_client(control, await json_body(request))
    view = management.client_view(client)
    body = {**view, "client_secret": secret} if secret is not None else view
    response = answer(body, status=201, etag_of=view)
    response.headers["Location"] = f"{paths.CLIENTS}/{client.client_id}"
    return response


@operation
async def show_client(request: web.Request, control: Control) -> web.Response:
    view = management.client_view(await management.get_client(control.pool, request.match_info["client_id"]))
    return answer(view, etag_of=view)


@operation
async def update_client(request: web.Request, control: Control) -> web.Response:
    client = await management.update_client(
        control, request.match_info["client_id"], await json_body(request), expected_version=if_match(request)
    )
    view = management.client_view(client)
    return answer(view, etag_of=view)


@operation
async def delete_client(request: web.Request, control: Control) -> web.Response:
    await management.delete_client(control, request.match_info["client_id"], expected_version=if_match(request))
    return web.Response(status=204)


@operation
async def rotate_secret(request: web.Request, control: Control) -> web.Response:
    body = await json_body(request, optional=True)
    if not isinstance(body, dict):
        raise BadInput(None, 'the body is {"overlap": seconds}, or empty')
    for name in body:
        if name != "overlap":
            raise BadInput(name, f'{name} is not a member this accepts (the body is {{"overlap": seconds}})')
    secret = await management.rotate_secret(control, request.match_info["client_id"], overlap=body.get("overlap", 0))
    return answer({"client_secret": secret})
