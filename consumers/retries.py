"""The retry policies of the consumers, in one place (tenacity does the looping).

- `at_once`: a connection that never opened is tried again straight away, briefly; nothing
  reached the other side, so this can never duplicate anything.
- `until_stored`: answers already held (Meta's, the Hub's) are written through outages and
  deadlocks rather than dropped; each write is idempotent, so a retry is always safe.
Anything longer (Meta's 5xx, throttling, a Hub that is down) is not retried in place: the
message or event is parked with `next_attempt_at` and comes back through the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from server.errors import TRANSIENT


def at_once(nothing_sent: Callable[[BaseException], bool]) -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception(nothing_sent),
        wait=wait_exponential_jitter(multiplier=0.05, max=0.5, jitter=0.05),
        stop=stop_after_attempt(3),
        reraise=True,
    )


def until_stored(patience_s: float) -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception_type(TRANSIENT),
        wait=wait_exponential_jitter(multiplier=0.2, max=10, jitter=0.2),
        stop=stop_after_delay(patience_s),
        reraise=True,
    )
