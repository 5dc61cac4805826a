"""The authorization server's routes."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from authz import browser_origins
from authz.admin import add_admin_routes
from authz.appkeys import SETTINGS
from authz.endpoints import (
    account,
    account_security,
    authorize,
    client_configuration,
    consent,
    device,
    device_authorization,
    end_session,
    introspect,
    jwks,
    login,
    metadata,
    par,
    passkey,
    paths,
    register,
    revoke,
    second_factor,
    security_key,
    security_keys,
    token,
    userinfo,
)


def add_routes(app: web.Application, static: Path) -> None:
    router = app.router
    # What apps in a browser call directly (`browser_origins`).
    from_browsers = [
        router.add_get("/.well-known/oauth-authorization-server", metadata.metadata),
        router.add_get("/.well-known/openid-configuration", metadata.metadata),
        router.add_get(paths.JWKS, jwks.jwks),
        router.add_post(paths.TOKEN, token.token),
        router.add_post(paths.REVOKE, revoke.revoke),
        router.add_route("GET", paths.USERINFO, userinfo.userinfo),
        router.add_route("POST", paths.USERINFO, userinfo.userinfo),
    ]
    browser_origins.enable(app, from_browsers)
    router.add_route("GET", paths.AUTHORIZE, authorize.authorize)
    router.add_route("POST", paths.AUTHORIZE, authorize.authorize)
    router.add_post(paths.AUTHORIZE_LOGIN, login.login)
    router.add_post(paths.AUTHORIZE_CONSENT, consent.consent)
    router.add_get(paths.AUTHORIZE_SECOND_FACTOR, second_factor.page)
    router.add_post(paths.AUTHORIZE_SECOND_FACTOR, second_factor.second_factor)
    router.add_get(paths.ACCOUNT_SECURITY, account_security.page)
    router.add_post(paths.ACCOUNT_TOTP, account_security.start_totp)
    router.add_post(paths.ACCOUNT_TOTP_CONFIRM, account_security.confirm_totp)
    router.add_post(paths.ACCOUNT_TOTP_REMOVE, account_security.remove_totp)
    router.add_post(paths.ACCOUNT_RECOVERY_CODES, account_security.new_recovery_codes)
    router.add_get(paths.AUTHORIZE_CONTINUE, authorize.resume)
    router.add_route("GET", paths.END_SESSION, end_session.end_session)
    router.add_route("POST", paths.END_SESSION, end_session.end_session)
    router.add_post(paths.END_SESSION_CONFIRM, end_session.confirm)
    router.add_get(paths.ACCOUNT, account.account)
    router.add_post(paths.ACCOUNT_REMOVE_ACCESS, account.remove_access)
    router.add_post(paths.ACCOUNT_END_SESSION, account.end_session)
    router.add_post(paths.ACCOUNT_PASSWORD, account.change_password)
    router.add_post(paths.INTROSPECT, introspect.introspect)
    router.add_post(paths.DEVICE_AUTHORIZATION, device_authorization.device_authorization)
    router.add_route("GET", paths.DEVICE, device.device)
    router.add_route("POST", paths.DEVICE, device.device)
    # Passkeys and security keys (WebAuthn): the account's, as a second factor, and passwordless where enabled.
    router.add_post(paths.ACCOUNT_SECURITY_KEYS, security_keys.register)
    router.add_get(paths.ACCOUNT_SECURITY_KEYS_NEW, security_keys.new)
    router.add_get(paths.ACCOUNT_SECURITY_KEYS_REMOVE, security_keys.confirm_removal)
    router.add_post(paths.ACCOUNT_SECURITY_KEYS_REMOVE, security_keys.remove)
    router.add_get(paths.AUTHORIZE_SECURITY_KEY, security_key.page)
    router.add_post(paths.AUTHORIZE_SECURITY_KEY, security_key.security_key)
    if app[SETTINGS].passwordless:
        router.add_get(paths.AUTHORIZE_PASSKEY, passkey.page)
        router.add_post(paths.AUTHORIZE_PASSKEY, passkey.passkey)
    router.add_post(paths.PAR, par.pushed_authorization_request)
    if app[SETTINGS].registration_token is not None:
        router.add_post(paths.REGISTER, register.register)
        router.add_get(paths.CLIENT_CONFIGURATION, client_configuration.read, allow_head=False)
        router.add_put(paths.CLIENT_CONFIGURATION, client_configuration.update)
        router.add_delete(paths.CLIENT_CONFIGURATION, client_configuration.delete)
    router.add_static("/static", static)


def add_private_routes(router: web.UrlDispatcher) -> None:
    """The routes only the private listener answers (`authorium_shared.listeners`: everything under `/admin/`);
    `/readyz` and `/metrics` come with every service's `base_app`. Handlers here reach `request.app[KEY]` exactly as
    the public endpoints do: one application serves both listeners."""
    add_admin_routes(router)
