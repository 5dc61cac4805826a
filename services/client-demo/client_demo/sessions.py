"""Browser sessions of the demo, and the sign-ins they have started, in Redis.

The browser holds only a random session id in an HttpOnly cookie; tokens live here (backend for frontend).
A session is a Redis hash, so that requests updating different parts of it (tokens after a refresh, the last
API call) never overwrite each other. A session id is replaced when its holder signs in. A signed-in session can be
found by the authorization server's session id (`sid`) and by the person (`sub`) its ID token names, so that a logout
token (OpenID Connect Back-Channel Logout 1.0 section 2.7) ends it; the issuer is the one the demo is configured with,
so (iss, sid) comes down to sid."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

ANONYMOUS_TTL = 3600
LOGIN_TTL = 600
_ID_LENGTH = 43  # secrets.token_urlsafe(32)
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def new_id() -> str:
    return secrets.token_urlsafe(32)


def well_formed(value: str | None) -> bool:
    """Only ids we could have made are looked up, so a cookie or parameter never builds an arbitrary key."""
    return value is not None and len(value) == _ID_LENGTH and set(value) <= _ID_CHARS


@dataclass(frozen=True)
class Tokens:
    access_token: str
    # Unix time after which the access token is not worth presenting.
    expires_at: float
    refresh_token: str | None
    id_token: str
    scope: str


@dataclass(frozen=True)
class Session:
    sid: str
    csrf: str
    # Claims from the ID token, completed by userinfo; None until the holder signs in.
    user: dict[str, Any] | None = None
    tokens: Tokens | None = None
    # The flow inspector's record of this session's sign-in, and the latest steps after it.
    steps: list[dict[str, Any]] = field(default_factory=list)
    last_call: dict[str, Any] | None = None
    last_refresh: list[dict[str, Any]] | None = None
    # The private DPoP key of a "sign in with DPoP" (`proof_keys`), as a JWK; its tokens are bound to it.
    dpop_key: str | None = field(default=None, repr=False)

    @property
    def signed_in(self) -> bool:
        return self.user is not None and self.tokens is not None


@dataclass(frozen=True)
class PendingLogin:
    """What the callback needs to finish a sign-in this browser started; found by its `state`."""

    sid: str
    nonce: str
    code_verifier: str
    steps: list[dict[str, Any]]
    dpop_key: str | None = field(default=None, repr=False)


# Only a session that still exists is updated: a sign-out racing a request must not be undone by it.
_HSET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
end
"""


def _dump(value: object) -> bytes:
    return orjson.dumps(value)


class SessionStore:
    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self._hset_if_exists = redis.register_script(_HSET_IF_EXISTS)

    def _key(self, sid: str) -> str:
        return self.keys("demo", "session", sid)

    async def get(self, sid: str | None) -> Session | None:
        if sid is None or not well_formed(sid):
            return None
        raw = await self.redis.hgetall(self._key(sid))
        fields = {(k.decode() if isinstance(k, bytes) else k): orjson.loads(v) for k, v in raw.items()}
        if "csrf" not in fields:
            return None
        tokens = fields.get("tokens")
        return Session(
            sid=sid,
            csrf=fields["csrf"],
            user=fields.get("user"),
            tokens=Tokens(**tokens) if tokens else None,
            steps=fields.get("steps", []),
            last_call=fields.get("last_call"),
            last_refresh=fields.get("last_refresh"),
            dpop_key=fields.get("dpop_key"),
        )

    async def _write(self, sid: str, ttl: int, **fields: object) -> None:
        key = self._key(sid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={name: _dump(value) for name, value in fields.items()})
            pipe.expire(key, ttl)
            await pipe.execute()

    async def start(self) -> Session:
        """An anonymous session: enough to bind a sign-in to this browser."""
        session = Session(sid=new_id(), csrf=new_id())
        await self._write(session.sid, ANONYMOUS_TTL, csrf=session.csrf)
        return session

    async def sign_in(
        self,
        previous: Session,
        user: dict[str, Any],
        tokens: Tokens,
        steps: list[dict[str, Any]],
        dpop_key: str | None = None,
    ) -> Session:
        """A new session for the signed-in user; the id the browser had before is dropped (no fixation)."""
        session = Session(sid=new_id(), csrf=new_id(), user=user, tokens=tokens, steps=steps, dpop_key=dpop_key)
        fields: dict[str, object] = {"csrf": session.csrf, "user": user, "tokens": asdict(tokens), "steps": steps}
        if dpop_key is not None:
            fields["dpop_key"] = dpop_key
        await self._write(session.sid, self.ttl, **fields)
        await self.end(previous.sid)
        for index in self._indexes(user):
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(index, session.sid)
                pipe.expire(index, self.ttl)
                await pipe.execute()
        return session

    def _indexes(self, user: dict[str, Any]) -> list[str]:
        claims = user.get("id_token_claims") or {}
        found = [self._by("sub", user["sub"])]
        if isinstance(claims.get("sid"), str):
            found.append(self._by("sid", claims["sid"]))
        return found

    def _by(self, kind: str, value: str) -> str:
        # Digested: the value comes from a token, and a key is no place for whatever it holds.
        return self.keys("demo", f"sessions-by-{kind}", hashlib.sha256(value.encode()).hexdigest())

    async def end_matching(self, *, sid: str | None, sub: str | None) -> int:
        """End the sessions a logout token names (Back-Channel Logout 1.0 section 2.7): those of the authorization
        server's session `sid` if it names one (and of `sub`, if it names that too), else every session of `sub`.
        Returns how many there were."""
        index = self._by("sid", sid) if sid is not None else self._by("sub", sub) if sub is not None else None
        if index is None:
            return 0
        members = [m.decode() if isinstance(m, bytes) else m for m in await self.redis.smembers(index)]
        ended = 0
        for demo_sid in members:
            session = await self.get(demo_sid)
            if session is None or session.user is None:
                continue
            if sub is not None and session.user.get("sub") != sub:
                continue
            await self.end(demo_sid)
            ended += 1
        await self.redis.delete(index)
        return ended

    async def set_tokens(self, sid: str, tokens: Tokens, refresh_steps: list[dict[str, Any]]) -> None:
        await self._update(sid, tokens=asdict(tokens), last_refresh=refresh_steps)

    async def set_last_call(self, sid: str, step: dict[str, Any]) -> None:
        await self._update(sid, last_call=step)

    async def _update(self, sid: str, **fields: object) -> None:
        args: list[bytes | str] = []
        for name, value in fields.items():
            args += [name, _dump(value)]
        await self._hset_if_exists(keys=[self._key(sid)], args=args)

    async def end(self, sid: str) -> None:
        await self.redis.delete(self._key(sid))


@dataclass(frozen=True)
class PendingLogout:
    """A sign-out sent to the authorization server's end-session endpoint, found by its `state` when the browser
    comes back (RP-Initiated Logout 1.0 section 3); `notice` is what the home page then says."""

    notice: str


class PendingLogouts:
    """Sign-outs in flight, keyed by `state`; each is consumed once."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def save(self, state: str, logout: PendingLogout) -> None:
        await self.redis.set(self.keys("demo", "logout", state), _dump(asdict(logout)), ex=LOGIN_TTL)

    async def consume(self, state: str | None) -> PendingLogout | None:
        if state is None or not well_formed(state):
            return None
        raw = await self.redis.getdel(self.keys("demo", "logout", state))
        return PendingLogout(**orjson.loads(raw)) if raw else None


class PendingLogins:
    """Sign-ins in flight, keyed by `state`; each is consumed once, so a callback URL works only once."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def save(self, state: str, login: PendingLogin) -> None:
        await self.redis.set(self.keys("demo", "login", state), _dump(asdict(login)), ex=LOGIN_TTL)

    async def consume(self, state: str | None) -> PendingLogin | None:
        if state is None or not well_formed(state):
            return None
        raw = await self.redis.getdel(self.keys("demo", "login", state))
        return PendingLogin(**orjson.loads(raw)) if raw else None
