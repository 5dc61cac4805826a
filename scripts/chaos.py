"""Chaos run (not a unit test): two authorization and two resource replicas (`authorium serve --workers 1`) on one
private Postgres and Redis, under a steady workload, while faults are injected at random; then an independent
checker (scripts/chaos_checker.py) reads the history of acknowledged operations and lists every broken promise.

    .venv/bin/python scripts/chaos.py --duration 60 [--seed N] [--report out.json]
    .venv/bin/python scripts/chaos.py --duration 30 --plant-bug drop-announcements   # the checker must fail it

Its Postgres and Redis are its own (temporary folder, free loopback ports), stopped and removed at the end even
when the run is killed (a watchdog process does it). Traffic goes to 127.0.0.1 only. Exit status 1 on any
violation. See docs/operations.md, "Chaos run"."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import asyncpg
from redis.asyncio import Redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests/ is a package at the repository's root, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos_checker  # noqa: E402

from authorium_shared.keys import generate_kek  # noqa: E402
from authorium_shared.resources import create_pg_pool  # noqa: E402
from tests.authz.flows import make_client, make_user, pkce_pair  # noqa: E402
from tests.processes import free_port, wait_for_port  # noqa: E402
from tests.programs import postgres_programs, redis_program  # noqa: E402
from tests.stores import _WATCHDOG, PrivatePostgres  # noqa: E402

RESOURCE_ID = "https://api.example"
REDIRECT_URI = "https://client.example/callback"
PASSWORD = "correct horse battery staple"
API_SCOPE = "notes:read notes:write"  # no openid: the code flow then issues a refresh token
REQUEST_TIMEOUT = 8.0
# After the last fault: the workload goes on this long, so that recovery is seen; replicas must be ready within
# the checker's READY_WITHIN of it.
QUIET_TAIL = 12.0
MAX_RESOURCE_REPLICAS = 4
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')

# A planted bug for showing that the checker catches one: the resource replicas drop every "revoked"
# announcement (they still load the lists when their feed (re)connects). Applied to the replicas' processes only,
# by this script, never by the servers' code.
PLANTS = {
    "drop-announcements": (
        "from authorium_shared import revocation_lists as r\n"
        "_on_event = r.RevocationCache.on_event\n"
        "async def on_event(self, event):\n"
        "    if event.get('type') != r.EVENT_TYPE:\n"
        "        await _on_event(self, event)\n"
        "r.RevocationCache.on_event = on_event\n"
    ),
}


def short(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class Watchdog:
    """tests/stores.py's watchdog: stops every process it was told of and removes the folders, when this script
    ends without saying "done" (killed, or crashed past its clean-up)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG], stdin=subprocess.PIPE, text=True, start_new_session=True
        )

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def done(self) -> None:
        self.tell("done")
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


@dataclass
class Replica:
    name: str
    service: str
    port: int
    env: dict[str, str]
    log: Path
    plant: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    # The private listener's (readiness, metrics); each replica has its own.
    admin_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def private_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, watchdog: Watchdog) -> None:
        command = ["-m", "authorium"]
        if self.plant:
            command = ["-c", self.plant + "from authorium.cli import main\nraise SystemExit(main())"]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, *command, "serve", self.service, "--port", str(self.port), "--workers", "1"],
                env={**self.env, "AUTHORIUM_ADMIN_PORT": str(self.admin_port)},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        watchdog.tell(f"pid {self.proc.pid} {int(signal.SIGKILL)}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Stores:
    """The run's own Postgres and Redis. Redis keeps nothing on disk: a restart is a restart that lost data."""

    def __init__(self, folder: Path, watchdog: Watchdog) -> None:
        self.folder = folder
        self.watchdog = watchdog
        # A folder of its own, not under `folder`: as root the server runs as another user, who must reach it.
        pg_folder = Path(tempfile.mkdtemp(prefix="authorium-chaos-pg-"))
        watchdog.tell(f"folder {pg_folder}")
        self.postgres = PrivatePostgres(postgres_programs(), pg_folder, free_port(), max_connections=100)
        self.redis_port = free_port()
        self.redis: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.postgres.init()
        self.start_postgres()
        self.start_redis()

    def start_postgres(self) -> None:
        self.postgres.start()
        self.watchdog.tell(f"pid {self.postgres.pid()} {int(signal.SIGQUIT)}")

    def start_redis(self) -> None:
        options = ["--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.redis = subprocess.Popen(
            [str(redis_program().path), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.watchdog.tell(f"pid {self.redis.pid} {int(signal.SIGKILL)}")
        wait_for_port(self.redis_port)

    def kill_redis(self) -> None:
        assert self.redis is not None
        self.redis.send_signal(signal.SIGCONT)
        self.redis.kill()
        self.redis.wait()

    def close(self) -> None:
        if self.redis is not None:
            self.kill_redis()
        self.postgres.close()


@dataclass
class Session:
    """One signed-in user's grant at a client: its label (the grant), current tokens, access tokens issued."""

    grant: str
    access: str
    refresh: str
    used_refresh: list[str] = field(default_factory=list)


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        # Two generators: the fault schedule stays the same for a seed however the workload's timing varies.
        self.random = random.Random(args.seed)
        self.fault_random = random.Random(f"faults {args.seed}")
        self.t0 = time.monotonic()
        self.ops: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.authzs: list[Replica] = []
        self.resources: list[Replica] = []
        self.sessions: list[Session] = []
        self.service_tokens: list[str] = []
        self.revoked: list[tuple[str, str | None]] = []  # (access token, grant label) to keep probing
        self.notes: dict[str, tuple[str, str]] = {}  # acknowledged: note id -> (title, body)
        self.stopping = asyncio.Event()
        self.grants = 0

    def now(self) -> float:
        return time.monotonic() - self.t0

    # --- requests -------------------------------------------------------------------------------------------
    async def call(
        self, http: aiohttp.ClientSession, record: dict[str, Any], method: str, url: str, **kwargs: Any
    ) -> tuple[int | None, Any]:
        """One request, recorded in the history with when it was sent and answered (None: no HTTP answer)."""
        record["sent"] = self.now()
        status: int | None = None
        body: Any = None
        try:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            async with http.request(method, url, timeout=timeout, allow_redirects=False, **kwargs) as resp:
                status = resp.status
                raw = await resp.read()
                body = json.loads(raw) if resp.content_type == "application/json" and raw else raw
                if status in (302, 303):
                    body = resp.headers.get("Location", "")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            record["error"] = type(exc).__name__
        record["acked"] = self.now()
        record["status"] = status
        self.ops.append(record)
        return status, body

    def authz(self) -> Replica:
        return self.random.choice(self.authzs)

    def resource(self) -> Replica:
        return self.random.choice(self.resources)

    def basic(self, client: tuple[str, str]) -> dict[str, str]:
        from tests.authz.flows import basic_header

        return {"Authorization": basic_header(*client)}

    # --- the workload -----------------------------------------------------------------------------------------
    async def sign_in(self, http: aiohttp.ClientSession, *, replay: bool = True) -> None:
        """Sign in through the real login and consent pages, then redeem the code (and now and then replay it)."""
        verifier, challenge = pkce_pair()
        authz = self.authz()
        query = {
            "response_type": "code",
            "client_id": self.app[0],
            "redirect_uri": REDIRECT_URI,
            "scope": API_SCOPE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "chaos",
        }
        url = f"{authz.url}/authorize?{urlencode(query)}"
        code = None
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            method, form = "GET", None
            for _ in range(6):
                status, body = await self.call(
                    browser, {"op": "authorize", "replica": authz.name}, method, url, data=form
                )
                if status in (302, 303):
                    if body.startswith(REDIRECT_URI):
                        code = parse_qs(urlsplit(body).query).get("code", [None])[0]
                        break
                    url = body if body.startswith("http") else authz.url + body
                    method, form = "GET", None
                    continue
                if status != 200 or not isinstance(body, bytes):
                    return
                page = body.decode()
                fields = dict(_HIDDEN.findall(page))
                if 'action="/authorize/login"' in page:
                    form = {**fields, "username": self.username, "password": PASSWORD}
                    url = authz.url + "/authorize/login"
                elif 'action="/authorize/consent"' in page:
                    form = {**fields, "decision": "allow"}
                    url = authz.url + "/authorize/consent"
                else:
                    return
                method = "POST"
        if code is None:
            return
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        # Now and then a replay, at another replica: refused, and (RFC 6749 section 4.1.2) it revokes what the
        # first redemption produced, so that session is not used for the workload.
        tries = 2 if replay and self.random.random() < 0.3 else 1
        self.grants += 1
        grant = f"g{self.grants}"  # one code, one grant
        session = None
        for _ in range(tries):
            replica = self.authz()
            record: dict[str, Any] = {
                "op": "token",
                "grant_type": "authorization_code",
                "replica": replica.name,
                "code": short(code),
                "grant": grant,
            }
            status, body = await self.call(
                http, record, "POST", replica.url + "/token", data=form, headers=self.basic(self.app)
            )
            if status == 200:
                record.update(access=short(body["access_token"]), refresh=short(body["refresh_token"]))
                session = Session(grant, body["access_token"], body["refresh_token"])
        if session is not None and tries == 1:
            self.sessions.append(session)

    async def refresh(self, http: aiohttp.ClientSession) -> None:
        if not self.sessions:
            return
        session = self.random.choice(self.sessions)
        presented = session.refresh
        replay = session.used_refresh and self.random.random() < 0.1
        if replay:
            presented = session.used_refresh[-1]
        replica = self.authz()
        record: dict[str, Any] = {
            "op": "token",
            "grant_type": "refresh_token",
            "replica": replica.name,
            "presented": short(presented),
            "grant": session.grant,
            "replay": bool(replay),
        }
        form = {"grant_type": "refresh_token", "refresh_token": presented}
        status, body = await self.call(
            http, record, "POST", replica.url + "/token", data=form, headers=self.basic(self.app)
        )
        if replay and session in self.sessions:
            # In strict mode the replay revoked the family: nothing of it is used again (but its tokens are probed).
            self.sessions.remove(session)
        elif status == 200 and session.refresh == presented:
            record.update(access=short(body["access_token"]), refresh=short(body["refresh_token"]))
            session.used_refresh.append(session.refresh)
            session.access, session.refresh = body["access_token"], body["refresh_token"]

    async def client_credentials(self, http: aiohttp.ClientSession) -> None:
        replica = self.authz()
        record: dict[str, Any] = {"op": "token", "grant_type": "client_credentials", "replica": replica.name}
        form = {"grant_type": "client_credentials"}
        status, body = await self.call(
            http, record, "POST", replica.url + "/token", data=form, headers=self.basic(self.service)
        )
        if status == 200:
            record["access"] = short(body["access_token"])
            self.service_tokens = [*self.service_tokens[-20:], body["access_token"]]

    async def revoke(self, http: aiohttp.ClientSession) -> None:
        replica = self.authz()
        record: dict[str, Any]
        probe: tuple[str, str | None]
        if self.random.random() < 0.5 and len(self.service_tokens) > 2:
            token = self.service_tokens.pop(0)
            record = {"op": "revoke", "token_kind": "access", "token": short(token), "replica": replica.name}
            client, probe = self.service, (token, None)
        elif self.sessions and self.random.random() < 0.5:
            session = self.sessions.pop(self.random.randrange(len(self.sessions)))
            token = session.refresh
            record = {
                "op": "revoke",
                "token_kind": "refresh",
                "token": short(token),
                "grant": session.grant,
                "replica": replica.name,
            }
            client, probe = self.app, (session.access, session.grant)
        elif self.sessions:
            session = self.random.choice(self.sessions)
            token = session.access
            record = {
                "op": "revoke",
                "token_kind": "access",
                "token": short(token),
                "grant": session.grant,
                "replica": replica.name,
            }
            client, probe = self.app, (token, None)
        else:
            return
        status, _ = await self.call(
            http, record, "POST", replica.url + "/revoke", data={"token": token}, headers=self.basic(client)
        )
        if status == 200:
            self.revoked.append(probe)

    def some_token(self) -> tuple[str, str | None] | None:
        choices: list[tuple[str, str | None]] = [(t, None) for t in self.service_tokens[-5:]]
        choices += [(s.access, s.grant) for s in self.sessions[-5:]]
        if self.revoked and self.random.random() < 0.4:
            choices = self.revoked[-20:]
        return self.random.choice(choices) if choices else None

    async def introspect(self, http: aiohttp.ClientSession) -> None:
        picked = self.some_token()
        if picked is None:
            return
        token, grant = picked
        replica = self.authz()
        record: dict[str, Any] = {"op": "introspect", "token": short(token), "grant": grant, "replica": replica.name}
        client = self.app if grant else self.service
        status, body = await self.call(
            http, record, "POST", replica.url + "/introspect", data={"token": token}, headers=self.basic(client)
        )
        if status == 200 and isinstance(body, dict):
            record["active"] = bool(body.get("active"))

    async def me(self, http: aiohttp.ClientSession) -> None:
        picked = self.some_token()
        if picked is not None:
            await self.present(http, "me", self.resource(), *picked)

    async def present(
        self, http: aiohttp.ClientSession, op: str, replica: Replica, token: str, grant: str | None
    ) -> None:
        record: dict[str, Any] = {"op": op, "token": short(token), "grant": grant, "replica": replica.name}
        await self.call(http, record, "GET", replica.url + "/api/me", headers={"Authorization": f"Bearer {token}"})

    async def write_note(self, http: aiohttp.ClientSession) -> None:
        if not self.sessions:
            return
        session = self.random.choice(self.sessions)
        replica = self.resource()
        title = f"chaos {secrets.token_hex(8)}"
        body = secrets.token_hex(64)
        record: dict[str, Any] = {
            "op": "note_write",
            "title": title,
            "body": body,
            "token": short(session.access),
            "grant": session.grant,
            "replica": replica.name,
        }
        headers = {"Authorization": f"Bearer {session.access}"}
        status, answer = await self.call(
            http, record, "POST", replica.url + "/api/notes", json={"title": title, "body": body}, headers=headers
        )
        if status == 201:
            record["note_id"] = answer["id"]
            self.notes[answer["id"]] = (title, body)

    async def read_note(self, http: aiohttp.ClientSession) -> None:
        if not self.notes or not self.sessions:
            return
        note_id = self.random.choice(list(self.notes))
        session = self.random.choice(self.sessions)
        replica = self.resource()
        record: dict[str, Any] = {
            "op": "note_read",
            "note_id": note_id,
            "token": short(session.access),
            "grant": session.grant,
            "replica": replica.name,
        }
        headers = {"Authorization": f"Bearer {session.access}"}
        status, answer = await self.call(http, record, "GET", f"{replica.url}/api/notes/{note_id}", headers=headers)
        if status == 200:
            record["matches"] = (answer["title"], answer["body"]) == self.notes[note_id]

    async def workload(self, http: aiohttp.ClientSession, offset: int) -> None:
        steps: list[Callable[[aiohttp.ClientSession], Awaitable[None]]] = [
            self.client_credentials,
            self.me,
            self.refresh,
            self.introspect,
            self.write_note,
            self.revoke,
            self.read_note,
            self.me,
            self.client_credentials,
            self.introspect,
        ]
        i = offset
        while not self.stopping.is_set():
            if i % 15 == 0 or len(self.sessions) < 3:
                await self.sign_in(http)
            await steps[i % len(steps)](http)
            i += 1
            await asyncio.sleep(0.01)

    async def prober(self, http: aiohttp.ClientSession) -> None:
        """Keeps presenting revoked tokens to every resource replica, newly started ones included."""
        while not self.stopping.is_set():
            recent = self.revoked[-8:] + self.random.sample(self.revoked, min(4, len(self.revoked)))
            for token, grant in recent:
                for replica in list(self.resources):
                    await self.present(http, "probe", replica, token, grant)
            await asyncio.sleep(0.05)

    # --- faults ---------------------------------------------------------------------------------------------
    async def inject(self, kind: str) -> None:
        record: dict[str, Any] = {"kind": kind, "started": self.now()}
        stores = self.stores
        if kind == "redis_restart_empty":
            await asyncio.to_thread(stores.kill_redis)
            await asyncio.sleep(self.fault_random.uniform(0.2, 1.5))
            await asyncio.to_thread(stores.start_redis)
        elif kind == "flushall":
            client = Redis(host="127.0.0.1", port=stores.redis_port, socket_timeout=5)
            try:
                await client.flushall()
            finally:
                await client.aclose()
        elif kind == "redis_stop":
            assert stores.redis is not None
            stores.redis.send_signal(signal.SIGSTOP)
            await asyncio.sleep(self.fault_random.uniform(0.5, 3.0))
            stores.redis.send_signal(signal.SIGCONT)
        elif kind == "postgres_restart":
            await asyncio.to_thread(stores.postgres.stop, "fast")
            await asyncio.sleep(self.fault_random.uniform(0.2, 1.0))
            await asyncio.to_thread(stores.start_postgres)
        elif kind == "replica_kill":
            replica = self.fault_random.choice(self.authzs + self.resources)
            record["target"] = replica.name
            replica.kill()
            await asyncio.sleep(self.fault_random.uniform(0.2, 1.5))
            replica.start(self.watchdog)
        elif kind == "new_resource":
            replica = self.new_replica("resource", f"resource{len(self.resources) + 1}")
            record["target"] = replica.name
            replica.start(self.watchdog)
            await asyncio.to_thread(wait_for_port, replica.port, 30)
            self.resources.append(replica)
        record["ended"] = self.now()
        self.faults.append(record)
        print(f"{record['started']:6.1f}s fault {kind} {record.get('target', '')}", flush=True)

    async def chaos(self, until: float) -> None:
        kinds = ["redis_restart_empty", "flushall", "redis_stop", "postgres_restart", "replica_kill", "new_resource"]
        await asyncio.sleep(3)
        while self.now() < until:
            choices = kinds if len(self.resources) < MAX_RESOURCE_REPLICAS else kinds[:-1]
            await self.inject(self.fault_random.choice(choices))
            await asyncio.sleep(self.fault_random.uniform(self.args.fault_gap / 2, self.args.fault_gap * 1.5))

    async def readiness(self, http: aiohttp.ClientSession, since: float, limit: float) -> dict[str, float | None]:
        """Seconds after `since` each replica first answered /readyz 200 (None: not within `limit`)."""
        ready: dict[str, float | None] = {r.name: None for r in self.authzs + self.resources}
        deadline = since + limit + 2
        while self.now() < deadline and any(v is None for v in ready.values()):
            for replica in self.authzs + self.resources:
                if ready[replica.name] is not None:
                    continue
                try:
                    async with http.get(
                        replica.private_url + "/readyz", timeout=aiohttp.ClientTimeout(total=1)
                    ) as resp:
                        if resp.status == 200:
                            ready[replica.name] = round(max(0.0, self.now() - since), 2)
                except (aiohttp.ClientError, TimeoutError):
                    pass
            await asyncio.sleep(0.2)
        return ready

    # --- set-up ------------------------------------------------------------------------------------------------
    def new_replica(self, service: str, name: str) -> Replica:
        env = dict(self.env)
        if service == "resource":
            # Each resource replica fetches its keys from one of the authorization replicas.
            env["AUTHORIUM_JWKS_URL"] = self.authzs[len(self.resources) % len(self.authzs)].url + "/jwks.json"
        plant = PLANTS.get(self.args.plant_bug or "") if service == "resource" else None
        return Replica(name, service, free_port(), env, self.folder / f"{name}.log", plant)

    async def seed(self, database_url: str) -> None:
        pool = await create_pg_pool(database_url, max_size=2)
        try:
            app = await make_client(pool, grant_types=("authorization_code", "refresh_token"), scope=API_SCOPE)
            service = await make_client(pool, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
            self.username = await make_user(pool)
        finally:
            await pool.close()
        assert app.secret and service.secret
        self.app, self.service = (app.client_id, app.secret), (service.client_id, service.secret)

    async def final_notes(self, http: aiohttp.ClientSession) -> dict[str, dict[str, str]] | None:
        """Every note of the user, read through a resource replica with a fresh sign-in's token."""
        for attempt in range(10):
            if attempt:
                await asyncio.sleep(1)
            before = len(self.sessions)
            await self.sign_in(http, replay=False)
            if len(self.sessions) > before:
                notes = await self.list_notes(http, self.sessions[-1].access, self.resources[attempt % 2])
                if notes is not None:
                    return notes
        return None

    async def list_notes(
        self, http: aiohttp.ClientSession, token: str, replica: Replica
    ) -> dict[str, dict[str, str]] | None:
        notes: dict[str, dict[str, str]] = {}
        cursor = None
        while True:
            query = {"limit": "100", **({"cursor": cursor} if cursor else {})}
            record: dict[str, Any] = {"op": "final_read", "replica": replica.name}
            status, page = await self.call(
                http,
                record,
                "GET",
                f"{replica.url}/api/notes?{urlencode(query)}",
                headers={"Authorization": f"Bearer {token}"},
            )
            if status != 200:
                return None
            for note in page["notes"]:
                notes[note["id"]] = {"title": note["title"], "body": note["body"]}
            cursor = page["next_cursor"]
            if not cursor:
                return notes

    async def main(self) -> dict[str, Any]:
        self.folder = Path(tempfile.mkdtemp(prefix="authorium-chaos-"))
        self.watchdog = Watchdog()
        self.watchdog.tell(f"folder {self.folder}")
        self.stores = Stores(self.folder, self.watchdog)
        replicas: list[Replica] = []
        try:
            await asyncio.to_thread(self.stores.start)
            admin = await asyncpg.connect(self.stores.postgres.url())
            await admin.execute('CREATE DATABASE "authorium"')
            await admin.close()
            database_url = self.stores.postgres.url("authorium")
            self.env = {
                "PATH": os.environ.get("PATH", ""),
                "DATABASE_URL": database_url,
                "REDIS_URL": f"redis://127.0.0.1:{self.stores.redis_port}/0",
                "AUTHORIUM_KEK": generate_kek(),
                "AUTHORIUM_RESOURCE_URL": RESOURCE_ID,
                "AUTHORIUM_REVOCATION_MAX_STALENESS": "1",
                "AUTHORIUM_LOG_LEVEL": "WARNING",
            }
            migrate = subprocess.run(
                [sys.executable, "-m", "authorium", "migrate"],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            if migrate.returncode != 0:
                raise RuntimeError(f"authorium migrate failed: {migrate.stderr}")
            await self.seed(database_url)
            ports = [free_port(), free_port()]
            self.env["AUTHORIUM_ISSUER"] = f"http://127.0.0.1:{ports[0]}"
            self.authzs = [
                Replica(f"authz{i + 1}", "authz", port, dict(self.env), self.folder / f"authz{i + 1}.log")
                for i, port in enumerate(ports)
            ]
            for replica in self.authzs:
                replica.start(self.watchdog)
            for replica in self.authzs:
                await asyncio.to_thread(wait_for_port, replica.port, 60)
            for i in range(2):
                replica = self.new_replica("resource", f"resource{i + 1}")
                self.resources.append(replica)
                replica.start(self.watchdog)
            for replica in self.resources:
                await asyncio.to_thread(wait_for_port, replica.port, 60)
            replicas = self.authzs + self.resources  # the list objects grow with new replicas; see finally
            self.t0 = time.monotonic()
            print(f"stack up in {self.folder}; running {self.args.duration:.0f}s, seed {self.args.seed}", flush=True)

            async with aiohttp.ClientSession() as http:
                loops = [asyncio.create_task(self.workload(http, i)) for i in range(self.args.concurrency)]
                loops.append(asyncio.create_task(self.prober(http)))
                await self.chaos(until=max(3.0, self.args.duration - QUIET_TAIL))
                last_fault = self.faults[-1]["ended"] if self.faults else 0.0
                ready = await self.readiness(http, last_fault, chaos_checker.READY_WITHIN)
                remaining = self.args.duration - self.now()
                if remaining > 0:
                    await asyncio.sleep(remaining)
                self.stopping.set()
                await asyncio.gather(*loops)
                # The last word on every revocation: each revoked token, once more at every replica.
                for token, grant in self.revoked:
                    for replica in self.resources:
                        await self.present(http, "probe", replica, token, grant)
                notes = await self.final_notes(http)
        finally:
            for replica in self.authzs + self.resources + replicas:
                replica.stop()
            await asyncio.to_thread(self.stores.close)
            if self.args.keep_logs:
                print(f"logs kept in {self.folder}")
                self.watchdog.tell("done")
                self.watchdog.proc.wait(10)
            else:
                shutil.rmtree(self.folder, ignore_errors=True)
                self.watchdog.done()
        history = {
            "duration": round(self.now(), 1),
            "seed": self.args.seed,
            "plant_bug": self.args.plant_bug,
            "ops": self.ops,
            "faults": self.faults,
            "ready": ready,
            "final_notes": notes,
        }
        return history


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of workload (at least 20)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault schedule and workload choices")
    parser.add_argument("--report", type=Path, help="write the history, summary and violations here (JSON)")
    parser.add_argument("--concurrency", type=int, default=4, help="workload loops")
    parser.add_argument("--fault-gap", type=float, default=4.0, help="mean seconds between faults")
    parser.add_argument("--plant-bug", choices=sorted(PLANTS), help="plant a bug in the resource replicas")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs folder")
    args = parser.parse_args(argv)
    if args.duration < 20:
        parser.error("--duration must be at least 20")
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # SIGTERM ends the run as Ctrl-C does: through the clean-up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    history = asyncio.run(Run(args).main())
    violations = chaos_checker.check(history)
    summary = chaos_checker.summary(history, violations)
    print(json.dumps(summary, indent=2))
    for violation in violations[:30]:
        hint = f" (known gap: after {', '.join(violation.after_redis_loss)})" if violation.after_redis_loss else ""
        print(f"VIOLATION {violation.rule}: {violation.detail}{hint}")
    if len(violations) > 30:
        print(f"... and {len(violations) - 30} more")
    if args.report:
        report = {"summary": summary, "violations": [v.as_dict() for v in violations], "history": history}
        args.report.write_text(json.dumps(report))
    print("FAIL" if violations else "OK", f"{len(violations)} violation(s)")
    return 1 if violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
