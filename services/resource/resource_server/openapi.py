"""The notes API described as OpenAPI 3.1, served at `/openapi.json`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from authorium_shared.middleware import json_response
from resource_server.appkeys import SETTINGS
from resource_server.notes import MAX_BODY, MAX_LIMIT, MAX_TITLE
from resource_server.settings import ResourceSettings

_ERROR = {"$ref": "#/components/schemas/Error"}


def _responses(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    described = {
        "400": "invalid_request: the body or a parameter is wrong (the description says which)",
        "401": "invalid_token, or no token (WWW-Authenticate: Bearer)",
        "403": "insufficient_scope (WWW-Authenticate names the scope needed)",
        "404": "no such note for this caller",
        "503": "revocation status unknown; retry",
    }
    result = dict(ok)
    for code in codes:
        result[code] = {"description": described[code], "content": {"application/json": {"schema": _ERROR}}}
    return result


def build_document(settings: ResourceSettings) -> dict[str, Any]:
    note_id = {"name": "note_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
    note = {
        "description": "the note",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Note"}}},
    }
    new = {"$ref": "#/components/schemas/NewNote"}
    change = {"$ref": "#/components/schemas/NoteInput"}
    common = ("401", "403", "503")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Authorium notes API", "version": "1.0.0"},
        "servers": [{"url": settings.resource_url}],
        "security": [{"bearer": []}, {"dpop": []}],
        "paths": {
            "/api/me": {
                "get": {
                    "summary": "Who the access token is for",
                    "responses": _responses(
                        {
                            "200": {
                                "description": "the caller: sub, client_id, scope, kind (user or service), and act"
                                " (who acts for the user, RFC 8693 section 4.1) when the token came from a token"
                                " exchange"
                            }
                        },
                        *common,
                    ),
                }
            },
            "/api/notes": {
                "get": {
                    "summary": "List notes, newest first (scope notes:read)",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                        {
                            "name": "owner",
                            "in": "query",
                            "description": "service tokens with notes:admin only",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": _responses(
                        {"200": {"description": "a page of notes and next_cursor"}}, "400", *common
                    ),
                },
                "post": {
                    "summary": "Create a note (scope notes:write)",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": new}}},
                    "responses": _responses({"201": note}, "400", *common),
                },
            },
            "/api/notes/{note_id}": {
                "parameters": [note_id],
                "get": {"summary": "Read a note (notes:read)", "responses": _responses({"200": note}, "404", *common)},
                "patch": {
                    "summary": "Change a note's title and/or body (notes:write)",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": change}}},
                    "responses": _responses({"200": note}, "400", "404", *common),
                },
                "delete": {
                    "summary": "Delete a note (notes:write)",
                    "responses": _responses({"204": {"description": "deleted"}}, "404", *common),
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                # RFC 9449 section 7.1: a DPoP-bound token, with a DPoP proof header on every request.
                "dpop": {"type": "http", "scheme": "DPoP", "bearerFormat": "JWT"},
            },
            "schemas": {
                # A new note needs a title; a change needs at least one of the two.
                "NewNote": {"allOf": [{"$ref": "#/components/schemas/NoteInput"}], "required": ["title"]},
                "NoteInput": {
                    "type": "object",
                    "additionalProperties": False,
                    "minProperties": 1,
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                        "body": {"type": "string", "maxLength": MAX_BODY},
                    },
                },
                "Note": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "owner": {"type": "string"},
                        "title": {"type": "string"},
                        "body": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
                },
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    return json_response(build_document(request.app[SETTINGS]))
