"""The admin API described as OpenAPI 3.1, served at `/admin/openapi.json`: every path, body and answer."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authorium_shared.keys import ALGORITHMS
from authorium_shared.middleware import json_response
from authz.admin import paths
from authz.admin.http import PROBLEM_TYPE
from authz.appkeys import SETTINGS
from authz.clients.authentication import AUTH_METHODS
from authz.clients.management import MAX_SECRET_OVERLAP
from authz.clients.registration import ACCESS_TOKEN_TTL_RANGE, REFRESH_TOKEN_TTL_RANGE
from authz.control import MAX_LIMIT
from authz.grants import GRANT_TYPES
from authz.scopes import ADMIN_SCOPE
from authz.settings import AuthzSettings


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, *, etag: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if etag:
        answer["headers"] = {"ETag": {"$ref": "#/components/headers/ETag"}}
    return answer


def _body(name: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(name)}}}


_DESCRIBED = {
    "400": "bad input: RFC 9457 problem details, `invalid_params` naming the member at fault; nothing was written",
    "404": "no such record",
    "409": "conflicts with what is stored (a username taken; a key rotation too early; a resource's identifier or scope"
    " taken; a built-in resource)",
    "412": "`If-Match` is not the current ETag: the record changed since it was read; nothing was written",
}


def _operation(summary: str, ok: dict[str, dict[str, Any]], *problems: str, **extra: Any) -> dict[str, Any]:
    responses: dict[str, Any] = dict(ok)
    for code in problems:
        responses[code] = {
            "description": _DESCRIBED[code],
            "content": {PROBLEM_TYPE: {"schema": _ref("Problem")}},
        }
    responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
    responses["403"] = {"$ref": "#/components/responses/Forbidden"}
    return {"summary": summary, "responses": responses, **extra}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema or {"type": "string"}}


_PAGE = [
    _query("limit", f"items per page (default 50, at most {MAX_LIMIT})", {"type": "integer", "minimum": 1}),
    _query("cursor", "`next_cursor` of the previous page"),
]
_IF_MATCH = {"$ref": "#/components/parameters/IfMatch"}
_NO_CONTENT = {"204": {"description": "done"}}


def _listing(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next_cursor": {"type": ["string", "null"], "description": "null on the last page"},
        },
    }


_STRINGS = {"type": "array", "items": {"type": "string"}}
_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _client_members() -> dict[str, Any]:
    low, high = ACCESS_TOKEN_TTL_RANGE
    rlow, rhigh = REFRESH_TOKEN_TTL_RANGE
    return {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "redirect_uris": _STRINGS,
        "grant_types": {"type": "array", "items": {"enum": list(GRANT_TYPES)}},
        "scopes": _STRINGS,
        "access_token_ttl": {
            "type": ["integer", "null"],
            "minimum": low,
            "maximum": high,
            "description": "seconds; null for the server's, and never longer than it",
        },
        "refresh_token_ttl": {"type": ["integer", "null"], "minimum": rlow, "maximum": rhigh},
        "id_token_signed_response_alg": {"enum": list(ALGORITHMS)},
        "token_endpoint_auth_method": {"enum": list(AUTH_METHODS)},
        "introspect": {
            "type": "boolean",
            "description": "may introspect any token of this issuer (RFC 7662 section 2.1); never a public client",
        },
        "post_logout_redirect_uris": {
            **_STRINGS,
            "description": "where a person may be sent after signing out (RP-Initiated Logout 1.0 section 3.1)",
        },
        "backchannel_logout_uri": {
            "type": ["string", "null"],
            "format": "uri",
            "description": "where logout tokens are POSTed (Back-Channel Logout 1.0 section 2.2)",
        },
        "backchannel_logout_session_required": {"type": "boolean", "description": "logout tokens must carry sid"},
        "jwks": {
            "type": ["object", "null"],
            "description": "the public keys of a private_key_jwt client, a JWK Set (RFC 7591 section 2)",
        },
        "jwks_uri": {"type": ["string", "null"], "format": "uri", "description": "or where its JWK Set is fetched"},
        "dpop_bound_access_tokens": {
            "type": "boolean",
            "description": "its access tokens must be DPoP-bound (RFC 9449 section 5.2)",
        },
        "may_exchange_for": {
            **_STRINGS,
            "description": "registered resources it may exchange a user's token towards (RFC 8693): operator policy;"
            " each must be a registered resource's identifier, never the admin API's (400 naming this member)",
        },
        "require_pushed_authorization_requests": {
            "type": "boolean",
            "description": "only pushed authorization requests (RFC 9126 section 6)",
        },
    }


def _schemas() -> dict[str, Any]:
    client_members = _client_members()
    resource_members = {
        "identifier": {
            "type": "string",
            "format": "uri",
            "description": "an absolute URI without a fragment (RFC 8707 section 2): tokens' `aud`",
        },
        "scopes": {**_STRINGS, "description": "the scopes it declares; each belongs to one resource only"},
        "name": {"type": ["string", "null"], "maxLength": 200, "description": "shown on the consent page"},
        "access_token_ttl": {
            "type": ["integer", "null"],
            "minimum": 30,
            "maximum": 86400,
            "description": "seconds; null for the server's, and never longer than it",
        },
    }
    user_members = {
        "name": {"type": ["string", "null"], "maxLength": 200},
        "email": {"type": ["string", "null"], "maxLength": 200},
    }
    client = {
        "type": "object",
        "properties": {
            "client_id": {"type": "string"},
            **client_members,
            "public": {"type": "boolean"},
            "disabled": {"type": "boolean"},
            "created_at": _TIME,
            "previous_secret_expires_at": {
                **_MAYBE_TIME,
                "description": "while the secret replaced by a rotation with an overlap still works",
            },
        },
    }
    return {
        "Problem": {
            "description": "RFC 9457 problem details",
            "type": "object",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "invalid_params": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "reason": {"type": "string"}},
                    },
                },
            },
        },
        "BearerError": {
            "description": "RFC 6750 section 3: also in the WWW-Authenticate header",
            "type": "object",
            "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
        },
        "Client": client,
        "NewClient": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                **client_members,
                "public": {"type": "boolean", "description": "a public client: no secret (PKCE)"},
            },
        },
        "CreatedClient": {
            "allOf": [client],
            "properties": {
                "client_secret": {"type": "string", "description": "shown only now; absent for a public client"}
            },
        },
        "ClientChange": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **client_members,
                "disabled": {
                    "type": "boolean",
                    "description": "true disables: the client cannot authenticate and its tokens are revoked",
                },
            },
        },
        "SecretRotation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "overlap": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_SECRET_OVERLAP,
                    "description": "seconds the old secret keeps working (default 0)",
                }
            },
        },
        "Secret": {"type": "object", "properties": {"client_secret": {"type": "string"}}},
        "User": {
            "type": "object",
            "properties": {
                "user_id": {"type": "string", "format": "uuid"},
                "username": {"type": "string"},
                **user_members,
                "disabled": {"type": "boolean"},
                "created_at": _TIME,
            },
        },
        "NewUser": {
            "type": "object",
            "additionalProperties": False,
            "required": ["username", "password"],
            "properties": {
                "username": {"type": "string", "pattern": "^[A-Za-z0-9._@+-]{1,100}$"},
                "password": {"type": "string", "minLength": 8, "maxLength": 1024},
                **user_members,
            },
        },
        "UserChange": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **user_members,
                "password": {"type": "string", "minLength": 8, "maxLength": 1024, "description": "sets it"},
                "disabled": {
                    "type": "boolean",
                    "description": "true disables: no sign-in; grants revoked, sessions ended",
                },
            },
        },
        "SignedOut": {"type": "object", "properties": {"grants_revoked": {"type": "integer"}}},
        "Grant": {
            "type": "object",
            "properties": {
                "grant_id": {"type": "string", "format": "uuid"},
                "client_id": {"type": "string"},
                "client_name": {"type": "string"},
                "scopes": _STRINGS,
                "created_at": _TIME,
                "last_used_at": _MAYBE_TIME,
                "expires_at": _TIME,
            },
        },
        "Consent": {
            "type": "object",
            "properties": {
                "client_id": {"type": "string"},
                "client_name": {"type": "string"},
                "scopes": _STRINGS,
                "granted_at": _TIME,
                "updated_at": _TIME,
            },
        },
        "AuditEvent": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "occurred_at": _TIME,
                "type": {"type": "string"},
                "client_id": {"type": ["string", "null"]},
                "user_id": {"type": ["string", "null"]},
                "remote_addr": {"type": ["string", "null"]},
                "request_id": {"type": ["string", "null"]},
                "details": {"type": "object", "description": "`actor` names who made a change: cli or client:<id>"},
            },
        },
        "Key": {
            "type": "object",
            "properties": {
                "kid": {"type": "string"},
                "alg": {"enum": list(ALGORITHMS)},
                "state": {"enum": ["next", "current", "retired"]},
                "created_at": _TIME,
                "activated_at": _MAYBE_TIME,
                "retired_at": _MAYBE_TIME,
            },
        },
        "KeyRotation": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"algs": {"type": "array", "minItems": 1, "items": {"enum": list(ALGORITHMS)}}},
        },
        "Rotated": {
            "type": "object",
            "properties": {
                "rotated": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "alg": {"type": "string"},
                            "promoted": {"type": ["string", "null"]},
                            "retired": {"type": ["string", "null"]},
                            "removed": _STRINGS,
                        },
                    },
                }
            },
        },
        "Resource": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                **resource_members,
                "built_in": {"type": "boolean", "description": "the admin API's entry: not changed through the API"},
                "created_at": _MAYBE_TIME,
                "updated_at": _MAYBE_TIME,
            },
        },
        "NewResource": {
            "type": "object",
            "additionalProperties": False,
            "required": ["identifier", "scopes"],
            "properties": resource_members,
        },
        "ResourceChange": {"type": "object", "additionalProperties": False, "properties": resource_members},
        "Factor": {
            "type": "object",
            "required": ["factor_id", "type", "created_at"],
            "properties": {
                "factor_id": {"type": "string"},
                "type": {
                    "type": "string",
                    "description": "`totp` (an authenticator app), `webauthn` (a passkey or security key)",
                },
                "label": {"type": ["string", "null"]},
                "created_at": _TIME,
                "last_used_at": _MAYBE_TIME,
                "recovery_codes_left": {
                    "type": "integer",
                    "description": "`totp`: the unused recovery codes that stand in for the app",
                },
                "transports": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "`webauthn`: how the browser reaches the authenticator (usb, nfc, internal, ...)",
                },
                "synced": {
                    "type": "boolean",
                    "description": "`webauthn`: a synced passkey (backup eligible) rather than a device-bound key",
                },
            },
        },
        **{
            f"{item}List": _listing(item)
            for item in ("Client", "User", "Grant", "Consent", "AuditEvent", "Key", "Resource", "Factor")
        },
    }


def _paths() -> dict[str, Any]:
    client_id = _path_param("client_id", "the client's id")
    user_id = _path_param("user_id", "the user's id (a UUID)")
    return {
        paths.CLIENTS: {
            "get": _operation(
                "List clients in client_id order",
                {"200": _json(_ref("ClientList"), "a page of clients")},
                "400",
                parameters=[
                    *_PAGE,
                    _query("name", "only clients whose name contains this (any case)"),
                    _query("disabled", "only disabled (true) or enabled (false) clients", {"type": "boolean"}),
                ],
            ),
            "post": _operation(
                "Register a client",
                {"201": _json(_ref("CreatedClient"), "the client, with its secret (shown only now)", etag=True)},
                "400",
                requestBody=_body("NewClient"),
            ),
        },
        paths.CLIENT: {
            "parameters": [client_id],
            "get": _operation("Show a client", {"200": _json(_ref("Client"), "the client", etag=True)}, "404"),
            "patch": _operation(
                'Change a client; {"disabled": true} disables it, false enables it',
                {"200": _json(_ref("Client"), "the client as changed", etag=True)},
                "400",
                "404",
                "412",
                parameters=[_IF_MATCH],
                requestBody=_body("ClientChange"),
            ),
            "delete": _operation(
                "Delete a client: its grants and tokens are revoked, its consents removed",
                _NO_CONTENT,
                "404",
                "412",
                parameters=[_IF_MATCH],
            ),
        },
        paths.CLIENT_SECRET: {
            "parameters": [client_id],
            "post": _operation(
                "Rotate a confidential client's secret",
                {"200": _json(_ref("Secret"), "the new secret (shown only now)")},
                "400",
                "404",
                requestBody=_body("SecretRotation", required=False),
            ),
        },
        paths.RESOURCES: {
            "get": _operation(
                "List the resources (RFC 8707): the built-in ones first; one page",
                {"200": _json(_ref("ResourceList"), "every resource")},
            ),
            "post": _operation(
                "Register an API as a resource",
                {"201": _json(_ref("Resource"), "the resource", etag=True)},
                "400",
                "409",
                requestBody=_body("NewResource"),
            ),
        },
        paths.RESOURCE: {
            "parameters": [_path_param("resource_id", "the resource's id")],
            "get": _operation("Show a resource", {"200": _json(_ref("Resource"), "the resource", etag=True)}, "404"),
            "patch": _operation(
                "Change a resource's identifier, scopes, name or token lifetime",
                {"200": _json(_ref("Resource"), "the resource as changed", etag=True)},
                "400",
                "404",
                "409",
                "412",
                parameters=[_IF_MATCH],
                requestBody=_body("ResourceChange"),
            ),
            "delete": _operation(
                "Remove a resource; tokens already issued for it live out their lifetime",
                _NO_CONTENT,
                "404",
                "409",
                "412",
                parameters=[_IF_MATCH],
            ),
        },
        paths.USERS: {
            "get": _operation(
                "List users in username order",
                {"200": _json(_ref("UserList"), "a page of users")},
                "400",
                parameters=[*_PAGE, _query("username", "only users whose username contains this (any case)")],
            ),
            "post": _operation(
                "Create a user",
                {"201": _json(_ref("User"), "the user", etag=True)},
                "400",
                "409",
                requestBody=_body("NewUser"),
            ),
        },
        paths.USER: {
            "parameters": [user_id],
            "get": _operation("Show a user", {"200": _json(_ref("User"), "the user", etag=True)}, "404"),
            "patch": _operation(
                'Change a user\'s name, email or password, or disable ({"disabled": true}) or enable them',
                {"200": _json(_ref("User"), "the user as changed", etag=True)},
                "400",
                "404",
                "412",
                parameters=[_IF_MATCH],
                requestBody=_body("UserChange"),
            ),
            "delete": _operation(
                "Delete a user, with their grants (revoked), consents and sessions",
                _NO_CONTENT,
                "404",
                "412",
                parameters=[_IF_MATCH],
            ),
        },
        paths.USER_SIGN_OUT: {
            "parameters": [user_id],
            "post": _operation(
                "Sign a user out everywhere: sessions end, grants (and their refresh tokens) are revoked",
                {"200": _json(_ref("SignedOut"), "how many grants were revoked")},
                "404",
            ),
        },
        paths.USER_GRANTS: {
            "parameters": [user_id],
            "get": _operation(
                "A user's grants in force, newest first",
                {"200": _json(_ref("GrantList"), "a page of grants")},
                "400",
                "404",
                parameters=_PAGE,
            ),
        },
        paths.USER_CONSENTS: {
            "parameters": [user_id],
            "get": _operation(
                "What a user has consented to, by client",
                {"200": _json(_ref("ConsentList"), "a page of consents")},
                "400",
                "404",
                parameters=_PAGE,
            ),
        },
        paths.USER_CONSENT: {
            "parameters": [user_id, client_id],
            "delete": _operation(
                "Withdraw a user's consent to a client; the client's grants from the user are revoked",
                _NO_CONTENT,
                "404",
            ),
        },
        paths.USER_FACTORS: {
            "parameters": [user_id],
            "get": _operation(
                "A user's second factors (authenticator app; security keys), oldest first, in one page",
                {"200": _json(_ref("FactorList"), "the user's second factors")},
                "404",
            ),
            "delete": _operation(
                "Reset a user's second factors: every one is removed, with the recovery codes; they sign in with the"
                " password alone until they set up a new one",
                _NO_CONTENT,
                "404",
            ),
        },
        paths.USER_FACTOR: {
            "parameters": [user_id, _path_param("factor_id", "the factor's id (a UUID)")],
            "delete": _operation("Remove one of a user's second factors", _NO_CONTENT, "404"),
        },
        paths.GRANT: {
            "parameters": [_path_param("grant_id", "the grant's id (a UUID)")],
            "delete": _operation(
                "Revoke a grant: its refresh tokens stop at once, its access tokens within a second",
                _NO_CONTENT,
                "404",
            ),
        },
        paths.AUDIT_EVENTS: {
            "get": _operation(
                "Audit events, newest first",
                {"200": _json(_ref("AuditEventList"), "a page of events")},
                "400",
                parameters=[
                    *_PAGE,
                    _query(
                        "since", "from this RFC 3339 date-time (inclusive)", {"type": "string", "format": "date-time"}
                    ),
                    _query("until", "before this RFC 3339 date-time", _TIME),
                    _query("type", "only events of this type, e.g. client_disabled"),
                    _query("user", "only events about this user id", {"type": "string", "format": "uuid"}),
                    _query("client", "only events about this client id"),
                ],
            ),
        },
        paths.KEYS: {
            "get": _operation("The signing keys and their states", {"200": _json(_ref("KeyList"), "every key")}),
        },
        paths.KEYS_ROTATE: {
            "post": _operation(
                "Rotate signing keys, as `authorium keys rotate` does",
                {"200": _json(_ref("Rotated"), "what changed")},
                "400",
                "409",
                requestBody=_body("KeyRotation", required=False),
            ),
        },
    }


def build_document(settings: AuthzSettings) -> dict[str, Any]:
    bearer_challenge = {
        "description": "RFC 6750 section 3 challenge",
        "schema": {"type": "string"},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Authorium admin API",
            "version": "1.0.0",
            "description": (
                f"Manage clients, users, grants, consents, audit events and signing keys. Authenticate with a Bearer"
                f" access token from the client credentials grant with scope `{ADMIN_SCOPE}`, whose audience is"
                f" {settings.admin_url}."
            ),
        },
        "servers": [{"url": settings.admin_url}],
        "security": [{"bearer": [ADMIN_SCOPE]}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": _schemas(),
            "parameters": {
                "IfMatch": {
                    "name": "If-Match",
                    "in": "header",
                    "description": "the ETag last read: the change is made only if it is still current (else 412)",
                    "schema": {"type": "string"},
                }
            },
            "headers": {"ETag": {"description": "the version of what is shown", "schema": {"type": "string"}}},
            "responses": {
                "Unauthorized": {
                    "description": "no token, or an invalid, expired, revoked or foreign one (invalid_token)",
                    "headers": {"WWW-Authenticate": bearer_challenge},
                    "content": {"application/json": {"schema": _ref("BearerError")}},
                },
                "Forbidden": {
                    "description": f"insufficient_scope: the token lacks {ADMIN_SCOPE}",
                    "headers": {"WWW-Authenticate": bearer_challenge},
                    "content": {"application/json": {"schema": _ref("BearerError")}},
                },
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return json_response(build_document(request.app[SETTINGS]))
