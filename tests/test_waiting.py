"""tests.waiting.eventually: what it returns, how long it waits, and what it says when it gives up."""

from __future__ import annotations

import time

import pytest

from tests.waiting import eventually


async def test_returns_the_first_truthy_value_of_a_sync_or_async_condition() -> None:
    calls: list[int] = []

    def sync() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    async def asynchronous() -> str | None:
        return "ready" if len(calls) >= 3 else None

    assert await eventually(sync, interval=0.001) == 3
    assert await eventually(asynchronous) == "ready"


async def test_an_assertion_error_means_not_yet() -> None:
    calls: list[int] = []

    def check() -> bool:
        calls.append(1)
        assert len(calls) >= 2, "not yet"
        return True

    assert await eventually(check, interval=0.001) is True


async def test_at_the_timeout_it_says_what_was_awaited_and_the_last_value() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"waited 0\.1s for: the door to open; the last value was \[\]"):
        await eventually(lambda: [], timeout=0.1, message="the door to open")
    assert time.monotonic() - started >= 0.1


async def test_at_the_timeout_the_last_assertion_error_is_raised_with_a_note() -> None:
    def check() -> bool:
        assert False, "the door is shut"

    with pytest.raises(AssertionError, match="the door is shut") as raised:
        await eventually(check, timeout=0.05, message="the door to open")
    assert raised.value.__notes__ == ["(still failing after waiting 0.05s for: the door to open)"]


async def test_any_other_exception_is_raised_at_once() -> None:
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await eventually(broken, timeout=5)
    assert calls == [1]


async def test_pytest_fail_in_the_condition_stops_the_wait() -> None:
    def invariant_broken() -> bool:
        pytest.fail("accepted a revoked token")

    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match="accepted a revoked token"):
        await eventually(invariant_broken, timeout=5)
    assert time.monotonic() - started < 1
