"""Browser sessions at the authorization server, in Redis. A session starts anonymous (it carries the CSRF token
for the login form) and gets a new id when the user signs in, so a session id planted before login is worth
nothing after it.

A signed-in session ends after AUTHORIUM_SESSION_IDLE_TTL seconds without use and AUTHORIUM_SESSION_MAX_TTL after
the sign-in, whichever comes first. It also has a public id, `oidc_sid`: the `sid` claim of the ID tokens issued in
it (OpenID Connect Back-Channel Logout 1.0 section 2.1), never the cookie's secret id. The clients it reached (those
it sent a code to) are kept beside it, so signing out can tell each of them (`authz.sessions.logout`)."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import asdict, dataclass, fields

import orjson
from aiohttp import web
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

ANONYMOUS_TTL = 3600
# How long an ended session's `oidc_sid` is remembered: a code issued in it just before is refused for this long,
# longer than any code lives (AUTHORIUM_CODE_TTL is at most 60 seconds).
ENDED_MEMORY = 120
MAX_AGENT_LENGTH = 200
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
    # Signed in only: the OpenID Connect `sid`, when the session ends whatever happens (Unix time), and the browser
    # it was signed in with (its User-Agent, shortened), which the account page shows.
    oidc_sid: str | None = None
    expires_at: int | None = None
    agent: str | None = None
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


_FIELDS = frozenset(field.name for field in fields(Session))


class SessionStore:
    """Sessions in Redis, and the cookie that carries a session's id (`secure` over https)."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl: int, idle_ttl: int | None = None, secure: bool) -> None:
        self.redis = redis
        self.keys = keys
        # `ttl`: the absolute lifetime of a sign-in; `idle_ttl`: how long it lasts unused.
        self.ttl = ttl
        self.idle_ttl = min(idle_ttl or ttl, ttl)
        self.secure = secure
        # __Host- pins the cookie to this origin over https; cookies ignore ports, hence a name of our own.
        self.cookie_name = "__Host-authz_session" if secure else "authz_session"

    async def current(self, request: web.Request) -> Session | None:
        """The session the request's cookie names, if it exists; a signed-in one is used, so its idle time starts
        again (never past its absolute end)."""
        session = await self.get(request.cookies.get(self.cookie_name))
        if session is not None and session.expires_at is not None:
            remaining = session.expires_at - int(time.time())
            if remaining <= 0:
                return None
            await self.redis.expire(self.keys("session", session.sid), min(self.idle_ttl, remaining))
        return session

    def set_cookie(self, response: web.StreamResponse, session: Session) -> None:
        response.set_cookie(
            self.cookie_name,
            session.sid,
            max_age=self.ttl if session.user_id is not None else ANONYMOUS_TTL,
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
        if not set(data) <= _FIELDS:
            # Written by a newer release during a rolling deploy, with state this one does not know: treated as
            # gone (the person signs in again) rather than half-read.
            return None
        # Sessions of the release before `amr` signed in with a password alone.
        data["amr"] = tuple(data.get("amr") or (("pwd",) if data.get("user_id") else ()))
        return Session(**data)

    async def _save(self, session: Session, ttl: int) -> Session:
        await self.redis.set(self.keys("session", session.sid), orjson.dumps(asdict(session)), ex=ttl)
        return session

    async def start_anonymous(self) -> Session:
        return await self._save(Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32)), ANONYMOUS_TTL)

    async def sign_in(
        self,
        previous: Session,
        user_id: str,
        auth_time: int,
        amr: tuple[str, ...] = ("pwd",),
        *,
        agent: str | None = None,
    ) -> Session:
        """A new signed-in session (new id and CSRF token) replacing `previous`: after a sign-in, and after a second
        factor raised a signed-in session's level (step-up). A step-up continues the same OpenID Connect session:
        its `sid`, its absolute end and the clients it reached stay, so signing out still tells every one of them."""
        same = previous.user_id == user_id and previous.oidc_sid is not None
        session = Session(
            sid=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            user_id=user_id,
            auth_time=auth_time,
            oidc_sid=previous.oidc_sid if same else secrets.token_urlsafe(32),
            expires_at=previous.expires_at if same else int(time.time()) + self.ttl,
            agent=(agent or "")[:MAX_AGENT_LENGTH] or (previous.agent if same else None),
            amr=amr,
        )
        remaining = (session.expires_at or 0) - int(time.time())
        await self._save(session, max(1, min(self.idle_ttl, remaining)))
        await self.redis.delete(self.keys("session", previous.sid))
        # Indexed by user, so that ending all of a user's sessions (`end_all`) finds them.
        async with self.redis.pipeline(transaction=True) as pipe:
            if previous.user_id is not None:
                pipe.srem(self.keys("user-sessions", previous.user_id), previous.sid)
            pipe.sadd(self.keys("user-sessions", user_id), session.sid)
            pipe.expire(self.keys("user-sessions", user_id), self.ttl)
            await pipe.execute()
        return session

    async def of_user(self, user_id: str) -> list[Session]:
        """The user's sessions that are still alive, oldest sign-in first."""
        index = self.keys("user-sessions", user_id)
        sids = [s.decode() if isinstance(s, bytes) else s for s in await self.redis.smembers(index)]
        found = [session for sid in sids if (session := await self.get(sid)) is not None]
        gone = set(sids) - {session.sid for session in found}
        if gone:
            await self.redis.srem(index, *gone)
        return sorted(found, key=lambda session: (session.auth_time or 0, session.sid))

    async def reached(self, session: Session, client_id: str) -> None:
        """`client_id` was sent a code from `session`: it is told when the session ends."""
        if session.oidc_sid is None:
            return
        key = self.keys("session-clients", session.oidc_sid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, client_id)
            pipe.expire(key, self.ttl)
            await pipe.execute()

    async def clients_of(self, session: Session) -> list[str]:
        if session.oidc_sid is None:
            return []
        members = await self.redis.smembers(self.keys("session-clients", session.oidc_sid))
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    async def end(self, session: Session) -> None:
        """End one session: its cookie is worth nothing from now on, and a code issued in it no longer redeems."""
        await self.redis.delete(self.keys("session", session.sid))
        if session.user_id is not None:
            await self.redis.srem(self.keys("user-sessions", session.user_id), session.sid)
        if session.oidc_sid is not None:
            await self.redis.set(self.keys("ended-session", session.oidc_sid), "1", ex=ENDED_MEMORY)
            await self.redis.delete(self.keys("session-clients", session.oidc_sid))

    async def ended(self, oidc_sid: str) -> bool:
        """Whether the session with this `sid` was ended a moment ago (`end`)."""
        return bool(await self.redis.exists(self.keys("ended-session", oidc_sid)))

    async def end_all(self, user_id: str) -> int:
        """End every session of `user_id` (sign them out everywhere); returns how many there were. Back-channel
        logout to the clients they reached is `authz.sessions.logout`'s, which calls this."""
        ended = await self.of_user(user_id)
        for session in ended:
            await self.end(session)
        await self.redis.delete(self.keys("user-sessions", user_id))
        return len(ended)
