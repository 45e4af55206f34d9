"""The Hub path: hub stream -> outbox row -> one signed POST -> delivered, parked or dead.

Events are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) with the `standardwebhooks` package, so the Hub verifies them with the
same package. The event id never changes across retries; the Hub de-duplicates on it.

Retry policy, in one place (`_outcome`):
- network errors, 5xx, 408, 409, 429: the event is parked until its next attempt on
  HUB_RETRY_SCHEDULE_S (the Standard Webhooks schedule, 5 s up to 24 h, +-10% jitter), or
  after the Hub's `Retry-After`; the scheduler re-publishes it, so an outage of a day never
  holds the stream. Schedule exhausted: dead.
- any other 4xx: dead at once, with the reason. 410 Gone also stops every delivery for
  HUB_GONE_PAUSE_S and raises an alert (log + /health/).
Every POST is recorded in `hub_event_attempts`. Dead events stay in the outbox with their
reason and are replayed with `python -m ops replay`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from standardwebhooks import Webhook

from consumers import retries, worker_metrics
from consumers.context import Context
from consumers.runner import Consumer, Entry
from core.failures import nothing_sent
from core.names import (
    HUB_DEAD,
    HUB_DELIVERED,
    HUB_FORWARDERS_GROUP,
    HUB_PAUSED_KEY,
    HUB_PENDING,
    HUB_STREAM,
)
from core.pauses import read_pause, set_pause
from db import hub_events
from db.hub_events import Attempt

logger = logging.getLogger("consumers.hub_forwarder")
_RETRYABLE_STATUS = {408, 409, 429}
_GONE = 410
_MAX_RETRY_AFTER_S = 86400


async def handle(ctx: Context, entries: list[Entry]) -> dict[str, str]:
    ids = [e.fields.get("event_id", "") for e in entries]
    pause = await read_pause(ctx.redis, HUB_PAUSED_KEY)
    if pause:  # the Hub said Gone: hold everything until the pause ends
        await hub_events.park(ctx.pool, ids, datetime.fromtimestamp(pause.until, UTC))
        return {}
    rows = await hub_events.lease(ctx.pool, ids, _lease_s(ctx.settings))
    if not rows:
        return {}
    entry_of = {e.fields.get("event_id", ""): e for e in entries}
    attempts = list(await asyncio.gather(*(_deliver(ctx, row, entry_of) for row in rows)))
    if any(a.status_code == _GONE for a in attempts):
        await _pause(ctx)
    async for attempt in retries.until_stored(patience_s=60):
        with attempt:
            async with ctx.pool.acquire() as conn:
                await hub_events.record_attempts(conn, attempts)
    return {}  # dead events stay in the outbox (status dead, with the reason) for replay


def _log_fields(row: Any, entry_of: dict[str, Entry], attempt: int) -> dict[str, Any]:
    """The event, its stream entry and the message it is about, on every delivery line."""
    entry = entry_of.get(row["id"])
    data = row["payload"].get("data") or {}
    return {
        "event_id": row["id"],
        "event_type": row["payload"].get("type"),
        "message_id": data.get("message_id") or (entry.fields.get("message_id") if entry else None),
        "wamid": data.get("wamid"),
        "entry_id": entry.id if entry else None,
        "attempt": attempt,
    }


async def _deliver(ctx: Context, row: Any, entry_of: dict[str, Entry]) -> Attempt:
    body = orjson.dumps(row["payload"])
    started, at = time.monotonic(), datetime.now(UTC)
    code, error, retry_after = None, None, None
    async with ctx.hub_calls:
        try:
            code, retry_after = await _post(ctx, row["id"], body)
        except Exception as exc:  # no answer: retried on the schedule
            error = type(exc).__name__
    latency_ms = int((time.monotonic() - started) * 1000)
    outcome, next_at, reason = _outcome(ctx.settings, row["attempts"] + 1, code, retry_after)
    worker_metrics.count_hub_delivery(outcome, time.monotonic() - started)
    fields = _log_fields(row, entry_of, row["attempts"] + 1)
    if outcome == HUB_DELIVERED:
        logger.info(
            "hub event delivered event_id=%s status=%s latency_ms=%d",
            row["id"],
            code,
            latency_ms,
            extra={**fields, "status_code": code, "latency_ms": latency_ms},
        )
    else:
        logger.warning(
            "hub delivery failed event_id=%s attempt=%d status=%s error=%s next=%s",
            row["id"],
            row["attempts"] + 1,
            code,
            error or reason,
            next_at.isoformat() if next_at else outcome,
            extra={**fields, "status_code": code, "outcome": outcome},
        )
    return Attempt(row["id"], outcome, at, latency_ms, code, error or reason, next_at)


def _lease_s(s: Any) -> float:
    """Long enough for one delivery: up to three connection tries, then one answer."""
    return 3 * s.http_timeout_s + 5


def _outcome(
    s: Any, attempt: int, code: int | None, retry_after: float | None
) -> tuple[str, datetime | None, str | None]:
    """Delivered, retry at some time, or dead: the Hub retry policy."""
    if code is not None and code < 300:
        return HUB_DELIVERED, None, None
    if code is not None and code < 500 and code not in _RETRYABLE_STATUS:
        return HUB_DEAD, None, f"HTTP {code}: rejected by the Hub, not retried"
    schedule = s.hub_retry_schedule_s
    if attempt > len(schedule):
        return HUB_DEAD, None, f"retries exhausted after {attempt} attempts"
    wait_s = schedule[attempt - 1] * random.uniform(0.9, 1.1)
    if retry_after is not None:
        wait_s = min(retry_after, _MAX_RETRY_AFTER_S)
    reason = f"HTTP {code}" if code is not None else None
    return HUB_PENDING, datetime.now(UTC) + timedelta(seconds=wait_s), reason


async def _post(ctx: Context, event_id: str, body: bytes) -> tuple[int, float | None]:
    """One signed POST; a connection that never opened is retried at once, briefly."""

    async def post() -> tuple[int, float | None]:
        now = datetime.now(UTC)
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": _signer(ctx.settings.hub_webhook_secret).sign(
                event_id, now, body.decode()
            ),
            "content-type": "application/json",
        }
        async with ctx.http.post(ctx.settings.hub_webhook_url, data=body, headers=headers) as r:
            await r.read()
            return r.status, _retry_after(r.headers.get("Retry-After", ""))

    return await retries.at_once(post, nothing_sent)


@functools.cache
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def _retry_after(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def _pause(ctx: Context) -> None:
    seconds = ctx.settings.hub_gone_pause_s
    await set_pause(ctx.redis, HUB_PAUSED_KEY, _GONE, "the Hub answered 410 Gone", seconds)
    logger.error("ALERT Hub deliveries paused for %.0fs: the Hub answered 410 Gone", seconds)


CONSUMER = Consumer("hub", HUB_STREAM, HUB_FORWARDERS_GROUP, handle)
