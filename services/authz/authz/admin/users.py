"""The admin API's users, their grants and consents (DESIGN.md, "Admin API"): `/admin/v1/users...` and
`/admin/v1/grants/{grant_id}`, over `authz.users.management`."""

from __future__ import annotations

from aiohttp import web

from authz.admin import paths
from authz.admin.http import answer, if_match, json_body, listing, operation, query_int, query_str
from authz.control import Control
from authz.factors import management as factors
from authz.users import management


@operation
async def list_users(request: web.Request, control: Control) -> web.Response:
    page = await management.list_users(
        control.pool,
        cursor=query_str(request, "cursor", max_length=1000),
        limit=query_int(request, "limit"),
        username=query_str(request, "username"),
    )
    return listing(page)


@operation
async def create_user(request: web.Request, control: Control) -> web.Response:
    view = management.user_view(await management.create_user(control, await json_body(request)))
    response = answer(view, status=201, etag_of=view)
    response.headers["Location"] = f"{paths.USERS}/{view['user_id']}"
    return response


@operation
async def show_user(request: web.Request, control: Control) -> web.Response:
    view = management.user_view(await management.get_user(control.pool, request.match_info["user_id"]))
    return answer(view, etag_of=view)


@operation
async def update_user(request: web.Request, control: Control) -> web.Response:
    user = await management.update_user(
        control, request.match_info["user_id"], await json_body(request), expected_version=if_match(request)
    )
    view = management.user_view(user)
    return answer(view, etag_of=view)


@operation
async def delete_user(request: web.Request, control: Control) -> web.Response:
    await management.delete_user(control, request.match_info["user_id"], expected_version=if_match(request))
    return web.Response(status=204)


@operation
async def sign_out(request: web.Request, control: Control) -> web.Response:
    revoked = await management.sign_out(control, request.match_info["user_id"])
    return answer({"grants_revoked": revoked})


@operation
async def list_grants(request: web.Request, control: Control) -> web.Response:
    page = await management.list_grants(
        control.pool,
        request.match_info["user_id"],
        cursor=query_str(request, "cursor", max_length=1000),
        limit=query_int(request, "limit"),
    )
    return listing(page)


@operation
async def revoke_grant(request: web.Request, control: Control) -> web.Response:
    await management.revoke_grant(control, request.match_info["grant_id"])
    return web.Response(status=204)


@operation
async def list_consents(request: web.Request, control: Control) -> web.Response:
    page = await management.list_consents(
        control.pool,
        request.match_info["user_id"],
        cursor=query_str(request, "cursor", max_length=1000),
        limit=query_int(request, "limit"),
    )
    return listing(page)


@operation
async def withdraw_consent(request: web.Request, control: Control) -> web.Response:
    await management.withdraw_consent(control, request.match_info["user_id"], request.match_info["client_id"])
    return web.Response(status=204)


@operation
async def list_factors(request: web.Request, control: Control) -> web.Response:
    return listing(await factors.list_factors(control.pool, request.match_info["user_id"]))


@operation
async def reset_factors(request: web.Request, control: Control) -> web.Response:
    await factors.reset_factors(control, request.match_info["user_id"])
    return web.Response(status=204)


@operation
async def remove_factor(request: web.Request, control: Control) -> web.Response:
    await factors.remove_factor(control, request.match_info["user_id"], request.match_info["factor_id"])
    return web.Response(status=204)
