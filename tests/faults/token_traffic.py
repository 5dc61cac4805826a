"""Traffic that needs Redis at the authorization server: client-credentials tokens (rate limiter), their
revocation (Redis's lists), introspection (the replica's copy of those lists, failing closed when its feed is
stale) and their use at the resource server; and the checks that no acknowledged revocation was lost."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque

import aiohttp

from tests.authz.flows import RegisteredClient
from tests.faults.traffic import Answer, Step, call

# "A revoked token is refused everywhere within a second" (README): the resource server's copy is told by pub/sub.
PROPAGATION = 1.0


class TokenTraffic:
    def __init__(self, http: aiohttp.ClientSession, authz: str, api: str, client: RegisteredClient) -> None:
        self.http = http
        self.authz = authz
        self.api = api
        self.client = client
        self.live: deque[str] = deque(maxlen=50)
        # Tokens put aside to revoke while no new ones can be issued (see `stock`).
        self.spare: list[str] = []
        # Token -> when its revocation was acknowledged (answered 200).
        self.revoked: dict[str, float] = {}
        self.random = random.Random(8)

    @property
    def steps(self) -> list[Step]:
        return [self.token, self.revoke, self.introspect, self.me]

    async def token(self) -> Answer:
        answer = await call(
            self.http,
            "token",
            "POST",
            self.authz + "/token",
            data={"grant_type": "client_credentials"},
            headers=self.client.basic,
        )
        if answer.status == 200:
            self.live.append(answer.body["access_token"])
        return answer

    async def stock(self, count: int) -> None:
        """Put `count` tokens aside, so that revocations go on being attempted while tokens cannot be issued."""
        while len(self.spare) < count:
            answer = await self.token()
            assert answer.status == 200, answer
            self.spare.append(self.live.pop())

    async def revoke(self) -> Answer | None:
        if len(self.live) >= 4:
            token = self.live.popleft()
        elif self.spare:
            token = self.spare.pop()
        else:
            return None
        answer = await self.revoke_token(token)
        if answer.status == 200:
            self.revoked[token] = answer.ended
        return answer

    async def _send(self, op: str, path: str, token: str) -> Answer:
        """`token` to an endpoint of the authorization server, by the client it was issued to."""
        form = {"token": token}
        return await call(self.http, op, "POST", self.authz + path, data=form, headers=self.client.basic, subject=token)

    async def revoke_token(self, token: str) -> Answer:
        return await self._send("revoke", "/revoke", token)

    def _some_token(self) -> str | None:
        pool = list(self.revoked) if self.revoked and self.random.random() < 0.5 else list(self.live)
        return self.random.choice(pool) if pool else None

    async def introspect(self) -> Answer | None:
        token = self._some_token()
        return None if token is None else await self.introspect_token(token)

    async def introspect_token(self, token: str) -> Answer:
        return await self._send("introspect", "/introspect", token)

    async def me(self) -> Answer | None:
        token = self._some_token()
        return None if token is None else await self.me_with(token)

    async def me_with(self, token: str) -> Answer:
        headers = {"Authorization": f"Bearer {token}"}
        return await call(self.http, "me", "GET", self.api + "/api/me", headers=headers, subject=token)

    async def all_served(self) -> bool:
        """A new token is issued, introspected as active and accepted by the resource server."""
        answer = await self.token()
        if answer.status != 200:
            return False
        token = answer.body["access_token"]
        introspected = await self.introspect_token(token)
        used = await self.me_with(token)
        return introspected.status == 200 and introspected.body["active"] and used.status == 200

    async def watch(self, token: str, seconds: float) -> list[Answer]:
        """Present `token` to the resource server over and over for `seconds`: the moments after Redis comes back
        are when a server could reload lists that are not whole again yet."""
        answers = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            answers.append(await self.me_with(token))
            await asyncio.sleep(0.002)
        return answers

    def honoured_throughout(self, answers: list[Answer]) -> None:
        """No answer vouched for a token after its revocation was acknowledged: introspection at once (the
        revoking replica notes it before answering), the resource server after PROPAGATION."""
        for answer in answers:
            acknowledged = self.revoked.get(answer.subject or "")
            if acknowledged is None or answer.status != 200:
                continue
            if answer.op == "introspect" and answer.started > acknowledged:
                assert answer.body == {"active": False}, f"revoked token introspected as active: {answer}"
            if answer.op == "me" and answer.started > acknowledged + PROPAGATION:
                raise AssertionError(
                    f"the resource server accepted a token revoked {answer.started - acknowledged:.2f}s before"
                )

    async def honoured_now(self) -> None:
        """Every acknowledged revocation is in force: introspection says inactive, the resource server refuses."""
        for token in self.revoked:
            answer = await self.introspect_token(token)
            assert (answer.status, answer.body) == (200, {"active": False}), answer
            answer = await self.me_with(token)
            assert answer.status == 401 and answer.body["error"] == "invalid_token", answer
