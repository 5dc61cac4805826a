"""The signing keys as an operator sees and rotates them (the admin API's `/admin/v1/keys`, and `authorium keys
list|rotate`): the rules are `authz.signing.lifecycle`'s."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from authorium_shared.keys import ALGORITHMS, StoredKey
from authorium_shared.rotation import RotationPlan, RotationTooEarly
from authz.control import BadInput, Conflict, Control
from authz.settings import AuthzSettings
from authz.signing import lifecycle
from authz.signing.repository import KeyRepository


def key_view(key: StoredKey) -> dict[str, Any]:
    """A key's public facts: never its private part."""
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state.value,
        "created_at": key.created_at.isoformat(),
        "activated_at": key.activated_at.isoformat() if key.activated_at else None,
        "retired_at": key.retired_at.isoformat() if key.retired_at else None,
    }


async def list_keys(db: asyncpg.Pool | asyncpg.Connection, settings: AuthzSettings) -> list[dict[str, Any]]:
    return [key_view(k) for k in await KeyRepository(settings.kek).load(db)]


def plan_view(plan: RotationPlan) -> dict[str, Any]:
    return {"alg": plan.alg, "promoted": plan.promote, "retired": plan.retire, "removed": list(plan.remove)}


async def rotate_keys(control: Control, algs: Sequence[str] | None = None) -> list[RotationPlan]:
    """`authorium keys rotate`: Conflict when it is too early (a next key not yet published for the JWKS cache
    lifetime); then every replica is told to reload."""
    chosen = list(algs or ALGORITHMS)
    unknown = [a for a in chosen if a not in ALGORITHMS]
    if unknown:
        raise BadInput("algs", f"algs must be among {', '.join(ALGORITHMS)}")
    try:
        plans = await lifecycle.rotate(control.pool, control.settings, chosen, actor=control.actor)
    except RotationTooEarly as exc:
        raise Conflict(str(exc)) from None
    await lifecycle.announce(control.redis, control.keys)
    return plans
