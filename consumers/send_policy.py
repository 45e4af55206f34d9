"""What Meta's answer to a send means for the message: the retry policy, as one pure function.

`decide(answer, attempts, settings)` maps Meta's answer (a wamid) or a `MetaError`, the Meta
calls the message has had (this one included) and the settings to one verdict; the sender
applies it (`consumers.sender`). Nothing here touches Redis, PostgreSQL or the clock.

- an answer: `Sent`, with the BSUID it names (a send by `recipient`) and Meta's
  `message_status` (`accepted`, `held_for_quality_assessment`...);
- no answer after the request left: `AwaitStatus` (never retried);
- 131048 spam limit, 190 token, 368 blocked, 131031 locked: `PauseNumber`;
- 131056 pair rate limit: `HoldRecipient`;
- 130429, 4, 613, 80007, HTTP 429: `BackOff`;
- 5xx, 1, 2, 131000, 131016, 133004, no connection: `Retry`, `Fail` after SEND_MAX_ATTEMPTS;
- anything else (100, 131026, 132001, 131047, 131049, 131050, 131062...): `Fail` (a 131047
  failure closes the contact's service window when it is recorded: `consumers.events`;
  a 131050 failure records that the contact stopped marketing: `consumers.preferences`;
  131049, Meta's per-user marketing limit, 131050 and 131062, a template Meta will not send
  to a BSUID, fail whatever the HTTP status, 131049 and 131050 with a `reason`).

The three throttling verdicts refund the try: only the others count toward SEND_MAX_ATTEMPTS.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from whatsapp.client import SendAnswer
from whatsapp.errors import (
    MetaError,
    MetaOutcomeUnknown,
    MetaPairLimited,
    MetaPaused,
    MetaThrottled,
)


@dataclass(frozen=True, slots=True)
class Sent:
    wamid: str
    user_id: str | None = None  # the recipient's BSUID, when Meta's answer names one
    message_status: str | None = None  # Meta's `message_status` of the answer, if any


@dataclass(frozen=True, slots=True)
class AwaitStatus:
    """It may have been sent: never retried; a status webhook or the sweeper settles it."""

    error: MetaError


@dataclass(frozen=True, slots=True)
class PauseNumber:
    """Nothing on the number will succeed for a while: pause it, alert, keep the message."""

    error: MetaError
    seconds: float


@dataclass(frozen=True, slots=True)
class HoldRecipient:
    """Too many messages to this recipient: only its messages wait."""

    error: MetaError
    seconds: float


@dataclass(frozen=True, slots=True)
class BackOff:
    """The number sends too fast: every replica waits, the message tries again after."""

    error: MetaError
    seconds: float


@dataclass(frozen=True, slots=True)
class Retry:
    error: MetaError
    seconds: float


@dataclass(frozen=True, slots=True)
class Fail:
    error: MetaError


Verdict = Sent | AwaitStatus | PauseNumber | HoldRecipient | BackOff | Retry | Fail


def decide(
    answer: SendAnswer | MetaError,
    attempts: int,
    settings: Settings,
    jitter: Callable[[float, float], float] = random.uniform,
) -> Verdict:
    """The verdict on one Meta call; `attempts` counts it."""
    s = settings
    if isinstance(answer, SendAnswer):
        return Sent(answer.wamid, answer.user_id, answer.message_status)
    if isinstance(answer, MetaOutcomeUnknown):
        return AwaitStatus(answer)
    if isinstance(answer, MetaPaused):
        return PauseNumber(answer, s.send_pause_s)
    if isinstance(answer, MetaPairLimited):
        return HoldRecipient(answer, s.pair_rate_limit_s)
    if isinstance(answer, MetaThrottled):
        return BackOff(answer, 2 * s.retry_initial_s)
    if answer.retryable and attempts < s.send_max_attempts:
        return Retry(answer, retry_delay_s(s, attempts, jitter))
    return Fail(answer)


def retry_delay_s(
    settings: Any, attempts: int, jitter: Callable[[float, float], float] = random.uniform
) -> float:
    """Exponential backoff from RETRY_INITIAL_S, capped at RETRY_MAX_S, with +-20% jitter."""
    base = min(settings.retry_max_s, settings.retry_initial_s * 2 ** max(attempts - 1, 0))
    return base * jitter(0.8, 1.2)
