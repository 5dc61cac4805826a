"""What the scenarios need, made before the clock starts: clients, a user, tokens, and single-use material
(authorization codes, refresh tokens, pending sign-ins) in the numbers a run can spend.

Bulk rows go straight into the authorization server's tables with COPY: the bench measures serving them, not
making them one request at a time."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authz.authorization.codes import AuthorizationCode, CodeStore
from authz.clients.registration import build_spec, register_client
from authz.tokens.minter import refresh_digest
from authz.users.accounts import create_user
from authz.users.passwords import Passwords
from authz.users.repository import UserRepository

REDIRECT_URI = "https://bench.example/callback"
PASSWORD = "bench password of reasonable length"
USER_SCOPE = "openid notes:read notes:write"
ID_TOKEN_ALG = "ES256"
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@dataclass(frozen=True)
class Seeded:
    service_client: tuple[str, str]
    user_client: tuple[str, str]
    username: str
    user_id: uuid.UUID
    service_token: str
    user_token: str
    verifier: str
    challenge: str


async def seed(pool: asyncpg.Pool, authz: str) -> Seeded:
    service_spec = build_spec(
        name="bench service", grant_types=["client_credentials"], redirect_uris=[], scope="notes:read", public=False
    )
    service, service_secret = await register_client(pool, service_spec)
    user_spec = build_spec(
        name="bench web app",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        scope=USER_SCOPE,
        public=False,
        # As a client may register (OIDC Dynamic Client Registration section 2): its ID tokens, at code exchange and
        # on refresh, in the access tokens' algorithm rather than the RS256 default, which costs ten times as much.
        id_token_signed_response_alg=ID_TOKEN_ALG,
    )
    web_app, web_secret = await register_client(pool, user_spec)
    assert service_secret and web_secret
    username = f"bench-{secrets.token_hex(4)}"
    with Passwords(workers=1) as passwords:
        user = await create_user(UserRepository(pool), passwords, username, PASSWORD)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    seeded = Seeded(
        service_client=(service.client_id, service_secret),
        user_client=(web_app.client_id, web_secret),
        username=username,
        user_id=user.user_id,
        service_token="",
        user_token="",
        verifier=verifier,
        challenge=challenge,
    )
    async with aiohttp.ClientSession() as http:
        service_token = await _token(http, authz, seeded.service_client, "grant_type=client_credentials")
    return replace(seeded, service_token=service_token)


async def _token(http: aiohttp.ClientSession, authz: str, client: tuple[str, str], body: str) -> str:
    async with http.post(
        authz + "/token",
        data=body,
        headers={"Authorization": basic(*client), "Content-Type": "application/x-www-form-urlencoded"},
    ) as resp:
        answer = await resp.json()
        assert resp.status == 200, answer
        return str(answer["access_token"])


def code_body(code: str, verifier: str) -> str:
    return f"grant_type=authorization_code&code={code}&redirect_uri={REDIRECT_URI}&code_verifier={verifier}"


async def mint_codes(redis: Redis, prefix: str, seeded: Seeded, count: int) -> list[str]:
    """Authorization codes as the authorization endpoint would store them (they live at most 60 s)."""
    store = CodeStore(redis, RedisKeys(prefix), ttl=60, replay_memory=60)
    now = int(time.time())

    async def one() -> str:
        code = AuthorizationCode(
            client_id=seeded.user_client[0],
            redirect_uri=REDIRECT_URI,
            scopes=tuple(USER_SCOPE.split()),
            user_id=str(seeded.user_id),
            auth_time=now,
            grant_id=str(uuid.uuid4()),
            code_challenge=seeded.challenge,
            nonce=None,
        )
        return code_body(await store.issue(code), seeded.verifier)

    bodies: list[str] = []
    for start in range(0, count, 50):
        bodies += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return bodies


async def user_token(redis: Redis, prefix: str, seeded: Seeded, authz: str) -> str:
    (body,) = await mint_codes(redis, prefix, seeded, 1)
    async with aiohttp.ClientSession() as http:
        return await _token(http, authz, seeded.user_client, body)


async def create_notes(resource: str, token: str, count: int) -> None:
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            note = {"title": f"note {i}", "body": "A note for the bench to list." * 3}
            async with http.post(resource + "/api/notes", json=note, headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 201, await r.text()


async def refresh_families(
    pool: asyncpg.Pool, client_id: str, user_ids: list[uuid.UUID], count: int, *, scopes: str = USER_SCOPE
) -> list[str]:
    """`count` grants, each with one live refresh token; returns the token request bodies that use them."""
    now = datetime.now(UTC)
    expires = now + timedelta(days=30)
    grants: list[tuple[object, ...]] = []
    tokens: list[tuple[object, ...]] = []
    bodies: list[str] = []
    scope_list = scopes.split()
    for i in range(count):
        grant_id = uuid.uuid4()
        token = secrets.token_urlsafe(32)
        grants.append((grant_id, client_id, user_ids[i % len(user_ids)], scope_list, [], None, now, expires))
        tokens.append((refresh_digest(token), grant_id, scope_list, now, expires))
        bodies.append(f"grant_type=refresh_token&refresh_token={token}")
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "grants",
            records=grants,
            columns=["grant_id", "client_id", "user_id", "scopes", "audience", "nonce", "auth_time", "expires_at"],
        )
        await conn.copy_records_to_table(
            "refresh_tokens",
            records=tokens,
            columns=["token_hash", "grant_id", "scopes", "issued_at", "expires_at"],
        )
    return bodies


async def pending_sign_ins(authz: str, seeded: Seeded, count: int) -> list[str]:
    """Sign-in forms ready to post: each a browser session with an authorization request waiting on login.
    Each line is "Cookie: <session>\\t<form body>"."""
    semaphore = asyncio.Semaphore(16)
    query = {
        "response_type": "code",
        "client_id": seeded.user_client[0],
        "redirect_uri": REDIRECT_URI,
        "scope": USER_SCOPE,
        "code_challenge": seeded.challenge,
        "code_challenge_method": "S256",
        "state": "bench",
    }

    async def one() -> str:
        async with semaphore, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            async with browser.get(authz + "/authorize", params=query, allow_redirects=True) as resp:
                page = await resp.text()
                assert resp.status == 200, page[:300]
            fields = dict(_HIDDEN.findall(page))
            cookie = "; ".join(f"{c.key}={c.value}" for c in browser.cookie_jar)
        form = f"rid={fields['rid']}&csrf={fields['csrf']}&username={seeded.username}&password={PASSWORD}"
        return f"Cookie: {cookie}\t{form.replace(' ', '+')}"

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def scale_rows(pool: asyncpg.Pool, *, clients: int, users: int, families: int) -> None:
    """Load the database the way a large deployment's would be: many clients, users and refresh families."""
    password_hash = await pool.fetchval("SELECT password_hash FROM users LIMIT 1")
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "clients",
            records=[
                (
                    f"scale-{i}",
                    f"scale client {i}",
                    hashlib.sha256(str(i).encode()).digest(),
                    "client_secret_basic",
                    ["client_credentials"],
                    [],
                    ["notes:read"],
                )
                for i in range(clients)
            ],
            columns=[
                "client_id",
                "name",
                "secret_hash",
                "token_endpoint_auth_method",
                "grant_types",
                "redirect_uris",
                "scopes",
            ],
        )
        user_ids = [uuid.uuid4() for _ in range(users)]
        await conn.copy_records_to_table(
            "users",
            records=[(uid, f"scale-user-{i}", password_hash) for i, uid in enumerate(user_ids)],
            columns=["user_id", "username", "password_hash"],
        )
        await conn.execute("ANALYZE clients; ANALYZE users")
    batch = 100_000
    for start in range(0, families, batch):
        await refresh_families(pool, "scale-0", user_ids, min(batch, families - start), scopes="notes:read")
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE grants; ANALYZE refresh_tokens")
