"""Pure planning of signing-key rotation per algorithm: which key to promote, retire, remove or create.

A key signs only after it has been published as NEXT for `publish_lead`, and stays published after
retirement for `retire_after`, so no verifier ever sees a kid its JWKS cache could not know about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from authorium_shared.keys import KeyState, StoredKey


@dataclass(frozen=True)
class RotationPolicy:
    """`publish_lead` >= the verifiers' JWKS cache lifetime; `retire_after` >= the longest token lifetime."""

    publish_lead: timedelta
    retire_after: timedelta

    def __post_init__(self) -> None:
        if self.publish_lead < timedelta(0) or self.retire_after < timedelta(0):
            raise ValueError("rotation periods must not be negative")


@dataclass(frozen=True)
class RotationPlan:
    alg: str
    promote: str | None = None
    retire: str | None = None
    remove: tuple[str, ...] = ()
    create_next: bool = False
    create_current: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.promote or self.retire or self.remove or self.create_next or self.create_current)


class RotationTooEarly(Exception):
    """The NEXT key has not been published long enough for every JWKS cache to know it."""

    def __init__(self, alg: str, kid: str, ready_at: datetime) -> None:
        super().__init__(
            f"the next {alg} key {kid} has not been published long enough; rotate at or after {ready_at.isoformat()}"
        )
        self.alg = alg
        self.kid = kid
        self.ready_at = ready_at


@dataclass(frozen=True)
class _AlgKeys:
    current: StoredKey | None
    next: StoredKey | None
    removable: tuple[str, ...]


def _oldest(keys: Sequence[StoredKey]) -> StoredKey | None:
    return min(keys, key=lambda k: (k.created_at, k.kid), default=None)


def _newest_current(keys: Sequence[StoredKey]) -> StoredKey | None:
    # Same choice as KeySet.signing_key, so the key retired is the one that was signing.
    return max(keys, key=lambda k: (k.activated_at or k.created_at, k.kid), default=None)


def _is_removable(key: StoredKey, now: datetime, policy: RotationPolicy) -> bool:
    # A RETIRED key without a retirement time cannot be proven unused: keep publishing it.
    return key.retired_at is not None and key.retired_at + policy.retire_after <= now


def _classify(keys: Sequence[StoredKey], alg: str, now: datetime, policy: RotationPolicy) -> _AlgKeys:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    mine = [k for k in keys if k.alg == alg]
    return _AlgKeys(
        current=_newest_current([k for k in mine if k.state is KeyState.CURRENT]),
        # The oldest NEXT has been published longest, so it is the safest to promote.
        next=_oldest([k for k in mine if k.state is KeyState.NEXT]),
        removable=tuple(k.kid for k in mine if k.state is KeyState.RETIRED and _is_removable(k, now, policy)),
    )


def _bootstrap(alg: str, found: _AlgKeys) -> RotationPlan | None:
    if found.current is None and found.next is None:
        # Nothing was ever published for this alg, so no cache can be missing the new key.
        return RotationPlan(alg=alg, remove=found.removable, create_current=True, create_next=True)
    return None


def _promotion(alg: str, found: _AlgKeys, nxt: StoredKey) -> RotationPlan:
    return RotationPlan(
        alg=alg,
        promote=nxt.kid,
        retire=found.current.kid if found.current else None,
        remove=found.removable,
        create_next=True,
    )


def plan_rotation(keys: Sequence[StoredKey], alg: str, now: datetime, policy: RotationPolicy) -> RotationPlan:
    """Plan `keys rotate`: promote NEXT once it is old enough; raise RotationTooEarly before that."""
    found = _classify(keys, alg, now, policy)
    if (plan := _bootstrap(alg, found)) is not None:
        return plan
    if found.next is None:
        return RotationPlan(alg=alg, remove=found.removable, create_next=True)
    ready_at = found.next.created_at + policy.publish_lead
    if now < ready_at:
        raise RotationTooEarly(alg, found.next.kid, ready_at)
    return _promotion(alg, found, found.next)


def plan_maintenance(keys: Sequence[StoredKey], alg: str, now: datetime, policy: RotationPolicy) -> RotationPlan:
    """Plan start-up upkeep: bootstrap, refill a missing NEXT, drop expired RETIRED keys; never rotate."""
    found = _classify(keys, alg, now, policy)
    if (plan := _bootstrap(alg, found)) is not None:
        return plan
    if found.current is None and found.next is not None:
        # Recovery from a bootstrap interrupted after NEXT was stored: with no CURRENT nothing can
        # be signed at all, and the NEXT key has been published longer than any fresh key would be.
        return _promotion(alg, found, found.next)
    return RotationPlan(alg=alg, remove=found.removable, create_next=found.next is None)
