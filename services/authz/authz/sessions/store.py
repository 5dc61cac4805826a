"""Browser sessions at the authorization server, in Redis. A session starts anonymous (it carries the CSRF token
for the login form) and gets a new id when the user signs in, so a session id planted before login is worth
nothing after it."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass

import orjson
from aiohttp import web
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

ANONYMOUS_TTL = 3600
_ID_LENGTH = 43  # secrets.token_urlsafe(32)


def well_formed(value: str | None) -> bool:
    """Whether `value` could be an id this server made (a session id, a pending request id): others are not
    looked up."""
    return value is not None and len(value) == _ID_LENGTH and value.isascii()


@dataclass(frozen=True)
class Session:
    sid: str
    csrf: str
    user_id: str | None = None
    auth_time: int | None = None
    # The authentication methods this sign-in used (RFC 8176 values, `authz.factors.assurance`), for the `amr` and
    # `acr` of its ID tokens. A session is signed in only once every factor the sign-in needed has been checked: a
    # person between password and second factor has no signed-in session (the step lives in the parked request).
    amr: tuple[str, ...] = ()

    def sid_matches(self, sid: str) -> bool:
        """Whether `sid` (a parked request's session) is this session's id (compared in constant time)."""
        return hmac.compare_digest(sid.encode(), self.sid.encode())

    def csrf_matches(self, presented: str) -> bool:
        """Whether a posted form's CSRF token is this session's (compared in constant time)."""
        return hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionStore:
    """Sessions in Redis, and the cookie that carries a session's id (`secure` over https)."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl: int, secure: bool) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self.secure = secure
        # __Host- pins the cookie to this origin over https; cookies ignore ports, hence a name of our own.
        self.cookie_name = "__Host-authz_session" if secure else "authz_session"

    async def current(self, request: web.Request) -> Session | None:
        """The session the request's cookie names, if it exists."""
        return await self.get(request.cookies.get(self.cookie_name))

    def set_cookie(self, response: web.StreamResponse, session: Session) -> None:
        response.set_cookie(
            self.cookie_name,
            session.sid,
            max_age=self.ttl,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.secure,
        )

    async def get(self, sid: str | None) -> Session | None:
        if not well_formed(sid):
            return None
        assert sid is not None
        raw = await self.redis.get(self.keys("session", sid))
        if not raw:
            return None
        data = orjson.loads(raw)
        # Sessions of the release before `amr` signed in with a password alone.
        data["amr"] = tuple(data.get("amr") or (("pwd",) if data.get("user_id") else ()))
        return Session(**data)

    async def _save(self, session: Session, ttl: int) -> Session:
        await self.redis.set(self.keys("session", session.sid), orjson.dumps(asdict(session)), ex=ttl)
        return session

    async def start_anonymous(self) -> Session:
        return await self._save(Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32)), ANONYMOUS_TTL)

    async def sign_in(
        self, previous: Session, user_id: str, auth_time: int, amr: tuple[str, ...] = ("pwd",)
    ) -> Session:
        """A new signed-in session (new id and CSRF token) replacing `previous`: after a sign-in, and after a
        second factor raised a signed-in session's level (step-up)."""
        session = Session(
            sid=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            user_id=user_id,
            auth_time=auth_time,
            amr=amr,
        )
        await self._save(session, self.ttl)
        await self.redis.delete(self.keys("session", previous.sid))
        # Indexed by user, so that ending all of a user's sessions (`end_all`) finds them.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self.keys("user-sessions", user_id), session.sid)
            pipe.expire(self.keys("user-sessions", user_id), self.ttl)
            await pipe.execute()
        return session

    async def end_all(self, user_id: str) -> int:
        """End every session of `user_id` (sign them out everywhere); returns how many there were."""
        index = self.keys("user-sessions", user_id)
        sids = [s.decode() if isinstance(s, bytes) else s for s in await self.redis.smembers(index)]
        ended = await self.redis.delete(*(self.keys("session", sid) for sid in sids)) if sids else 0
        await self.redis.delete(index)
        return int(ended)
