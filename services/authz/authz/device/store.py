"""Device authorization requests in Redis (RFC 8628 sections 3.2-3.5): what a device asked for, under a digest of its
device code, until the person approves or denies it at the verification page and the device's poll collects the
answer, once.

A device code is 256 random bits, stored only as its SHA-256 digest; its record lives `expires_in` seconds. A marker
beside it lives a while longer, so that a late poll learns `expired_token` rather than `invalid_grant` (section
3.5). Polling is one script: it answers for the client the code was issued to only (another client learns nothing
and changes nothing), slows a device that polls faster than its interval down by five seconds more each time
(section 3.5), and hands out an approval or a denial exactly once, deleting the request as it does. The user code
finds the request from the verification page; it is stored as a digest too, and removed once the person decides."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys
from authz.device.user_codes import new_user_code

# Section 3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests".
SLOW_DOWN_STEP = 5
# Tries at drawing a user code no live request holds (20^8 codes: a second try is already rare).
_USER_CODE_TRIES = 5

# KEYS: the request, its expiry marker. ARGV: the polling client, the slow-down step. Redis's clock, so every replica
# measures the interval alike.
_POLL = """
local client = redis.call('HGET', KEYS[1], 'client')
if not client then
  if redis.call('GET', KEYS[2]) == ARGV[1] then return {'expired'} end
  return {'unknown'}
end
if client ~= ARGV[1] then return {'unknown'} end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'approved' then
  local found = redis.call('HMGET', KEYS[1], 'scopes', 'resources', 'user', 'auth_time', 'grant', 'sid', 'amr')
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'approved', found[1], found[2], found[3], found[4], found[5], found[6], found[7]}
end
if status == 'denied' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'denied'}
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
local interval = tonumber(redis.call('HGET', KEYS[1], 'interval'))
redis.call('HSET', KEYS[1], 'last', now)
if last > 0 and now - last < interval * 1000 then
  interval = interval + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'interval', interval)
  return {'slow_down', tostring(interval)}
end
return {'pending'}
"""

# KEYS: the request. ARGV: the decision ('approved' or 'denied'), the user, the sign-in time, the grant id, the
# session's OpenID Connect sid ('' for none) and its authentication methods (JSON). Only a request still waiting can
# be decided, and only once.
_DECIDE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
if ARGV[1] == 'approved' then
  redis.call('HSET', KEYS[1], 'status', 'approved', 'user', ARGV[2], 'auth_time', ARGV[3], 'grant', ARGV[4],
    'sid', ARGV[5], 'amr', ARGV[6])
else
  redis.call('HSET', KEYS[1], 'status', 'denied')
end
return 1
"""


@dataclass(frozen=True)
class DeviceRequest:
    """A device's authorization request as the verification page sees it."""

    digest: str  # of the device code: how the parked request names it
    client_id: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    user_code: str  # normal form


@dataclass(frozen=True)
class Issued:
    device_code: str
    user_code: str  # normal form


@dataclass(frozen=True)
class Pending:
    pass


@dataclass(frozen=True)
class SlowDown:
    interval: int


@dataclass(frozen=True)
class Approved:
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    user_id: str
    auth_time: int
    grant_id: str
    # The sign-in behind the approval, as a code carries it: its OpenID Connect session and authentication methods.
    sid: str | None
    amr: tuple[str, ...]


@dataclass(frozen=True)
class Denied:
    pass


@dataclass(frozen=True)
class Expired:
    pass


@dataclass(frozen=True)
class Unknown:
    """Never issued, issued to another client, already answered, or long expired."""


Poll = Pending | SlowDown | Approved | Denied | Expired | Unknown


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


class DeviceCodeStore:
    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl: int, interval: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self.interval = interval
        self._poll = redis.register_script(_POLL)
        self._decide = redis.register_script(_DECIDE)

    def _request_key(self, code_digest: str) -> str:
        # The request and its marker share a hash tag: one script touches both, on one Redis Cluster node.
        return self.keys.grouped("device-" + code_digest, "request")

    def _marker_key(self, code_digest: str) -> str:
        return self.keys.grouped("device-" + code_digest, "issued")

    def _user_code_key(self, user_code: str) -> str:
        return self.keys("device-user", digest(user_code))

    async def issue(self, client_id: str, scopes: tuple[str, ...], resources: tuple[str, ...]) -> Issued:
        device_code = secrets.token_urlsafe(32)
        code_digest = digest(device_code)
        for _ in range(_USER_CODE_TRIES):
            user_code = new_user_code()
            if await self.redis.set(self._user_code_key(user_code), code_digest, ex=self.ttl, nx=True):
                break
        else:
            raise RuntimeError("no free user code after several tries")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._request_key(code_digest),
                mapping={
                    "client": client_id,
                    "scopes": orjson.dumps(scopes),
                    "resources": orjson.dumps(resources),
                    "user_code": user_code,
                    "status": "pending",
                    "interval": self.interval,
                },
            )
            pipe.expire(self._request_key(code_digest), self.ttl)
            # Remembered as long again after expiry, to tell a late poll it expired.
            pipe.set(self._marker_key(code_digest), client_id, ex=2 * self.ttl)
            await pipe.execute()
        return Issued(device_code, user_code)

    async def find(self, user_code: str) -> DeviceRequest | None:
        """The request waiting for the person under `user_code` (normal form), or None."""
        code_digest = await self.redis.get(self._user_code_key(user_code))
        if code_digest is None:
            return None
        return await self.get(_text(code_digest))

    async def get(self, code_digest: str) -> DeviceRequest | None:
        """The request under a device code's digest while it waits for the person, or None."""
        raw = await self.redis.hgetall(self._request_key(code_digest))
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if fields.get("status") != "pending":
            return None
        return DeviceRequest(
            digest=code_digest,
            client_id=fields["client"],
            scopes=tuple(orjson.loads(fields["scopes"])),
            resources=tuple(orjson.loads(fields["resources"])),
            user_code=fields["user_code"],
        )

    async def decide(
        self,
        request: DeviceRequest,
        *,
        approved: bool,
        user_id: str,
        auth_time: int,
        grant_id: str,
        sid: str | None,
        amr: tuple[str, ...],
    ) -> bool:
        """Record the person's answer; False if the request was already answered or has expired. Either way its user
        code is spent."""
        decision = "approved" if approved else "denied"
        done = await self._decide(
            keys=[self._request_key(request.digest)],
            args=[decision, user_id, auth_time, grant_id, sid or "", orjson.dumps(amr)],
        )
        await self.redis.delete(self._user_code_key(request.user_code))
        return bool(done)

    async def poll(self, device_code: str, client_id: str) -> Poll:
        """Section 3.4-3.5: what `client_id` polling with `device_code` is told; an approval or denial only once."""
        if not device_code or len(device_code) > 256:
            return Unknown()
        code_digest = digest(device_code)
        result = await self._poll(
            keys=[self._request_key(code_digest), self._marker_key(code_digest)], args=[client_id, SLOW_DOWN_STEP]
        )
        kind = result[0].decode()
        if kind == "pending":
            return Pending()
        if kind == "slow_down":
            return SlowDown(int(result[1]))
        if kind == "approved":
            scopes, resources, user, auth_time, grant, sid, amr = (part.decode() for part in result[1:8])
            return Approved(
                scopes=tuple(orjson.loads(scopes)),
                resources=tuple(orjson.loads(resources)),
                user_id=user,
                auth_time=int(auth_time),
                grant_id=grant,
                sid=sid or None,
                amr=tuple(orjson.loads(amr)),
            )
        if kind == "denied":
            return Denied()
        if kind == "expired":
            return Expired()
        return Unknown()
