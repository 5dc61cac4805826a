"""The authorization server's application keys."""

from __future__ import annotations

from aiohttp import web

from authz.components import Components
from authz.keys import KeyRing
from authz.settings import AuthzSettings

SETTINGS = web.AppKey("authz_settings", AuthzSettings)
KEY_RING = web.AppKey("key_ring", KeyRing)
COMPONENTS = web.AppKey("components", Components)
