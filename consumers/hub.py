"""The Hub path: hub stream -> outbox row -> signed POST to HUB_WEBHOOK_URL.

Events are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) with the `standardwebhooks` package, so the Hub verifies them with the
same package. The event id never changes across retries; the Hub de-duplicates on it.
Retryable answers (network errors, 5xx, 408, 409, 429) are retried with backoff, honouring
`Retry-After`; any other 4xx, or retries exhausted, dead-letters the event (row `dead`, and
an entry in `messaging:hub-events:dead`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from standardwebhooks import Webhook
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from consumers.runner import Consumer, Entry
from db import hub_events
from db.hub_events import Attempt
from server.constants import HUB_FORWARDERS_GROUP, HUB_STREAM

logger = logging.getLogger("consumers.hub")
_RETRYABLE_STATUS = {408, 409, 429}


class HubRetryable(Exception):
    def __init__(self, status_code: int | None, error: str, retry_after_s: float | None = None):
        super().__init__(error)
        self.status_code = status_code
        self.error = error
        self.retry_after_s = retry_after_s


class HubRejected(Exception):
    def __init__(self, status_code: int, error: str):
        super().__init__(error)
        self.status_code = status_code
        self.error = error


async def handle(ctx: Any, entries: list[Entry]) -> dict[str, str]:
    rows = await hub_events.pending(ctx.pool, [e.fields.get("event_id", "") for e in entries])
    if not rows:
        return {}
    limit = asyncio.Semaphore(ctx.settings.send_concurrency)
    results = await asyncio.gather(*(_deliver(ctx, row, limit) for row in rows))
    delivered = [a for ok, a, _ in results if ok]
    dead = [a for ok, a, _ in results if not ok]
    attempts = {a.event_id: n for _, a, n in results}
    await hub_events.record_outcomes(ctx.pool, delivered, dead, attempts)
    dead_ids = {a.event_id: a for a in dead}
    return {
        e.id: f"hub rejected: {dead_ids[e.fields['event_id']].error}"
        for e in entries
        if e.fields.get("event_id") in dead_ids
    }


async def _deliver(ctx: Any, row: Any, limit: asyncio.Semaphore) -> tuple[bool, Attempt, int]:
    s = ctx.settings
    body = orjson.dumps(row["payload"])
    tries = 0
    retrying = AsyncRetrying(
        stop=stop_after_attempt(s.hub_max_attempts),
        wait=_RetryAfter(
            wait_exponential_jitter(initial=s.retry_initial_s, max=s.retry_max_s), s.retry_max_s
        ),
        retry=retry_if_exception_type(HubRetryable),
        reraise=True,
    )
    try:
        async with limit:
            async for attempt in retrying:
                with attempt:
                    tries += 1
                    code = await _post(ctx, row["id"], body)
    except (HubRetryable, HubRejected) as exc:
        logger.warning(
            "hub delivery failed event_id=%s attempts=%d status=%s error=%s",
            row["id"],
            tries,
            exc.status_code,
            exc.error,
        )
        return False, Attempt(row["id"], exc.status_code, exc.error), tries
    return True, Attempt(row["id"], code, None), tries


async def _post(ctx: Any, event_id: str, body: bytes) -> int:
    now = datetime.now(UTC)
    signature = Webhook(ctx.settings.hub_webhook_secret).sign(event_id, now, body.decode())
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    try:
        response = await ctx.http.post(ctx.settings.hub_webhook_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise HubRetryable(None, f"{type(exc).__name__}") from None
    code = response.status_code
    if code < 300:
        return code
    if code >= 500 or code in _RETRYABLE_STATUS:
        raise HubRetryable(code, f"HTTP {code}", _retry_after(response))
    raise HubRejected(code, f"HTTP {code}")


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


class _RetryAfter(wait_base):
    """Wait what the Hub asked for (capped), else the fallback backoff."""

    def __init__(self, fallback: wait_base, cap_s: float) -> None:
        self.fallback = fallback
        self.cap_s = cap_s

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, HubRetryable) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self.cap_s)
        return self.fallback(retry_state)


CONSUMER = Consumer("hub", HUB_STREAM, HUB_FORWARDERS_GROUP, handle)
