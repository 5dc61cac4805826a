"""The demo client's application keys."""

from __future__ import annotations

from aiohttp import web

from client_demo.api import NotesApi
from client_demo.provider import Provider
from client_demo.sessions import PendingLogins, PendingLogouts, SessionStore
from client_demo.settings import ClientDemoSettings

SETTINGS = web.AppKey("client_demo_settings", ClientDemoSettings)
PROVIDER = web.AppKey("provider", Provider)
SESSIONS = web.AppKey("sessions", SessionStore)
LOGINS = web.AppKey("pending_logins", PendingLogins)
LOGOUTS = web.AppKey("pending_logouts", PendingLogouts)
NOTES_API = web.AppKey("notes_api", NotesApi)
