"""The send path: outbound stream -> rate limit -> claim -> Meta -> sent, failed or parked.

For each batch the sender takes send slots from the shared rate limiter and claims
(queued -> sending) only the messages those slots cover, right before their Meta calls: a
crash leaves at most one slot window of claimed-but-unsent messages, and a claimed message
is never sent twice (only a queued row can be claimed). Each claim makes one Meta call. A
retryable answer parks the message (queued again, `next_attempt_at` set) and the scheduler
re-publishes it when due, so a slow recipient or a throttled number never holds the stream.
The batch's answers are recorded together, with their Hub events, retried through outages
and deadlocks: they are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from consumers import events, metrics, retries
from consumers.admission import Ticket
from consumers.meta import (
    MetaError,
    MetaOutcomeUnknown,
    MetaPairLimited,
    MetaPaused,
    MetaThrottled,
    MetaUnavailable,
    send_message,
)
from consumers.runner import Consumer, Entry, sleep_unless_stopped
from db import messages
from db.messages import Parked
from db.statuses import StatusChange
from server.constants import FAILED, OUTBOUND_STREAM, SENDERS_GROUP, SENT
from server.errors import TRANSIENT

logger = logging.getLogger("consumers.sender")
_RECORD_PATIENCE_S = 300  # after that, status webhooks or the sweeper settle the messages
Outcome = StatusChange | Parked | None  # None: outcome unknown, the message stays `sending`


async def handle(ctx: Any, entries: list[Entry]) -> dict[str, str]:
    ids, bad, entry_of = [], {}, {}
    for e in entries:
        try:
            ids.append(UUID(e.fields.get("message_id", "")))
            entry_of[ids[-1]] = e.id
        except ValueError:
            bad[e.id] = "message_id is not a UUID"
    if ids:
        await _Batch(ctx, entry_of).run(ids)
    return bad


def _log_fields(row: Any, entry_of: dict[UUID, str]) -> dict[str, Any]:
    """What every line about one send carries, so one grep of the id finds them all."""
    entry_id = entry_of.get(row["id"])
    return {"message_id": str(row["id"]), "attempt": row["attempts"], "entry_id": entry_id}


class _Batch:
    def __init__(self, ctx: Any, entry_of: dict[UUID, str]) -> None:
        self.ctx = ctx
        self.entry_of = entry_of  # message id -> stream entry id, for the logs
        self.tasks: list[asyncio.Task[Outcome]] = []
        self.outcomes: list[Outcome] = []
        self.unposted: set[UUID] = set()  # claimed, Meta not called yet

    async def run(self, ids: list[UUID]) -> None:
        try:
            await self._schedule(ids)
            self.outcomes += await asyncio.gather(*self.tasks)
        except asyncio.CancelledError:  # shutdown deadline: hand back what was never sent
            for task in self.tasks:
                task.cancel()
            await self._collect()
            await asyncio.shield(_record(self.ctx, self._handed_back(), patience_s=5))
            raise
        except Exception:  # an outage mid-batch: keep the answers held, hand back the rest
            await self._collect()
            await _record(self.ctx, self._handed_back())
            raise
        await _record(self.ctx, self.outcomes)

    def _handed_back(self) -> list[Outcome]:
        """The answers held, plus claimed messages never sent: queued again, due at once."""
        now = datetime.now(UTC)
        metrics.MESSAGES_PARKED.labels("handed_back").inc(len(self.unposted))
        return self.outcomes + [Parked(i, now, counts=False) for i in self.unposted]

    async def _schedule(self, ids: list[UUID]) -> None:
        ctx, limiter = self.ctx, self.ctx.limiter
        todo = ids
        while todo:
            now = datetime.now(UTC)
            if ctx.stop.is_set():  # the rest stays queued, due at once for another worker
                self.outcomes += [Parked(i, now, claimed=False) for i in todo]
                metrics.MESSAGES_PARKED.labels("handed_back").inc(len(todo))
                return
            pause = await limiter.paused()
            if pause:
                until = datetime.fromtimestamp(pause.until, UTC)
                error = {"code": pause.code, "title": pause.title}
                self.outcomes += [Parked(i, until, error, claimed=False) for i in todo]
                metrics.MESSAGES_PARKED.labels("paused").inc(len(todo))
                return
            slots = await limiter.reserve(len(todo))
            if not slots.delays:
                metrics.count_rate_limit_full(slots.retry_in_s, len(todo))
                await sleep_unless_stopped(ctx.stop, slots.retry_in_s)
                continue
            base = asyncio.get_running_loop().time()
            chunk, todo = todo[: len(slots.delays)], todo[len(slots.delays) :]
            rows = await messages.claim(ctx.pool, chunk)
            self.unposted.update(r["id"] for r in rows)
            blocked = await limiter.blocked(sorted({r["recipient"] for r in rows}))
            for row, delay in zip(rows, slots.delays, strict=False):
                if row["recipient"] in blocked:  # Meta's pair limit: only this recipient waits
                    wait = timedelta(seconds=blocked[row["recipient"]])
                    self.outcomes.append(Parked(row["id"], now + wait, counts=False))
                    self.unposted.discard(row["id"])
                    metrics.MESSAGES_PARKED.labels("pair_limit").inc()
                else:
                    self.tasks.append(asyncio.create_task(self._send(row, base + delay)))

    async def _collect(self) -> None:
        results = await asyncio.gather(*self.tasks, return_exceptions=True)
        self.outcomes += [r for r in results if not isinstance(r, BaseException)]

    async def _send(self, row: Any, at: float) -> Outcome:
        """Send at the slot's time (event-loop clock), once the window admits it."""
        ctx, loop = self.ctx, asyncio.get_running_loop()
        metrics.RATE_LIMIT_WAIT.inc(max(at - loop.time(), 0))
        await asyncio.sleep(at - loop.time())
        async with ctx.http_slots, ctx.limiter.window.admitted() as ticket:
            self.unposted.discard(row["id"])
            return await self._call(row, ticket)

    async def _call(self, row: Any, ticket: Ticket) -> Outcome:
        ctx, message_id = self.ctx, row["id"]
        fields = _log_fields(row, self.entry_of)
        try:
            wamid = await _post(ctx, row["payload"], ticket)
        except MetaError as exc:
            return await _after_error(ctx, row, exc, fields)
        except Exception:  # a bug of ours: leave it `sending`, never risk a second send
            logger.exception("send crashed message_id=%s", message_id, extra=fields)
            return None
        logger.info("sent to Meta message_id=%s", message_id, extra={**fields, "wamid": wamid})
        return StatusChange(message_id, SENT, datetime.now(UTC), "sender", wamid=wamid)


async def _post(ctx: Any, payload: dict[str, Any], ticket: Ticket) -> str:
    """One Meta call; a connection that never opened is retried at once, briefly."""
    s = ctx.settings
    return await retries.at_once(
        lambda: metrics.timed(
            metrics.META_SECONDS,
            send_message(ctx.meta, s.meta_messages_url, s.access_token, payload, ticket),
        ),
        lambda e: isinstance(e, MetaUnavailable) and not e.http_status,
    )


async def _after_error(ctx: Any, row: Any, exc: MetaError, fields: dict[str, Any]) -> Outcome:
    """Decide what a Meta error means for this message: the retry policy, in one place."""
    s, limiter, message_id = ctx.settings, ctx.limiter, row["id"]
    now = datetime.now(UTC)
    error = exc.as_error()
    metrics.count_meta_error(exc)
    try:
        if isinstance(exc, MetaOutcomeUnknown):
            logger.warning(
                "send outcome unknown message_id=%s error=%s", message_id, exc, extra=fields
            )
            return None  # stays `sending`; a status webhook or the sweeper settles it
        if isinstance(exc, MetaPaused):
            pause = await limiter.pause(exc.code, exc.title, s.send_pause_s)
            metrics.SEND_PAUSES.labels(str(exc.code)).inc()
            metrics.MESSAGES_PARKED.labels("paused").inc()
            logger.error(
                "ALERT sending paused for %.0fs: Meta error %s %s (message_id=%s)",
                s.send_pause_s,
                exc.code,
                exc.title,
                message_id,
                extra=fields,
            )
            until = datetime.fromtimestamp(pause.until, UTC)
            return Parked(message_id, until, error, counts=False)
        if isinstance(exc, MetaPairLimited):
            await limiter.block_recipient(row["recipient"], s.pair_rate_limit_s)
            metrics.MESSAGES_PARKED.labels("pair_limit").inc()
            wait = timedelta(seconds=s.pair_rate_limit_s)
            return Parked(message_id, now + wait, error, counts=False)
        if isinstance(exc, MetaThrottled):
            wait_s = 2 * s.retry_initial_s
            await limiter.back_off(wait_s)
            metrics.MESSAGES_PARKED.labels("throttled").inc()
            return Parked(message_id, now + timedelta(seconds=wait_s), error, counts=False)
    except TRANSIENT as redis_down:  # the limiter is best effort; the message still waits
        logger.warning("rate limiter unavailable (%s)", type(redis_down).__name__)
        metrics.MESSAGES_PARKED.labels("limiter_unavailable").inc()
        return Parked(message_id, now + timedelta(seconds=s.retry_initial_s), error, counts=False)
    if exc.retryable and row["attempts"] < s.send_max_attempts:
        wait = timedelta(seconds=retry_delay_s(s, row["attempts"]))
        logger.info(
            "send retry message_id=%s code=%s in=%s", message_id, exc.code, wait, extra=fields
        )
        metrics.MESSAGES_PARKED.labels("retry").inc()
        return Parked(message_id, now + wait, error)
    logger.info(
        "send failed message_id=%s code=%s title=%s",
        message_id,
        exc.code,
        exc.title,
        extra=fields,
    )
    return StatusChange(message_id, FAILED, now, "sender", error=error)


def retry_delay_s(settings: Any, attempts: int) -> float:
    """Exponential backoff from RETRY_INITIAL_S, capped at RETRY_MAX_S, with +-20% jitter."""
    base = min(settings.retry_max_s, settings.retry_initial_s * 2 ** max(attempts - 1, 0))
    return base * random.uniform(0.8, 1.2)


async def _record(
    ctx: Any, outcomes: list[Outcome], patience_s: float = _RECORD_PATIENCE_S
) -> None:
    """Store the answers; both steps are idempotent, so retrying a partial success is safe."""
    parked = [o for o in outcomes if isinstance(o, Parked)]
    changes = [o for o in outcomes if isinstance(o, StatusChange)]
    if not parked and not changes:
        return
    async for attempt in retries.until_stored(patience_s):
        with attempt:
            await messages.park(ctx.pool, parked)
            await events.record(ctx, changes)


CONSUMER = Consumer("sender", OUTBOUND_STREAM, SENDERS_GROUP, handle)
