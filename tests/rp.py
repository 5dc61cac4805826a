"""A small relying party for the logout tests: an HTTP server on loopback whose back-channel logout endpoint records
every logout token posted to it (OpenID Connect Back-Channel Logout 1.0 section 2.5) and answers with the statuses it
is told to (200 once they run out)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.servers import bound_socket, serve, url_of

PATH = "/backchannel-logout"


@dataclass
class Received:
    form: dict[str, list[str]]
    content_type: str


@dataclass
class RelyingParty:
    url: str
    received: list[Received] = field(default_factory=list)
    # Statuses to answer with, in order; 200 once they run out.
    answers: list[int] = field(default_factory=list)

    @property
    def backchannel_logout_uri(self) -> str:
        return self.url + PATH

    @property
    def tokens(self) -> list[str]:
        return [token for r in self.received for token in r.form.get("logout_token", [])]


@asynccontextmanager
async def running_rp() -> AsyncIterator[RelyingParty]:
    sock = bound_socket()
    rp = RelyingParty(url_of(sock))

    async def backchannel(request: web.Request) -> web.Response:
        form = await request.post()
        rp.received.append(
            Received({k: [str(v) for v in form.getall(k)] for k in set(form.keys())}, request.content_type)
        )
        status = rp.answers.pop(0) if rp.answers else 200
        return web.Response(status=status, headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_post(PATH, backchannel)
    try:
        async with serve(app, sock):
            yield rp
    finally:
        sock.close()
