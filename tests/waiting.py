"""Waiting in a test for something to happen, instead of sleeping a guessed time or writing a deadline loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    condition: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    message: str | None = ...,
) -> T: ...


@overload
async def eventually(
    condition: Callable[[], T | None],
    *,
    timeout: float = ...,  # noqa: ASYNC109
    interval: float = ...,
    message: str | None = ...,
) -> T: ...


async def eventually(
    condition: Callable[[], Any],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 (how long to go on calling, not a deadline to cancel at)
    interval: float = 0.05,
    message: str | None = None,
) -> Any:
    """Call `condition` (a plain or an async function, no arguments) until it returns a truthy value, and return
    that value: at once, then every `interval` seconds, for `timeout` seconds.

        await eventually(lambda: not feed.connected, timeout=5, message="the dead connection to be noticed")

    Not holding yet is a falsy return value, or an AssertionError: a condition may be written as asserts, and
    then ends with `return True` (None is "not yet", like any falsy value). Any other exception is raised at
    once: a broken condition is no reason to wait. So is a failure that must not be waited out (an invariant
    broken in the meantime): call `pytest.fail()` in the condition.

    At the timeout the test fails with an AssertionError naming what was awaited (`message`, else the
    condition's name) and the last value returned; or, if the last call raised one, with that AssertionError,
    with a note saying the same. A call begun before the timeout is awaited to its end, so a slow condition can
    overrun `timeout` by its own length: where the time taken is what a test asserts, it measures it itself.
    """
    what = message or getattr(condition, "__qualname__", repr(condition))
    deadline = time.monotonic() + timeout
    while True:
        value: Any = None
        failure: AssertionError | None = None
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
        except AssertionError as exc:
            failure = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            if failure is not None:
                failure.add_note(f"(still failing after waiting {timeout}s for: {what})")
                raise failure
            raise AssertionError(f"waited {timeout}s for: {what}; the last value was {value!r}")
        await asyncio.sleep(interval)
