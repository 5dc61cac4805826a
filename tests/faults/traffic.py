"""Steady concurrent traffic for the fault tests: loops that call the servers over and over while a test breaks
something underneath them, keeping every answer (or the lack of one) with when it was asked and answered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

# Longer than any answer the servers may take when a backing store is away (Redis calls time out after 1 s),
# short enough that a hung request fails its test instead of stalling it.
REQUEST_TIMEOUT = 8.0


@dataclass(frozen=True)
class Answer:
    op: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no HTTP answer at all; `error` says what happened instead
    body: Any
    retry_after: str | None
    error: str | None = None
    subject: str | None = None  # what the request was about (a token, a note id), for the test's bookkeeping

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def within(self, start: float, end: float) -> bool:
        """Asked at or after `start` and answered by `end`: wholly inside that stretch of time."""
        return start <= self.started and self.ended <= end


async def call(
    http: aiohttp.ClientSession, op: str, method: str, url: str, *, subject: str | None = None, **kwargs: Any
) -> Answer:
    """One request; the body is parsed as JSON when it says it is. Transport failures become an Answer too."""
    started = time.monotonic()
    try:
        async with http.request(method, url, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT), **kwargs) as resp:
            raw = await resp.read()
            body: Any = orjson.loads(raw) if resp.content_type == "application/json" and raw else raw
            return Answer(
                op, started, time.monotonic(), resp.status, body, resp.headers.get("Retry-After"), None, subject
            )
    except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as exc:
        return Answer(op, started, time.monotonic(), None, None, None, repr(exc), subject)


Step = Callable[[], Awaitable[Answer | None]]


class Load:
    """`concurrency` loops, each running its steps in turn until stopped; `answers` holds every answer.
    A step may return None when it had nothing to do (e.g. no token left to revoke)."""

    def __init__(self, steps: Iterable[Step], concurrency: int, *, pause: float = 0.002) -> None:
        self.steps = list(steps)
        self.concurrency = concurrency
        self.pause = pause
        self.answers: list[Answer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def _loop(self, offset: int) -> None:
        i = offset
        while not self._stopping.is_set():
            answer = await self.steps[i % len(self.steps)]()
            i += 1
            if answer is not None:
                self.answers.append(answer)
            # A short breath, so that a store failing fast does not turn the loops into a busy spin.
            await asyncio.sleep(self.pause)

    async def __aenter__(self) -> Load:
        self._tasks = [asyncio.create_task(self._loop(i)) for i in range(self.concurrency)]
        return self

    async def stop(self) -> None:
        """Let every loop finish the request it is in, then stop it."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            await self.stop()
            return
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def of(self, op: str) -> list[Answer]:
        return [a for a in self.answers if a.op == op]

    def statuses(self, op: str | None = None) -> Counter[int | None]:
        return Counter(a.status for a in self.answers if op is None or a.op == op)


def is_unavailable(answer: Answer) -> bool:
    """The deliberate answer while a backing store is away (docs/operations.md): 503 temporarily_unavailable,
    with Retry-After."""
    return (
        answer.status == 503
        and isinstance(answer.body, dict)
        and answer.body.get("error") == "temporarily_unavailable"
        and answer.retry_after == "1"
    )


def assert_only(answers: Iterable[Answer], *allowed: int) -> None:
    """Every answer has an allowed status (a 503 only in its documented form), none is missing or a 500."""
    for answer in answers:
        assert answer.status in allowed, f"{answer.op}: {answer.status} {answer.error or answer.body!r}"
        if answer.status == 503:
            assert is_unavailable(answer), f"{answer.op}: a 503 not in the documented form: {answer}"
