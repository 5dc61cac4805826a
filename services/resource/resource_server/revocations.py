"""This replica's copy of the revocation lists: loaded whole whenever the event feed (re)connects, then kept
current by the feed's announcements, so checking a token costs no Redis round trip. When the feed has been
down longer than the configured bound, nobody can say a token is not revoked: callers must refuse (fail closed)."""

from __future__ import annotations

import time
from typing import Any

from authorium_shared.events import EventFeed
from authorium_shared.revocations import EVENT_TYPE, Kind, Revocation, RevocationList


class RevocationsUnknown(Exception):
    """The feed has been down too long to vouch for any token."""


class RevocationCache:
    def __init__(self, source: RevocationList, *, max_staleness: float) -> None:
        self.source = source
        self.max_staleness = max_staleness
        self.revoked: dict[Kind, dict[str, int]] = {"token": {}, "grant": {}}
        self.feed: EventFeed | None = None
        self.loaded = False

    async def reload(self) -> None:
        """Called on every (re)connect of the feed, after subscribing: nothing announced is missed."""
        self.revoked = await self.source.load()
        self.loaded = True

    async def on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") != EVENT_TYPE:
            return
        revocation = Revocation.from_event(event)
        if revocation is not None:
            entries = self.revoked[revocation.kind]
            entries[revocation.id] = max(entries.get(revocation.id, 0), revocation.expires_at)

    def problem(self) -> str | None:
        """Why revocation cannot be checked right now, or None when it can."""
        if self.feed is None or not self.loaded:
            return "revocations are not loaded yet"
        down = self.feed.down_for()
        if down > self.max_staleness:
            return f"the revocation feed has been down for {down:.0f}s"
        return None

    def is_revoked(self, jti: str, grant_id: str | None) -> bool:
        """True when the token or its grant is listed; RevocationsUnknown when the list cannot be trusted."""
        problem = self.problem()
        if problem is not None:
            raise RevocationsUnknown(problem)
        now = time.time()
        token_exp = self.revoked["token"].get(jti)
        grant_exp = self.revoked["grant"].get(grant_id) if grant_id else None
        return any(exp is not None and exp >= now for exp in (token_exp, grant_exp))

    def prune(self) -> None:
        now = time.time()
        for kind, entries in self.revoked.items():
            self.revoked[kind] = {k: exp for k, exp in entries.items() if exp >= now}
