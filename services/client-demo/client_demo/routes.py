"""The demo client's routes."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from client_demo import backchannel, signin, views
from client_demo.settings import BACKCHANNEL_LOGOUT_PATH, POST_LOGOUT_PATH


def add_routes(app: web.Application, static: Path) -> None:
    router = app.router
    router.add_get("/", views.home)
    router.add_get("/login", signin.login)
    router.add_get("/callback", signin.callback)
    router.add_get("/flow", views.flow)
    router.add_post("/notes", views.add_note)
    router.add_post("/notes/{note_id}/delete", views.delete_note)
    router.add_post("/logout", views.logout)
    router.add_get(POST_LOGOUT_PATH, views.signed_out)
    router.add_post(BACKCHANNEL_LOGOUT_PATH, backchannel.backchannel_logout)
    router.add_static("/static", static)
