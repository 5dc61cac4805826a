"""An internal service calling the notes API with the client credentials grant (RFC 6749 section 4.4).

It finds the token endpoint through discovery, keeps its access token until shortly before it expires, and
fetches a new one only then (or when the API says the token is no longer good). Run it with a client that
may use client_credentials, for example:

    authorium client create --name reporter --grant-type client_credentials --scope "notes:read notes:admin" --json
    SERVICE_CLIENT_ID=... SERVICE_CLIENT_SECRET=... python examples/service_client.py [owner-sub]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import aiohttp

ISSUER = os.environ.get("AUTHORIUM_ISSUER", "http://127.0.0.1:8000")
API = os.environ.get("NOTES_API_URL", "http://127.0.0.1:8001")
# Renew this long before expiry, so a token never expires in flight.
EXPIRY_MARGIN = 30.0


class ServiceToken:
    """A client-credentials access token, fetched on first use and renewed shortly before it expires."""

    def __init__(self, session: aiohttp.ClientSession, client_id: str, client_secret: str, scope: str) -> None:
        self.session = session
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.token: str | None = None
        self.expires_at = 0.0
        self.token_endpoint: str | None = None
        self.lock = asyncio.Lock()

    async def _discover(self) -> str:
        async with self.session.get(f"{ISSUER}/.well-known/oauth-authorization-server") as resp:
            resp.raise_for_status()
            return str((await resp.json())["token_endpoint"])

    async def get(self) -> str:
        async with self.lock:  # concurrent callers share one fetch
            if self.token is None or time.monotonic() >= self.expires_at - EXPIRY_MARGIN:
                await self._fetch()
            assert self.token is not None
            return self.token

    def forget(self) -> None:
        self.token = None

    async def _fetch(self) -> None:
        self.token_endpoint = self.token_endpoint or await self._discover()
        form = {"grant_type": "client_credentials", "scope": self.scope}
        # client_secret_post keeps this example free of Basic-encoding details; Basic works too.
        form |= {"client_id": self.client_id, "client_secret": self.client_secret}
        started = time.monotonic()
        async with self.session.post(self.token_endpoint, data=form) as resp:
            body: dict[str, Any] = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"token request failed: {body.get('error')}: {body.get('error_description')}")
        self.token = str(body["access_token"])
        self.expires_at = started + float(body["expires_in"])


async def call(session: aiohttp.ClientSession, token: ServiceToken, path: str) -> Any:
    for attempt in range(2):
        headers = {"Authorization": f"Bearer {await token.get()}"}
        async with session.get(API + path, headers=headers) as resp:
            if resp.status == 401 and attempt == 0:
                token.forget()  # revoked or expired early: get a new one once
                continue
            resp.raise_for_status()
            return await resp.json()
    raise RuntimeError("unreachable")


async def main() -> None:
    client_id = os.environ["SERVICE_CLIENT_ID"]
    client_secret = os.environ["SERVICE_CLIENT_SECRET"]
    async with aiohttp.ClientSession() as session:
        token = ServiceToken(
            session, client_id, client_secret, os.environ.get("SERVICE_SCOPE", "notes:read notes:admin")
        )
        print("me:", await call(session, token, "/api/me"))
        if len(sys.argv) > 1:
            notes = await call(session, token, f"/api/notes?owner={sys.argv[1]}")
            print(f"{len(notes['notes'])} note(s) of {sys.argv[1]}:")
            for note in notes["notes"]:
                print(f"  {note['created_at'][:19]}  {note['title']}")
        # A second call reuses the cached token: no new token request.
        await call(session, token, "/api/me")


if __name__ == "__main__":
    asyncio.run(main())
