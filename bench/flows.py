"""Scenarios that take several requests each, driven by virtual browsers (aiohttp, one cookie jar each) rather
than wrk: a row's rate is complete flows per second, its latencies a whole flow's, and `requests_per_flow` says how
many HTTP requests one flow made. wrk measures single requests better; a flow is what a person waits for.

Adding a flow: an async function `(http, stack, seeded) -> int` that does one flow with `http` (its own cookie
jar, no automatic redirects) and returns how many requests it made, raising `FlowFailed` on an unexpected answer;
then a `Scenario(..., flow=that_function)` row in bench/__main__.py."""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp

from bench import seed
from bench.load import Measured
from bench.stack import Stack

_FORM = re.compile(r'<form method="post" action="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


class FlowFailed(Exception):
    pass


Flow = Callable[[aiohttp.ClientSession, Stack, seed.Seeded], Awaitable[int]]


async def browser_sign_in(http: aiohttp.ClientSession, stack: Stack, seeded: seed.Seeded) -> int:
    """The authorization code flow as a person's browser and the client's back end make it (RFC 6749 section 4.1,
    OIDC Core 3.1): GET /authorize (with `prompt=consent`, so consent is asked every time, as for a new client),
    the sign-in form, the consent form, the redirect to the client with the code, then the code exchange."""
    authz = stack.url("authz")
    query = {
        "response_type": "code",
        "client_id": seeded.user_client[0],
        "redirect_uri": seed.REDIRECT_URI,
        "scope": seed.USER_SCOPE,
        "code_challenge": seeded.challenge,
        "code_challenge_method": "S256",
        "state": "bench",
        "prompt": "consent",
    }
    requests = 1
    resp = await http.get(authz + "/authorize", params=query, allow_redirects=False)
    for _ in range(8):
        async with resp:
            location = resp.headers.get("Location")
            page = await resp.text()
            status = resp.status
        if status in (302, 303) and location:
            if location.startswith(seed.REDIRECT_URI):
                code = parse_qs(urlsplit(location).query).get("code")
                if not code:
                    raise FlowFailed(f"redirected to the client without a code: {location}")
                break
            requests += 1
            resp = await http.get(urljoin(authz, location), allow_redirects=False)
            continue
        form = _FORM.search(page)
        if status != 200 or form is None:
            raise FlowFailed(f"{status}: {page[:200]}")
        fields = dict(_HIDDEN.findall(page))
        if form.group(1).endswith("/login"):
            fields.update(username=seeded.username, password=seed.PASSWORD)
        else:
            fields["decision"] = "allow"
        requests += 1
        resp = await http.post(urljoin(authz, form.group(1)), data=fields, allow_redirects=False)
    else:
        raise FlowFailed("no redirect to the client after 8 steps")
    async with http.post(
        authz + "/token",
        data=seed.code_body(code[0], seeded.verifier),
        headers={
            "Authorization": seed.basic(*seeded.user_client),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    ) as token:
        body = await token.json()
        if token.status != 200 or "id_token" not in body:
            raise FlowFailed(f"code exchange: {token.status} {body}")
    return requests + 1


async def run(
    flow: Flow, stack: Stack, seeded: seed.Seeded, *, duration: float, connections: int
) -> tuple[Measured, int]:
    """`connections` browsers doing `flow` over and over for `duration` seconds: the flows measured, and the HTTP
    requests they made."""
    latencies: list[float] = []
    requests = failures = 0
    deadline = time.monotonic() + duration

    async def browser() -> None:
        nonlocal requests, failures
        while time.monotonic() < deadline:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                started = time.perf_counter()
                try:
                    made = await flow(http, stack, seeded)
                except (FlowFailed, aiohttp.ClientError, TimeoutError) as exc:
                    failures += 1
                    if failures == 1:
                        print(f"flow failed: {exc!r}"[:500], file=sys.stderr)
                    continue
                latencies.append(time.perf_counter() - started)
                requests += made  # after the await: `requests += await ...` would lose the others' counts

    started = time.monotonic()
    await asyncio.gather(*(browser() for _ in range(connections)))
    elapsed = time.monotonic() - started
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    flows = Measured(len(latencies), elapsed, failures, 0, quantiles[49] * 1000, quantiles[98] * 1000, "browsers")
    return flows, requests
