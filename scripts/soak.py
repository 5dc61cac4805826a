"""Soak test (not a CI test): the authorization and resource servers as real `authorium serve --workers N`
processes under mixed traffic for minutes, watching for 5xx answers, wrong answers and memory growth.

    .venv/bin/python scripts/soak.py --duration 300                   # 5 minutes, a report every 30 s
    .venv/bin/python scripts/soak.py --duration 60 --interval 10      # a quick look
    .venv/bin/python scripts/soak.py --loaders 3 --concurrency 8 --workers 2 --max-growth-mb 25

The stack comes from bench/stack.py's `running()`: a database of its own (`authorium_soak_<pid>`, dropped after),
a Redis key prefix of its own, the servers on free ports of 127.0.0.1. bench/seed.py registers a service client,
a web-app client and a user. Then `--loaders` OS processes each run `--concurrency` virtual users; each user
signs in through the authorization pages once (login form, consent), then loops over a weighted mix of
every endpoint: client-credentials tokens, code exchange (`/authorize` with its session, then `/token`), refresh
(each user rotates its own refresh-token family), introspection, revocation (and, a few seconds later, a check
that the revoked token is refused by the resource server), userinfo, discovery and JWKS, `/api/me` and notes
create / list / read / update / delete, and now and then a fresh browser signing in with its password.

Every `--interval` seconds, and at the end, it prints requests by endpoint, answers by status code, the 5xx
count, and the resident memory (RSS) of every server process (supervisor and workers), sampled over time.

Exit status 1 when any answer was a 5xx other than 503 (a deliberate "temporarily unavailable"; none is expected
here either, and they are reported), when a request got no answer at all, when an answer had a status the
endpoint should not give (for instance a revoked token accepted), or when a server process's RSS grew by more
than `--max-growth-mb` (default 25 MiB) from the mean of the first third of the samples to the mean of the last
third (samples of the first 30 s, or tenth of the run, are left out: that is start-up and warm-up). Memory grows
for a while by design: the verified-token caches (up to 10,000 tokens per process) fill in the first minutes
and then stay level, and each process keeps every revocation in memory until the token it revokes expires (11
minutes by default). A leak shows as growth that goes on after that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import queue
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # bench/ and tests/ are packages at the repository's root, not installed ones

from authorium_shared.resources import create_pg_pool  # noqa: E402
from bench import seed  # noqa: E402
from bench.stack import Stack, descendants, rss_mb, running  # noqa: E402
from tests.authz.flows import RegisteredClient, follow_authorization, pkce_pair, query_of  # noqa: E402

# A database of each run's own (`running` drops and recreates it), so that two runs never share one.
DATABASE = f"authorium_soak_{os.getpid()}"
USER_SCOPE = "openid notes:read notes:write"
API_SCOPE = "notes:read notes:write"  # no openid: the code flow then issues a refresh token
REQUEST_TIMEOUT = 30.0
# A revoked token is refused everywhere within a second (README); checked a little later than that.
REVOCATION_SETTLES = 2.0

# What each endpoint may answer when nothing is broken. Anything else is a failure of the run.
EXPECTED: dict[str, set[int]] = {
    "GET /authorize": {200, 302},
    "POST /authorize/login": {302, 303},
    "POST /authorize/consent": {302, 303},
    "GET /authorize/continue": {200, 302},
    "POST /token client_credentials": {200},
    "POST /token authorization_code": {200},
    "POST /token refresh_token": {200},
    "POST /introspect": {200},
    "POST /revoke": {200},
    "GET /userinfo": {200},
    "GET /.well-known/openid-configuration": {200},
    "GET /jwks.json": {200},
    "GET /api/me": {200},
    "GET /api/me revoked": {401},
    "GET /api/notes": {200},
    "POST /api/notes": {201},
    "GET /api/notes/{id}": {200},
    "PATCH /api/notes/{id}": {200},
    "DELETE /api/notes/{id}": {204},
}


@dataclass(frozen=True)
class Target:
    """What a load process needs to know, sent to it when it starts (so: plain, picklable values)."""

    authz: str
    resource: str
    service: tuple[str, str]
    app: tuple[str, str]
    username: str
    password: str
    concurrency: int
    duration: float
    interval: float


@dataclass
class Tally:
    """One load process's counts: answers by (endpoint, status or error), time spent, and the first oddities."""

    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    slowest: dict[str, float] = field(default_factory=dict)
    oddities: list[str] = field(default_factory=list)

    def note(self, label: str, outcome: str, elapsed: float, detail: str = "") -> None:
        self.answers[(label, outcome)] += 1
        self.seconds[label] = self.seconds.get(label, 0.0) + elapsed
        self.slowest[label] = max(self.slowest.get(label, 0.0), elapsed)
        expected = outcome.isdigit() and int(outcome) in EXPECTED.get(label, {int(outcome)})
        if not expected and len(self.oddities) < 20:
            self.oddities.append(f"{label} -> {outcome} {detail}".strip())

    def merge(self, other: Tally) -> None:
        self.answers.update(other.answers)
        for label, value in other.seconds.items():
            self.seconds[label] = self.seconds.get(label, 0.0) + value
        for label, value in other.slowest.items():
            self.slowest[label] = max(self.slowest.get(label, 0.0), value)
        self.oddities.extend(other.oddities[: max(0, 20 - len(self.oddities))])


def _label(method: str, url: str) -> str:
    path = urlsplit(url).path
    if path.startswith("/api/notes/"):
        path = "/api/notes/{id}"
    return f"{method} {path}"


def _tracing(tally: Tally) -> aiohttp.TraceConfig:
    """Counts every request a session makes, those made by the shared sign-in helper included. A request may
    name its endpoint with `trace_request_ctx={"label": ...}`; otherwise its method and path do."""

    async def start(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        ctx.started = time.monotonic()
        given = ctx.trace_request_ctx
        ctx.label = given["label"] if isinstance(given, dict) else _label(params.method, str(params.url))

    async def end(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        tally.note(ctx.label, str(params.response.status), time.monotonic() - ctx.started)

    async def failed(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: Any) -> None:
        tally.note(ctx.label, f"error:{type(params.exception).__name__}", time.monotonic() - ctx.started)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(start)
    trace.on_request_end.append(end)
    trace.on_request_exception.append(failed)
    return trace


def _browser(tally: Tally) -> aiohttp.ClientSession:
    """tests.authz.flows.browser(), counted: cookies kept (on IP hosts too), redirects not followed on their own."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), trace_configs=[_tracing(tally)])


class VirtualUser:
    """A person's browser and the web app acting for them, plus a service; each loops over the mix."""

    def __init__(self, target: Target, http: aiohttp.ClientSession, tally: Tally, rng: random.Random) -> None:
        self.target = target
        self.http = http
        self.tally = tally
        self.rng = rng
        self.app = RegisteredClient(*target.app, redirect_uri=seed.REDIRECT_URI)
        self.service = RegisteredClient(*target.service)
        self.browser = _browser(tally)
        self.refresh_token: str | None = None
        self.api_token = ""  # for the resource server (refreshed)
        self.openid_token = ""  # for userinfo
        self.notes: list[str] = []
        self.revoked: list[tuple[float, str]] = []  # (when, token), waiting to be checked

    async def close(self) -> None:
        await self.browser.close()

    async def _json(self, label: str, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, url, trace_request_ctx={"label": label}, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.read()
            return resp.status, body

    def _bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # --- the authorization server -------------------------------------------------------------------------

    async def sign_in(self, session: aiohttp.ClientSession | None = None) -> None:
        """The authorization pages in a browser: login form (Argon2id), consent the first time, then a code."""
        await self.code_flow(USER_SCOPE, session or self.browser, password=True)

    async def code_flow(self, scope: str, session: aiohttp.ClientSession, *, password: bool = False) -> None:
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": self.app.client_id,
            "redirect_uri": self.app.redirect_uri,
            "scope": scope,
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = f"{self.target.authz}/authorize?" + "&".join(f"{k}={v.replace(' ', '+')}" for k, v in query.items())
        username = self.target.username if password else None
        outcome = await follow_authorization(session, self.target.authz, url, username, password=self.target.password)
        code = query_of(outcome.location)["code"]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.app.redirect_uri,
            "code_verifier": verifier,
        }
        status, body = await self._json(
            "POST /token authorization_code", "POST", self.target.authz + "/token", data=form, headers=self.app.basic
        )
        if status != 200:
            return
        if "refresh_token" in body:
            self.refresh_token, self.api_token = body["refresh_token"], body["access_token"]
        else:
            self.openid_token = body["access_token"]

    async def code_exchange(self) -> None:
        await self.code_flow(self.rng.choice((USER_SCOPE, API_SCOPE)), self.browser)

    async def fresh_sign_in(self) -> None:
        async with _browser(self.tally) as session:
            await self.sign_in(session)

    async def client_credentials(self) -> str | None:
        status, body = await self._json(
            "POST /token client_credentials",
            "POST",
            self.target.authz + "/token",
            data={"grant_type": "client_credentials"},
            headers=self.service.basic,
        )
        return str(body["access_token"]) if status == 200 else None

    async def refresh(self) -> None:
        if self.refresh_token is None:
            return await self.code_flow(API_SCOPE, self.browser)
        form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        status, body = await self._json(
            "POST /token refresh_token", "POST", self.target.authz + "/token", data=form, headers=self.app.basic
        )
        if status == 200:
            self.refresh_token, self.api_token = body["refresh_token"], body["access_token"]
        else:
            self.refresh_token = None  # start a new family next time
        return None

    async def introspect(self) -> None:
        token = self.api_token if self.api_token and self.rng.random() < 0.5 else await self.client_credentials()
        if token is None:
            return
        client = self.app if token == self.api_token else self.service
        status, body = await self._json(
            "POST /introspect", "POST", self.target.authz + "/introspect", data={"token": token}, headers=client.basic
        )
        if status == 200 and body.get("active") is not True:
            self.tally.oddities.append(f"POST /introspect: a live token introspected as {body}")

    async def revoke(self) -> None:
        token = await self.client_credentials()
        if token is None:
            return
        status, _ = await self._json(
            "POST /revoke", "POST", self.target.authz + "/revoke", data={"token": token}, headers=self.service.basic
        )
        if status == 200:
            self.revoked.append((time.monotonic(), token))

    async def end_family(self) -> None:
        """Sign out, as the web app does: revoke the refresh token (and with it the grant)."""
        if self.refresh_token is None:
            return
        token, self.refresh_token = self.refresh_token, None
        await self._json(
            "POST /revoke", "POST", self.target.authz + "/revoke", data={"token": token}, headers=self.app.basic
        )
        self.api_token = ""

    async def userinfo(self) -> None:
        if not self.openid_token:
            return await self.code_flow(USER_SCOPE, self.browser)
        status, _ = await self._json(
            "GET /userinfo", "GET", self.target.authz + "/userinfo", headers=self._bearer(self.openid_token)
        )
        if status == 401:  # expired or its grant revoked: sign in again for a new one
            self.openid_token = ""
        return None

    async def discovery(self) -> None:
        await self._json(
            "GET /.well-known/openid-configuration", "GET", self.target.authz + "/.well-known/openid-configuration"
        )
        await self._json("GET /jwks.json", "GET", self.target.authz + "/jwks.json")

    # --- the resource server ---------------------------------------------------------------------------------

    async def _api_token(self) -> str | None:
        if not self.api_token:
            await self.refresh()
        return self.api_token or None

    async def me(self) -> None:
        token = await self._api_token()
        if token:
            await self._json("GET /api/me", "GET", self.target.resource + "/api/me", headers=self._bearer(token))

    async def revoked_refused(self) -> None:
        """A token revoked a moment ago must be refused (401) by the resource server."""
        if not self.revoked or time.monotonic() - self.revoked[0][0] < REVOCATION_SETTLES:
            return
        _, token = self.revoked.pop(0)
        await self._json("GET /api/me revoked", "GET", self.target.resource + "/api/me", headers=self._bearer(token))

    async def notes_crud(self) -> None:
        token = await self._api_token()
        if not token:
            return
        headers, api = self._bearer(token), self.target.resource + "/api/notes"
        roll = self.rng.random()
        if roll < 0.3 or not self.notes:
            note = {"title": f"soak {secrets.token_hex(4)}", "body": "a note written by the soak test " * 4}
            status, body = await self._json("POST /api/notes", "POST", api, json=note, headers=headers)
            if status == 201:
                self.notes.append(body["id"])
        elif roll < 0.6:
            await self._json("GET /api/notes", "GET", api + "?limit=20", headers=headers)
        elif roll < 0.75:
            await self._json("GET /api/notes/{id}", "GET", f"{api}/{self.rng.choice(self.notes)}", headers=headers)
        elif roll < 0.9:
            change = {"body": f"changed {secrets.token_hex(4)}"}
            note_id = self.rng.choice(self.notes)
            await self._json("PATCH /api/notes/{id}", "PATCH", f"{api}/{note_id}", json=change, headers=headers)
        else:
            note_id = self.notes.pop(self.rng.randrange(len(self.notes)))
            await self._json("DELETE /api/notes/{id}", "DELETE", f"{api}/{note_id}", headers=headers)

    async def service_token(self) -> None:
        await self.client_credentials()

    def mix(self) -> list[tuple[Callable[[], Awaitable[None]], float]]:
        return [
            (self.service_token, 12),
            (self.code_exchange, 4),
            (self.refresh, 8),
            (self.end_family, 0.5),
            (self.introspect, 8),
            (self.revoke, 4),
            (self.revoked_refused, 4),
            (self.userinfo, 6),
            (self.discovery, 1),
            (self.fresh_sign_in, 0.3),
            (self.me, 12),
            (self.notes_crud, 20),
        ]


async def _drive(target: Target, index: int, reports: Any) -> None:
    tally = Tally()
    rng = random.Random(index)  # noqa: S311 - it picks the next request; nothing secret
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=target.concurrency * 2)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[_tracing(tally)]) as http:
        users = [VirtualUser(target, http, tally, random.Random(rng.random())) for _ in range(target.concurrency)]  # noqa: S311
        deadline = time.monotonic() + target.duration

        async def run(user: VirtualUser) -> None:
            steps, weights = zip(*user.mix(), strict=True)
            try:
                await user.sign_in()
            except (aiohttp.ClientError, TimeoutError, AssertionError, KeyError) as exc:
                tally.oddities.append(f"sign-in failed: {exc!r}")
            while time.monotonic() < deadline:
                step = user.rng.choices(steps, weights)[0]
                try:
                    await step()
                except (aiohttp.ClientError, TimeoutError, AssertionError, KeyError, ValueError) as exc:
                    # Counted already when it was a request that failed; this also catches a page that was not the
                    # one expected.
                    if len(tally.oddities) < 20 and not isinstance(exc, aiohttp.ClientError | TimeoutError):
                        tally.oddities.append(f"{getattr(step, '__name__', step)}: {exc!r}"[:300])

        async def report() -> None:
            while True:
                await asyncio.sleep(target.interval / 2)
                reports.put((index, tally, False))

        reporter = asyncio.create_task(report())
        try:
            await asyncio.gather(*(run(user) for user in users))
        finally:
            reporter.cancel()
            for user in users:
                await user.close()
    reports.put((index, tally, True))


def _load_process(target: Target, index: int, reports: Any) -> None:
    asyncio.run(_drive(target, index, reports))


# --- the parent: start, watch, report -----------------------------------------------------------------------


@dataclass
class Memory:
    """RSS samples of every server process: name -> [(seconds since start, MiB)]."""

    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def sample(self, stack: Stack, elapsed: float) -> None:
        for name, service in stack.services.items():
            for i, pid in enumerate(descendants(service.proc.pid)):
                label = f"{name} supervisor" if i == 0 and len(service.pids) > 1 else f"{name} worker {i}"
                with contextlib.suppress(OSError):  # it may have just exited
                    self.samples.setdefault(label, []).append((elapsed, rss_mb(pid)))

    def growth(self, warmup: float) -> dict[str, tuple[float, float]]:
        """Mean RSS of the first third of the samples taken after `warmup` seconds and of the last third."""
        result = {}
        for label, all_samples in self.samples.items():
            series = [sample for sample in all_samples if sample[0] >= warmup] or all_samples
            third = max(1, len(series) // 3)
            first = sum(v for _, v in series[:third]) / third
            last = sum(v for _, v in series[-third:]) / third
            result[label] = (first, last)
        return result


def _status_line(tally: Tally) -> str:
    by_status: Counter[str] = Counter()
    for (_, outcome), count in tally.answers.items():
        by_status[outcome] += count
    return "  ".join(f"{status}={count}" for status, count in sorted(by_status.items()))


def _failures(tally: Tally) -> tuple[int, int, int, int]:
    """(5xx other than 503, 503, no answer at all, statuses the endpoint should not give)."""
    server = unavailable = unanswered = unexpected = 0
    for (label, outcome), count in tally.answers.items():
        if not outcome.isdigit():
            unanswered += count
        elif outcome == "503":
            unavailable += count
        elif outcome.startswith("5"):
            server += count
        elif int(outcome) not in EXPECTED.get(label, {int(outcome)}):
            unexpected += count
    return server, unavailable, unanswered, unexpected


def _print_report(elapsed: float, tally: Tally, previous: int, interval: float, memory: Memory) -> int:
    total = sum(tally.answers.values())
    server, unavailable, unanswered, unexpected = _failures(tally)
    print(
        f"[{elapsed:5.0f}s] {total} requests ({(total - previous) / interval:.0f}/s lately); "
        f"5xx: {server + unavailable} (503: {unavailable}); no answer: {unanswered}; unexpected: {unexpected}"
    )
    print(f"         by status: {_status_line(tally)}")
    rss = "  ".join(f"{label} {series[-1][1]:.1f}" for label, series in memory.samples.items() if series)
    print(f"         RSS MiB: {rss}", flush=True)
    return total


def _final_report(tally: Tally, memory: Memory, stack: Stack, max_growth: float, warmup: float, elapsed: float) -> bool:
    print(f"\n=== soak test: {elapsed:.0f} s ===")
    print("\nRequests by endpoint (status: count; mean / max latency):")
    for label in sorted({label for label, _ in tally.answers}):
        outcomes = {o: c for (lbl, o), c in tally.answers.items() if lbl == label}
        count = sum(outcomes.values())
        statuses = ", ".join(f"{o}: {c}" for o, c in sorted(outcomes.items()))
        mean = tally.seconds[label] / count * 1000
        print(f"  {label:40} {count:8}   {statuses:32} {mean:7.1f} / {tally.slowest[label] * 1000:7.1f} ms")
    total = sum(tally.answers.values())
    print(f"\nAll responses: {total} ({total / elapsed:.0f}/s)   by status: {_status_line(tally)}")
    server, unavailable, unanswered, unexpected = _failures(tally)
    print(
        f"5xx: {server + unavailable} (of which 503: {unavailable}); no answer: {unanswered}; unexpected: {unexpected}"
    )
    for oddity in tally.oddities:
        print(f"  odd: {oddity}")
    print("\nCPU seconds: " + "  ".join(f"{name} {s.cpu():.0f}" for name, s in stack.services.items()))
    labels = list(memory.samples)
    print("\nRSS (MiB) over time:")
    print("  " + f"{'t (s)':>7}" + "".join(f"{label:>20}" for label in labels))
    rows = max(len(series) for series in memory.samples.values())
    step = max(1, rows // 20)
    for i in list(range(0, rows, step)) + ([rows - 1] if (rows - 1) % step else []):
        cells = [memory.samples[label][i] if i < len(memory.samples[label]) else None for label in labels]
        when = next((c[0] for c in cells if c is not None), 0.0)
        print("  " + f"{when:7.0f}" + "".join(f"{c[1]:20.1f}" if c else f"{'-':>20}" for c in cells))
    print(
        f"\nRSS, mean of the first third of the samples after {warmup:.0f} s of warm-up vs the last third"
        f" (bound: +{max_growth:.0f} MiB):"
    )
    grown = False
    for label, (first, last) in memory.growth(warmup).items():
        verdict = "ok" if last - first <= max_growth else "GREW"
        grown |= verdict != "ok"
        print(f"  {label:20} {first:8.1f} -> {last:8.1f}   ({last - first:+.1f})  {verdict}")
    failed = bool(server or unanswered or unexpected or grown)
    print("\nverdict: " + ("FAILED" if failed else "passed"))
    return not failed


async def soak(args: argparse.Namespace) -> bool:
    async with running(args.workers, database=DATABASE) as stack:
        pool = await create_pg_pool(stack.database_url, max_size=2)
        try:
            seeded = await seed.seed(pool, stack.url("authz"))
        finally:
            await pool.close()
        target = Target(
            authz=stack.url("authz"),
            resource=stack.url("resource"),
            service=seeded.service_client,
            app=seeded.user_client,
            username=seeded.username,
            password=seed.PASSWORD,
            concurrency=args.concurrency,
            duration=args.duration,
            interval=args.interval,
        )
        context = multiprocessing.get_context("spawn")  # no fork of a process with a running event loop
        reports = context.Queue()
        loaders = [
            context.Process(target=_load_process, args=(target, i, reports), daemon=True) for i in range(args.loaders)
        ]
        memory = Memory()
        started = time.monotonic()
        for loader in loaders:
            loader.start()
        latest: dict[int, Tally] = {}
        done: set[int] = set()
        previous, next_report, next_sample = 0, started + args.interval, started
        while len(done) < len(loaders):
            now = time.monotonic()
            if now >= next_sample:
                memory.sample(stack, now - started)
                next_sample += args.sample
            try:
                index, tally, finished = await asyncio.to_thread(reports.get, timeout=0.5)
                latest[index] = tally
                if finished:
                    done.add(index)
            except queue.Empty:
                if not any(loader.is_alive() for loader in loaders) and len(done) < len(loaders):
                    print("a load process died", file=sys.stderr)
                    return False
            if time.monotonic() >= next_report:
                merged = Tally()
                for tally in latest.values():
                    merged.merge(tally)
                previous = _print_report(time.monotonic() - started, merged, previous, args.interval, memory)
                next_report += args.interval
        elapsed = time.monotonic() - started
        memory.sample(stack, elapsed)
        for loader in loaders:
            loader.join(timeout=10)
        merged = Tally()
        for tally in latest.values():
            merged.merge(tally)
        warmup = min(30.0, args.duration / 10)
        return _final_report(merged, memory, stack, args.max_growth_mb, warmup, elapsed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of traffic (default 300)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between reports (default 30)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    parser.add_argument("--loaders", type=int, default=3, help="load-generating processes (default 3)")
    parser.add_argument("--concurrency", type=int, default=8, help="virtual users per load process (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="workers per server (default 2)")
    parser.add_argument(
        "--max-growth-mb", type=float, default=25.0, help="allowed RSS growth per process, MiB (default 25)"
    )
    args = parser.parse_args()
    os.environ.setdefault("AUTHORIUM_LOG_LEVEL", "WARNING")
    return 0 if asyncio.run(soak(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
