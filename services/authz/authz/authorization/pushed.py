"""Pushed authorization requests (RFC 9126) in Redis: a client's authorization request, as it pushed it, under a
`request_uri` of 256 random bits, for a short while (AUTHORIUM_PAR_TTL, a minute by default); consumed once, by the
client that pushed it.

Every parameter is kept as sent, so the authorization endpoint validates the request exactly as it would the query
string (`dpop_jkt`, PKCE's `code_challenge` and the rest come along); only the client's credentials are left out."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

import orjson
from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

# RFC 9126 section 2.2: the `request_uri` is a URN of this prefix (section 2.2 names it) and a reference.
PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
# Client authentication (RFC 6749 section 2.3, RFC 7523 section 2.2) is not part of the authorization request.
CREDENTIALS: Final = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_MAX_URI_LENGTH: Final = len(PREFIX) + 64


@dataclass(frozen=True)
class PushedRequest:
    client_id: str
    params: dict[str, str]
    # RFC 8707 `resource` values, which may repeat (a dict holds one value per name).
    resources: tuple[str, ...]


class PushedRequests:
    def __init__(self, redis: Redis, keys: RedisKeys, *, ttl: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl

    def _key(self, request_uri: str) -> str:
        # A digest: Redis holds nothing a reader of its keys could redeem.
        return self.keys("par", hashlib.sha256(request_uri.encode()).hexdigest())

    async def push(self, client_id: str, params: dict[str, str], resources: tuple[str, ...]) -> str:
        """Store the request; returns its `request_uri`."""
        request_uri = PREFIX + secrets.token_urlsafe(32)
        data = {
            "client_id": client_id,
            "params": {name: value for name, value in params.items() if name not in CREDENTIALS},
            "resources": list(resources),
        }
        await self.redis.set(self._key(request_uri), orjson.dumps(data), ex=self.ttl)
        return request_uri

    async def consume(self, request_uri: str, client_id: str) -> PushedRequest | None:
        """The request, the first time it is asked for by the client that pushed it (RFC 9126 section 4); None when
        unknown, expired, used, or pushed by another client. Taken with GETDEL, so of two uses at once one gets it;
        a use by another client spends it too (whoever holds a leaked request_uri cannot wait for its owner)."""
        if not request_uri.startswith(PREFIX) or len(request_uri) > _MAX_URI_LENGTH:
            return None
        raw = await self.redis.getdel(self._key(request_uri))
        if raw is None:
            return None
        data = orjson.loads(raw)
        if not hmac.compare_digest(data["client_id"].encode(), client_id.encode("utf-8", "surrogatepass")):
            return None
        return PushedRequest(client_id=data["client_id"], params=data["params"], resources=tuple(data["resources"]))
