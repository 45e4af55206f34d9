"""The retry policies of the consumers, in one place (tenacity does the looping).

- `at_once`: a call whose connection never opened is tried again straight away, briefly;
  nothing reached the other side, so this can never duplicate anything. The first try runs
  outside tenacity: the common case pays nothing for the policy.
- `until_stored`: answers already held (Meta's, the Hub's) are written through outages and
  deadlocks rather than dropped; each write is idempotent, so a retry is always safe.
Anything longer (Meta's 5xx, throttling, a Hub that is down) is not retried in place: the
message or event is parked with `next_attempt_at` and comes back through the scheduler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from core.failures import TRANSIENT

T = TypeVar("T")


async def at_once(
    call: Callable[[], Awaitable[T]], nothing_sent: Callable[[BaseException], bool]
) -> T:
    try:
        return await call()
    except Exception as exc:
        if not nothing_sent(exc):
            raise
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(nothing_sent),
        wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
        stop=stop_after_attempt(2),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")


def until_stored(patience_s: float) -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential_jitter(multiplier=0.2, max=10, jitter=0.2),
        stop=stop_after_delay(patience_s),
        reraise=True,
    )
