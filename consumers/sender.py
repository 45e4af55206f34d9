"""The send path: a number's outbound stream -> rate limit -> claim -> Meta -> sent, failed or
parked.

Each business number has its own stream and its own consumer (`consumer(number)`), so one
number's backlog, pause or throttling never delays another's sends. For each batch the
sender takes send slots from the number's shared rate limiter and claims
(queued -> sending, `db.claims`) only the messages those slots cover, right before their
Meta calls (a message past its validity period is never claimed: it fails `expired`). Each
claim makes at most one Meta call, marked in PostgreSQL before it is made
(`consumers.liveness`; a chunk's marks share one statement). Meta's answer becomes a verdict
(`send_policy.decide`) that `_apply` carries out. A retryable answer parks the message
(queued again, `next_attempt_at` set) and the scheduler re-publishes it when due, so a slow
recipient or a throttled number never holds the stream. The batch's outcomes are recorded
together, with their Hub events, retried through outages and deadlocks: they are never
dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from consumers import events, retries, worker_metrics
from consumers.context import Context, Lane
from consumers.liveness import Departure
from consumers.runner import Consumer, Entry, sleep_unless_stopped
from consumers.send_policy import (
    AwaitStatus,
    BackOff,
    Fail,
    HoldRecipient,
    PauseNumber,
    Retry,
    Sent,
    Verdict,
    decide,
)
from core.failures import TRANSIENT
from core.names import EXPIRED_ERROR, FAILED, SENDERS_GROUP, SENT
from core.numbers import BusinessNumber, Numbers
from db import claims, messages
from db.claims import Claim, Parked
from db.statuses import StatusChange
from whatsapp.client import SendAnswer, send_message
from whatsapp.errors import MetaError, MetaUnavailable
from whatsapp.templates import MARKETING

logger = logging.getLogger("consumers.sender")
_RECORD_PATIENCE_S = 300  # after that, status webhooks or the sweeper settle the messages
Outcome = StatusChange | Parked | None  # None: outcome unknown, the message stays `sending`


async def handle(ctx: Context, entries: list[Entry], number: str | None = None) -> dict[str, str]:
    """Send the messages of one number's entries (None: the default number)."""
    ids, bad, entry_of = [], {}, {}
    for e in entries:
        try:
            ids.append(UUID(e.fields.get("message_id", "")))
            entry_of[ids[-1]] = e.id
        except ValueError:
            bad[e.id] = "message_id is not a UUID"
    if ids:
        await _send_batch(ctx, ctx.lane(number), ids, entry_of)
    return bad


@dataclass(eq=False)
class _Send:
    """One claimed message and the task that sends it; only that task changes it."""

    row: Any
    lane: Lane
    entry_id: str | None
    departure: Departure  # marked, then started: from then on its call may have left
    task: asyncio.Task[Outcome] | None = None

    @property
    def claim(self) -> Claim:
        return self.departure.claim

    def outcome(self) -> Outcome:
        """What a send cut short records: the answer held, None if its call may have left,
        else the message handed back, due at once."""
        task = self.task
        if task is not None and task.done() and not task.cancelled() and not task.exception():
            return task.result()
        if self.departure.started:
            return None  # it may have left: a status webhook or the sweeper settles it
        return self.hand_back()

    def hand_back(self) -> Parked:
        """Its call never left: queued again, due at once, the try refunded."""
        worker_metrics.MESSAGES_PARKED.labels("handed_back").inc()
        return Parked(self.row["id"], datetime.now(UTC), claim=self.claim, counts=False)


async def _send_batch(ctx: Context, lane: Lane, ids: list[UUID], entry_of: dict[UUID, str]) -> None:
    sends: list[_Send] = []  # claimed, each sent by a task of its own
    held: list[Outcome] = []  # decided without a call: paused, pair-limited, stopping
    try:
        await _schedule(ctx, lane, ids, entry_of, sends, held)
        outcomes = await asyncio.gather(*(s.task for s in sends if s.task))
    except asyncio.CancelledError:  # shutdown deadline: hand back what was never sent
        await _cancel(sends)
        cut_short = held + [s.outcome() for s in sends]
        await asyncio.shield(_record(ctx, cut_short, patience_s=5))
        raise
    except Exception:  # an outage mid-batch: keep the answers held, hand back the rest
        await asyncio.gather(*(s.task for s in sends if s.task), return_exceptions=True)
        await _record(ctx, held + [s.outcome() for s in sends])
        raise
    await _record(ctx, held + outcomes)


async def _schedule(
    ctx: Context,
    lane: Lane,
    ids: list[UUID],
    entry_of: dict[UUID, str],
    sends: list[_Send],
    held: list[Outcome],
) -> None:
    """Claim messages as slots come free and start one task per send; what is decided
    without a call goes to `held`. Both lists are kept up to date as it goes, so a batch
    cut short knows every message it claimed."""
    limiter, todo = lane.limiter, ids
    while todo:
        now = datetime.now(UTC)
        if ctx.stop.is_set():  # the rest stays queued, due at once for another worker
            worker_metrics.MESSAGES_PARKED.labels("handed_back").inc(len(todo))
            held += [Parked(i, now) for i in todo]
            return
        pause = await limiter.paused()
        if pause:
            until = datetime.fromtimestamp(pause.until, UTC)
            error = {"code": pause.code, "title": pause.title}
            worker_metrics.MESSAGES_PARKED.labels("paused").inc(len(todo))
            held += [Parked(i, until, error) for i in todo]
            return
        # Slots count from when the script was sent, not from when a busy loop read its
        # reply: a late reply makes these sends late, never early onto the next slots.
        asked_at = asyncio.get_running_loop().time()
        slots = await limiter.reserve(len(todo))
        if not slots.delays:
            worker_metrics.count_rate_limit_full(slots.retry_in_s, len(todo))
            await sleep_unless_stopped(ctx.stop, slots.retry_in_s)
            continue
        chunk, todo = todo[: len(slots.delays)], todo[len(slots.delays) :]
        worker_id = ctx.liveness.worker_id
        rows = await claims.claim(ctx.pool, chunk, worker_id, lane.number.id)
        claimed = [
            _Send(
                r,
                lane,
                entry_of.get(r["id"]),
                Departure(r["id"], Claim(worker_id, r["sending_at"])),
            )
            for r in rows
        ]
        if len(rows) < len(chunk):  # sent already, parked, past its validity, another number's
            unclaimed = list(set(chunk) - {r["id"] for r in rows})
            for message_id in await messages.expired(ctx.pool, unclaimed):
                held.append(StatusChange(message_id, FAILED, now, "sender", error=EXPIRED_ERROR))
        sends += claimed
        blocked = await limiter.blocked(sorted({s.row["recipient"] for s in claimed}))
        for send, delay in zip(claimed, slots.delays, strict=False):
            wait_s = blocked.get(send.row["recipient"])
            if wait_s is not None:  # Meta's pair limit: only this recipient waits
                sends.remove(send)
                later = now + timedelta(seconds=wait_s)
                held.append(Parked(send.row["id"], later, claim=send.claim, counts=False))
                worker_metrics.MESSAGES_PARKED.labels("pair_limit").inc()
            else:
                send.task = asyncio.create_task(_send(ctx, send, asked_at + delay))


async def _cancel(sends: list[_Send]) -> None:
    tasks = [s.task for s in sends if s.task]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _send(ctx: Context, send: _Send, at: float) -> Outcome:
    """One Meta call, marked first, made at the slot's time (event-loop clock); its verdict,
    then its effect."""
    row, fields = send.row, _log_fields(send)
    async with send.lane.calls:
        try:
            if not await ctx.liveness.leaving(send.departure):
                # Taken back (queued again): whoever claims it next sends it.
                logger.warning("claim lost, not sent message_id=%s", row["id"], extra=fields)
                return None
        except Exception as exc:  # PostgreSQL could not say: the call is not made
            logger.warning(
                "mark failed, handed back message_id=%s (%s)", row["id"], type(exc).__name__
            )
            return send.hand_back()
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await send.lane.limiter.depart(at)
        worker_metrics.RATE_LIMIT_WAIT.inc(loop.time() - asked)
        send.departure.started = True
        try:
            answer: SendAnswer | MetaError = await _post(ctx, send.lane.number, row)
        except MetaError as exc:
            answer = exc
        except Exception:  # a bug of ours: never risk a second send of what may have left
            logger.exception("send crashed message_id=%s", row["id"], extra=fields)
            return send.outcome()
    verdict = decide(answer, row["attempts"], ctx.settings)
    return await _apply(ctx, send, verdict, fields)


async def _post(ctx: Context, number: BusinessNumber, row: Any) -> SendAnswer:
    """One Meta call; a connection that never opened is retried at once, briefly. A MARKETING
    template goes to Meta's Marketing Messages API with MARKETING_MESSAGES_API."""
    url = number.messages_url
    if ctx.settings.marketing_messages_api and row["template_category"] == MARKETING:
        url = number.marketing_messages_url
    return await retries.at_once(
        lambda: worker_metrics.timed(
            worker_metrics.META_SECONDS,
            send_message(ctx.http, url, number.token, row["payload"]),
        ),
        lambda e: isinstance(e, MetaUnavailable) and not e.http_status,
    )


async def _apply(ctx: Context, send: _Send, verdict: Verdict, fields: dict[str, Any]) -> Outcome:
    """Carry out a verdict: the outcome to record, and the number's limits to set."""
    lane, row, claim = send.lane, send.row, send.claim
    message_id, now = row["id"], datetime.now(UTC)
    if isinstance(verdict, Sent):
        logger.info(
            "sent to Meta message_id=%s", message_id, extra={**fields, "wamid": verdict.wamid}
        )
        # Meta's answer names the BSUID of a send by `recipient`: kept if the row lacks it.
        user_id = verdict.user_id if verdict.user_id != row["recipient_user_id"] else None
        # Meta's `message_status` is kept on the `sent` status's details (the timeline).
        details = {"message_status": verdict.message_status} if verdict.message_status else None
        return StatusChange(
            message_id, SENT, now, "sender", wamid=verdict.wamid, details=details, user_id=user_id
        )
    exc = verdict.error
    error = exc.as_error()
    worker_metrics.count_meta_error(exc)
    try:
        later = await _limit(lane, row, verdict, fields)
    except TRANSIENT as redis_down:  # the limiter is best effort; the message still waits
        logger.warning("rate limiter unavailable (%s)", type(redis_down).__name__)
        worker_metrics.MESSAGES_PARKED.labels("limiter_unavailable").inc()
        later = now + timedelta(seconds=ctx.settings.retry_initial_s)
    if later is not None:
        return Parked(message_id, later, error, claim, counts=False)
    if isinstance(verdict, AwaitStatus):
        logger.warning("send outcome unknown message_id=%s error=%s", message_id, exc, extra=fields)
        return None  # stays `sending`; a status webhook or the sweeper settles it
    if isinstance(verdict, Retry):
        wait = timedelta(seconds=verdict.seconds)
        logger.info(
            "send retry message_id=%s code=%s in=%s", message_id, exc.code, wait, extra=fields
        )
        worker_metrics.MESSAGES_PARKED.labels("retry").inc()
        return Parked(message_id, now + wait, error, claim)
    assert isinstance(verdict, Fail)
    logger.info(
        "send failed message_id=%s code=%s title=%s", message_id, exc.code, exc.title, extra=fields
    )
    return StatusChange(message_id, FAILED, now, "sender", error=error)


async def _limit(lane: Lane, row: Any, verdict: Verdict, fields: dict[str, Any]) -> datetime | None:
    """Set the number's limit a throttling verdict calls for; returns when the message may
    try again (the try refunded), or None for the other verdicts."""
    limiter, now = lane.limiter, datetime.now(UTC)
    if isinstance(verdict, PauseNumber):
        exc = verdict.error
        pause = await limiter.pause(exc.code, exc.title, verdict.seconds)
        worker_metrics.SEND_PAUSES.labels(str(exc.code)).inc()
        worker_metrics.MESSAGES_PARKED.labels("paused").inc()
        logger.error(
            "ALERT sending paused for %.0fs on %s: Meta error %s %s (message_id=%s)",
            verdict.seconds,
            lane.number.id,
            exc.code,
            exc.title,
            row["id"],
            extra=fields,
        )
        return datetime.fromtimestamp(pause.until, UTC)
    if isinstance(verdict, HoldRecipient):
        await limiter.block_recipient(row["recipient"], verdict.seconds)
        worker_metrics.MESSAGES_PARKED.labels("pair_limit").inc()
        return now + timedelta(seconds=verdict.seconds)
    if isinstance(verdict, BackOff):
        await limiter.back_off(verdict.seconds)
        worker_metrics.MESSAGES_PARKED.labels("throttled").inc()
        return now + timedelta(seconds=verdict.seconds)
    return None


def _log_fields(send: _Send) -> dict[str, Any]:
    """What every line about one send carries, so one grep of the id finds them all."""
    row = send.row
    return {
        "message_id": str(row["id"]),
        "attempt": row["attempts"],
        "entry_id": send.entry_id,
        "phone_number_id": send.lane.number.id,
    }


async def _record(
    ctx: Context, outcomes: list[Outcome], patience_s: float = _RECORD_PATIENCE_S
) -> None:
    """Store the answers; both steps are idempotent, so retrying a partial success is safe."""
    parked = [o for o in outcomes if isinstance(o, Parked)]
    changes = [o for o in outcomes if isinstance(o, StatusChange)]
    if not parked and not changes:
        return
    async for attempt in retries.until_stored(patience_s):
        with attempt:
            await claims.park(ctx.pool, parked)
            await events.record(ctx, changes)


def consumer(number: BusinessNumber) -> Consumer:
    """The sender of one business number's stream."""

    async def handle_number(ctx: Context, entries: list[Entry]) -> dict[str, str]:
        return await handle(ctx, entries, number.id)

    return Consumer(f"sender:{number.id}", number.stream, SENDERS_GROUP, handle_number)


def consumers(numbers: Numbers) -> list[Consumer]:
    return [consumer(n) for n in numbers]
