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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from redis.asyncio import Redis

from authorium_shared.keys import SigningKey
from authorium_shared.redis_keys import RedisKeys
from authz.authorization.codes import AuthorizationCode, CodeStore
from authz.clients.assertions import ASSERTION_TYPE
from authz.clients.registration import build_spec, register_client
from authz.device.store import DeviceCodeStore
from authz.grants import device_code, token_exchange
from authz.settings import BuiltInResources
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


async def _token(
    http: aiohttp.ClientSession, authz: str, client: tuple[str, str], body: str, *, dpop: str | None = None
) -> str:
    headers = {"Authorization": basic(*client), "Content-Type": "application/x-www-form-urlencoded"}
    if dpop is not None:
        headers["DPoP"] = dpop
    async with http.post(authz + "/token", data=body, headers=headers) as resp:
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


# What the scenarios of the newer grants and client authentications need, made only when one of them runs.


async def exchanging_service(pool: asyncpg.Pool, target: str, env: Mapping[str, str]) -> tuple[str, str]:
    """A confidential service the operator lets exchange users' tokens towards `target` (RFC 8693), a resource the
    stack's environment `env` declares or one registered."""
    spec = build_spec(
        name="bench exchanging service",
        grant_types=[token_exchange.GRANT_TYPE],
        redirect_uris=[],
        scope="notes:read notes:write",
        public=False,
        may_exchange_for=[target],
    )
    client, secret = await register_client(pool, spec, built_in=BuiltInResources.from_env(env))
    assert secret
    return client.client_id, secret


def exchange_body(subject_token: str, target: str) -> str:
    return urlencode(
        {
            "grant_type": token_exchange.GRANT_TYPE,
            "subject_token": subject_token,
            "subject_token_type": token_exchange.ACCESS_TOKEN_TYPE,
            "resource": target,
        }
    )


async def key_client(pool: asyncpg.Pool) -> tuple[str, SigningKey]:
    """A service that authenticates with private_key_jwt (RFC 7523) under one registered ES256 key."""
    key = SigningKey.generate("ES256")
    spec = build_spec(
        name="bench key service",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="notes:read",
        public=False,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [{**key.public_jwk(), "use": "sig"}]},
    )
    client, _ = await register_client(pool, spec)
    return client.client_id, key


def assertion_bodies(client_id: str, key: SigningKey, issuer: str, count: int) -> list[str]:
    """`count` client-credentials bodies, each with its own assertion (the jti is single-use, RFC 7523 section 3
    item 7), valid for 300 s (the most the server takes) from now."""
    now = int(time.time())
    bodies = []
    for _ in range(count):
        claims = {"iss": client_id, "sub": client_id, "aud": issuer, "jti": uuid.uuid4().hex, "iat": now}
        claims["exp"] = now + 300
        assertion = jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid})
        bodies.append(
            "grant_type=client_credentials&scope=notes:read"
            f"&client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}"
        )
    return bodies


@dataclass(frozen=True)
class DPoPKey:
    """A client's DPoP key (RFC 9449 section 4.2): ES256, the cheapest to verify of the usual choices."""

    private_key: ec.EllipticCurvePrivateKey
    jwk: dict[str, Any]  # the public key, as each proof's header carries it

    @classmethod
    def generate(cls) -> DPoPKey:
        private_key = ec.generate_private_key(ec.SECP256R1())
        return cls(private_key, ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True))

    def proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if access_token is not None:
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return jwt.encode(claims, self.private_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk})


async def dpop_token(authz: str, client: tuple[str, str], key: DPoPKey) -> str:
    """A client-credentials access token bound to `key` (RFC 9449 section 5: a proof at the token endpoint)."""
    async with aiohttp.ClientSession() as http:
        proof = key.proof("POST", authz + "/token")
        return await _token(http, authz, client, "grant_type=client_credentials&scope=notes:read", dpop=proof)


async def device_client(pool: asyncpg.Pool) -> str:
    """A public client of the device grant (RFC 8628), as a television's app would be."""
    spec = build_spec(
        name="bench device", grant_types=[device_code.GRANT_TYPE], redirect_uris=[], scope="notes:read", public=True
    )
    client, _ = await register_client(pool, spec)
    return client.client_id


async def device_codes(redis: Redis, prefix: str, client_id: str, count: int, *, target: str) -> list[str]:
    """`count` device authorization requests waiting for a person (as /device_authorization parks them), as poll
    bodies: each is polled once in a run, so none polls faster than its interval."""
    store = DeviceCodeStore(redis, RedisKeys(prefix), ttl=600, interval=5)

    async def one() -> str:
        issued = await store.issue(client_id, ("notes:read",), (target,))
        return f"grant_type={device_code.GRANT_TYPE}&device_code={issued.device_code}&client_id={client_id}"

    bodies: list[str] = []
    for start in range(0, count, 50):
        bodies += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return bodies
