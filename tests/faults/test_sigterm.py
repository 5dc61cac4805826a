"""SIGTERM to `authorium serve --workers 2` (authorization and resource server) in the middle of a steady load
of 20 concurrent clients: every request already sent when the signal went gets its complete answer; what comes
after may find the port closed (a refused connection, or a kept-alive connection closed before the request was
read), never a truncated answer; and each supervisor exits 0 within the shutdown timeout."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
import asyncpg
import pytest

from authorium_shared.service import SHUTDOWN_TIMEOUT
from tests.authz.flows import make_client, token_request
from tests.processes import authorium_popen, free_port, wait_for_port
from tests.resource.conftest import RESOURCE_URL

pytestmark = pytest.mark.slow

CLIENTS = 20


@dataclass(frozen=True)
class Outcome:
    service: str
    # When the request was written to a connection, each time: aiohttp sends an idempotent request again, on a
    # new connection, when the kept-alive one it used was closed before any answer.
    sent: tuple[float, ...]
    status: int | None
    # None (answered), "refused" (no connection could be made), "closed" or "reset" (the connection ended under
    # the request, with no answer at all), or "truncated" (an answer cut short).
    failure: str | None = None

    def sent_before(self, moment: float) -> bool:
        return bool(self.sent) and self.sent[0] < moment


async def _record_sent(_session: aiohttp.ClientSession, context: SimpleNamespace, _params: Any) -> None:
    context.trace_request_ctx.append(time.monotonic())


async def _one(http: aiohttp.ClientSession, service: str, method: str, url: str, **kwargs: Any) -> Outcome:
    sent: list[float] = []
    try:
        async with http.request(method, url, trace_request_ctx=sent, **kwargs) as resp:
            body = await resp.json()  # reads the whole body: a truncated one raises ClientPayloadError
            assert isinstance(body, dict) and body, body
            return Outcome(service, tuple(sent), resp.status)
    except aiohttp.ClientConnectorError:
        failure = "refused"
    except aiohttp.ServerDisconnectedError:
        failure = "closed"
    except aiohttp.ClientOSError:
        failure = "reset"
    except aiohttp.ClientPayloadError:
        failure = "truncated"
    return Outcome(service, tuple(sent), None, failure)


async def test_sigterm_under_load(environ: dict[str, str], db: asyncpg.Pool, http: aiohttp.ClientSession) -> None:
    client = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
    ports = {"authz": free_port(), "resource": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {
        **environ,
        "AUTHORIUM_ISSUER": urls["authz"],
        "AUTHORIUM_RESOURCE_URL": RESOURCE_URL,
        "AUTHORIUM_TOKEN_RATE_LIMIT": "1000000",
    }
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        # The resource server fetches the key set when it starts: the authorization server must be up first.
        for name, port in ports.items():
            procs[name] = authorium_popen("serve", name, "--port", str(port), "--workers", "2", env=env)
            await asyncio.to_thread(wait_for_port, port, 30)
        status, body, _ = await token_request(http, urls["authz"], client, grant_type="client_credentials")
        assert status == 200, body
        requests = {
            "authz": (
                "POST",
                urls["authz"] + "/token",
                {"data": {"grant_type": "client_credentials"}, "headers": client.basic},
            ),
            "resource": (
                "GET",
                urls["resource"] + "/api/me",
                {"headers": {"Authorization": f"Bearer {body['access_token']}"}},
            ),
        }
        outcomes: list[Outcome] = []
        exited: dict[str, tuple[int, float, str]] = {}

        async def keep_calling(session: aiohttp.ClientSession, service: str) -> None:
            method, url, kwargs = requests[service]
            while service not in exited:
                outcome = await _one(session, service, method, url, **kwargs)
                outcomes.append(outcome)
                if outcome.failure == "refused":
                    await asyncio.sleep(0.01)  # pacing: a closed port must not turn the loop into a busy spin

        async def wait_exit(service: str, signalled: float) -> None:
            # communicate(): the process's output is read, and its pipes closed, as it exits.
            _, err = await asyncio.to_thread(procs[service].communicate, timeout=SHUTDOWN_TIMEOUT + 5)
            exited[service] = (procs[service].returncode, time.monotonic() - signalled, err)

        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_record_sent)
        timeout = aiohttp.ClientTimeout(total=SHUTDOWN_TIMEOUT + 5)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=timeout, trace_configs=[trace]
        ) as session:
            callers = [
                asyncio.create_task(keep_calling(session, "authz" if i % 2 else "resource")) for i in range(CLIENTS)
            ]
            await asyncio.sleep(2.0)  # the load runs a while before the signal (enough of it is checked below)
            signalled = time.monotonic()
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*(wait_exit(service, signalled) for service in procs))
            await asyncio.gather(*callers)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            if proc.stdout is not None and not proc.stdout.closed:
                proc.communicate()

    for service, (code, seconds, err) in exited.items():
        assert code == 0, f"{service} exited with {code}: {err[-2000:]}"
        assert seconds < SHUTDOWN_TIMEOUT, f"{service} took {seconds:.1f}s to stop"
    before = [o for o in outcomes if o.sent_before(signalled)]
    assert len(before) > 500, "too little load before the signal"
    # Sent before the signal: answered in full, on the connection it was sent on.
    unanswered = Counter(
        (o.service, o.status, o.failure, len(o.sent)) for o in before if (o.status, len(o.sent)) != (200, 1)
    )
    assert not unanswered, unanswered
    # Sent after it (or never sent): answered, or turned away before anything was read; never cut short.
    after = Counter((o.status, o.failure) for o in outcomes if not o.sent_before(signalled))
    assert set(after) <= {(200, None), (None, "refused"), (None, "closed"), (None, "reset")}, after
    assert after[(None, "refused")], "the ports were never closed"
