"""Fixed-window counters in Redis: per-client token requests, and failed sign-ins per username and per address."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from authorium_shared.redis_keys import RedisKeys

# One command per event (a pipeline of INCR and EXPIRE cost twice the client-side work on the token path). The
# key names its window, so it only needs an expiry once, when it is created.
_INCR = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class Counter:
    """Counts events per subject in windows of `window` seconds; `limit` events are allowed per window."""

    def __init__(self, redis: Redis, keys: RedisKeys, name: str, *, limit: int, window: int) -> None:
        self.redis = redis
        self.keys = keys
        self.name = name
        self.limit = limit
        self.window = window
        self._incr = redis.register_script(_INCR)

    def _key(self, subject: str) -> tuple[str, int]:
        now = time.time()
        slot = int(now // self.window)
        retry_after = max(1, int((slot + 1) * self.window - now) + 1)
        return self.keys("rl", self.name, str(slot), subject), retry_after

    async def hit(self, subject: str) -> int | None:
        """Count one event; returns None when within the limit, else the seconds until the window ends."""
        key, retry_after = self._key(subject)
        count = await self._incr(keys=[key], args=[self.window + 1])
        return None if int(count) <= self.limit else retry_after

    async def exceeded(self, subject: str) -> int | None:
        """Like `hit` without counting: None when under the limit, else the seconds until it resets."""
        key, retry_after = self._key(subject)
        count = await self.redis.get(key)
        return retry_after if count is not None and int(count) >= self.limit else None

    async def reset(self, subject: str) -> None:
        key, _ = self._key(subject)
        await self.redis.delete(key)


# Failed sign-ins allowed per window: per username (guessing one person's password), and per client address
# (trying many usernames from one place).
LOGIN_WINDOW = 900
LOGIN_FAILURES_PER_USERNAME = 5
LOGIN_FAILURES_PER_ADDRESS = 30


class LoginThrottle:
    """Failed sign-ins counted per username and per address; a success forgets the username's failures."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.by_username = Counter(redis, keys, "login-user", limit=LOGIN_FAILURES_PER_USERNAME, window=LOGIN_WINDOW)
        self.by_address = Counter(redis, keys, "login-addr", limit=LOGIN_FAILURES_PER_ADDRESS, window=LOGIN_WINDOW)

    async def retry_after(self, username: str, address: str) -> int | None:
        """None when a sign-in may be tried, else the seconds until it may."""
        return await self.by_username.exceeded(username.lower()) or await self.by_address.exceeded(address)

    async def failed(self, username: str, address: str) -> None:
        await self.by_username.hit(username.lower())
        await self.by_address.hit(address)

    async def succeeded(self, username: str) -> None:
        await self.by_username.reset(username.lower())


# Wrong second-factor codes allowed per window, counted apart from passwords: per user (someone who has the password
# guessing the code: 5 tries a quarter hour leave a six-digit code, three of them valid at a time, about 1 in 5,000 a
# day), and per address.
SECOND_FACTOR_WINDOW = 900
SECOND_FACTOR_FAILURES_PER_USER = 5
SECOND_FACTOR_FAILURES_PER_ADDRESS = 30


class SecondFactorThrottle:
    """Wrong second-factor codes counted per user and per address; a right one forgets the user's failures."""

    def __init__(self, redis: Redis, keys: RedisKeys) -> None:
        self.by_user = Counter(
            redis, keys, "factor-user", limit=SECOND_FACTOR_FAILURES_PER_USER, window=SECOND_FACTOR_WINDOW
        )
        self.by_address = Counter(
            redis, keys, "factor-addr", limit=SECOND_FACTOR_FAILURES_PER_ADDRESS, window=SECOND_FACTOR_WINDOW
        )

    async def retry_after(self, user_id: str, address: str) -> int | None:
        """None when a code may be tried, else the seconds until one may."""
        return await self.by_user.exceeded(user_id) or await self.by_address.exceeded(address)

    async def failed(self, user_id: str, address: str) -> None:
        await self.by_user.hit(user_id)
        await self.by_address.hit(address)

    async def succeeded(self, user_id: str) -> None:
        await self.by_user.reset(user_id)


# Wrong user codes allowed per client address per window at the device verification page (RFC 8628 section 5.1:
# user codes are short, so guessing them must be throttled).
USER_CODE_WINDOW = 900
USER_CODE_FAILURES_PER_ADDRESS = 10
