"""What the Hub's answer to a delivery means for the event: the Hub retry policy, as one pure
function.

`decide(answer, attempt, settings, retry_after)` maps the Hub's HTTP status (or the exception
that stood for no answer), the event's attempt number (this one included) and the Hub's
`Retry-After` header to one verdict; the forwarder records it (`consumers.hub_forwarder`).
Nothing here touches Redis, PostgreSQL, the network or the clock.

- a status below 300: `Delivered`;
- no answer (a timeout, a refused or dropped connection), 5xx, 408, 409, 429: `Retry` after
  HUB_RETRY_SCHEDULE_S[attempt - 1] (+-10% jitter), or after `Retry-After` when the Hub
  gives one in seconds (at most a day); `Dead` once the schedule has no delay left for it;
- 410 Gone: `Dead`, and every delivery stops for HUB_GONE_PAUSE_S (`pause_s`);
- any other status (3xx: redirects are never followed; 4xx): `Dead` at once, with the reason.

Dead events stay in the outbox and are replayed with `python -m ops replay`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from core.names import HUB_DEAD, HUB_DELIVERED, HUB_PENDING
from core.settings import Settings

GONE = 410
_RETRYABLE_STATUS = {408, 409, 429}
_MAX_RETRY_AFTER_S = 86400


@dataclass(frozen=True, slots=True)
class Delivered:
    outcome: ClassVar[str] = HUB_DELIVERED
    reason: ClassVar[None] = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Parked until its next attempt; `reason` is the status, or the exception's name."""

    outcome: ClassVar[str] = HUB_PENDING
    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Dead:
    """Never tried again unless replayed; `pause_s`: every delivery stops this long."""

    outcome: ClassVar[str] = HUB_DEAD
    reason: str
    pause_s: float | None = None


Verdict = Delivered | Retry | Dead


def decide(
    answer: int | Exception,
    attempt: int,
    settings: Settings,
    retry_after: str | None = None,
    jitter: Callable[[float, float], float] = random.uniform,
) -> Verdict:
    """The verdict on one delivery: `answer` is the Hub's status, or why there was none."""
    if isinstance(answer, int):
        if answer < 300:
            return Delivered()
        if answer < 500 and answer not in _RETRYABLE_STATUS:
            pause_s = settings.hub_gone_pause_s if answer == GONE else None
            return Dead(f"HTTP {answer}: rejected by the Hub, not retried", pause_s)
    # The attempt's recorded error: the exception's name, even once the schedule runs out.
    error = None if isinstance(answer, int) else type(answer).__name__
    schedule = settings.hub_retry_schedule_s
    if attempt > len(schedule):
        return Dead(error or f"retries exhausted after {attempt} attempts")
    wait_s = _seconds(retry_after) if isinstance(answer, int) else None
    if wait_s is None:
        wait_s = schedule[attempt - 1] * jitter(0.9, 1.1)
    return Retry(wait_s, error or f"HTTP {answer}")


def _seconds(retry_after: str | None) -> float | None:
    """`Retry-After` in seconds, from 0 to a day; None when absent or not a number (a date)."""
    try:
        return min(max(0.0, float(retry_after or "")), _MAX_RETRY_AFTER_S)
    except ValueError:
        return None
