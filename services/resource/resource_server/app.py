"""The resource server's application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from aiohttp import web

from authorium_shared.resources import event_feed
from authorium_shared.service import base_app
from resource_server import contexts, notes, openapi
from resource_server.appkeys import SETTINGS
from resource_server.settings import ResourceSettings

SERVICE = "resource"
# A note is at most 10,000 characters (40 KB of UTF-8) plus its title: bodies beyond this are refused (413).
MAX_BODY_BYTES = 64 * 1024


def create_app(settings: ResourceSettings) -> web.Application:
    app = base_app(SERVICE, settings.common, max_body=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(asynccontextmanager(contexts.revocations))
    # Serve once the revocation list is loaded, or after a short wait (then requests fail closed until it is).
    app.cleanup_ctx.append(event_feed(start_wait=settings.revocation_max_staleness))
    app.cleanup_ctx.append(asynccontextmanager(contexts.verifier))
    app.cleanup_ctx.append(asynccontextmanager(contexts.notes))
    app.router.add_get("/openapi.json", openapi.openapi)
    app.router.add_get("/api/me", notes.me)
    app.router.add_get("/api/notes", notes.list_notes)
    app.router.add_post("/api/notes", notes.create_note)
    app.router.add_get("/api/notes/{note_id}", notes.read_note)
    app.router.add_patch("/api/notes/{note_id}", notes.update_note)
    app.router.add_delete("/api/notes/{note_id}", notes.delete_note)
    return app
