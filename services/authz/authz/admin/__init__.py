"""The admin API (DESIGN.md, "Admin API"): JSON under `/admin/v1/`, described by the OpenAPI 3.1 document at
`/admin/openapi.json`, for admin clients' Bearer tokens (`authz.admin.access`). Its handlers reach what they work
with through `request.app[...]` as public handlers do, so any listener of the authorization server can serve them."""

from __future__ import annotations

from aiohttp import web

from authz.admin import clients, openapi, paths


def add_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get(paths.OPENAPI, openapi.openapi)
    router.add_get(paths.CLIENTS, clients.list_clients)
    router.add_post(paths.CLIENTS, clients.create_client)
    router.add_get(paths.CLIENT, clients.show_client)
    router.add_patch(paths.CLIENT, clients.update_client)
    router.add_delete(paths.CLIENT, clients.delete_client)
    router.add_post(paths.CLIENT_SECRET, clients.rotate_secret)
