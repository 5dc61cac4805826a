"""The demo client's application keys."""

from __future__ import annotations

from aiohttp import web

from client_demo.settings import ClientDemoSettings

SETTINGS = web.AppKey("client_demo_settings", ClientDemoSettings)
