"""The resource server's application keys."""

from __future__ import annotations

from aiohttp import web

from resource_server.access import Verifier
from resource_server.repository import NoteRepository
from resource_server.settings import ResourceSettings

SETTINGS = web.AppKey("resource_settings", ResourceSettings)
VERIFIER = web.AppKey("verifier", Verifier)
NOTES = web.AppKey("notes", NoteRepository)
