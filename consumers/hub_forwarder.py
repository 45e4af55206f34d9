"""The Hub path: hub stream -> outbox row -> one signed POST -> delivered, parked or dead.

Events are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) with the `standardwebhooks` package, so the Hub verifies them with the
same package. The event id never changes across retries; the Hub de-duplicates on it.

What each answer means is the Hub retry policy (`consumers.hub_policy.decide`); here it is
carried out: a retried event is parked until its next attempt and the scheduler re-publishes
it, so an outage of a day never holds the stream; a 410 Gone stops every delivery for
HUB_GONE_PAUSE_S and raises an alert (log + /health/). Every POST is recorded in
`hub_event_attempts`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from standardwebhooks import Webhook

from consumers import hub_policy, retries, worker_metrics
from consumers.context import Context
from consumers.runner import Consumer, Entry
from core.failures import nothing_sent
from core.names import HUB_DELIVERED, HUB_FORWARDERS_GROUP, HUB_PAUSED_KEY, hub_streams
from core.pauses import read_pause, set_pause
from db import hub_events
from db.hub_events import Attempt

logger = logging.getLogger("consumers.hub_forwarder")


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
    delivered = await asyncio.gather(*(_deliver(ctx, row, entry_of) for row in rows))
    attempts = [attempt for attempt, _ in delivered]
    pauses = [v.pause_s for _, v in delivered if isinstance(v, hub_policy.Dead) and v.pause_s]
    if pauses:
        await _pause(ctx, max(pauses))
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


async def _deliver(
    ctx: Context, row: Any, entry_of: dict[str, Entry]
) -> tuple[Attempt, hub_policy.Verdict]:
    body = orjson.dumps(row["payload"])
    started, at = time.monotonic(), datetime.now(UTC)
    answer: int | Exception
    retry_after = None
    async with ctx.hub_calls:
        try:
            answer, retry_after = await _post(ctx, row["id"], body)
        except Exception as exc:  # no answer: retried on the schedule
            answer = exc
    latency_ms = int((time.monotonic() - started) * 1000)
    verdict = hub_policy.decide(answer, row["attempts"] + 1, ctx.settings, retry_after)
    code = answer if isinstance(answer, int) else None
    outcome, reason = verdict.outcome, verdict.reason
    next_at = None
    if isinstance(verdict, hub_policy.Retry):
        next_at = datetime.now(UTC) + timedelta(seconds=verdict.seconds)
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
            reason,
            next_at.isoformat() if next_at else outcome,
            extra={**fields, "status_code": code, "outcome": outcome},
        )
    return Attempt(row["id"], outcome, at, latency_ms, code, reason, next_at), verdict


def _lease_s(s: Any) -> float:
    """Long enough for one delivery: up to three connection tries, then one answer."""
    return 3 * s.http_timeout_s + 5


async def _post(ctx: Context, event_id: str, body: bytes) -> tuple[int, str | None]:
    """One signed POST; a connection that never opened is retried at once, briefly."""

    async def post() -> tuple[int, str | None]:
        now = datetime.now(UTC)
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": _signer(ctx.settings.hub_webhook_secret).sign(
                event_id, now, body.decode()
            ),
            "content-type": "application/json",
        }
        # No redirects: aiohttp turns a POST answered 301/302 into a GET without the event,
        # and a 2xx to that GET would mark it delivered. A 3xx is the policy's to judge.
        async with ctx.http.post(
            ctx.settings.hub_webhook_url, data=body, headers=headers, allow_redirects=False
        ) as r:
            await r.read()
            return r.status, r.headers.get("Retry-After")

    return await retries.at_once(post, nothing_sent)


@functools.cache
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


async def _pause(ctx: Context, seconds: float) -> None:
    await set_pause(
        ctx.redis, HUB_PAUSED_KEY, hub_policy.GONE, "the Hub answered 410 Gone", seconds
    )
    logger.error("ALERT Hub deliveries paused for %.0fs: the Hub answered 410 Gone", seconds)


def consumers(shards: int = 1) -> list[Consumer]:
    """One consumer per shard of the Hub-event stream (STREAM_SHARDS)."""
    return [Consumer("hub", s, HUB_FORWARDERS_GROUP, handle) for s in hub_streams(shards)]
