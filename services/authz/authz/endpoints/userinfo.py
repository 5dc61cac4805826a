"""The UserInfo endpoint (OpenID Connect Core section 5.3): claims about the signed-in user, by scope.

The access token must name this issuer as an audience (it does when `openid` was granted) and carry
`openid`; refusals follow RFC 6750 section 3."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authorium_shared.bearer import bearer_token, refuse
from authorium_shared.errors import InsufficientScope, InvalidToken
from authorium_shared.jwt import TokenInvalid
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import ACCESS_TOKENS, SETTINGS, USERS

REALM = "authorium"


async def userinfo(request: web.Request) -> web.Response:
    reader = request.app[ACCESS_TOKENS]
    token = bearer_token(request, REALM)
    try:
        claims = reader.read(token, audience=request.app[SETTINGS].issuer)
    except TokenInvalid as exc:
        raise refuse(InvalidToken(f"the access token is invalid: {exc.reason}"), REALM) from None
    if reader.is_revoked(claims):
        raise refuse(InvalidToken("the access token was revoked"), REALM)
    scopes = str(claims.get("scope", "")).split()
    if "openid" not in scopes:
        raise refuse(InsufficientScope("the openid scope is required"), REALM, scope="openid")
    user = await request.app[USERS].get_by_subject(str(claims["sub"]))
    if user is None:
        raise refuse(InvalidToken("the token's user no longer exists"), REALM)
    body: dict[str, Any] = {"sub": str(user.user_id)}
    if "profile" in scopes:
        body["preferred_username"] = user.username
        if user.name:
            body["name"] = user.name
    if "email" in scopes and user.email:
        body["email"] = user.email
    return json_response(body, headers=NO_STORE)
