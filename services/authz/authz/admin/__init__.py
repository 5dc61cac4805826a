"""The admin API (DESIGN.md, "Admin API"): JSON under `/admin/v1/`, described by the OpenAPI 3.1 document at
`/admin/openapi.json`, for admin clients' Bearer tokens (`authz.admin.access`). Its handlers reach what they work
with through `request.app[...]` as public handlers do, so any listener of the authorization server can serve them."""

from __future__ import annotations

from aiohttp import web

from authz.admin import audit_events, clients, openapi, paths, resources, signing_keys, users


def add_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get(paths.OPENAPI, openapi.openapi)
    router.add_get(paths.CLIENTS, clients.list_clients)
    router.add_post(paths.CLIENTS, clients.create_client)
    router.add_get(paths.CLIENT, clients.show_client)
    router.add_patch(paths.CLIENT, clients.update_client)
    router.add_delete(paths.CLIENT, clients.delete_client)
    router.add_post(paths.CLIENT_SECRET, clients.rotate_secret)
    router.add_get(paths.USERS, users.list_users)
    router.add_post(paths.USERS, users.create_user)
    router.add_get(paths.USER, users.show_user)
    router.add_patch(paths.USER, users.update_user)
    router.add_delete(paths.USER, users.delete_user)
    router.add_post(paths.USER_SIGN_OUT, users.sign_out)
    router.add_get(paths.USER_GRANTS, users.list_grants)
    router.add_get(paths.USER_CONSENTS, users.list_consents)
    router.add_delete(paths.USER_CONSENT, users.withdraw_consent)
    router.add_get(paths.USER_FACTORS, users.list_factors)
    router.add_delete(paths.USER_FACTORS, users.reset_factors)
    router.add_delete(paths.USER_FACTOR, users.remove_factor)
    router.add_delete(paths.GRANT, users.revoke_grant)
    router.add_get(paths.RESOURCES, resources.list_resources)
    router.add_post(paths.RESOURCES, resources.create_resource)
    router.add_get(paths.RESOURCE, resources.show_resource)
    router.add_patch(paths.RESOURCE, resources.update_resource)
    router.add_delete(paths.RESOURCE, resources.delete_resource)
    router.add_get(paths.AUDIT_EVENTS, audit_events.list_audit_events)
    router.add_get(paths.KEYS, signing_keys.list_keys)
    router.add_post(paths.KEYS_ROTATE, signing_keys.rotate_keys)
