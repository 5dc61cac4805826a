"""Browser sessions at the authorization server and the authorization requests waiting on login or consent,
both in Redis. A session starts anonymous (it carries the CSRF token for the login form) and gets a new id
when the user signs in, so a session id planted before login is worth nothing after it."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, replace

import orjson
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

ANONYMOUS_TTL = 3600
PENDING_TTL = 600
_ID_LENGTH = 43  # secrets.token_urlsafe(32)


def _well_formed(value: str | None) -> bool:
    return value is not None and len(value) == _ID_LENGTH and value.isascii()


@dataclass(frozen=True)
class Session:
    sid: str
    csrf: str
    user_id: str | None = None
    auth_time: int | None = None


@dataclass(frozen=True)
class PendingRequest:
    """A validated authorization request, parked while the user signs in or consents."""

    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: tuple[str, ...]
    max_age: int | None
    sid: str
    login_done: bool = False


class SessionStore:
    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl

    async def get(self, sid: str | None) -> Session | None:
        if not _well_formed(sid):
            return None
        assert sid is not None
        raw = await self.redis.get(self.keys("session", sid))
        return Session(**orjson.loads(raw)) if raw else None

    async def _save(self, session: Session, ttl: int) -> Session:
        await self.redis.set(self.keys("session", session.sid), orjson.dumps(asdict(session)), ex=ttl)
        return session

    async def start_anonymous(self) -> Session:
        return await self._save(Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32)), ANONYMOUS_TTL)

    async def sign_in(self, previous: Session, user_id: str, auth_time: int) -> Session:
        session = Session(
            sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), user_id=user_id, auth_time=auth_time
        )
        await self._save(session, self.ttl)
        await self.redis.delete(self.keys("session", previous.sid))
        return session

    async def end(self, sid: str) -> None:
        await self.redis.delete(self.keys("session", sid))


class PendingRequests:
    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def save(self, request: PendingRequest, rid: str | None = None) -> str:
        rid = rid or secrets.token_urlsafe(32)
        await self.redis.set(self.keys("authreq", rid), orjson.dumps(asdict(request)), ex=PENDING_TTL)
        return rid

    async def get(self, rid: str | None) -> PendingRequest | None:
        if not _well_formed(rid):
            return None
        assert rid is not None
        raw = await self.redis.get(self.keys("authreq", rid))
        if not raw:
            return None
        data = orjson.loads(raw)
        data["scopes"] = tuple(data["scopes"])
        data["prompt"] = tuple(data["prompt"])
        return PendingRequest(**data)

    async def update(self, rid: str, request: PendingRequest, **changes: object) -> PendingRequest:
        updated = replace(request, **changes)  # type: ignore[arg-type]
        await self.save(updated, rid)
        return updated

    async def delete(self, rid: str) -> None:
        await self.redis.delete(self.keys("authreq", rid))
