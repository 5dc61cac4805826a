"""Rotation planning: every branch of plan_rotation and plan_maintenance, including boundary times."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from authorium_shared.keys import KeyState, SigningKey, StoredKey
from authorium_shared.rotation import (
    RotationPlan,
    RotationPolicy,
    RotationTooEarly,
    plan_maintenance,
    plan_rotation,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICY = RotationPolicy(publish_lead=timedelta(hours=1), retire_after=timedelta(days=1))
TICK = timedelta(microseconds=1)
ALG = "EdDSA"


def key(state: KeyState, *, age: timedelta, retired_ago: timedelta | None = None, alg: str = ALG) -> StoredKey:
    """A stored key created `age` before NOW (and retired `retired_ago` before NOW, if given)."""
    return StoredKey(
        key=SigningKey.generate(alg),
        state=state,
        created_at=NOW - age,
        activated_at=NOW - age if state is not KeyState.NEXT else None,
        retired_at=NOW - retired_ago if retired_ago is not None else None,
    )


def current(age: timedelta = timedelta(days=30)) -> StoredKey:
    return key(KeyState.CURRENT, age=age)


def next_key(age: timedelta) -> StoredKey:
    return key(KeyState.NEXT, age=age)


def retired(retired_ago: timedelta | None) -> StoredKey:
    return key(KeyState.RETIRED, age=timedelta(days=60), retired_ago=retired_ago)


Planner = Callable[[Sequence[StoredKey], str, datetime, RotationPolicy], RotationPlan]
PLANNERS: list[Planner] = [plan_rotation, plan_maintenance]


# --- bootstrap --------------------------------------------------------------------------------


@pytest.mark.parametrize("planner", PLANNERS)
def test_bootstrap_without_any_key(planner: Planner) -> None:
    assert planner([], ALG, NOW, POLICY) == RotationPlan(alg=ALG, create_current=True, create_next=True)


@pytest.mark.parametrize("planner", PLANNERS)
def test_bootstrap_ignores_keys_of_other_algorithms(planner: Planner) -> None:
    keys = [key(KeyState.CURRENT, age=timedelta(days=1), alg="ES256")]
    assert planner(keys, ALG, NOW, POLICY) == RotationPlan(alg=ALG, create_current=True, create_next=True)


@pytest.mark.parametrize("planner", PLANNERS)
def test_bootstrap_with_only_retired_keys_also_removes_expired_ones(planner: Planner) -> None:
    old, recent = retired(timedelta(days=2)), retired(timedelta(hours=1))
    plan = planner([old, recent], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG, remove=(old.kid,), create_current=True, create_next=True)


# --- plan_rotation ----------------------------------------------------------------------------


def test_rotation_promotes_next_exactly_at_publish_lead() -> None:
    cur, nxt = current(), next_key(POLICY.publish_lead)
    plan = plan_rotation([cur, nxt], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG, promote=nxt.kid, retire=cur.kid, create_next=True)


def test_rotation_promotes_an_older_next() -> None:
    cur, nxt = current(), next_key(timedelta(days=3))
    plan = plan_rotation([nxt, cur], ALG, NOW, POLICY)
    assert (plan.promote, plan.retire, plan.create_next, plan.create_current) == (nxt.kid, cur.kid, True, False)


def test_rotation_refuses_a_next_published_too_recently() -> None:
    nxt = next_key(POLICY.publish_lead - TICK)
    with pytest.raises(RotationTooEarly) as excinfo:
        plan_rotation([current(), nxt], ALG, NOW, POLICY)
    assert excinfo.value.ready_at == NOW + TICK
    assert excinfo.value.ready_at.isoformat() in str(excinfo.value)
    assert nxt.kid in str(excinfo.value)


def test_rotation_refuses_a_next_created_just_now() -> None:
    with pytest.raises(RotationTooEarly) as excinfo:
        plan_rotation([current(), next_key(timedelta(0))], ALG, NOW, POLICY)
    assert excinfo.value.ready_at == NOW + POLICY.publish_lead


def test_rotation_promotes_a_ready_next_when_no_current_exists() -> None:
    nxt = next_key(timedelta(hours=2))
    plan = plan_rotation([nxt], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG, promote=nxt.kid, retire=None, create_next=True)


def test_rotation_with_current_but_no_next_only_creates_next() -> None:
    plan = plan_rotation([current()], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG, create_next=True)


def test_rotation_promotes_the_oldest_of_several_next_keys() -> None:
    older, newer = next_key(timedelta(hours=3)), next_key(timedelta(hours=2))
    assert plan_rotation([current(), newer, older], ALG, NOW, POLICY).promote == older.kid


def test_rotation_retires_the_newest_current_if_a_race_left_two() -> None:
    old, new = current(timedelta(days=9)), current(timedelta(days=2))
    plan = plan_rotation([old, new, next_key(timedelta(hours=2))], ALG, NOW, POLICY)
    assert plan.retire == new.kid


def test_rotation_only_touches_its_own_algorithm() -> None:
    other = [
        key(KeyState.NEXT, age=timedelta(days=1), alg="ES256"),
        key(KeyState.RETIRED, age=timedelta(days=90), retired_ago=timedelta(days=30), alg="ES256"),
    ]
    plan = plan_rotation([current(), *other], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG, create_next=True)


# --- removal of retired keys ------------------------------------------------------------------


@pytest.mark.parametrize("planner", PLANNERS)
def test_retired_key_is_removed_exactly_at_retire_after(planner: Planner) -> None:
    due, almost = retired(POLICY.retire_after), retired(POLICY.retire_after - TICK)
    plan = planner([current(), next_key(POLICY.publish_lead), due, almost], ALG, NOW, POLICY)
    assert plan.remove == (due.kid,)


@pytest.mark.parametrize("planner", PLANNERS)
def test_retired_key_without_retired_at_is_kept(planner: Planner) -> None:
    plan = planner([current(), retired(None)], ALG, NOW, POLICY)
    assert plan.remove == ()


def test_rotation_reports_removals_alongside_a_promotion() -> None:
    cur, nxt, gone = current(), next_key(timedelta(hours=5)), retired(timedelta(days=7))
    plan = plan_rotation([cur, nxt, gone], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG, promote=nxt.kid, retire=cur.kid, remove=(gone.kid,), create_next=True)


def test_old_current_and_next_keys_are_never_removed() -> None:
    plan = plan_maintenance([current(timedelta(days=400)), next_key(timedelta(days=400))], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG)
    assert plan.is_empty


# --- plan_maintenance -------------------------------------------------------------------------


def test_maintenance_never_promotes_while_a_current_key_exists() -> None:
    for age in (timedelta(0), POLICY.publish_lead, timedelta(days=10)):
        assert plan_maintenance([current(), next_key(age)], ALG, NOW, POLICY) == RotationPlan(alg=ALG)


def test_maintenance_refills_a_missing_next() -> None:
    assert plan_maintenance([current()], ALG, NOW, POLICY) == RotationPlan(alg=ALG, create_next=True)


def test_maintenance_recovers_from_an_interrupted_bootstrap() -> None:
    nxt = next_key(timedelta(seconds=1))
    plan = plan_maintenance([nxt], ALG, NOW, POLICY)
    assert plan == RotationPlan(alg=ALG, promote=nxt.kid, create_next=True)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("planner", PLANNERS)
def test_naive_now_is_rejected(planner: Planner) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        planner([], ALG, NOW.replace(tzinfo=None), POLICY)


@pytest.mark.parametrize("policy_args", [(timedelta(seconds=-1), timedelta(0)), (timedelta(0), timedelta(seconds=-1))])
def test_negative_policy_is_rejected(policy_args: tuple[timedelta, timedelta]) -> None:
    with pytest.raises(ValueError, match="negative"):
        RotationPolicy(*policy_args)


def test_empty_plan_flag() -> None:
    assert RotationPlan(alg=ALG).is_empty
    assert not RotationPlan(alg=ALG, remove=("x",)).is_empty
