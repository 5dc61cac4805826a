"""Authorization codes in Redis (RFC 6749 section 4.1.2): stored under a digest of the code, consumed once.

Only the client the code was issued to can consume it (RFC 6749 section 4.1.3): another client presenting it
learns nothing and spends nothing. Consuming keeps a marker naming the grant the code started, so a replay by
that client can be told apart from an unknown code and everything issued from the code revoked (RFC 6749
section 4.1.2, RFC 9700 section 4.2.4)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass

import orjson
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

# Atomically, and only for the client the code was issued to: hand out the code's data once, leaving only the
# grant marker behind for replays to find.
_CONSUME = """
if redis.call('HGET', KEYS[1], 'client') ~= ARGV[2] then
  return false
end
local data = redis.call('HGET', KEYS[1], 'data')
if data then
  local resources = redis.call('HGET', KEYS[1], 'resources') or '[]'
  local later = redis.call('HGET', KEYS[1], 'later') or '{}'
  redis.call('HDEL', KEYS[1], 'data', 'resources', 'later')
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return {'code', data, resources, later}
end
local grant = redis.call('HGET', KEYS[1], 'grant')
if grant then
  return {'replay', grant}
end
return false
"""


@dataclass(frozen=True)
class AuthorizationCode:
    client_id: str
    redirect_uri: str | None  # None when the authorization request omitted it
    scopes: tuple[str, ...]
    user_id: str
    auth_time: int
    grant_id: str
    code_challenge: str | None
    nonce: str | None
    # The identifiers of the resources the request chose (RFC 8707); empty in codes of the release before them.
    resources: tuple[str, ...] = ()
    # The OpenID Connect `sid` of the session the code was issued in; the ID token carries it.
    sid: str | None = None
    # The authentication methods of the sign-in (RFC 8176), for the ID token's `amr` and `acr` (OIDC Core 2); empty in
    # codes of the release before them.
    amr: tuple[str, ...] = ()
    # The thumbprint of the DPoP key the authorization request bound the code to (RFC 9449 section 10).
    dpop_jkt: str | None = None


# The fields added after resource indicators, kept together beside `data` (see `CodeStore.issue`).
_LATER = ("sid", "amr", "dpop_jkt")


@dataclass(frozen=True)
class Replayed:
    """The code was redeemed before; `grant_id` is what it started."""

    grant_id: str


class CodeStore:
    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl: int, replay_memory: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self.replay_memory = replay_memory
        self._consume = redis.register_script(_CONSUME)

    def _key(self, code: str) -> str:
        return self.keys("code", hashlib.sha256(code.encode()).hexdigest())

    async def issue(self, code: AuthorizationCode) -> str:
        value = secrets.token_urlsafe(32)
        key = self._key(value)
        data = asdict(code)
        # Beside `data`, not in it (nor what came later, `_LATER`): a replica of the release before resource
        # indicators, meeting this code during a rolling upgrade, reads `data` alone and redeems it as that release
        # would, rather than failing on a field it does not know.
        resources = orjson.dumps(data.pop("resources"))
        later = orjson.dumps({name: data.pop(name) for name in _LATER})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "data": orjson.dumps(data),
                    "grant": code.grant_id,
                    "client": code.client_id,
                    "resources": resources,
                    "later": later,
                },
            )
            pipe.expire(key, self.ttl)
            await pipe.execute()
        return value

    async def consume(self, value: str, client_id: str) -> AuthorizationCode | Replayed | None:
        """The code's data the first time `client_id` presents it; Replayed when that client presents it again
        (for a while); None if never issued, expired, or issued to another client."""
        if not value or len(value) > 256:
            return None
        result = await self._consume(keys=[self._key(value)], args=[self.replay_memory, client_id])
        if not result:
            return None
        kind, payload = result[0], result[1]
        if kind == b"replay":
            return Replayed(grant_id=payload.decode())
        data = orjson.loads(payload)
        data["scopes"] = tuple(data["scopes"])
        data["resources"] = tuple(orjson.loads(result[2]))
        later = orjson.loads(result[3]) if len(result) > 3 else {}
        data.update({name: later[name] for name in _LATER if name in later})
        data["amr"] = tuple(data.get("amr", ()))
        return AuthorizationCode(**data)
