"""Postgres restarted (a private server, stopped `fast` and started again) while client-credentials tokens,
refresh-token rotations and note creations flow: what needs Postgres is answered 503 `temporarily_unavailable`
(never a 500) while it is down, the pools reconnect by themselves once it is back, and the rows match the answers
exactly: every acknowledged refresh token and note has its row, every grant has its refresh tokens, and a
request answered 503 left nothing behind (so retrying the same refresh token works).

The same under a switchover: the servers' DATABASE_URL lists a primary and its streaming standby with
`target_session_attrs=read-write`; the primary is stopped and the standby promoted, and the pools move to it."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field

import aiohttp
import asyncpg
import pytest

from authorium_shared.resources import create_pg_pool
from authz.tokens.minter import refresh_digest
from tests.authz.conftest import running_authz
from tests.authz.flows import RegisteredClient, make_client, make_user, sign_in_and_redeem
from tests.faults.traffic import Answer, Load, Step, assert_only, call, is_unavailable
from tests.resource.conftest import RESOURCE_URL, running_resource, unverified_claims
from tests.stores import private_postgres
from tests.waiting import eventually

pytestmark = pytest.mark.slow

CHAINS = 4
DOWN = 2.0
SCOPE = "notes:read notes:write"


@dataclass
class Chain:
    """One grant's refresh-token family, used by one request at a time (a concurrent reuse would revoke it)."""

    grant_id: uuid.UUID
    owner: str
    access_token: str
    # Every refresh token of the family that was answered with 200, in order; the last is the current one.
    acknowledged: list[str] = field(default_factory=list)
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)


class GrantTraffic:
    def __init__(
        self, http: aiohttp.ClientSession, authz: str, api: str, app: RegisteredClient, service: RegisteredClient
    ) -> None:
        self.http = http
        self.authz = authz
        self.api = api
        self.app = app
        self.service = service
        self.chains: list[Chain] = []
        self.notes: dict[str, str] = {}  # acknowledged note id -> owner

    def add(self, token_response: dict[str, str]) -> None:
        claims = unverified_claims(token_response["access_token"])
        chain = Chain(uuid.UUID(claims["grant_id"]), claims["sub"], token_response["access_token"])
        chain.acknowledged.append(token_response["refresh_token"])
        self.chains.append(chain)

    @property
    def steps(self) -> list[Step]:
        return [self.client_credentials, self.refresh, self.create_note]

    async def client_credentials(self) -> Answer:
        form = {"grant_type": "client_credentials"}
        return await call(self.http, "token", "POST", self.authz + "/token", data=form, headers=self.service.basic)

    async def refresh(self) -> Answer | None:
        idle = [chain for chain in self.chains if not chain.busy.locked()]
        # The least refreshed, so that every family is rotated all along.
        return await self.refresh_chain(min(idle, key=lambda c: len(c.acknowledged))) if idle else None

    async def refresh_chain(self, chain: Chain) -> Answer:
        async with chain.busy:
            return await self._refresh(chain)

    async def _refresh(self, chain: Chain) -> Answer:
        form = {"grant_type": "refresh_token", "refresh_token": chain.acknowledged[-1]}
        answer = await call(self.http, "refresh", "POST", self.authz + "/token", data=form, headers=self.app.basic)
        if answer.status == 200:
            chain.acknowledged.append(answer.body["refresh_token"])
            chain.access_token = answer.body["access_token"]
        return answer

    async def create_note(self) -> Answer:
        chain = self.chains[len(self.notes) % len(self.chains)]
        answer = await call(
            self.http,
            "note",
            "POST",
            self.api + "/api/notes",
            json={"title": "written under fault", "body": "x" * 200},
            headers={"Authorization": f"Bearer {chain.access_token}"},
        )
        if answer.status == 201:
            self.notes[answer.body["id"]] = chain.owner
        return answer

    async def all_served(self) -> bool:
        """Every chain refreshes, a service token is issued and a note is written."""
        answers = [await self.refresh_chain(chain) for chain in self.chains]
        answers += [await self.client_credentials(), await self.create_note()]
        return all(a.status in (200, 201) for a in answers)


@pytest.mark.parametrize("switchover", [False, True], ids=["restart", "switchover"])
async def test_postgres_restarted_under_load(
    environ: dict[str, str], http: aiohttp.ClientSession, cheap_password_hashing: None, switchover: bool
) -> None:
    with ExitStack() as servers:
        pg = servers.enter_context(private_postgres())
        url = await pg.migrated_database("authorium")
        if switchover:
            standby = servers.enter_context(private_postgres(standby_of=pg))
            url = (
                f"postgresql://postgres@127.0.0.1:{pg.port},127.0.0.1:{standby.port}/authorium"
                "?target_session_attrs=read-write"
            )
        db = await create_pg_pool(url, max_size=2)
        try:
            app = await make_client(db, grant_types=("authorization_code", "refresh_token"), scope=SCOPE)
            service = await make_client(db, grant_types=("client_credentials",), scope="notes:read", redirect_uris=())
            username = await make_user(db)
            env = {**environ, "DATABASE_URL": url, "AUTHORIUM_RESOURCE_URL": RESOURCE_URL}
            async with running_authz(env) as authz, running_resource({**env, "AUTHORIUM_ISSUER": authz}) as api:
                traffic = GrantTraffic(http, authz, api, app, service)
                for _ in range(CHAINS):
                    traffic.add(await sign_in_and_redeem(http, authz, app, username, scope=SCOPE))
                # The sleeps below set the fault's timeline (traffic before, the outage, traffic after): not waits.
                async with Load(traffic.steps, concurrency=6) as load:
                    await asyncio.sleep(1.0)
                    stopping = time.monotonic()
                    # A fast stop sends the standby all the primary has written first: a switchover loses nothing.
                    await asyncio.to_thread(pg.stop)
                    stopped = time.monotonic()
                    await asyncio.sleep(DOWN)
                    starting = time.monotonic()
                    await asyncio.to_thread(standby.promote if switchover else pg.start)
                    started = time.monotonic()
                    await eventually(traffic.all_served, timeout=15, message="recovery after Postgres came back")
                    recovery = time.monotonic() - started
                    await asyncio.sleep(1.0)
            await check_rows(db, traffic, app)
        finally:
            await db.close()

    assert_only(load.of("token"), 200, 503)
    assert_only(load.of("refresh"), 200, 503)
    assert_only(load.of("note"), 201, 503)
    # While Postgres was down, whatever needed it was refused in the documented form. (Client credentials need
    # only the client, which each replica keeps in memory for a minute, and Redis: they may go on.)
    for op in ("refresh", "note"):
        during = [a for a in load.of(op) if a.within(stopped, starting)]
        assert during and all(map(is_unavailable, during)), (op, {a.status for a in during})
    for op, ok in (("token", 200), ("refresh", 200), ("note", 201)):
        assert any(a.status == ok and a.ended < stopping for a in load.of(op)), op
        assert any(a.status == ok and a.started > started for a in load.of(op)), op
    assert max(a.seconds for a in load.answers) < 2.0
    assert recovery < 5, f"took {recovery:.1f}s to recover"


async def check_rows(db: asyncpg.Pool, traffic: GrantTraffic, app: RegisteredClient) -> None:
    """The rows are exactly what was acknowledged: nothing missing, nothing from a request answered 503."""
    orphans = await db.fetchval(
        """SELECT count(*) FROM grants g WHERE g.client_id = $1
           AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.grant_id = g.grant_id)""",
        app.client_id,
    )
    assert orphans == 0, "a grant without its refresh token"
    grants = await db.fetchval("SELECT count(*) FROM grants WHERE client_id = $1", app.client_id)
    assert grants == CHAINS
    for chain in traffic.chains:
        rows = {
            row["token_hash"]: row
            for row in await db.fetch(
                "SELECT token_hash, used_at, successor_hash FROM refresh_tokens WHERE grant_id = $1", chain.grant_id
            )
        }
        digests = [refresh_digest(token) for token in chain.acknowledged]
        assert set(digests) <= set(rows), "an acknowledged refresh token without its row"
        assert len(rows) == len(digests), "a refresh token row that no answer acknowledged"
        for earlier, later in itertools.pairwise(digests):
            assert rows[earlier]["successor_hash"] == later
        assert rows[digests[-1]]["used_at"] is None
        revoked = await db.fetchval("SELECT revoked_at FROM grants WHERE grant_id = $1", chain.grant_id)
        assert revoked is None, "a grant revoked on the way"
    notes = await db.fetch("SELECT note_id::text, owner FROM notes")
    assert {row["note_id"]: row["owner"] for row in notes} == traffic.notes
