"""The loop that drains an outbox in Postgres (revocations to announce, logout tokens to deliver): a pass every
`interval`, or at once when woken; after a failure, again with a delay doubling up to `max_backoff`. Whatever fails,
the loop goes on: nothing else empties the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("authorium.authz")


@dataclass(frozen=True)
class Messages:
    """What the log says: a failure that is not one of the expected ones, the first of a run of expected ones, and
    (if given) the first success after failures."""

    failed: str
    pending: str
    recovered: str | None = None


async def drain_forever(
    one_pass: Callable[[], Awaitable[object]],
    *,
    wake: asyncio.Event,
    interval: float,
    max_backoff: float,
    retried: tuple[type[BaseException], ...],
    messages: Messages,
) -> None:
    delay = interval
    failing = False
    while True:
        try:
            await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, retried):
                log.exception(messages.failed)
            elif not failing:
                log.warning(messages.pending, extra={"error": str(exc)})
            failing = True
            delay = min(delay * 2, max_backoff)
        else:
            if failing and messages.recovered is not None:
                log.info(messages.recovered)
            failing = False
            delay = interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)
        wake.clear()
