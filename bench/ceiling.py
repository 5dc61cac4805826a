"""The framework's ceiling: a bare aiohttp JSON handler, served as the services are (the same workers, each on its
own SO_REUSEPORT socket, the same event loop), answering what `/api/me` answers without checking anything. The
bench loads it with the same wrk and connections as the `ceiling` row, so a service row's share of it is what the
service's own work costs.

    python -m bench.ceiling PORT WORKERS
"""

from __future__ import annotations

import asyncio
import socket
import sys

import orjson
from aiohttp import web

from authorium_shared.service import _new_loop, supervise

BODY = orjson.dumps({"sub": "00000000-0000-0000-0000-000000000000", "client_id": "bench", "scope": "notes:read"})


async def me(_: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json", headers={"Cache-Control": "no-store"})


def _socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


async def _serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/api/me", me)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, _socket(port)).start()
    print("listening", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> int:
    port, workers = int(argv[0]), int(argv[1])

    def work(_: int) -> None:
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            runner.run(_serve(port))

    return supervise(work, workers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
