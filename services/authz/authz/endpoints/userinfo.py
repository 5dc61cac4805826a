"""The UserInfo endpoint (OpenID Connect Core section 5.3): claims about the signed-in user, by scope.

The access token comes in the Authorization header (RFC 6750 section 2.1) or, on POST, in the form body (section
2.2; one of the two, never both). It must name this issuer as an audience (it does when `openid` was granted) and
carry `openid`; refusals follow RFC 6750 section 3. A DPoP-bound token comes with the DPoP scheme and a proof
(RFC 9449 section 7), never as a bearer token. An app in a browser may call it from a web origin its client
registered (`browser_origins`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authorium_shared import access_tokens, dpop
from authorium_shared.bearer import BEARER, Presented, presented_token, refuse, well_formed
from authorium_shared.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from authorium_shared.jwt import TokenInvalid
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import ACCESS_TOKENS, CLIENTS, DPOP, SETTINGS, USERS
from authz.browser_origins import check_origin
from authz.forms import read_form

REALM = "authorium"
ALGS = dpop.ALGORITHMS


async def userinfo(request: web.Request) -> web.Response:
    reader, issuer = request.app[ACCESS_TOKENS], request.app[SETTINGS].issuer
    presented = await _presented_token(request)
    try:
        claims = reader.read(presented.token, audience=issuer)
        jkt = _bound_to(claims)
    except TokenInvalid as exc:
        invalid = InvalidToken(f"the access token is invalid: {exc.reason}")
        raise refuse(invalid, REALM, scheme=presented.scheme, dpop_algs=ALGS) from None
    uri = issuer + request.rel_url.raw_path
    await request.app[DPOP].check_binding(request, presented, jkt, uri=uri, realm=REALM)
    if reader.is_revoked(claims):
        raise refuse(InvalidToken("the access token was revoked"), REALM, scheme=presented.scheme, dpop_algs=ALGS)
    client = await request.app[CLIENTS].get(str(claims["client_id"]))
    if client is None:
        raise refuse(InvalidToken("the token's client no longer exists"), REALM)
    try:
        check_origin(request, client, issuer)
    except OAuthError as exc:
        raise refuse(exc, REALM) from None
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
        # OIDC Core 5.1: true only once the address was verified, and Authorium verifies none.
        body["email_verified"] = False
    return json_response(body, headers=NO_STORE)


def _bound_to(claims: dict[str, Any]) -> str | None:
    """`cnf.jkt` of one of our access tokens (RFC 9449 section 6.1), which the minter writes as a string."""
    cnf = claims.get(access_tokens.CONFIRMATION_CLAIM)
    jkt = cnf.get(access_tokens.JKT) if isinstance(cnf, dict) else None
    if cnf is not None and not isinstance(jkt, str):
        raise TokenInvalid("malformed cnf")
    return jkt


async def _presented_token(request: web.Request) -> Presented:
    """The access token: from the Authorization header, or from a POSTed form's `access_token` (RFC 6750 2.2)."""
    in_body = None
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        try:
            in_body = (await read_form(request, unchecked=("access_token",))).get("access_token")
        except OAuthError as exc:
            raise refuse(exc, REALM) from None
    if in_body is None:
        return presented_token(request, REALM, dpop_algs=ALGS)
    if "Authorization" in request.headers:
        # RFC 6750 section 2: "Clients MUST NOT use more than one method to transmit the token in each request."
        raise refuse(InvalidRequest("send the access token once: in the Authorization header or in the body"), REALM)
    return Presented(BEARER, well_formed(in_body, REALM))
