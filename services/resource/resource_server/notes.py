"""The notes API: `/api/me`, `/api/notes` and `/api/notes/{id}`.

Users see and change only their own notes (someone else's note is a 404, not a 403, so its existence is not
revealed). A service token (client credentials) with `notes:admin` may read any user's notes."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from authorium_shared.errors import InvalidRequest
from authorium_shared.middleware import json_response
from resource_server.access import AccessToken
from resource_server.appkeys import NOTES, VERIFIER
from resource_server.repository import Cursor

MAX_TITLE = 200
MAX_BODY = 10_000
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OWNER = 255
PRIVATE = {"Cache-Control": "no-store"}


async def _caller(request: web.Request) -> AccessToken:
    return await request.app[VERIFIER].authenticate(request)


async def me(request: web.Request) -> web.Response:
    access = await _caller(request)
    body: dict[str, Any] = {
        "sub": access.subject,
        "client_id": access.client_id,
        "scope": " ".join(sorted(access.scopes)),
        "kind": "service" if access.is_service else "user",
        # RFC 9449: whether the token is DPoP-bound, and to which key (section 6.1's `cnf`).
        "token_type": access.token_type,
    }
    if access.jkt is not None:
        body["cnf"] = {"jkt": access.jkt}
    if access.actor is not None:
        # Who acts for the user (RFC 8693 section 4.1): the calling service, and any before it in `act.act`.
        body["act"] = access.actor
    return json_response(body, headers=PRIVATE)


def _encode_cursor(cursor: Cursor) -> str:
    raw = f"{cursor.created_at.isoformat()}|{cursor.note_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(value: str) -> Cursor:
    try:
        created, note_id = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().split("|")
        created_at = datetime.fromisoformat(created)
        if created_at.tzinfo is None:
            raise ValueError("the cursors this API returns carry a UTC offset")
        # Normalised here, so an offset that pushes the time outside Postgres's range is a 400, not a 500.
        return Cursor(created_at.astimezone(UTC), uuid.UUID(note_id))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest("cursor is not one this API returned") from None


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def _owner_to_read(access: AccessToken, requested: str | None) -> str:
    if requested is None or requested == access.subject:
        return access.subject
    if access.is_service:
        access.require("notes:admin")
        # Postgres text cannot hold NUL, and no subject this server has seen is longer.
        if not 1 <= len(requested) <= MAX_OWNER or "\x00" in requested:
            raise InvalidRequest(f"owner must be a subject identifier of 1 to {MAX_OWNER} characters")
        return requested
    raise InvalidRequest("only a service token with notes:admin may read another user's notes")


async def list_notes(request: web.Request) -> web.Response:
    access = await _caller(request)
    access.require("notes:read")
    owner = _owner_to_read(access, request.query.get("owner"))
    limit = _limit(request.query.get("limit"))
    cursor = request.query.get("cursor")
    page = await request.app[NOTES].page(owner, limit, _decode_cursor(cursor) if cursor else None)
    body = {"notes": orjson.Fragment(page.notes_json), "next_cursor": _encode_cursor(page.next) if page.next else None}
    return json_response(body, headers=PRIVATE)


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise InvalidRequest("the body must be JSON (Content-Type: application/json)")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise InvalidRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def _fields(body: dict[str, Any], *, partial: bool) -> dict[str, str]:
    unknown = sorted(set(body) - {"title", "body"})
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}; a note has title and body")
    fields: dict[str, str] = {}
    if "title" in body or not partial:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            raise InvalidRequest(f"title must be a string of 1 to {MAX_TITLE} characters")
        fields["title"] = title
    if "body" in body:
        text = body["body"]
        if not isinstance(text, str) or len(text) > MAX_BODY:
            raise InvalidRequest(f"body must be a string of at most {MAX_BODY} characters")
        fields["body"] = text
    if "\x00" in "".join(fields.values()):
        raise InvalidRequest("notes cannot contain NUL characters")
    if partial and not fields:
        raise InvalidRequest("nothing to change: send title and/or body")
    return fields


async def create_note(request: web.Request) -> web.Response:
    access = await _caller(request)
    access.require("notes:write")
    fields = _fields(await _json_object(request), partial=False)
    note = await request.app[NOTES].create(access.subject, fields["title"], fields.get("body", ""))
    return json_response(note.as_json(), status=201, headers={**PRIVATE, "Location": f"/api/notes/{note.note_id}"})


def _note_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["note_id"])
    except ValueError:
        raise _not_found() from None


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text='{"error": "not_found"}', content_type="application/json")


async def read_note(request: web.Request) -> web.Response:
    access = await _caller(request)
    access.require("notes:read")
    note = await request.app[NOTES].get(_note_id(request))
    if note is None or (note.owner != access.subject and not (access.is_service and "notes:admin" in access.scopes)):
        raise _not_found()
    return json_response(note.as_json(), headers=PRIVATE)


async def update_note(request: web.Request) -> web.Response:
    access = await _caller(request)
    access.require("notes:write")
    note_id = _note_id(request)
    fields = _fields(await _json_object(request), partial=True)
    note = await request.app[NOTES].update(note_id, access.subject, fields)
    if note is None:
        raise _not_found()
    return json_response(note.as_json(), headers=PRIVATE)


async def delete_note(request: web.Request) -> web.Response:
    access = await _caller(request)
    access.require("notes:write")
    if not await request.app[NOTES].delete(_note_id(request), access.subject):
        raise _not_found()
    return web.Response(status=204)
