"""The verified-token cache: a token verified once is not verified again, yet its expiry still counts on every
request, an entry is forgotten after a minute, and memory is bounded. (Revocation of a cached token is covered
by test_revocation.py, whose tokens are presented before they are revoked.)"""

from __future__ import annotations

from authorium_shared.verified_tokens import VerifiedTokens
from resource_server.access import AccessToken


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


ACCESS = AccessToken(subject="u", client_id="c", scopes=frozenset({"notes:read"}), jti="j", grant_id=None)


def test_a_cached_token_expires_on_time() -> None:
    clock = Clock(1000.0)
    cache: VerifiedTokens[AccessToken] = VerifiedTokens(leeway=5, clock=clock)
    cache.put("t", ACCESS, {"exp": 1030, "iat": 1000})
    assert cache.get("t") is ACCESS
    clock.now = 1034.9  # within the leeway
    assert cache.get("t") is ACCESS
    clock.now = 1035.0
    assert cache.get("t") is None


def test_an_entry_is_forgotten_after_max_age_and_not_yet_valid_tokens_wait() -> None:
    clock = Clock(1000.0)
    cache: VerifiedTokens[AccessToken] = VerifiedTokens(leeway=0, max_age=60, clock=clock)
    cache.put("t", ACCESS, {"exp": 5000, "nbf": 1010})
    assert cache.get("t") is None  # not valid before nbf
    clock.now = 1010
    assert cache.get("t") is ACCESS
    clock.now = 1060
    assert cache.get("t") is None


def test_the_cache_is_bounded() -> None:
    cache: VerifiedTokens[AccessToken] = VerifiedTokens(leeway=0, max_entries=2, clock=Clock(0.0))
    for name in ("a", "b", "c"):
        cache.put(name, ACCESS, {"exp": 100})
    assert cache.get("a") is None and cache.get("b") is ACCESS and cache.get("c") is ACCESS
