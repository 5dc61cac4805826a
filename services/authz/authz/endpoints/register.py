"""Dynamic client registration (RFC 7591), open only to holders of the operator's initial access token
(section 3, AUTHORIUM_REGISTRATION_TOKEN). The rules are the CLI's (`authz.clients.registration.build_spec`)."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web

from authorium_shared.appkeys import PG_POOL
from authorium_shared.bearer import bearer_token, refuse
from authorium_shared.errors import InvalidClientMetadata, InvalidToken
from authorium_shared.middleware import NO_STORE, json_response
from authz.appkeys import SETTINGS
from authz.clients.registration import build_spec, register_client

REALM = "authorium-registration"
DEFAULT_NAME = "Unnamed client"


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidClientMetadata(f"{name} must be a string")
    return value


def _strings(body: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = body.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return value


async def register(request: web.Request) -> web.Response:
    expected = request.app[SETTINGS].registration_token
    presented = bearer_token(request, REALM)
    if expected is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise refuse(InvalidToken("the initial access token is not valid"), REALM)
    if request.content_type != "application/json":
        raise InvalidClientMetadata("the body must be a JSON object (application/json)")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise InvalidClientMetadata("the body is not valid JSON") from None
    except web.HTTPRequestEntityTooLarge:
        # Section 3.2.2's JSON error rather than aiohttp's plain text, with the status that says what is wrong.
        raise InvalidClientMetadata("the body is too large", status=413) from None
    if not isinstance(body, dict):
        raise InvalidClientMetadata("the body must be a JSON object")

    grant_types = _strings(body, "grant_types", ["authorization_code"])
    response_types = _strings(body, "response_types", ["code"] if "authorization_code" in grant_types else [])
    # Section 2.1: response types and grant types must agree.
    if response_types not in ([], ["code"]) or (response_types == ["code"]) != ("authorization_code" in grant_types):
        raise InvalidClientMetadata('response_types must be ["code"] exactly when authorization_code is used')
    method = _string(body, "token_endpoint_auth_method") or "client_secret_basic"
    spec = build_spec(
        name=_string(body, "client_name") or DEFAULT_NAME,
        grant_types=grant_types,
        redirect_uris=_strings(body, "redirect_uris", []),
        scope=_string(body, "scope"),
        public=method == "none",
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=_string(body, "id_token_signed_response_alg") or "RS256",
    )
    client, secret = await register_client(request.app[PG_POOL], spec)
    answer: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": " ".join(client.scopes),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
    }
    if secret is not None:
        answer["client_secret"] = secret
        answer["client_secret_expires_at"] = 0
    return json_response(answer, status=201, headers=NO_STORE)
