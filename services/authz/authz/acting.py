"""The `Control` of a change made through an HTTP request: by an admin client (the admin API) or by the person on
their own account page; the CLI builds its own from the settings (`authorium.manage`)."""

from __future__ import annotations

from aiohttp import web

from authorium_shared.appkeys import PG_POOL, REDIS, REDIS_KEYS
from authz.appkeys import AUDIT, CLIENTS, PASSWORDS, REVOKER, SESSIONS, SETTINGS
from authz.control import Control


def control_for(request: web.Request, actor: str) -> Control:
    """The changes of `request`, made by `actor` (`control.client_actor`, `control.user_actor`) with this app's
    stores."""
    app = request.app
    return Control(
        pool=app[PG_POOL],
        redis=app[REDIS],
        keys=app[REDIS_KEYS],
        settings=app[SETTINGS],
        revoker=app[REVOKER],
        audit=app[AUDIT],
        sessions=app[SESSIONS],
        passwords=app[PASSWORDS],
        actor=actor,
        remote_addr=request.remote,
        clients=app[CLIENTS],
    )
